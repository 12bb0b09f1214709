"""Files are inputs (and outputs) of a step (SPEC §9): the recorder, the check on lookup,
the controls, the exported module and the CLI."""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
from pathlib import Path

import pytest

from flowyml import Pipeline, step
from flowyml.tracking import files


def _edit(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLOWYML_TRACK_FILES", raising=False)
    (tmp_path / "data.csv").write_text("a\n1\n2\n")
    return tmp_path


def _record(func, **kwargs):
    tracking = files.Tracking(code=func.__code__, skip=[])
    value, observed = files.Recorded(func, tracking)(**kwargs)
    return value, observed.note


def test_reads_writes_listings_and_skips(here, monkeypatch):
    monkeypatch.setenv("FLOWYML_FILES_HASH_BUDGET", "all")  # hashed whatever the step cost
    def body():
        import json  # noqa: F401 - an import inside a step is not a file it reads

        (here / "sub").mkdir()
        with open("data.csv") as fh:
            text = fh.read()
        os.listdir(".")
        with open("out.txt", "w") as fh:
            fh.write("x")
        with open("out.txt") as fh:  # written, then read: an output only
            fh.read()
        with open(os.__file__, "rb"):  # the interpreter's own files are not data
            pass
        return text

    value, note = _record(body)
    assert value == "a\n1\n2\n"
    assert list(files.records(note)) == ["data.csv"]
    assert list(note["dirs"]) == ["."]
    assert list(note["wrote"]) == ["out.txt"] and note["kept"] == ["out.txt"]
    size, mtime, digest = files.records(note)["data.csv"]
    assert (size, mtime) == (6, (here / "data.csv").stat().st_mtime_ns)
    import xxhash

    assert digest == xxhash.xxh3_128_hexdigest(b"a\n1\n2\n")


def test_package_metadata_lookups_are_not_listings_of_the_working_directory(here, monkeypatch):
    """``importlib.metadata`` (a library checking a version at import: scikit-learn's
    does) lists every sys.path entry, the working directory among them: recorded as the
    step's listing, the step re-ran whenever a file was added next to the notebook."""
    import glob
    import importlib.metadata

    monkeypatch.syspath_prepend("")

    def body():
        names = {d.metadata["Name"] for d in importlib.metadata.distributions()}
        return "pytest" in {n.lower() for n in names if n}

    value, note = _record(body)
    assert value is True
    assert not (note or {}).get("dirs"), note
    _, note = _record(lambda: sorted(glob.glob("*.csv")))  # a listing of the data still is
    assert list(note["dirs"]) == ["."]


def test_a_literal_path_read_in_c_is_recorded(here, monkeypatch):
    monkeypatch.setenv("FLOWYML_FILES_HASH_BUDGET", "all")  # hashed whatever the step cost
    db = here / "data.db"
    con = sqlite3.connect(db)
    con.execute("create table t (x)")
    con.execute("insert into t values (1)")
    con.commit()
    con.close()

    def body():
        with sqlite3.connect("data.db") as c:  # opened in C: no audit event
            return c.execute("select sum(x) from t").fetchone()[0]

    value, note = _record(body)
    assert value == 1 and "data.db" in files.records(note)
    assert files.stale_reason(note) is None
    con = sqlite3.connect(db)
    con.execute("insert into t values (2)")
    con.commit()
    con.close()
    assert files.stale_reason(note) == "data.db changed"


def test_nothing_is_recorded_outside_a_step_and_threads_keep_their_own(here):
    files.install()
    assert files._CURRENT.get() is None
    (here / "other.txt").write_text("o")
    seen = {}

    def reader(name):
        def body():
            with open(name) as fh:
                return fh.read()
        return body

    def in_thread(name, barrier):
        tracking = files.Tracking(skip=[])
        with tracking.recording() as observed:
            barrier.wait()
            reader(name)()
            barrier.wait()
        seen[name] = list(files.records(observed.note))

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=in_thread, args=(n, barrier)) for n in ("data.csv", "other.txt")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"data.csv": ["data.csv"], "other.txt": ["other.txt"]}


def test_recording_never_changes_or_breaks_what_the_step_reads(here):
    def body():
        out = []
        for args in [(0,), (b"data.csv",), (Path("data.csv"),)]:
            if args[0] == 0:
                continue
            with open(*args, "rb") as fh:
                out.append(fh.read())
        fd = os.open("data.csv", os.O_RDONLY)
        os.close(fd)
        with pytest.raises(FileNotFoundError):
            open("missing.csv")  # noqa: SIM115
        return out

    value, note = _record(body)
    assert value == [b"a\n1\n2\n"] * 2
    assert list(files.records(note)) == ["data.csv"]  # the missing one is no input


@step(outputs=["total"])
def read_total():
    with open("data.csv") as fh:
        return sum(int(x) for x in fh.read().split()[1:])


@step(outputs=["n_cfg"], files=["conf/*.ini"])
def count_cfg():
    return 1  # reads nothing itself: the declared files count


@step(outputs=["quiet"], track_files=False)
def quiet_total():
    with open("data.csv") as fh:
        return fh.read()


def test_pipeline_controls(here, cache_dir, monkeypatch):
    (here / "conf").mkdir()
    (here / "conf" / "a.ini").write_text("1")

    def run(*steps):
        return Pipeline("ctl", cache_dir=cache_dir).add_steps(list(steps)).run()

    assert run(read_total, count_cfg, quiet_total).success
    _edit(here / "data.csv", "a\n1\n2\n3\n")
    (here / "conf" / "b.ini").write_text("2")
    again = run(read_total, count_cfg, quiet_total)
    states = {n: r.state for n, r in again.step_results.items()}
    assert states == {"read_total": "done", "count_cfg": "done", "quiet_total": "cached"}
    assert again["read_total"] == 6
    assert "conf/*.ini" in again.step_results["count_cfg"].rerun_reason

    monkeypatch.setenv("FLOWYML_TRACK_FILES", "0")
    _edit(here / "data.csv", "a\n9\n")
    off = run(read_total, count_cfg)
    assert {n: r.state for n, r in off.step_results.items()} == {
        "read_total": "cached", "count_cfg": "cached"}  # declared files: still tracked
    _edit(here / "conf" / "b.ini", "3")
    assert run(count_cfg).step_results["count_cfg"].state == "done"


class _Clock:
    """The budget's clock, moved by hand: a step "takes" what it adds to ``t``."""

    def __init__(self) -> None:
        self.t = 0.0
        self.step = 0.0

    def __call__(self) -> float:
        return self.t


_CLOCK = _Clock()


@step(outputs=["both"])
def read_both():
    _CLOCK.t += _CLOCK.step
    with open("data.csv") as fh, open("big.bin", "rb") as big:
        return len(fh.read()) + len(big.read())


def test_the_hashing_budget_is_a_share_of_the_steps_own_time(here, tmp_path, monkeypatch):
    """5 % of a step that took 1 s is 50 ms of hashing: data.csv (estimated at a few us)
    fits, big.bin (100 kB at a pretend 1 MB/s: 0.1 s) does not and is recorded by size and
    mtime. A step that took no time hashes nothing. A touched hashed file stays a hit, a
    touched unhashed one re-runs the step, naming it."""
    import xxhash

    monkeypatch.delenv("FLOWYML_FILES_HASH_BUDGET", raising=False)
    monkeypatch.setattr(files, "_now", _CLOCK)
    monkeypatch.setattr(files, "_HASH_RATE", 1e6)
    (here / "big.bin").write_bytes(b"x" * 100_000)

    def run(cache, took):
        _CLOCK.step = took
        return Pipeline("budget", cache_dir=tmp_path / cache).add_steps([read_both]).run()

    first = run("one_second", 1.0)
    read = files.records(first.step_results["read_both"].files)
    assert read["data.csv"][2] == xxhash.xxh3_128_hexdigest(b"a\n1\n2\n")
    assert read["big.bin"][2] == files.UNHASHED and read["big.bin"][0] == 100_000
    instant = run("no_time", 0.0)
    assert [r[2] for r in files.records(instant.step_results["read_both"].files).values()] == [
        files.UNHASHED, files.UNHASHED]

    _edit(here / "data.csv", "a\n1\n2\n")  # hashed: touched with the same bytes, a hit
    assert run("one_second", 1.0).step_results["read_both"].state == "cached"
    _edit(here / "big.bin", "x" * 100_000)  # by size and time: touched, a miss naming it
    again = run("one_second", 1.0).step_results["read_both"]
    assert again.state == "done" and again.rerun_reason.startswith(
        "big.bin changed (its modification time; it was recorded by size and time only")


def test_old_records_with_digests_and_the_budget_setting(here, monkeypatch):
    """Records made before the budget (a digest for every file, packed or a dict) keep
    their meaning: a touched file with the same bytes is valid. The setting is a percentage
    (``5%``, ``5``), ``0`` or ``all``; anything else is the default."""
    size, mtime, digest = files.file_record("data.csv")
    old = {"read": f"{size} {mtime} {digest} data.csv\n"}
    as_dict = {"read": {"data.csv": [size, mtime, digest]}}
    _edit(here / "data.csv", "a\n1\n2\n")
    assert files.stale_reason(old) is None and files.stale_reason(as_dict) is None
    assert files.describe(old) == "1 read"
    _edit(here / "data.csv", "a\n1\n3\n")
    assert files.stale_reason(old) == "data.csv changed"
    unhashed = {"read": f"{size} {mtime} - data.csv\n"}
    assert files.records(unhashed) == {"data.csv": [size, mtime, files.UNHASHED]}
    hashed, real = [], files._hash_fd
    monkeypatch.setattr(files, "_hash_fd", lambda *args: hashed.append(args) or real(*args))
    assert files.stale_reason(unhashed).startswith("data.csv changed (its modification time")
    assert hashed == []  # a record by size and time is never hashed at lookup
    assert files.stale_reason(old) == "data.csv changed" and len(hashed) == 1  # one with a digest is

    for text, share in [("5%", 0.05), ("5", 0.05), (" 12.5 % ", 0.125), ("0", 0.0),
                        ("all", float("inf")), ("ALL", float("inf")), ("lots", 0.05),
                        ("-3", 0.05), ("", 0.05)]:
        monkeypatch.setenv("FLOWYML_FILES_HASH_BUDGET", text)
        assert files.hash_budget_from_env() == pytest.approx(share), text


def test_bad_files_argument_names_the_step():
    with pytest.raises(ValueError, match="step 'bad': files must be a list of paths"):
        step(outputs=["x"], name="bad", files=[3], register=False)(lambda: 1)

    @step(name="ok", files="data/*.csv", register=False)
    def ok():
        return 1

    assert ok.files == ["data/*.csv"]


def test_cellspec_options_and_export_keep_them():
    from flowyml.notebook.cellspec import StepLineError, parse_step_line

    spec = parse_step_line("--files 'data/*.csv' --files b.txt --no-track-files")
    assert spec.files == ["data/*.csv", "b.txt"] and spec.track_files is False
    assert parse_step_line("").files is None and parse_step_line("").track_files is True
    with pytest.raises(StepLineError, match="--files needs a path"):
        parse_step_line("--files ''")


# -- the exported module and the CLI ------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def _cli(args, cwd, cache):
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWYML_")}
    env["FLOWYML_CACHE_DIR"] = str(cache)
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "flowyml", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_exported_module_re_runs_after_a_file_edit_and_why_says_so(here):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(s) for s in [
        "%%step\nrows = open('data.csv').read().split()[1:]",
        "%%step --files 'extra/*.txt'\ntotal = sum(int(r) for r in rows)",
        "%%step --no-track-files\nblind = open('data.csv').read()",
    ]])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, here / "nb.ipynb")
    cache = here / "cache"
    out = _cli(["export", "nb.ipynb", "-o", "mod.py"], here, cache)
    assert out.returncode == 0, out.stderr
    source = (here / "mod.py").read_text()
    assert 'files=["extra/*.txt"]' in source and "track_files=False" in source

    first = _cli(["run", "mod.py"], here, cache)
    assert first.returncode == 0, first.stderr + first.stdout
    second = _cli(["run", "mod.py"], here, cache)
    assert second.stdout.count(" cached ") == 3, second.stdout

    _edit(here / "data.csv", "a\n1\n2\n40\n")
    why = _cli(["why", "mod.py", "rows"], here, cache)
    assert "will re-run: data.csv changed" in why.stdout, why.stdout + why.stderr
    third = _cli(["run", "mod.py"], here, cache)
    lines = {ln.split()[2]: ln for ln in third.stdout.splitlines() if ln.startswith("[")}
    assert " done " in lines["rows"] and "(data.csv changed)" in lines["rows"], third.stdout
    assert " done " in lines["total"]  # its input `rows` changed
    assert " cached " in lines["blind"]  # --no-track-files
    (here / "extra").mkdir()
    (here / "extra" / "x.txt").write_text("1")
    fourth = _cli(["run", "mod.py"], here, cache)
    lines = {ln.split()[2]: ln for ln in fourth.stdout.splitlines() if ln.startswith("[")}
    assert " cached " in lines["rows"] and " done " in lines["total"], fourth.stdout


def test_a_large_quiet_file_is_hashed_through_a_map_and_a_fresh_one_is_read(tmp_path, monkeypatch):
    """A data file of 64 MiB or more, left alone for a while, is hashed through a read-only
    memory map (no copy); a file written in the last 2 s is read instead (it may still be
    written or truncated). Both give the content's xxh3-128."""
    import time

    import xxhash

    from flowyml.tracking import files

    big = tmp_path / "big.bin"
    block = bytes(range(256)) * 4096
    with open(big, "wb") as fh:
        for _ in range(files._MAP_MIN // len(block) + 1):
            fh.write(block)
    expected = xxhash.xxh3_128_hexdigest(big.read_bytes())
    mapped = []
    real = files._hash_mapped
    monkeypatch.setattr(files, "_hash_mapped", lambda fd, size: mapped.append(size) or real(fd, size))
    assert files.file_record(str(big))[2] == expected and not mapped  # just written: read
    then = time.time() - 60
    os.utime(big, (then, then))
    assert files.file_record(str(big))[2] == expected and mapped == [big.stat().st_size]


def test_a_pipeline_step_reading_an_environment_variable_re_runs_when_it_changes(here, cache_dir, monkeypatch):
    """The record of what a step read holds the environment variables its own code read
    (a digest of each value): started again with another value, the step runs again and
    says why; a variable it set itself and what libraries read are not in it."""
    @step(outputs=["d"], register=False)
    def read_env() -> str:
        os.environ["MY_OWN_SETTING"] = "x"
        return os.environ.get("MY_DATA_DIR", "data") + os.getenv("MY_OWN_SETTING", "")

    def run() -> tuple[str, str, str | None]:
        result = Pipeline("env", cache_dir=cache_dir).add_steps([read_env]).run()
        res = result.step_results["read_env"]
        return result["d"], res.state, res.rerun_reason

    monkeypatch.setenv("MY_DATA_DIR", "one")
    assert run()[:2] == ("onex", "done")
    assert run()[:2] == ("onex", "cached")
    monkeypatch.setenv("MY_DATA_DIR", "two")
    assert run() == ("twox", "done", "the environment variable MY_DATA_DIR changed")
    monkeypatch.delenv("MY_DATA_DIR")
    assert run() == ("datax", "done", "the environment variable MY_DATA_DIR changed")
    assert run()[1] == "cached"


def test_a_file_a_step_looked_for_and_did_not_find_re_runs_it_when_it_appears(here, cache_dir):
    """What a step did because a file was not there (an open that failed, a path its code
    tests for) changes when the file appears: plain Python reads the new settings, so the
    entry made without them is no longer valid, and ``why`` says which file appeared."""
    @step(outputs=["cfg"], register=False)
    def settings() -> str:
        try:
            with open("settings.ini") as fh:
                return fh.read()
        except FileNotFoundError:
            return "default"

    @step(outputs=["flag"], register=False)
    def marker() -> bool:
        return os.path.exists("ready/marker.txt")

    def run() -> dict:
        result = Pipeline("absent", cache_dir=cache_dir).add_steps([settings, marker]).run()
        return {n: (r.state, r.rerun_reason) for n, r in result.step_results.items()} | {
            "values": (result["cfg"], result["flag"])}

    assert run()["values"] == ("default", False)
    assert run()["settings"][0] == run()["marker"][0] == "cached"
    (here / "settings.ini").write_text("custom")
    out = run()
    assert out["values"] == ("custom", False)
    assert out["settings"] == ("done", "settings.ini appeared (it was not there when the step ran)")
    assert out["marker"][0] == "cached"  # only the step that looked for it
    (here / "ready").mkdir()
    (here / "ready" / "marker.txt").write_text("")
    out = run()
    assert out["values"] == ("custom", True)
    assert out["marker"][0] == "done" and "ready/marker.txt appeared" in out["marker"][1]
    assert run()["marker"][0] == "cached"
    (here / "ready" / "marker.txt").unlink()  # now it was there: gone is a change too
    out = run()
    assert out["values"] == ("custom", False) and out["marker"][0] == "done"


def test_literals_are_recorded_as_absent_only_by_code_that_tests_existence(here):
    def names_an_output() -> str:
        return "results/out.csv"  # written by a later step: its appearing changes nothing here

    def tests_it() -> bool:
        return os.path.isfile("results/out.csv")

    assert "absent" not in (_record(names_an_output)[1] or {})
    assert _record(tests_it)[1]["absent"] == ["results/out.csv"]
    assert "looked for, absent" in files.describe(_record(tests_it)[1])


def test_a_path_a_step_tested_for_and_then_made_re_runs_it_when_it_is_there(here, cache_dir):
    """``if os.path.isdir('out'): ... else: os.mkdir('out')`` (Data Carpentry's ``if
    'dir_name_here' in os.listdir('.')``, DSIRP's ``level_data``): the step makes the path it
    tested for, so it was absent when the step ran even though it is there at its end. Run
    again, plain Python finds it and takes the other branch: so must the pipeline (it stayed
    a hit showing "made"). A bare name (no dot, no slash) is such a path too; one there when
    the step ran and gone since re-runs it as well."""
    @step(outputs=["said"], register=False)
    def make_out() -> str:
        if os.path.isdir("out"):
            return "out exists"
        os.mkdir("out")
        return "made out"

    def run() -> tuple[str, str, str | None]:
        result = Pipeline("made", cache_dir=cache_dir).add_steps([make_out]).run()
        r = result.step_results["make_out"]
        return result["said"], r.state, r.rerun_reason

    assert run()[:2] == ("made out", "done")
    assert run() == ("out exists", "done", "out appeared (it was not there when the step ran)")
    assert run()[:2] == ("out exists", "cached")
    (here / "out").rmdir()
    assert run() == ("made out", "done", "out is gone (it was there when the step ran)")
    assert files.describe(_record(make_out.func)[1]) == "1 looked for, there"
    (here / "out").rmdir()
    assert files.describe(_record(make_out.func)[1]) == "1 looked for, absent"


def test_a_folder_a_step_listed_and_then_changed_is_recorded_as_it_listed_it(here, cache_dir):
    """Data Carpentry's ``if 'dir_name_here' in os.listdir('.'): print('exists') else:
    os.mkdir('dir_name_here')``, a ``glob('out/*.csv')`` before a ``to_csv('out/b.csv')``:
    the listing the step saw is the one before its own change. Recorded at the step's end,
    it held the new name, so a run after a restart stayed a hit showing "made" where plain
    Python, finding the name there, takes the other branch."""
    (here / "work").mkdir()
    (here / "out").mkdir()
    (here / "out" / "a.csv").write_text("a\n")

    @step(outputs=["said"], register=False)
    def make_sub() -> str:
        if "sub" in os.listdir("work"):
            return "sub exists"
        os.mkdir(os.path.join("work", "sub"))
        return "made sub"

    @step(outputs=["seen"], register=False)
    def glob_then_write() -> list:
        import glob

        seen = sorted(glob.glob(os.path.join("out", "*.csv")))
        with open(os.path.join("out", "b.csv"), "w") as fh:
            fh.write("b\n")
        return seen

    def run() -> tuple:
        result = Pipeline("listed", cache_dir=cache_dir).add_steps([make_sub, glob_then_write]).run()
        r, g = result.step_results["make_sub"], result.step_results["glob_then_write"]
        return result["said"], r.state, result["seen"], g.state

    assert run() == ("made sub", "done", [os.path.join("out", "a.csv")], "done")
    assert run() == ("sub exists", "done",
                     [os.path.join("out", "a.csv"), os.path.join("out", "b.csv")], "done")
    assert run()[1::2] == ("cached", "cached")
