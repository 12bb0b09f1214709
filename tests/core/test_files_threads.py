"""Files read by threads a step starts itself (SPEC §9): a ``ThreadPoolExecutor`` or a
``threading.Thread`` inside the step's body. While one step records, their reads are its;
while two record at once, nobody's (never the other step's)."""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from flowyml import Pipeline, step
from flowyml.tracking import files


def _edit(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


@step(outputs=["total"])
def pooled_total(folder):
    names = sorted(n for n in os.listdir(folder) if n.endswith(".txt"))
    with ThreadPoolExecutor(max_workers=2) as pool:  # the reads happen in the pool's threads
        texts = list(pool.map(_read, [os.path.join(folder, n) for n in names]))
    return sum(int(t) for t in texts)


@step(outputs=["first"])
def thread_read(path_a):
    box = []
    worker = threading.Thread(target=lambda: box.append(_read(path_a)))
    worker.start()
    worker.join()
    _meet()
    _meet()  # recording while the other step's thread reads
    return box[0]


@step(outputs=["second"])
def thread_read_b(path_b):
    box = []
    _meet()  # both steps record now: reads from their threads are nobody's
    worker = threading.Thread(target=lambda: box.append(_read(path_b)))
    worker.start()
    worker.join()
    _meet()
    return box[0]


def _meet() -> None:
    barrier = getattr(sys, "_flowyml_side_by_side", None)
    if barrier is not None:
        barrier.wait(timeout=60)


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLOWYML_TRACK_FILES", raising=False)
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.txt").write_text("1")
    (folder / "b.txt").write_text("2")
    return folder


@pytest.mark.parametrize("executor", ["sequential", "threads"])
def test_a_file_read_in_a_thread_pool_of_the_step_re_runs_it_when_edited(data, cache_dir,
                                                                         executor):
    def run():
        pipe = Pipeline("pooled", cache_dir=cache_dir).add_steps([pooled_total])
        result = pipe.run(executor=executor, folder=str(data))
        assert result.success, result.summary()
        return result

    first = run()
    assert first["total"] == 3
    read = files.records(first.step_results["pooled_total"].files)
    assert sorted(read) == ["data/a.txt", "data/b.txt"]  # read by the pool's threads
    assert run().cached_steps == ["pooled_total"]

    _edit(data / "b.txt", "20")
    third = run()
    res = third.step_results["pooled_total"]
    assert res.state == "done" and res.rerun_reason == "data/b.txt changed"
    assert third["total"] == 21


def test_reads_in_threads_of_two_steps_recording_at_once_are_nobodys(data, cache_dir,
                                                                     monkeypatch):
    # thread_read's thread reads while it records alone, or not (the other step may have
    # started); thread_read_b's thread reads between two meetings: while both record
    monkeypatch.setattr(sys, "_flowyml_side_by_side", threading.Barrier(2), raising=False)
    pipe = Pipeline("side", cache_dir=cache_dir).add_steps([thread_read, thread_read_b])
    result = pipe.run(executor="threads", path_a=str(data / "a.txt"), path_b=str(data / "b.txt"))
    assert result.success, result.summary()
    assert (result["first"], result["second"]) == ("1", "2")
    a_read = files.records(result.step_results["thread_read"].files)
    b_read = files.records(result.step_results["thread_read_b"].files)
    assert "data/b.txt" not in a_read  # never the other step's file
    assert b_read == {}  # read while both recorded: attributed to nobody


def test_the_sole_recorder_is_nobodys_while_two_record_and_comes_back_after():
    outer = files.Tracking(step="outer").recording()
    inner = files.Tracking(step="inner").recording()
    with outer:
        assert files._sole is outer.rec
        with inner:
            assert files._sole is None
        assert files._sole is outer.rec
    assert files._sole is None and files._active == []
