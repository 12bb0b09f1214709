"""A step's files are recorded where it runs (a thread, a worker process, a Dask worker, a
timeout's subprocess) and travel back with its entry; an edit re-runs it on every executor."""

from __future__ import annotations

import os
from pathlib import Path

from flowyml import Pipeline, step
from flowyml.tracking import files


@step(outputs=["total"])
def total_of(csv_path):
    with open(csv_path) as fh:
        return sum(int(line) for line in fh.read().split())


@step(inputs=["total"], outputs=["report"])
def report_of(total, out_dir):
    path = os.path.join(out_dir, "report.txt")
    with open(path, "w") as fh:
        fh.write(f"total={total}")
    return f"total={total}"


@step(outputs=["slow_total"], timeout=60)
def slow_total(csv_path):
    with open(csv_path) as fh:
        return sum(int(line) for line in fh.read().split())


def _edit(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def _run(cache_dir, executor, csv, out):
    pipe = Pipeline("files", cache_dir=cache_dir).add_steps([total_of, report_of])
    return pipe.run(executor=executor, csv_path=str(csv), out_dir=str(out))


def test_an_edited_file_re_runs_the_step_on_every_executor(executor, cache_dir, tmp_path,
                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    csv = tmp_path / "data.txt"
    csv.write_text("1\n2\n")
    first = _run(cache_dir, executor, csv, tmp_path)
    assert first.success, first.summary()
    assert first["report"] == "total=3"
    read = files.records(first.step_results["total_of"].files)
    assert [(name.endswith("data.txt"), rec[0]) for name, rec in read.items()] == [(True, 4)]

    (tmp_path / "report.txt").unlink()  # written by a step: put back on its hit
    second = _run(cache_dir, executor, csv, tmp_path)
    assert (tmp_path / "report.txt").read_text() == "total=3"
    if executor in ("sequential", "threads"):
        assert sorted(second.cached_steps) == ["report_of", "total_of"]
    else:
        # a worker process keeps the working directory it started in (a pool started by an
        # earlier test, a Dask worker): a file written outside it is checked, not kept, so
        # the step is made again -- or, in a worker started here, put back
        assert "total_of" in second.cached_steps
        again = second.step_results["report_of"]
        assert again.state == "cached" or "report.txt, which it writes, is gone" in again.rerun_reason

    _edit(csv, "1\n2\n30\n")
    third = _run(cache_dir, executor, csv, tmp_path)
    res = third.step_results["total_of"]
    assert res.state == "done" and res.rerun_reason.endswith("data.txt changed")
    assert third.step_results["report_of"].state == "done"  # re-keyed by the new total
    assert third["report"] == "total=33" and (tmp_path / "report.txt").read_text() == "total=33"


def test_a_step_with_a_timeout_off_the_main_thread_records_in_its_subprocess(cache_dir, tmp_path,
                                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    csv = tmp_path / "data.txt"
    csv.write_text("4\n")
    pipe = Pipeline("timed", cache_dir=cache_dir).add_steps([slow_total])
    first = pipe.run(executor="threads", csv_path=str(csv))  # a worker thread: no SIGALRM
    assert first["slow_total"] == 4 and "data.txt" in files.records(first.step_results["slow_total"].files)
    _edit(csv, "5\n")
    again = Pipeline("timed", cache_dir=cache_dir).add_steps([slow_total]).run(
        executor="threads", csv_path=str(csv))
    assert again.step_results["slow_total"].state == "done" and again["slow_total"] == 5
