"""A ``%%step`` cell whose reads happen in threads it starts (a ``ThreadPoolExecutor``),
through a real IPython shell: the files are the cell's inputs all the same. SPEC §9."""

from __future__ import annotations

from tests.jupyter.conftest import edit_file as _edit
from tests.jupyter.conftest import step_cell

# the file's name is built at run time: no literal names it, only the thread's open() does
POOLED = """from concurrent.futures import ThreadPoolExecutor
def load(name):
    with open(name) as fh:
        return fh.read().split()[1:]
with ThreadPoolExecutor(max_workers=2) as pool:
    rows = pool.submit(load, "".join(["data", ".csv"])).result()
total = sum(int(r) for r in rows)"""


def test_a_cell_reading_in_a_thread_pool_re_runs_when_the_file_changes(ip, session, here):
    step_cell(ip, "", POOLED)
    assert ip.user_ns["total"] == 3
    step_cell(ip, "", POOLED)
    assert session.steps["rows"].state == "cached"

    _edit(here / "data.csv", "a\n1\n2\n10\n")
    rows = {r.name: r for r in session.status()}
    assert rows["rows"].state == "stale" and "data.csv changed" in rows["rows"].why
    step_cell(ip, "", POOLED)
    rec = session.steps["rows"]
    assert rec.state == "done"
    assert any("data.csv changed" in n for n in rec.notes), rec.notes
    assert ip.user_ns["total"] == 13


# -- a real kernel: its own threads (IOPub, heartbeat, history, control) run beside the cell
# while it records alone, and must not add files to it ------------------------------------

KERNEL_CELLS = [
    "%load_ext flowyml",
    "%%step\nimport time\n" + POOLED + "\nfor i in range(20):\n    print('line', i)\n"
    "    time.sleep(0.02)",
    "import flowyml_jupyter\nfrom flowyml.tracking import files\n"
    "made = flowyml_jupyter._LOADED[id(get_ipython())].session.steps['rows'].made.files or {}\n"
    "print('RECORD', sorted(files.records(made)), sorted(made.get('wrote', {})),"
    " sorted(made.get('dirs', {})), total)",
]


def test_a_real_kernel_records_the_pool_threads_read_and_nothing_of_its_own(tmp_path,
                                                                             monkeypatch):
    import nbformat
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / ".flowyml" / "cache"))
    (tmp_path / "data.csv").write_text("a\n1\n2\n")
    path = tmp_path / "pooled.ipynb"
    nb = new_notebook(cells=[new_code_cell(s) for s in KERNEL_CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)

    def run() -> str:
        done = nbformat.read(path, as_version=4)
        NotebookClient(done, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
        return "".join(o.get("text", "") for o in done.cells[-1].outputs)

    assert "RECORD ['data.csv'] [] [] 3" in run()
    _edit(tmp_path / "data.csv", "a\n1\n2\n30\n")
    assert "RECORD ['data.csv'] [] [] 33" in run()  # a new kernel: the edit re-ran it
