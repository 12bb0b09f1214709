"""Files a step writes through a handle held from before it started (an SQLite connection,
``np.memmap``): out of the audit hook's sight, found by what the process holds open
(issue 19; the notebook-level cases are in tests/jupyter/test_truth_restart.py)."""

from __future__ import annotations

import os
import pickle
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from flowyml.tracking import files

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc (Linux)")


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLOWYML_TRACK_FILES", raising=False)
    return tmp_path


def _record(func):
    tracking = files.Tracking(code=func.__code__, skip=[])
    value, observed = files.Recorded(func, tracking)()
    return value, observed.note


def test_rows_inserted_through_a_connection_opened_before_are_a_written_file(here):
    con = sqlite3.connect("db.sqlite")
    con.execute("create table t (x)")
    con.commit()

    def insert():
        con.execute("insert into t values (1)")
        con.commit()

    _, note = _record(insert)
    assert list(note["wrote"]) == ["db.sqlite"] and not note.get("kept")  # never put back
    assert files.stale_reason(note) is None
    con.execute("insert into t values (2)")  # the file moves on: the entry is stale
    con.commit()
    assert files.stale_reason(note) == "db.sqlite, which it writes, changed (not kept with its entry)"

    def select():
        return con.execute("select count(*) from t").fetchone()[0]

    assert _record(select) == (2, None)  # reading through it writes nothing
    con.close()


def test_a_file_open_for_appending_is_a_log_not_an_output(here):
    log = open("run.log", "a")  # noqa: SIM115 - held across the step, as a logging handler does

    def body():
        log.write("line\n")
        log.flush()
        return 1

    assert _record(body) == (1, None)
    log.close()


def test_what_a_step_prints_into_redirected_stdout_is_not_an_output(tmp_path):
    """``flowyml run > log.txt``: fd 1 is a file open for writing, and printing moves it."""
    script = textwrap.dedent("""
        import sys
        from flowyml.tracking import files

        def body():
            print("hello", flush=True)
            return 1

        tracking = files.Tracking(code=body.__code__, skip=[])
        value, observed = files.Recorded(body, tracking)()
        sys.stderr.write(repr(observed.note))
    """)
    with open(tmp_path / "log.txt", "w") as log:
        done = subprocess.run([sys.executable, "-c", script], stdout=log, stderr=subprocess.PIPE,
                              text=True, cwd=tmp_path, env={**os.environ}, check=True)
    assert done.stderr == "None"
    assert (tmp_path / "log.txt").read_text() == "hello\n"


def test_values_written_into_a_memory_map_made_before_are_a_written_file(here):
    np = pytest.importorskip("numpy")
    files.install()  # as after any step: the hook sees the map being made
    mm = np.memmap("mm.dat", dtype="float64", mode="w+", shape=(4,))
    mm.flush()

    def body():
        mm[:2] = 7.0
        mm.flush()

    _, note = _record(body)
    assert list(note["wrote"]) == ["mm.dat"] and not note.get("kept")


def test_tool_folders_named_by_the_environment_and_database_journals_are_not_data(here, monkeypatch):
    """A Jupyter server that isolates its kernels (``IPYTHONDIR``, ``JUPYTER_*_DIR`` under the
    notebook's folder) has IPython's history thread write ``history.sqlite`` while a step
    runs: it must not become a file the step wrote (the entry would be stale once the
    transient ``-journal`` is gone, and every restart would re-run the step)."""
    ipython_dir = here / "jupyter-home" / "ipythondir"
    (ipython_dir / "profile_default").mkdir(parents=True)
    monkeypatch.setenv("IPYTHONDIR", str(ipython_dir))
    files._skip_prefixes.cache_clear()
    try:
        history = sqlite3.connect(ipython_dir / "profile_default" / "history.sqlite")
        history.execute("create table history (line)")
        history.commit()

        def body():  # what the history thread does beside the step
            history.execute("insert into history values ('x = 1')")
            history.commit()
            return 1

        assert _record(body) == (1, None)
        skipped = files._skip_test(())
        assert skipped(str(ipython_dir / "profile_default" / "history.sqlite"))
        assert skipped(str(here / "mine.sqlite-journal"))
        assert not skipped(str(here / "mine.sqlite"))  # the user's own database is data
        history.close()
    finally:
        files._skip_prefixes.cache_clear()


def test_a_file_object_is_stored_only_where_opening_it_again_gives_the_same_file(here):
    """A file kept open for reading is stored as its path, mode and position (opened again
    there on load); a closed one as a closed file, without opening its file for writing
    again (which would truncate it); one partway through ``for line in f`` (Python cannot
    tell its position) or opened from a descriptor is refused, as ``pickle`` refuses it; one
    open for writing is flushed and opened again without emptying its file."""
    from flowyml.handles import FileHandle, file_handle
    from flowyml.hashing import UnhashableValueError, hash_value
    from flowyml.store import byvalue

    (here / "t.txt").write_text("a\nb\nc\n")
    with open("t.txt") as f:
        f.readline()
        assert file_handle(f) == FileHandle("t.txt", "r", f.encoding, "strict", 2)
        again = pickle.loads(byvalue.dumps(f))
        assert (again.read(), again.name, again.mode) == ("b\nc\n", "t.txt", "r")
        again.close()
        moved = hash_value(f)
        f.seek(0)
        assert hash_value(f) != moved  # where it stands is part of the value
        next(iter(f))
        assert file_handle(f) is None  # partway through a `for line in f` loop
        with pytest.raises(UnhashableValueError, match="for line in f"):
            hash_value(f)
    with open("out.txt", "w") as w:
        w.write("kept")  # in its buffer: flushed when it is hashed or stored
        assert file_handle(w) == FileHandle("out.txt", "w", w.encoding, "strict", 4)
        assert (here / "out.txt").read_text() == "kept"
        again = pickle.loads(byvalue.dumps(w))  # opened again without emptying its file
        again.write("+")
        again.close()
        assert (here / "out.txt").read_text() == "kept+"
        assert hash_value(w) != hash_value(open("out.txt"))  # noqa: SIM115
    with os.fdopen(os.open("out.txt", os.O_RDONLY)) as from_fd:  # named by a descriptor
        assert file_handle(from_fd) is None
        with pytest.raises(UnhashableValueError, match="opened by its path"):
            hash_value(from_fd)
    closed = pickle.loads(byvalue.dumps(w))
    assert (closed.closed, closed.name, closed.mode) == (True, "out.txt", "w")
    assert (here / "out.txt").read_text() == "kept+"


def test_the_first_step_of_a_process_that_has_not_imported_sysconfig_records_its_files(here):
    """Which files are library code was asked of ``sysconfig``, imported on first use, from
    inside the step's record: its import read the environment that record watches, came back
    half done, and the step lost its record of the files it wrote through a held
    connection (run alone, this file's first test failed so)."""
    script = (
        "import sqlite3, sys\n"
        "assert 'sysconfig' not in sys.modules, 'imported at start-up here'\n"
        "from flowyml.tracking import files\n"
        "con = sqlite3.connect('db.sqlite'); con.execute('create table t (x)'); con.commit()\n"
        "def insert():\n"
        "    con.execute('insert into t values (1)'); con.commit()\n"
        "_, observed = files.Recorded(insert, files.Tracking(code=insert.__code__, skip=[]))()\n"
        "print(sorted((observed.note or {}).get('wrote', {})))\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=here, timeout=120)
    if "imported at start-up here" in done.stderr:
        pytest.skip("this interpreter imports sysconfig at start-up")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['db.sqlite']", (done.stdout, done.stderr)
