"""Notebook -> executed in a real kernel -> exported -> run as a module: same keys, same values.

The module run right after the notebook is all cache hits with the notebook's outputs;
editing one step in the module re-runs only that step and its descendants.
"""

from __future__ import annotations

import json
import os
import sys

import nbformat
import pytest

from flowyml.export import export_notebook
from flowyml_jupyter.kernels import LocalKernelManager

from .conftest import make_notebook, run, step_states

pytest.importorskip("flowyml_jupyter.magics", reason="the %%step magic is not available")
nbclient = pytest.importorskip("nbclient")

CELLS = [
    "%load_ext flowyml",
    "import json\nimport math",
    "N = 10\nFACTOR = 3\n\n\ndef scale(x):\n    return x * FACTOR",
    "%%step -o raw\nraw = [scale(i) for i in range(N)]",
    "%%step clean\nclean = [round(math.sqrt(v), 6) for v in raw if v > 0]\ntotal = sum(clean)",
    "%%step report\nsummary = {'total': round(total, 6), 'n': len(clean)}",
    "%%step side\nside = sorted(raw, reverse=True)[:3]",
    "print('RESULT ' + json.dumps({'raw': raw, 'clean': clean, 'total': round(total, 6), "
    "'summary': summary, 'side': side}))",
]
OUTPUTS = ["raw", "clean", "total", "summary", "side"]
DUMP = ("import json, sys; sys.path.insert(0, {d!r}); import roundtrip as m; r = m.pipeline.run();"
        " print('RESULT ' + json.dumps({{k: r.outputs[k] for k in {outs!r}}}));"
        " print(r.summary())")


def _result_line(text: str) -> dict:
    line = next(ln for ln in text.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


@pytest.fixture
def executed(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(cache))
    nb_path = make_notebook(tmp_path / "roundtrip.ipynb", *CELLS)
    nb = nbformat.read(nb_path, as_version=4)
    env_path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    monkeypatch.setenv("PATH", env_path)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            kernel_manager_class=LocalKernelManager,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    nbformat.write(nb, nb_path)
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    return nb_path, cache, _result_line(printed)


@pytest.mark.slow
def test_module_after_notebook_is_all_cache_hits(executed, tmp_path, flowyml_cmd):
    nb_path, cache, notebook_values = executed
    module = export_notebook(nb_path, tmp_path / "roundtrip.py")
    steps = {"raw": "cached", "clean": "cached", "report": "cached", "side": "cached"}

    script = run([sys.executable, str(module)], tmp_path, cache)
    assert script.returncode == 0, script.stderr
    assert step_states(script.stdout) == steps

    cli = run([*flowyml_cmd, "run", str(module)], tmp_path, cache)
    assert cli.returncode == 0, cli.stderr
    lines = [ln for ln in cli.stdout.splitlines() if ln.startswith("[")]
    assert len(lines) == 4 and all("cache hit" in ln for ln in lines), cli.stdout

    dumped = run([sys.executable, "-c", DUMP.format(d=str(tmp_path), outs=OUTPUTS)], tmp_path,
                 cache)
    assert dumped.returncode == 0, dumped.stderr
    assert _result_line(dumped.stdout) == notebook_values
    assert step_states(dumped.stdout) == steps


@pytest.mark.slow
def test_editing_one_step_reruns_it_and_its_descendants_only(executed, tmp_path):
    nb_path, cache, notebook_values = executed
    module = export_notebook(nb_path, tmp_path / "roundtrip.py")
    text = module.read_text()
    edited = text.replace("round(math.sqrt(v), 6)", "round(math.sqrt(v) * 2, 6)")
    assert edited != text
    module.write_text(edited)
    proc = run([sys.executable, str(module)], tmp_path, cache)
    assert proc.returncode == 0, proc.stderr
    assert step_states(proc.stdout) == {"raw": "cached", "clean": "done", "report": "done",
                                        "side": "cached"}
    dumped = run([sys.executable, "-c", DUMP.format(d=str(tmp_path), outs=OUTPUTS)], tmp_path,
                 cache)
    values = _result_line(dumped.stdout)
    assert values["raw"] == notebook_values["raw"] and values["side"] == notebook_values["side"]
    assert values["clean"] == pytest.approx([2 * c for c in notebook_values["clean"]], abs=1e-5)
    assert values["summary"]["total"] == pytest.approx(2 * notebook_values["total"], abs=1e-4)


REAL_CELLS = [
    "%load_ext flowyml",
    "import json",
    "def sort_in_place(values):\n    values.sort()",
    "%%step\nimport math\ndef halve(x):\n    return x / 2",
    "%%step\ndf = list(range(10))",
    "%%step\ndf = [x for x in df if x % 2]",
    "%%step\nn1 = len(df)",
    "%%step\ndf = [halve(x) for x in df]",
    "%%step\nitems = [3, 1, 2]",
    "%%step\nitems.append(0)",
    "%%step\nsort_in_place(items)",
    "%%step\nprint('items', items)",
    "%%step\ntotal = sum(df) + n1 + math.floor(items[-1])",
    "print('RESULT ' + json.dumps({'df': df, 'n1': n1, 'items': items, 'total': total}))",
]


@pytest.mark.slow
def test_real_cells_export_with_versions_and_hit_the_notebooks_cache(tmp_path, monkeypatch):
    """Rebinding, in-place changes (seen in the code and found by re-hashing), a display
    cell and a step cell's own imports and helpers: the module runs, all cache hits."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(cache))
    nb_path = make_notebook(tmp_path / "real.ipynb", *REAL_CELLS)
    nb = nbformat.read(nb_path, as_version=4)
    monkeypatch.setenv("PATH", os.pathsep.join([os.path.dirname(sys.executable),
                                                os.environ.get("PATH", "")]))
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            kernel_manager_class=LocalKernelManager,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    values = _result_line(printed)
    assert values == {"df": [0.5, 1.5, 2.5, 3.5, 4.5], "n1": 5, "items": [0, 1, 2, 3],
                      "total": 20.5}
    module = export_notebook(nb_path, tmp_path / "real.py")
    text = module.read_text()
    assert 'outputs=["df@2"]' in text and 'outputs=["df@3"]' in text
    assert 'inputs=["items@2"], outputs=["items@3"]' in text  # found by re-hashing, noted
    assert "def halve(x):" in text.split("@step")[0]  # hoisted for the steps that call it
    proc = run([sys.executable, str(module)], tmp_path, cache)
    assert proc.returncode == 0, proc.stderr
    states = step_states(proc.stdout)
    assert states and set(states.values()) == {"cached"}, proc.stdout
    dump = ("import json, sys; sys.path.insert(0, {d!r}); import real as m; r = m.pipeline.run();"
            " print('RESULT ' + json.dumps({{'df': r.outputs['df@3'], 'n1': r.outputs['n1'], "
            "'items': r.outputs['items@3'], 'total': r.outputs['total']}}))")
    dumped = run([sys.executable, "-c", dump.format(d=str(tmp_path))], tmp_path, cache)
    assert dumped.returncode == 0, dumped.stderr
    assert _result_line(dumped.stdout) == values


@pytest.mark.slow
def test_module_uses_the_cache_the_notebook_set_with_cache_dir(tmp_path, monkeypatch, flowyml_cmd):
    """A notebook that moved its cache with ``%flowyml cache dir`` exports a module that
    hits that cache: through the ``%flowyml export`` magic (the kernel's location) and
    through ``flowyml export`` (the notebook's ``%flowyml cache dir`` line)."""
    monkeypatch.delenv("FLOWYML_CACHE_DIR", raising=False)
    monkeypatch.setenv("PATH", os.pathsep.join([os.path.dirname(sys.executable),
                                                os.environ.get("PATH", "")]))
    cells = [CELLS[0], "%flowyml cache dir team_cache", *CELLS[1:-1],
             "%flowyml export magic_out/by_magic.py --notebook moved.ipynb"]
    nb_path = make_notebook(tmp_path / "moved.ipynb", *cells)
    nb = nbformat.read(nb_path, as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            kernel_manager_class=LocalKernelManager,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert (tmp_path / "team_cache").is_dir()
    assert not (tmp_path / ".flowyml").exists()
    steps = {"raw": "cached", "clean": "cached", "report": "cached", "side": "cached"}

    by_magic = tmp_path / "magic_out" / "by_magic.py"
    proc = run([sys.executable, str(by_magic)], tmp_path / "magic_out", None)
    assert proc.returncode == 0, proc.stderr
    assert step_states(proc.stdout) == steps

    elsewhere = tmp_path / "cli_out"
    elsewhere.mkdir()
    cli = run([*flowyml_cmd, "export", str(nb_path), "-o", str(elsewhere / "by_cli.py")],
              elsewhere, None)
    assert cli.returncode == 0, cli.stderr
    assert "team_cache" in (elsewhere / "by_cli.py").read_text()
    proc = run([sys.executable, "by_cli.py"], elsewhere, None)
    assert proc.returncode == 0, proc.stderr
    assert step_states(proc.stdout) == steps
    assert not (elsewhere / ".flowyml").exists() and not (tmp_path / ".flowyml").exists()


UNSEEN_CELLS = [
    "%load_ext flowyml",
    "%%step\nfrom __future__ import print_function, division\n\nimport math",
    "%%step\nclass Signal:\n    def evaluate(self, t):\n        raise UnimplementedMethodException()\n"
    "    def make(self, n):\n        return [self.evaluate(t) for t in range(n)]",
    "%%step\nclass Ramp(Signal):\n    def evaluate(self, t):\n        return math.floor(t * 1.5)",
    "%%step\nys = Ramp().make(4)",
    "print('RESULT ' + json.dumps({'ys': ys}))",
]


@pytest.mark.slow
def test_a_base_class_naming_an_undefined_exception_exports_as_the_kernel_ran_it(tmp_path, monkeypatch):
    """A name read only in a method body that nothing defines is no input, in the kernel and
    in the exported module alike: the module's steps are the notebook's, all cache hits."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(cache))
    nb_path = make_notebook(tmp_path / "unseen.ipynb", UNSEEN_CELLS[0], "import json",
                            *UNSEEN_CELLS[1:])
    nb = nbformat.read(nb_path, as_version=4)
    monkeypatch.setenv("PATH", os.pathsep.join([os.path.dirname(sys.executable),
                                                os.environ.get("PATH", "")]))
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    assert _result_line(printed) == {"ys": [0, 1, 3, 4]}
    module = export_notebook(nb_path, tmp_path / "unseen.py")
    assert "UnimplementedMethodException" not in module.read_text().split("class Signal")[0]
    proc = run([sys.executable, str(module)], tmp_path, cache)
    assert proc.returncode == 0, proc.stderr
    states = step_states(proc.stdout)
    assert len(states) == 4 and set(states.values()) == {"cached"}, proc.stdout
