"""FlowyML behaviour flowyml follows, driven as a user would (issue 12).

Each group matches one case where FlowyML's own public-API tests and flowyml disagreed:
the registry's name clashes, steps whose inputs the function can't take, ``auto_discover``
with hand-added steps, ``GPUConfig`` messages; and a cache hole found on the way: helpers
living in a module object that has no file.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import textwrap
import types

import pytest

from flowyml import (
    GPUConfig,
    Pipeline,
    ResourceRequirements,
    Step,
    StepRegistry,
    UnboundInputError,
    get_registered_steps,
    step,
)
from flowyml.codehash import code_fingerprint
from flowyml.core.step import global_registry
from flowyml.graph import DuplicateStepError
from flowyml.notebook.cellspec import parse_step_line
from flowyml.notebook.session import NotebookSession
from tests.conftest import run_cell

# -- 1. the registry: a different step under a taken name clashes, a re-definition replaces --


def test_two_lambdas_under_one_name_clash_as_in_flowyml():
    reg = StepRegistry()
    first = Step(func=lambda: 1, name="dup", outputs=["a"])
    second = Step(func=lambda: 2, name="dup", outputs=["b"])
    reg.register(first)
    with pytest.raises(ValueError, match=r"Step 'dup' is already registered .*test_flowyml_conformance\.py:\d+"):
        reg.register(second)
    assert reg.get_by_name("dup") is first


def test_two_lambdas_on_one_line_clash_too():
    reg = StepRegistry()
    a, b = Step(lambda: 1, name="x"), Step(lambda: 2, name="x")
    reg.register(a)
    with pytest.raises(ValueError, match="already registered"):
        reg.register(b)


def test_step_decorator_on_two_lambdas_clashes_in_the_global_registry():
    step(name="load")(lambda: 1)
    with pytest.raises(ValueError, match="'load' is already registered"):
        step(name="load")(lambda: 2)


def test_the_same_code_made_again_replaces():
    reg = StepRegistry()
    made = [Step(lambda n=n: n, name="same") for n in range(2)]  # one lambda, evaluated twice
    for s in made:
        reg.register(s)
    assert reg.get_by_name("same") is made[1] and len(reg) == 1


def test_a_re_run_notebook_cell_replaces_its_steps_even_edited(notebook_ns):
    run_cell(notebook_ns, "from flowyml import step\n\n@step\ndef load():\n    return 1\n"
                          "lam = step(name='lam')(lambda: 1)\n")
    # the cell again, edited: both definitions moved to other lines
    run_cell(notebook_ns, "# edited\nfrom flowyml import step\n\n\n@step\ndef load():\n    return 2\n"
                          "\nlam = step(name='lam')(lambda: 2)\n")
    assert global_registry.get_by_name("load") is notebook_ns["load"]
    assert global_registry.get_by_name("lam") is notebook_ns["lam"]
    assert notebook_ns["load"]() == 2 and notebook_ns["lam"]() == 2


def test_ipykernel_cells_replace_when_re_run_and_clash_within_one_run(notebook_ns):
    # ipykernel names a cell after a hash of its source: a file that does not exist
    def kernel_cell(source: str, name: str) -> None:
        exec(compile(source, f"/tmp/ipykernel_4242/{name}.py", "exec"), notebook_ns)

    kernel_cell("from flowyml import step\ns = step(name='k')(lambda: 1)\n", "1234")
    kernel_cell("from flowyml import step\ns = step(name='k')(lambda: 1)\n", "1234")  # same cell again
    kernel_cell("from flowyml import step\n\ns = step(name='k')(lambda: 3)\n", "5678")  # edited
    assert global_registry.get_by_name("k")() == 3
    with pytest.raises(ValueError, match="'two' is already registered"):
        kernel_cell("a = step(name='two')(lambda: 1)\nb = step(name='two')(lambda: 2)\n", "9999")


def test_an_edited_step_cell_replaces_its_step(tmp_path):
    session = NotebookSession({"__name__": "__main__"}, cache_dir=tmp_path / "cache")
    session.define(parse_step_line("total -o total"), "total = 1\n")
    rec = session.define(parse_step_line("total -o total"), "# longer now\nx = 1\ntotal = x + 1\n")
    assert global_registry.get_by_name("total") is rec.step
    assert session.run_stale().ran == ["total"] and session.ns["total"] == 2


def test_a_reloaded_module_replaces_its_steps_even_after_an_edit(tmp_path, monkeypatch):
    path = tmp_path / "flowyml_reload_mod.py"
    source = textwrap.dedent("""\
        from flowyml import step

        @step(outputs=["a"])
        def load():
            return 1

        scale = step(name="scale", outputs=["s"])(lambda: 10)
    """)
    path.write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("flowyml_reload_mod")
    monkeypatch.setitem(sys.modules, "flowyml_reload_mod", module)
    first = module.load

    importlib.reload(module)  # unchanged
    assert global_registry.get_by_name("load") is module.load is not first
    assert global_registry.get_by_name("scale") is module.scale

    edited = '"""Edited: every line moved."""\n\n\n' + source.replace("return 1", "return 2")
    path.write_text(edited.replace("lambda: 10", "lambda: 20"))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # saved later
    importlib.invalidate_caches()
    importlib.reload(module)
    assert global_registry.get_by_name("load") is module.load and module.load() == 2
    assert global_registry.get_by_name("scale") is module.scale and module.scale() == 20


def test_a_pipeline_refuses_two_different_steps_of_one_name(cache_dir):
    p = Pipeline("p", cache_dir=cache_dir).add_step(Step(lambda: 1, name="x"))
    with pytest.raises(DuplicateStepError, match="already has a step named 'x'"):
        p.add_step(Step(lambda: 2, name="x"))


# -- 2. a declared input the function can't take: reported when built, not when made ------


def test_a_step_whose_function_cannot_take_its_input_is_made_and_registered():
    reg = StepRegistry()
    s1 = Step(func=lambda: 1, name="s1", outputs=["a"])
    s2 = Step(func=lambda: 2, name="s2", inputs=["a"], outputs=["b"])
    reg.register(s1)
    reg.register(s2)
    assert len(reg) == 2 and s2() == 2
    assert [s.name for s in reg.get_all()] == ["s1", "s2"]


def test_the_mismatch_is_reported_when_the_pipeline_is_built_or_run(cache_dir):
    s1 = Step(func=lambda: 1, name="s1", outputs=["a"])
    s2 = Step(func=lambda: 2, name="s2", inputs=["a"], outputs=["b"])
    p = Pipeline("p", cache_dir=cache_dir).add_steps([s1, s2])
    message = (r"step 's2' declares input 'a' but its function has no parameter left to receive "
               r"it \(parameters: \[\]\)\. Add a parameter named 'a' to the function .*or remove "
               r"'a' from inputs=\[\.\.\.\]")
    with pytest.raises(UnboundInputError, match=message):
        p.build()
    with pytest.raises(UnboundInputError, match=message):
        p.run()


def test_registered_mismatched_steps_are_found_by_auto_discover_and_reported(cache_dir):
    @step(inputs=["a", "b"], outputs=["c"], pipeline="mm")
    def combine(a):
        return a

    assert [s.name for s in get_registered_steps("mm")] == ["combine"]
    with pytest.raises(UnboundInputError, match=r"step 'combine' declares input 'b'.*parameters: \['a'\]"):
        Pipeline("mm", auto_discover=True, cache_dir=cache_dir).run(a=1, b=2)


# -- 3. auto_discover: steps added by hand switch discovery off ---------------------------


def test_manually_added_steps_switch_auto_discover_off(cache_dir):
    calls = []

    @step(outputs=["data"])
    def load():
        calls.append("load")
        return [1]

    @step(inputs=["data"], outputs=["model"])
    def train(data):
        calls.append("train")
        return {"w": data}

    discovering = Pipeline("auto", auto_discover=True, cache_dir=cache_dir)
    assert [s.name for s in discovering.steps] == ["load", "train"]

    manual = Pipeline("auto", auto_discover=True, cache_dir=cache_dir).add_step(load)
    assert [s.name for s in manual.steps] == ["load"]
    result = manual.run()
    assert set(result.step_results) == {"load"} and calls == ["load"]


# -- 4. GPUConfig: FlowyML's message first, flowyml's detail after ---------------------------


@pytest.mark.parametrize("count", [0, -1])
def test_gpu_count_message_starts_as_in_flowyml(count):
    with pytest.raises(ValueError, match=r"^GPU count must be >= 1, got -?\d+: give a whole number"):
        GPUConfig(gpu_type="nvidia-v100", count=count)


def test_gpu_memory_message_starts_as_in_flowyml():
    with pytest.raises(ValueError, match=r"^Invalid GPU memory format: 'invalid'\. Use memory per device .*'16Gi'"):
        GPUConfig(gpu_type="nvidia-v100", count=1, memory="invalid")


def test_gpu_messages_name_the_step_when_given_through_resources():
    with pytest.raises(ValueError, match=r"^step 'fit': GPU count must be >= 1"):
        Step(lambda: 1, name="fit", resources={"gpu": 0})
    assert ResourceRequirements(gpu=GPUConfig(count=2, memory="16Gi")).get_gpu_count() == 2


# -- 5. helpers in a module object without a file are user code: editing one re-runs -------


def _fileless_module(name: str, source: str, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A module made at run time (``types.ModuleType`` filled with ``exec``), importable."""
    module = types.ModuleType(name)
    exec(source, module.__dict__)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def _edit(module: types.ModuleType, source: str) -> None:
    exec(source, module.__dict__)


def test_editing_a_helper_function_in_a_fileless_module_re_runs_its_step(cache_dir, monkeypatch, notebook_ns):
    helpers = _fileless_module("flowyml_t_fn", "def scale(x):\n    return x * 2\n", monkeypatch)
    run_cell(notebook_ns, "import flowyml_t_fn as helpers\nfrom flowyml import step\n\n"
                          "@step(outputs=['y'])\ndef use():\n    return helpers.scale(3)\n")
    p = Pipeline("fn", cache_dir=cache_dir).add_step(notebook_ns["use"])
    assert p.run()["y"] == 6
    assert p.run().step_results["use"].cached

    _edit(helpers, "def scale(x):\n    return x * 10\n")
    result = p.run()
    assert result["y"] == 30 and not result.step_results["use"].cached
    assert p.run().step_results["use"].cached


def test_editing_a_helper_class_in_a_fileless_module_re_runs_its_step(cache_dir, monkeypatch, notebook_ns):
    source = "class Shape:\n    def __init__(self, side):\n        self.side = side\n\n" \
             "    def area(self):\n        return self.side ** 2\n"
    shapes = _fileless_module("flowyml_t_cls", source, monkeypatch)
    import_cell = "from flowyml_t_cls import Shape\n"
    run_cell(notebook_ns, import_cell)
    run_cell(notebook_ns, "from flowyml import step\n\n"
                          "@step(outputs=['area'])\ndef area():\n    return Shape(3).area()\n")
    p = Pipeline("cls", cache_dir=cache_dir).add_step(notebook_ns["area"])
    assert p.run()["area"] == 9

    _edit(shapes, source.replace("self.side ** 2", "self.side * 4"))  # area -> perimeter
    run_cell(notebook_ns, import_cell)  # the import cell re-run, as after an autoreload
    result = p.run()
    assert result["area"] == 12 and not result.step_results["area"].cached


def test_editing_a_transitive_helper_in_fileless_modules_re_runs_its_step(cache_dir, monkeypatch):
    inner = _fileless_module("flowyml_t_inner", "def base(x):\n    return x + 1\n", monkeypatch)
    outer = _fileless_module(
        "flowyml_t_outer",
        "import flowyml_t_inner\n\n"
        "def twice(x):\n    return 2 * helper(x)\n\n"        # a helper of the same module...
        "def helper(x):\n    return flowyml_t_inner.base(x)\n",  # ...that reads another module
        monkeypatch,
    )

    @step(outputs=["v"])
    def value():
        return outer.twice(1)

    p = Pipeline("deep", cache_dir=cache_dir).add_step(value)
    assert p.run()["v"] == 4

    _edit(inner, "def base(x):\n    return x + 100\n")  # two modules and two calls away
    result = p.run()
    assert result["v"] == 202 and not result.step_results["value"].cached
    assert p.run().step_results["value"].cached


def test_code_from_a_user_file_counts_whatever_its_module_claims(tmp_path):
    # a helper compiled from a user's file into a namespace named like the standard library
    path = tmp_path / "claims_json.py"
    steps: dict = {"__name__": "__main__"}
    exec("def use(x):\n    return helper(x)\n", steps)

    def load(body: str) -> None:
        path.write_text(f"def helper(x):\n    return {body}\n")
        ns = {"__name__": "json"}
        exec(compile(path.read_text(), str(path), "exec"), ns)
        steps["helper"] = ns["helper"]

    load("x + 1")
    before = code_fingerprint(steps["use"])
    load("x + 2")
    assert code_fingerprint(steps["use"]) != before

    steps["helper"] = json.dumps  # library code stays out of the fingerprint
    exec("def other(x):\n    return helper(x)\n", steps)
    assert code_fingerprint(steps["use"]) == code_fingerprint(steps["other"])
