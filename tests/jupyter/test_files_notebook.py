"""Files are inputs (and outputs) of ``%%step`` cells: through a real IPython shell, then a
real kernel (nbclient). SPEC §9."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.jupyter.conftest import edit_file as _edit
from tests.jupyter.conftest import step_cell

pd = pytest.importorskip("pandas")


READ_CSV = "import pandas as pd\ndf = pd.read_csv('data.csv')\ntotal = int(df.a.sum())"


def test_a_changed_file_re_runs_the_cell_and_names_the_file(ip, session, here):
    step_cell(ip, "", READ_CSV)
    assert ip.user_ns["total"] == 3
    step_cell(ip, "", READ_CSV)
    assert session.steps["df"].state == "cached"

    _edit(here / "data.csv", "a\n1\n2\n10\n")
    rows = {r.name: r for r in session.status()}
    assert rows["df"].state == "stale" and "data.csv changed" in rows["df"].why  # before it runs
    assert "data.csv changed" in session.why("df")

    step_cell(ip, "", READ_CSV)
    rec = session.steps["df"]
    assert rec.state == "done"
    assert any("data.csv changed" in n for n in rec.notes), rec.notes
    assert ip.user_ns["total"] == 13
    assert {r.name: r.state for r in session.status()}["df"] == "done"


def test_a_file_a_shell_command_reads_re_runs_the_cell(ip, session, here, capfd):
    """``!head data.csv`` reads in another process: the audit hook cannot see it, the
    command's words name it."""
    for expected in (["a", "1"], ["a", "1"], ["a", "7"]):
        if expected[1] == "7":
            _edit(here / "data.csv", "a\n7\n2\n")
        step_cell(ip, "", "!head -2 data.csv")
        shown = re.sub(r"step '[^\n]*", "", capfd.readouterr().out).split()
        assert shown == expected  # on a hit, the output replayed
    rec = next(r for r in session.steps.values() if "head -2" in r.body)
    assert rec.state == "done" and any("data.csv changed" in n for n in rec.notes), rec.notes


def test_a_folder_a_shell_command_lists_re_runs_the_cell_when_a_file_in_it_changes(
        ip, session, here, capfd):
    (here / "data").mkdir()
    (here / "data" / "x.csv").write_text("a\n1\n")
    for expect_run in (True, False, True):
        if expect_run and session.steps:
            _edit(here / "data" / "x.csv", "a\n1\n2\n")  # the same name, another size
        step_cell(ip, "", "!ls -l data/")
        capfd.readouterr()
        rec = next(r for r in session.steps.values() if "ls -l" in r.body)
        assert rec.state == ("done" if expect_run else "cached")
    assert any("the files in data changed" in n for n in rec.notes), rec.notes


def test_a_listing_naming_no_folder_or_one_without_a_slash_re_runs_when_a_file_is_added(
        ip, here, capfd):
    """``!ls``, ``%ls -l``, ``!ls sub`` (the bootcamp's file lessons list the folder): only
    words with a ``.`` or ``/`` counted as file words, so these named nothing and a restart
    was a hit showing the old listing. A listing shows the working folder or the folders
    it names."""
    import flowyml_jupyter

    (here / "sub").mkdir()
    cells = ["!ls", "%ls -l", "!ls sub"]

    def states() -> set[str]:
        return {r.state for r in flowyml_jupyter._LOADED[id(ip)].session.steps.values()}

    for cell in cells:
        step_cell(ip, "", cell)
    ip.restart()
    for cell in cells:
        step_cell(ip, "", cell)
    assert states() == {"cached"}
    capfd.readouterr()
    ip.restart()
    (here / "new.txt").write_text("x")
    (here / "sub" / "inner.txt").write_text("x")
    for cell in cells:
        step_cell(ip, "", cell)
    out = capfd.readouterr().out
    assert out.count("new.txt") == 2 and "inner.txt" in out, out
    assert states() == {"done"}


def test_an_operator_in_a_printed_message_names_no_folder(ip, session, here, capfd):
    """``"x // 2 ="`` holds spaces like a command, but ``//`` is no folder to list (the
    root would change between any two runs: the cell would never hit)."""
    step_cell(ip, "", 'x = 7\nprint("x // 2 =", x // 2, "in data.csv / out")')
    files = session.steps["x"].made.files or {}
    assert "folders" not in files and "dirs" not in files
    assert "data.csv" in files.get("read", "")  # an existing file a message names: read


def test_a_touched_but_equal_file_stays_a_hit(ip, session, here, monkeypatch):
    monkeypatch.setenv("FLOWYML_FILES_HASH_BUDGET", "all")  # hashed whatever the step cost
    step_cell(ip, "", READ_CSV)
    _edit(here / "data.csv", "a\n1\n2\n")  # same bytes, new mtime
    assert {r.name: r.state for r in session.status()}["df"] != "stale"
    step_cell(ip, "", READ_CSV)
    assert session.steps["df"].state == "cached"


def test_a_step_over_its_hashing_budget_records_size_and_time_only(ip, session, here,
                                                                   monkeypatch):
    """Files a step read are hashed only within a share of its own run time. With no budget
    at all (FLOWYML_FILES_HASH_BUDGET=0) they are recorded by size and mtime only: unchanged,
    a hit; touched with the same bytes, a miss naming the file. Declared files are hashed
    all the same, so a touched declared file stays a hit; a hashed file too."""
    import xxhash

    from flowyml.tracking import files

    monkeypatch.setenv("FLOWYML_FILES_HASH_BUDGET", "0")
    (here / "cfg.txt").write_text("k=1")
    body = READ_CSV + "\nwith open('cfg.txt') as fh:\n    cfg = fh.read()"
    line = "--files cfg.txt"
    step_cell(ip, line, body)
    note = session.steps["df"].made.files
    mtime = (here / "data.csv").stat().st_mtime_ns
    assert files.records(note) == {"data.csv": [6, mtime, files.UNHASHED]}
    assert files.records(note, "declared")["cfg.txt"][2] == xxhash.xxh3_128_hexdigest(b"k=1")
    assert files.describe(note) == "1 read (1 recorded by size and time only), 1 declared"

    step_cell(ip, line, body)
    assert session.steps["df"].state == "cached"  # unchanged: a hit without hashing
    _edit(here / "cfg.txt", "k=1")  # declared, touched, same bytes: hashed, still a hit
    assert {r.name: r.state for r in session.status()}["df"] != "stale"
    step_cell(ip, line, body)
    assert session.steps["df"].state == "cached"

    _edit(here / "data.csv", "a\n1\n2\n")  # same bytes, new mtime: not hashed, so a miss
    why = {r.name: r for r in session.status()}["df"].why
    reason = "data.csv changed (its modification time; it was recorded by size and time only"
    assert reason in why and reason in session.why("df"), why
    step_cell(ip, line, body)
    assert session.steps["df"].state == "done"
    assert any(reason in n for n in session.steps["df"].notes), session.steps["df"].notes

    _edit(here / "data.csv", "a\n1\n2\n3\n")  # new size: changed for sure, said plainly
    assert session.why("df").count("data.csv changed") == 1 and reason not in session.why("df")
    step_cell(ip, line, body)
    assert ip.user_ns["total"] == 6

    # hashed when the budget allows (here: without a bound): a touch with the same bytes
    # is a hit again
    monkeypatch.setenv("FLOWYML_FILES_HASH_BUDGET", "all")
    _edit(here / "data.csv", "a\n1\n2\n3\n")
    step_cell(ip, line, body)
    assert session.steps["df"].state == "done"  # its record was by size and time
    assert files.records(session.steps["df"].made.files)["data.csv"][2] == \
        xxhash.xxh3_128_hexdigest(b"a\n1\n2\n3\n")
    _edit(here / "data.csv", "a\n1\n2\n3\n")
    step_cell(ip, line, body)
    assert session.steps["df"].state == "cached"


def test_a_deleted_file_is_a_miss_saying_it_is_gone(ip, session, here):
    step_cell(ip, "", READ_CSV)
    (here / "data.csv").unlink()
    assert "data.csv is gone" in {r.name: r for r in session.status()}["df"].why
    result = step_cell(ip, "", READ_CSV)
    assert result.error_in_exec is not None  # plain Python fails too: FileNotFoundError
    assert any("data.csv is gone" in n for n in session.steps["df"].notes)


def test_a_file_the_cell_looked_for_and_did_not_find_is_part_of_it(ip, session, here):
    """``os.path.exists('marker.txt')`` gave False; the file appears: plain Python gives
    True, so the cell is stale before it runs and runs again, saying which file appeared."""
    cell = "import os\nflag = os.path.exists('marker.txt')"
    step_cell(ip, "", cell)
    step_cell(ip, "", cell)
    assert ip.user_ns["flag"] is False and session.steps["flag"].state == "cached"
    (here / "marker.txt").write_text("here")
    rows = {r.name: r for r in session.status()}
    assert rows["flag"].state == "stale" and "marker.txt appeared" in rows["flag"].why
    assert "marker.txt appeared" in session.why("flag")
    step_cell(ip, "", cell)
    assert ip.user_ns["flag"] is True and session.steps["flag"].state == "done"
    assert any("marker.txt appeared" in n for n in session.steps["flag"].notes)


def test_files_a_list_of_paths_names_are_read_by_the_cells_it_is_an_input_of(
        ip, session, here, capfd):
    """Another process reads them (``subprocess``, a ``Pool``, joblib's workers), out of
    the audit hook's sight: a list (or dict) of paths another cell made is like a path
    held by a variable, its files are the reading cell's. Before, the cell stayed a hit
    showing the old contents after a file changed."""
    (here / "parts").mkdir()
    for name, text in (("a.txt", "1\n"), ("b.txt", "2\n")):
        (here / "parts" / name).write_text(text)
    make = "import glob\nnames = sorted(glob.glob('parts/*.txt'))"
    read = ("import subprocess\n"
            "out = subprocess.run(['cat', *names], capture_output=True, text=True).stdout\n"
            "total = sum(int(v) for v in out.split())")
    for expected, state in ((3, "done"), (3, "cached"), (9, "done")):
        if expected == 9:
            _edit(here / "parts" / "b.txt", "8\n")
        step_cell(ip, "", make)
        step_cell(ip, "", read)
        assert ip.user_ns["total"] == expected
        rec = next(r for r in session.steps.values() if "subprocess" in r.body)
        assert rec.state == state, (rec.state, rec.notes)
    assert any("parts/b.txt changed" in n for n in rec.notes), rec.notes
    # the cell making the list does not read the files: it stays a hit
    assert next(r for r in session.steps.values() if "glob" in r.body).state == "cached"


def test_a_python_file_read_as_data_is_a_read(ip, session, here):
    """Only imported modules' sources are left to the code fingerprint: ``helper.py``
    read as text (or executed with ``exec(open(...).read())``) is the cell's data."""
    (here / "helper.py").write_text("K = 2\n")
    cell = "n = len(open('helper.py').read().splitlines())"
    step_cell(ip, "", cell)
    _edit(here / "helper.py", "K = 2\nJ = 3\n")
    step_cell(ip, "", cell)
    assert ip.user_ns["n"] == 2 and session.steps["n"].state == "done"
    assert any("helper.py changed" in n for n in session.steps["n"].notes)


def test_a_listing_of_the_kernels_pseudo_file_systems_is_not_data(ip, session, here):
    """``os.listdir('/proc')`` (psutil's ``pids()``, called by libraries a step uses while a
    plotly figure is first shown) lists processes, not data: a process started since must
    not make the cell run again (after a restart the kernel's own process number is new)."""
    import subprocess

    if not os.path.isdir("/proc"):
        pytest.skip("no /proc here")
    code = "import os\nprocs = len([p for p in os.listdir('/proc') if p.isdigit()]) > 0"
    step_cell(ip, "", code)
    child = subprocess.Popen(["sleep", "30"])  # a new entry in /proc
    try:
        step_cell(ip, "", code)
        rec = session.steps["procs"]
        assert rec.state == "cached", rec.notes
    finally:
        child.kill()
        child.wait()


LAZY_CELLS = [
    "import polars as pl\nimport pyarrow.dataset as ds\nlf = pl.scan_csv('data.csv')\n"
    "lp = pl.scan_parquet('x.parquet')\ndset = ds.dataset('parts/', partitioning='hive')\n"
    "gl = pl.scan_csv('g/*.csv')\npq_path = 'x.parquet'",
    "lfd = pl.scan_pyarrow_dataset(dset)\nlfd.head(1).collect()",
    "total_pd = lfd.select(pl.col('a').sum()).collect().item()",
    "total = lf.select(pl.col('a').sum()).collect().item()",
    "rows_p = pl.read_parquet(pq_path).height",
    "rows_d = pl.read_parquet('parts/').height",
    "total_p = lp.select(pl.col('a').sum()).collect().item()",
    "total_d = sorted(dset.to_table()['a'].to_pylist())",
    "total_g = gl.select(pl.col('a').sum()).collect().item()",
]


def test_lazy_frames_and_datasets_read_their_files_in_the_cell_that_computes_them(
        ip, session, here):
    """``lf = pl.scan_csv(...)`` in one cell, ``lf.collect()`` in another: polars (and pyarrow
    for ``ds.dataset('parts/')``) opens the files in Rust and C when the value is computed,
    out of the audit hook's sight, and the value's digest is its plan. The files its lazy
    inputs scan are the cell's reads: an edited file, a file added to a scanned folder or
    glob, re-runs it (it kept the old sums before, also after a restart). So does a file a
    variable names (``pl.read_parquet(pq_path)``) and a folder the code names."""
    import flowyml_jupyter

    pl = pytest.importorskip("polars")
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pl.DataFrame({"a": [1, 2]}).write_parquet(here / "x.parquet")
    (here / "parts" / "k=1").mkdir(parents=True)
    pq.write_table(pa.table({"a": [1, 2]}), here / "parts" / "k=1" / "p0.parquet")
    (here / "g").mkdir()
    (here / "g" / "a.csv").write_text("a\n1\n2\n")

    def run() -> dict[str, object]:
        for cell in LAZY_CELLS:
            assert step_cell(ip, "", cell).success
        return {n: ip.user_ns[n] for n in ("total", "total_p", "total_d", "total_g", "rows_p",
                                           "rows_d", "total_pd")}

    assert run() == {"total": 3, "total_p": 3, "total_d": [1, 2], "total_g": 3, "rows_p": 2,
                     "rows_d": 2, "total_pd": 3}
    assert not any("changed in place" in n for n in session.steps["total_d"].notes)
    run()
    assert {n: session.steps[n].state for n in ("total", "total_p", "total_d", "total_g")} \
        == dict.fromkeys(("total", "total_p", "total_d", "total_g"), "cached")

    # new files in the scanned folder and glob: the cell that made the dataset runs again
    pq.write_table(pa.table({"a": [5]}), here / "parts" / "k=1" / "p1.parquet")
    (here / "g" / "b.csv").write_text("a\n100\n")
    assert run() == {"total": 3, "total_p": 3, "total_d": [1, 2, 5], "total_g": 103,
                     "rows_p": 2, "rows_d": 3, "total_pd": 8}
    assert "the listing of" in " ".join(session.steps["lf"].notes)
    assert session.steps["total"].state == "cached"
    # edited files: the cells computing the frames run again, saying which file changed
    _edit(here / "data.csv", "a\n1\n2\n10\n")
    pl.DataFrame({"a": [1, 2, 10]}).write_parquet(here / "x.parquet")
    # and a file of the dataset, read through pl.scan_pyarrow_dataset (a Python scan)
    pq.write_table(pa.table({"a": [1, 4]}), here / "parts" / "k=1" / "p0.parquet")
    assert run() == {"total": 13, "total_p": 13, "total_d": [1, 4, 5], "total_g": 103,
                     "rows_p": 3, "rows_d": 3, "total_pd": 10}
    notes = {n: " ".join(session.steps[n].notes) for n in ("total", "total_p")}
    assert "data.csv changed" in notes["total"] and "x.parquet changed" in notes["total_p"], notes

    ip.restart()
    assert run() == {"total": 13, "total_p": 13, "total_d": [1, 4, 5], "total_g": 103,
                     "rows_p": 3, "rows_d": 3, "total_pd": 10}
    session = flowyml_jupyter._LOADED[id(ip)].session  # the restarted kernel's
    assert {n: session.steps[n].state for n in ("total", "total_p", "total_d", "total_g")} \
        == dict.fromkeys(("total", "total_p", "total_d", "total_g"), "cached")


def test_open_a_glob_listing_and_a_downstream_step(ip, session, here):
    (here / "data").mkdir()
    (here / "data" / "a.csv").write_text("x\n1\n")
    (here / "notes.txt").write_text("hello")
    body_open = "with open('notes.txt') as fh:\n    text = fh.read()"
    body_glob = "import glob\nparts = sorted(glob.glob('data/*.csv'))"
    body_down = "n = len(parts) + len(text)"
    for body in (body_open, body_glob, body_down):
        step_cell(ip, "", body)
    assert ip.user_ns["n"] == 6
    for body in (body_open, body_glob, body_down):
        step_cell(ip, "", body)
    assert all(r.state == "cached" for r in session.steps.values())

    (here / "data" / "b.csv").write_text("x\n2\n")  # a new file in the listing
    step_cell(ip, "", body_glob)
    assert session.steps["parts"].state == "done"
    assert any("listing of data" in n for n in session.steps["parts"].notes)
    step_cell(ip, "", body_down)  # re-keyed by the new `parts`
    assert session.steps["n"].state == "done" and ip.user_ns["n"] == 7

    _edit(here / "notes.txt", "hello world")
    step_cell(ip, "", body_open)
    assert session.steps["text"].state == "done" and ip.user_ns["text"] == "hello world"
    step_cell(ip, "", body_down)
    assert ip.user_ns["n"] == 13


def test_a_written_file_is_put_back_on_a_hit_after_a_restart(ip, session, here):
    body = ("import os, pickle\nos.makedirs('out', exist_ok=True)\nmodel = {'w': 3}\n"
            "with open('out/model.pkl', 'wb') as fh:\n    pickle.dump(model, fh)")
    step_cell(ip, "", body)
    saved = (here / "out" / "model.pkl").read_bytes()
    (here / "out" / "model.pkl").unlink()
    ip.restart()
    step_cell(ip, "", body)
    import flowyml_jupyter

    rec = flowyml_jupyter._LOADED[id(ip)].session.steps["model"]
    assert rec.state == "cached"
    assert (here / "out" / "model.pkl").read_bytes() == saved
    # a file written and then read by the same step is an output, not an input
    assert not rec.made.files.get("read")


def test_a_file_written_in_c_is_put_back_on_a_hit_after_a_restart(ip, session, here):
    """``df.write_parquet('out.parquet')`` and ``pq.write_table(t, path)`` write in Rust and
    C: the audit hook sees no ``open``. A file the code names (or a variable holds) that
    changed while the cell ran is one it wrote: kept with its entry and put back on a hit
    (it was taken for a read, and the cell re-ran after a restart: "out.parquet is gone")."""
    import flowyml_jupyter

    pytest.importorskip("polars")
    pytest.importorskip("pyarrow")
    cells = ["import polars as pl\nout_path = 'out/table.parquet'\nimport os\n"
             "os.makedirs('out', exist_ok=True)",
             "df = pl.DataFrame({'a': [1, 2, 3]})\ndf.write_parquet('out.parquet')",
             "import pyarrow.parquet as pq\npq.write_table(df.to_arrow(), out_path)\nn = df.height"]
    for cell in cells:
        step_cell(ip, "", cell)
    saved = {p: (here / p).read_bytes() for p in ("out.parquet", "out/table.parquet")}
    for p in saved:
        (here / p).unlink()
    ip.restart()
    for cell in cells:
        step_cell(ip, "", cell)
    steps = flowyml_jupyter._LOADED[id(ip)].session.steps
    assert steps["df"].state == "cached" and steps["n"].state == "cached", (
        steps["df"].notes, steps["n"].notes)
    assert {p: (here / p).read_bytes() for p in saved} == saved
    assert not steps["df"].made.files.get("read")


def test_written_files_over_the_bound_are_not_kept_and_the_step_re_runs(ip, session, here,
                                                                        capsys):
    ip.run_line_magic("flowyml", "config files_max=10")
    assert "files_max=10 B" in capsys.readouterr().out and session.files_max == 10
    body = "with open('big.bin', 'wb') as fh:\n    fh.write(b'x' * 100)\nsize = 100"
    with pytest.warns(UserWarning, match="over the 10 B bound"):
        step_cell(ip, "", body)
    (here / "big.bin").unlink()
    step_cell(ip, "", body)
    assert session.steps["size"].state == "done"  # not kept: the step makes it again
    assert (here / "big.bin").stat().st_size == 100
    step_cell(ip, "", body)
    assert session.steps["size"].state == "cached"


def test_declared_files_and_turning_recording_off(ip, session, here, monkeypatch):
    # a file read in a way nothing records (a thread the cell starts): declared, it counts
    (here / "cfg.txt").write_text("1")
    body = ("import threading\nbox = []\nt = threading.Thread(target=lambda: box.append("
            "open(''.join(['cfg', '.txt'])).read()))\nt.start(); t.join()\ncfg = box[0]")
    step_cell(ip, "cfg -o cfg --files 'cfg*.txt'", body)
    _edit(here / "cfg.txt", "2")
    step_cell(ip, "cfg -o cfg --files 'cfg*.txt'", body)
    assert session.steps["cfg"].state == "done" and ip.user_ns["cfg"] == "2"
    (here / "cfg2.txt").write_text("x")  # a new match of the pattern
    step_cell(ip, "cfg -o cfg --files 'cfg*.txt'", body)
    assert session.steps["cfg"].state == "done"

    step_cell(ip, "--no-track-files", READ_CSV)
    _edit(here / "data.csv", "a\n5\n")
    step_cell(ip, "--no-track-files", READ_CSV)
    assert session.steps["df"].state == "cached" and ip.user_ns["total"] == 3

    monkeypatch.setenv("FLOWYML_TRACK_FILES", "0")
    other = "import pandas as pd\nother = int(pd.read_csv('data.csv').a.sum())"
    step_cell(ip, "", other)
    _edit(here / "data.csv", "a\n6\n")
    step_cell(ip, "", other)
    assert session.steps["other"].state == "cached" and ip.user_ns["other"] == 5


def test_a_symlink_is_tracked_by_its_target_and_a_path_outside_the_tree(ip, session, here,
                                                                        tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere") / "ext.txt"
    outside.write_text("1")
    (here / "link.txt").symlink_to(outside)
    via_link = "a = open('link.txt').read()"
    direct = f"b = open({str(outside)!r}).read()"
    step_cell(ip, "", via_link)
    step_cell(ip, "", direct)
    assert (ip.user_ns["a"], ip.user_ns["b"]) == ("1", "1")
    from flowyml.tracking import files

    note = files.records(session.steps["b"].made.files)
    assert list(note) == [str(outside)]  # outside the working tree: kept absolute
    _edit(outside, "2")
    step_cell(ip, "", via_link)
    assert session.steps["a"].state == "done" and ip.user_ns["a"] == "2"
    assert any("link.txt changed" in n for n in session.steps["a"].notes)
    step_cell(ip, "", direct)
    assert session.steps["b"].state == "done" and ip.user_ns["b"] == "2"
    assert any(f"{outside} changed" in n for n in session.steps["b"].notes)


def test_a_file_vanishing_or_unreadable_mid_check_is_a_miss_not_a_crash(here, monkeypatch):
    from flowyml.tracking import files

    size = (here / "data.csv").stat().st_size
    note = {"read": {"data.csv": [size, 1, "0" * 32]}}  # same size, other mtime: hashed
    real = files._hash_fd

    def failing(fd, n, *_):  # the disk fails while the file is read
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(files, "_hash_fd", failing)
    assert files.stale_reason(note) == "data.csv is unreadable"

    def vanish(fd, n, *_):  # the file goes between the stat and the hash
        (here / "data.csv").unlink()
        raise OSError(2, "No such file or directory")

    monkeypatch.setattr(files, "_hash_fd", vanish)
    assert files.stale_reason(note) == "data.csv is gone"
    monkeypatch.setattr(files, "_hash_fd", real)
    assert files.stale_reason(note) == "data.csv is gone"
    assert files.stale_reason({"read": {"nope/x.csv": [1, 1, "0" * 32]}}) == "nope/x.csv is gone"


def test_a_file_written_while_it_is_hashed_is_hashed_again(here, monkeypatch):
    from flowyml.tracking import files

    real, calls = files._hash_fd, []

    def growing(fd, size, *rest):
        calls.append(size)
        if len(calls) == 1:
            _edit(here / "data.csv", "a\n1\n2\n3\n")  # written while being hashed
        return real(fd, size, *rest)

    monkeypatch.setattr(files, "_hash_fd", growing)
    size, _, digest = files.file_record(str(here / "data.csv"))
    assert len(calls) == 2 and size == 8
    monkeypatch.setattr(files, "_hash_fd", real)
    import xxhash

    assert digest == files.file_record(str(here / "data.csv"))[2] == xxhash.xxh3_128_hexdigest(
        b"a\n1\n2\n3\n")


# -- a real kernel ----------------------------------------------------------------------------

NB_CELLS = [
    "%load_ext flowyml",
    "%%step\nimport pandas as pd\ndf = pd.read_csv('data.csv')\ntotal = int(df.a.sum())",
    "%%step\ndoubled = total * 2",
    "%%step\nimport json\nwith open('out/summary.json', 'w') as fh:\n    json.dump({'t': total}, fh)\n"
    "written = True",
    "%%step\nimport os\nunrelated = sorted(os.listdir('out'))",
    "print('RESULT', total, doubled, unrelated)",
]


def _run_notebook(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def _states(nb: nbformat.NotebookNode) -> list[str]:
    out = []
    for cell in nb.cells:
        if cell.source.startswith("%%step"):
            texts = [o.data.get("text/plain", "") for o in cell.outputs
                     if o.output_type == "display_data"]
            out.append(texts[-1] if texts else "")
    return out


def _printed(nb: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in nb.cells[-1].outputs)


@pytest.mark.slow
def test_a_real_kernel_re_runs_on_a_file_edit_and_puts_a_written_file_back(tmp_path, monkeypatch):
    from nbformat.v4 import new_code_cell, new_notebook

    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / ".flowyml" / "cache"))
    (tmp_path / "data.csv").write_text("a\n1\n2\n")
    (tmp_path / "out").mkdir()
    path = tmp_path / "files.ipynb"
    nb = new_notebook(cells=[new_code_cell(s) for s in NB_CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.nbformat_minor = 4  # no cell ids, as papermill/nbconvert files often are
    for cell in nb.cells:
        cell.pop("id", None)
    nbformat.write(nb, path, version=4)

    first = _run_notebook(path)
    assert "RESULT 3 6 ['summary.json']" in _printed(first)
    assert all("done" in s for s in _states(first)), _states(first)

    (tmp_path / "out" / "summary.json").unlink()
    second = _run_notebook(path)
    assert all("cached" in s for s in _states(second)), _states(second)
    assert (tmp_path / "out" / "summary.json").read_text() == '{"t": 3}'

    time.sleep(0.01)
    _edit(tmp_path / "data.csv", "a\n1\n2\n30\n")
    third = _run_notebook(path)
    states = _states(third)
    assert "RESULT 33 66 ['summary.json']" in _printed(third)
    assert "done" in states[0] and "data.csv changed" in states[0], states
    assert "done" in states[1] and "done" in states[2], states  # downstream re-keyed
    assert "cached" in states[3], states  # reads nothing that changed: not re-run
    assert (tmp_path / "out" / "summary.json").read_text() == '{"t": 33}'



def test_cells_naming_folders_that_later_cells_write_into_stay_hits(tmp_path):
    """handson-ml3's notebooks: ``IMAGES_PATH = Path() / "images" / ...`` with a ``mkdir``,
    a data folder path (``datapath``) whose one CSV a cell reads with pandas, then later cells
    saving figures into the first and a file into the second. Neither folder is read whole
    (pandas' open of the one file is seen): after a restart every cell is a hit."""
    from .kernel_runs import printed, three_runs

    (tmp_path / "datasets" / "lifesat").mkdir(parents=True)
    (tmp_path / "datasets" / "lifesat" / "bli.csv").write_text("a\n1\n2\n")
    cells = ["%%step\nfrom pathlib import Path\nimport pandas as pd\n"
             "IMAGES_PATH = Path() / 'images' / 'ch1'\nIMAGES_PATH.mkdir(parents=True, exist_ok=True)\n"
             "datapath = Path() / 'datasets' / 'lifesat'",
             "%%step\nbli = pd.read_csv(datapath / 'bli.csv')\nprint(int(bli.a.sum()))",
             "%%step\n(IMAGES_PATH / 'fig1.txt').write_text('drawn')\n"
             "(datapath / 'notes.txt').write_text('seen')\nprint('saved')"]
    plain, first, again, statuses = three_runs(tmp_path, cells, view=printed)
    assert plain == first == again == ["", "3\n", "saved\n"], (plain, first, again)
    assert all("cached" in s for s in statuses), statuses
