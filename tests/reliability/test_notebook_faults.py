"""Notebook-side faults: a real kernel interrupted in a step, careless cells, bad options.

* A real ipykernel (through jupyter_client) interrupted while a ``%%step`` body runs: the
  step is ``interrupted``, nothing is stored for it, the kernel stays usable, and the step
  before it is still a cache hit.
* A cell that deletes its own input: its result is right and stored under the key of the
  input as it was; re-running it without the input is a ``UsageError`` naming the input;
  defining the input again gives the cached result.
* Malformed ``%%step`` options raise ``UsageError`` and change nothing: no step, no
  variable, no cache entry.
"""

from __future__ import annotations

import json
import os
import queue
import time

import pytest

pytest.importorskip("flowyml_jupyter.magics")
from IPython.core.getipython import get_ipython
from IPython.testing.globalipapp import start_ipython

import flowyml_jupyter
from flowyml.store.local import CacheStore

from .conftest import entries


def _execute(client, code, timeout=60):
    """Run ``code`` in the kernel; return (status, stdout text).

    Right after an interrupt, ipykernel may still abort a request that arrives while it
    clears its queue (``stop_on_error``): such a request is simply sent again.
    """
    for _ in range(5):
        status, out = _execute_once(client, code, timeout)
        if status != "aborted":
            return status, out
        time.sleep(0.2)
    return status, out


def _execute_once(client, code, timeout):
    msg_id = client.execute(code)
    out = []
    deadline = time.monotonic() + timeout
    while True:
        msg = client.get_iopub_msg(timeout=max(deadline - time.monotonic(), 0.1))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    while True:  # the reply to this request (not a late one to an earlier request)
        reply = client.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]["status"], "".join(out)


STATES = ("import json, flowyml_jupyter\nfrom IPython import get_ipython\n"
          "s = flowyml_jupyter._LOADED[id(get_ipython())].session\n"
          "print(json.dumps({r.name: r.state for r in s.status()}))")


def test_real_kernel_interrupt_during_a_step(tmp_path):
    pytest.importorskip("jupyter_client")
    from flowyml_jupyter.kernels import LocalKernelManager

    cache_dir = tmp_path / "cache"
    km = LocalKernelManager(kernel_name="python3")
    km.start_kernel(env={**os.environ, "FLOWYML_CACHE_DIR": str(cache_dir)}, cwd=str(tmp_path))
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        assert _execute(client, "%load_ext flowyml\nx = 2")[0] == "ok"
        assert _execute(client, "%%step -o a\na = x * 10")[0] == "ok"

        msg_id = client.execute("%%step -o b\nimport time\nprint('started', flush=True)\n"
                                "time.sleep(60)\nb = a + 1")
        deadline = time.monotonic() + 60
        while True:  # wait until the body really runs, then interrupt the kernel
            try:
                msg = client.get_iopub_msg(timeout=1)
            except queue.Empty:
                assert time.monotonic() < deadline, "the step never started"
                continue
            if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream"
                    and "started" in msg["content"]["text"]):
                break
        km.interrupt_kernel()
        reply = client.get_shell_msg(timeout=30)
        assert reply["content"]["status"] == "error"
        assert "interrupt" in " ".join(reply["content"]["traceback"]).lower()

        status, out = _execute(client, STATES)
        assert status == "ok" and json.loads(out) == {"a": "done", "b": "interrupted"}
        assert len(entries(cache_dir, "a")) == 1 and entries(cache_dir, "b") == []

        assert _execute(client, "%%step -o b\nb = a + 1\nprint(b)") == ("ok", "21\n")
        assert _execute(client, "%%step -o a\na = x * 10")[0] == "ok"
        status, out = _execute(client, STATES)
        assert json.loads(out) == {"a": "cached", "b": "done"}
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.fixture
def ip(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    start_ipython()
    shell = get_ipython()
    flowyml_jupyter.unload_ipython_extension(shell)
    shell.reset(new_session=True)
    flowyml_jupyter.load_ipython_extension(shell)
    yield shell
    flowyml_jupyter.unload_ipython_extension(shell)
    shell.reset(new_session=True)


def test_cell_that_deletes_its_own_input(ip, tmp_path):
    ip.run_cell("data = [1, 2, 3]")
    cell = "%%step -o total\ntotal = sum(data)\ndel data"
    assert ip.run_cell(cell).success
    assert ip.user_ns["total"] == 6 and "data" not in ip.user_ns
    assert len(entries(tmp_path / "cache", "total")) == 1

    again = ip.run_cell(cell)
    assert not again.success and "'data'" in str(again.error_in_exec)
    assert ip.user_ns["total"] == 6  # the failed re-run changed nothing

    ip.run_cell("data = [1, 2, 3]")
    ip.user_ns.pop("total")
    assert ip.run_cell(cell).success and ip.user_ns["total"] == 6
    session = flowyml_jupyter._LOADED[id(ip)].session
    assert {r.name: r.state for r in session.status()} == {"total": "cached"}


@pytest.mark.parametrize("line", ["--retries -1", "--timeout nan", "bad-name", "--cache sometimes",
                                  "-o a,a", "'unclosed", "--condition 'x >'"])
def test_malformed_options_change_nothing(ip, tmp_path, line):
    ip.run_cell("seen = 1")
    names_before = set(ip.user_ns)
    res = ip.run_cell(f"%%step {line}\nzzz = seen + 1")
    assert not res.success and type(res.error_in_exec).__name__ == "UsageError"
    assert set(ip.user_ns) == names_before and "zzz" not in ip.user_ns
    assert flowyml_jupyter._LOADED[id(ip)].session.status() == []
    assert CacheStore(tmp_path / "cache").info() == {}


def test_unhashable_global_from_a_plain_cell_makes_the_step_visibly_uncacheable(ip, tmp_path,
                                                                               capsys):
    """README, Guarantees: an input that can't be hashed and that no step made (here a lock
    made in a plain cell) runs the step every time, and the user is told why; the same value
    made by a step cell is keyed by that step's key (provenance), so its reader hits."""
    session = flowyml_jupyter._LOADED[id(ip)].session
    ip.run_cell("import threading\nlock = threading.Lock()\nRUNS = []\n"
                "def tick(name):\n    RUNS.append(name)")
    reader = "%%step guarded\ntick('guarded')\nwith lock:\n    guarded = 42"
    for _ in range(2):
        assert ip.run_cell(reader).success
    assert ip.user_ns["RUNS"] == ["guarded", "guarded"], "an unhashable global must not hit"
    shown = capsys.readouterr().out
    assert shown.count("not cached: input 'lock' cannot be hashed by content") == 2, shown
    assert "input 'lock' cannot be hashed" in session.steps["guarded"].uncacheable_reason
    ip.run_line_magic("flowyml", "why guarded")
    assert "input 'lock' cannot be hashed" in capsys.readouterr().out
    assert entries(tmp_path / "cache", "guarded") == []

    # made by a step: provenance. The lock itself is not stored (it cannot be pickled), so
    # its step runs again, with the same key; the step reading it is a cache hit
    ip.run_cell("del lock")
    ip.run_cell("%%step make_lock\nimport threading\nlock2 = threading.Lock()")
    reader2 = "%%step guarded2\ntick('guarded2')\nwith lock2:\n    guarded2 = 43"
    for _ in range(2):
        assert ip.run_cell(reader2).success
    assert ip.user_ns["RUNS"].count("guarded2") == 1
    assert session.steps["guarded2"].state == "cached"
    assert session.steps["guarded2"].uncacheable_reason is None
