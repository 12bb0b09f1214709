"""The benchmark suite still runs: ``python -m benchmarks --quick`` completes and prints its
table. Nothing here looks at a timing -- the figures are for people, not for asserts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ("overhead", "hashing", "large output", "import", "dag", "map", "notebook",
              "executors", "lifecycle", "store", "remote", "files", "reactive", "corpus")


@pytest.mark.slow
def test_quick_suite_runs_and_prints_the_table(tmp_path: Path) -> None:
    env = {**os.environ, "FLOWYML_CACHE_DIR": str(tmp_path / "cache"), "TMPDIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=420, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    out = proc.stdout
    header = next(line for line in out.splitlines() if line.startswith("benchmark"))
    for column in ("case", "flowyml", "baseline", "ratio", "target", "met"):
        assert column in header
    table = out[out.index(header):].splitlines()[2:]
    listed = {line.split("  ")[0].strip() for line in table if line.strip()}
    assert set(BENCHMARKS) <= listed, out
    assert "ERROR" not in out
    assert "machine:" in out and "command: python -m benchmarks --quick" in out
    # every benchmark removes its scratch directory (they live under TMPDIR = tmp_path)
    assert not list(tmp_path.glob("flowyml-bench-*")), "scratch directories must be removed"


def test_markdown_table_of_one_benchmark(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only", "import",
                           "--markdown"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("|")]
    assert lines[0].startswith("| benchmark | case | flowyml |")
    assert any(line.startswith("| import |") for line in lines[2:])
    assert not list(tmp_path.glob("flowyml-bench-*")), "scratch directories must be removed"


def _notebook(path: Path, *cells: str) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small corpus laid out as the real one is (the public notebooks are not committed:
    benchmarks/corpus/SOURCES.md): notebooks, ``data/``, a helper module beside the
    ``tiny-`` notebooks, a data folder beside the ``tinyd-`` ones."""
    from benchmarks import bench_corpus

    root = tmp_path / "corpus"
    (root / "data").mkdir(parents=True)
    (root / "data" / "points.csv").write_text("a,b\n1,2\n3,4\n5,6\n")
    (root / "helpers" / "tiny").mkdir(parents=True)
    (root / "helpers" / "tiny" / "tinyhelp.py").write_text("def double(x):\n    return 2 * x\n")
    (root / "helpers" / "tinyd" / "examples").mkdir(parents=True)
    (root / "helpers" / "tinyd" / "examples" / "ex1.csv").write_text("x\n1\n")
    _notebook(root / "tiny-01-basics.ipynb", "import numpy as np\nimport pandas as pd",
              "n = 20\nxs = np.arange(n)\nprint(xs.sum())",
              "df = pd.read_csv('data/points.csv')\ndf.describe()",
              "total = int(df.a.sum()) + int(xs.max())\ntotal",
              # in an order each process's hash seed draws: the runs share one seed
              "words = {'alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta'}\nprint(list(words))")
    _notebook(root / "tiny-02-helper.ipynb", "from tinyhelp import double\nprint(double(21))")
    _notebook(root / "tinyd-01-examples.ipynb", "print(open('examples/ex1.csv').read())")
    _notebook(root / "other-01.ipynb", "print(1 + 1)")
    monkeypatch.setattr(bench_corpus, "CORPUS", root)
    monkeypatch.setenv("FLOWYML_CORPUS", str(root))
    return root


@pytest.mark.slow
def test_corpus_benchmark_measures_one_notebook(tmp_path: Path, corpus: Path) -> None:
    """bench_corpus end to end on one small notebook: plain, run 1, run 2 (fresh kernel);
    the report has the per-notebook row and the totals (no figure asserted)."""
    env = {**os.environ, "TMPDIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out_json = tmp_path / "cells.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_corpus", "--only",
                           "tiny-01", "--json", str(out_json)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| tiny-01-basics |" in proc.stdout
    assert "cells run unmodified:" in proc.stdout and "run 1 / plain:" in proc.stdout
    records = json.loads(out_json.read_text())
    assert len(records) == 1 and records[0]["cells"]
    assert {"plain_ok", "run1_error", "run2_state", "same_as_run1"} <= set(records[0]["cells"][0])
    stepped = [c for c in records[0]["cells"] if c["run2_state"] is not None]
    assert len(stepped) == 4 and all(c["run2_state"] == "cached" and c["same_as_plain"]
                                     for c in stepped), stepped
    assert not list(tmp_path.glob("flowyml-bench-*")), "scratch directories must be removed"


@pytest.mark.slow
def test_corpus_edit_test_on_one_notebook(tmp_path: Path, corpus: Path) -> None:
    """bench_corpus --edit --ids on one small notebook: a literal of an early cell edited,
    the stepped edited notebook in a fresh kernel on the warm cache equals plain."""
    env = {**os.environ, "TMPDIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out_json = tmp_path / "edit.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_corpus", "--edit", "--ids",
                           "--only", "tiny-01", "--json", str(out_json)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = json.loads(out_json.read_text())
    assert len(records) == 1 and records[0]["edit"] is not None
    cells = records[0]["cells"]
    assert any(c["edited"] for c in cells)
    deterministic = [c for c in cells if c["deterministic"]]
    assert deterministic and all(c["equal"] for c in deterministic), proc.stdout
    assert any(c["state"] == "cached" for c in cells)  # the cell that reads only the csv hits
    assert not list(tmp_path.glob("flowyml-bench-*")), "scratch directories must be removed"


def test_corpus_notebooks_get_their_helper_modules_and_only_theirs(corpus: Path) -> None:
    """A notebook that imports a module from its own folder (thinkdsp.py beside ThinkDSP's
    chapters) gets it copied beside it in the scratch folder; other notebooks get none."""
    from benchmarks.bench_corpus import helpers

    assert [p.name for p in helpers(corpus / "tiny-02-helper.ipynb")] == ["tinyhelp.py"]
    assert helpers(corpus / "other-01.ipynb") == []


def test_corpus_notebooks_get_their_data_folders(tmp_path: Path, corpus: Path) -> None:
    """Python for Data Analysis reads ``examples/ex1.csv`` from a folder beside its chapters:
    ``helpers/PREFIX/FOLDER/`` is copied beside each ``PREFIX-`` notebook, and only beside
    those; the corpus' ``data/`` is reachable as ``data/`` and ``../data/``."""
    from benchmarks.bench_corpus import helpers, prepare

    assert [p.name for p in helpers(corpus / "tinyd-01-examples.ipynb")] == ["examples"]
    cwd = prepare(corpus / "tinyd-01-examples.ipynb", tmp_path / "work")
    assert (cwd / "examples" / "ex1.csv").is_file() and (cwd / "data" / "points.csv").is_file()
    assert (cwd.parent / "data" / "points.csv").is_file()
    assert not (cwd / "tinyhelp.py").exists()


def test_corpus_outputs_compare_progress_bars_as_a_notebook_shows_them() -> None:
    """tqdm redraws its line through carriage returns, as often as time allows, with its
    rates: two plain runs differ in those, never in what the notebook shows at the end."""
    import nbformat

    from benchmarks.bench_corpus import shown

    def cell(*chunks: str) -> dict:
        return {"outputs": [nbformat.v4.new_output("stream", name="stderr", text=c) for c in chunks]}

    a = cell("\r  0%|          | 0/4 [00:00<?, ?it/s]", "\rProcessing a:  25%|██▌       | 1/4 "
             "[00:00<00:00,  3.93it/s]", "\rProcessing d: 100%|██████████| 4/4 [00:01<00:00,  3.97it/s]\n")
    b = cell("\r  0%|          | 0/4 [00:00<?, ?it/s]\rProcessing d: 100%|██████████| 4/4 "
             "[00:01<00:00,  3.99it/s]\n")
    assert shown(a) == shown(b) == [("stream:stderr", "Processing d: 100%|██████████| 4/4 [<t>]\n")]
    assert shown(cell("\rProcessing c: 100%|██████████| 4/4 [00:01<00:00,  3.97it/s]\n")) != shown(b)
    # a bar without a total (`seq 9999 | tqdm --bytes`) shows no `<`: its rate is timing too
    assert shown(cell("\r75.2MB [00:00, 202MB/s]\n")) == shown(cell("\r75.2MB [00:01, 97.1MB/s]\n"))


def test_corpus_outputs_compare_writefile_notices_whether_the_file_was_there() -> None:
    """``%%writefile test.txt`` says "Writing" in the plain run and "Overwriting" in the
    step runs after it (the same folder): the notebook shows the same file written."""
    import nbformat

    from benchmarks.bench_corpus import shown

    def cell(text: str) -> dict:
        return {"outputs": [nbformat.v4.new_output("stream", name="stdout", text=text)]}

    assert shown(cell("Writing test.txt\n")) == shown(cell("Overwriting test.txt\n"))
    assert shown(cell("Writing test.txt\n")) != shown(cell("Writing other.txt\n"))


def test_corpus_outputs_compare_timings_a_notebook_prints_in_seconds() -> None:
    """A timer decorator of the notebook's own (ethen8181's ``@timer``: ``ran in: 1.0012
    sec``) prints another figure in every run, as ``%timeit`` does: compared as a timing."""
    import nbformat

    from benchmarks.bench_corpus import shown

    def cell(text: str) -> dict:
        return {"outputs": [nbformat.v4.new_output("stream", name="stdout", text=text)]}

    assert shown(cell("display_info ran in: 1.0012 sec\n")) == shown(cell("display_info ran in: 1.0009 sec\n"))
    assert shown(cell("took 2.5 seconds\n")) == shown(cell("took 2.7 seconds\n"))
    assert shown(cell("display_info ran in: 1.0012 sec\n")) != shown(cell("other ran in: 1.0012 sec\n"))
    assert shown(cell("3 sections\n")) != shown(cell("4 sections\n"))


def test_corpus_outputs_compare_pandas_styler_tables_without_their_random_id() -> None:
    """A ``Styler``'s HTML (``results.style.apply(...)``, scikit-learn's lasso example) names
    its table by five random hex digits, another in every run of the plain notebook: the
    same table otherwise."""
    import nbformat
    import pandas as pd

    from benchmarks.bench_corpus import shown

    def cell(html: str) -> dict:
        return {"outputs": [nbformat.v4.new_output("execute_result", data={"text/html": html})]}

    frame = pd.DataFrame({"a": [1, 2]})
    one, two = frame.style.highlight_max().to_html(), frame.style.highlight_max().to_html()
    assert one != two
    assert shown(cell(one)) == shown(cell(two))
    assert shown(cell(one)) != shown(cell(pd.DataFrame({"a": [1, 3]}).style.highlight_max().to_html()))


def test_corpus_outputs_compare_lsmagic_without_flowymls_own_magics() -> None:
    """``%lsmagic`` lists ``%flowyml`` and ``%%step`` in the step runs, which load the
    extension, not in the plain run: the same magics otherwise."""
    import nbformat

    from benchmarks.bench_corpus import shown

    def cell(line: str, cell_magics: str) -> dict:
        text = repr(f"Available line magics:\n{line}\n\nAvailable cell magics:\n{cell_magics}")
        return {"outputs": [nbformat.v4.new_output("execute_result", data={"text/plain": text})]}

    plain = cell("%alias  %env  %gui", "%%sh  %%svg")
    assert shown(cell("%alias  %env  %flowyml  %gui", "%%sh  %%step  %%svg")) == shown(plain)
    assert shown(cell("%alias  %env  %flowyml  %gui  %hello", "%%sh  %%step  %%svg")) != shown(plain)


def test_corpus_layout_without_a_data_folder(tmp_path: Path, corpus: Path) -> None:
    """A corpus whose notebooks read no shared data (theirs is in ``helpers/``) has no
    ``data/``: the scratch folder still gets an empty one."""
    import shutil

    from benchmarks.bench_corpus import prepare

    shutil.rmtree(corpus / "data")
    cwd = prepare(corpus / "tiny-02-helper.ipynb", tmp_path / "work")
    assert (cwd / "tinyhelp.py").is_file() and (cwd / "data").is_dir()


def test_seaborn_notebooks_load_their_data_sets_offline(tmp_path: Path, corpus: Path) -> None:
    """seaborn's ``load_dataset("points")`` reads ``$SEABORN_DATA/points.csv`` before it
    downloads: the runners set ``SEABORN_DATA`` to the corpus' ``data/seaborn/`` for every
    kernel, and the data-edit test edits the data set a notebook loads by name."""
    pytest.importorskip("seaborn")
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from benchmarks import _corpus_data
    from benchmarks.bench_corpus import execute, prepare

    (corpus / "data" / "seaborn").mkdir()
    (corpus / "data" / "seaborn" / "points.csv").write_text("total_bill,tip\n10.0,1.5\n20.0,3.0\n")
    _notebook(corpus / "tiny-03-seaborn.ipynb", "import seaborn as sns",
              "tips = sns.load_dataset('tips')\nsns.regplot(data=tips, x='total_bill', y='tip')",
              "ans = sns.load_dataset(\"anscombe\")")
    cwd = prepare(corpus / "tiny-03-seaborn.ipynb", tmp_path / "work")
    nb = new_notebook(cells=[new_code_cell("import seaborn as sns\nsns.load_dataset('points').shape")])
    execute(nb, cwd, 120)
    shown = [o for o in nb.cells[0].outputs if o.output_type == "execute_result"]
    assert shown and shown[0]["data"]["text/plain"] == "(2, 2)", nb.cells[0].outputs
    assert "SEABORN_DATA" not in os.environ  # set for the kernel only
    code = nbformat.read(corpus / "tiny-03-seaborn.ipynb", as_version=4)
    assert sorted(_corpus_data._LOAD_DATASET.findall(
        "\n".join(c.source for c in code.cells if c.cell_type == "code"))) == ["anscombe", "tips"]


def test_data_edit_changes_word_lists_and_puzzle_lines(tmp_path: Path) -> None:
    """pytudes reads a word list (``enable1.txt``) and Sudoku grids (``hardest.txt``) beside
    its notebooks: the data-edit test changes a word and a digit of the second line."""
    from benchmarks._corpus_data import edit_file

    words = tmp_path / "enable1.txt"
    words.write_text("aa\naah\naahed\n")
    assert edit_file(words) == ("aah", "aahz") and words.read_text() == "aa\naahz\naahed\n"
    grids = tmp_path / "hardest.txt"
    grids.write_text("85...24..72......9\n..53.....8......2..7..1.5..4\n")
    assert edit_file(grids) == ("4", "5")
    assert grids.read_text().split("\n")[1] == "..53.....8......2..7..1.5..5"
    # DSIRP's american-english: no suffix, possessives first; the first plain word changes
    english = tmp_path / "american-english"
    english.write_text("A\nA's\nAMD\nAMD's\n")
    assert edit_file(english) == ("AMD", "AMDZ") and english.read_text() == "A\nA's\nAMDZ\nAMD's\n"


def test_data_edit_downstream_reads_through_timed_lines() -> None:
    """``%time top_honeycomb2(big)`` reads ``big``: a cell downstream of the file's reader,
    not an "other" re-run (the line was dropped as IPython syntax)."""
    from benchmarks._corpus_data import downstream

    cells = ["big = open('enable1.txt').read().split()", "%time len(big)",
             "%timeit -n 3 sorted(big)", "%matplotlib inline\nx = 1"]
    assert downstream(cells, {0}) == {1, 2}
