"""A cache hit shows printed text in the order plain Python's kernel sent it (SPEC §9: a
hit shows what the cell showed).

ipykernel sends what a stream holds 0.2 s after its first unsent write, or at an explicit
flush: a long cell's warning shows between the prints made before and after it, a quick
cell's stdout comes in one piece before its stderr, and ``print(..., flush=True)``
interleaves. Real kernels through nbclient: the plain notebook, the ``%%step`` one, then
the ``%%step`` one again in a fresh kernel where every cell is a hit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flowyml.notebook.replay import Recording

from .kernel_runs import is_status, run_cells, statuses, three_runs

CELLS = [
    # long: the warning is sent between the prints
    "%%step\nimport time, warnings\nprint('first')\ntime.sleep(0.5)\n"
    "warnings.warn('careful')\ntime.sleep(0.5)\nprint('second')\nx = 1",
    # quick: all of stdout, then stderr
    "%%step\nimport sys\nprint('a')\nprint('w', file=sys.stderr)\nprint('b')\ny = 2",
    # flushed by the cell: interleaved
    "%%step\nimport sys\nfor i in range(3):\n    print(i, flush=True)\n"
    "    print('e', i, file=sys.stderr, flush=True)\nz = 3",
]


def _streams(folder: Path, flowyml: bool) -> tuple[list[list[tuple[str, str]]], list[str]]:
    """Per cell, its stream outputs (consecutive ones of a stream joined, as a front end
    shows them), and each step cell's status line."""
    runs = run_cells(folder, CELLS, flowyml, allow_errors=False)
    shown = []
    for outputs in runs:
        streams: list[tuple[str, str]] = []
        for out in outputs:
            if out.output_type == "stream":
                text = "careful" if "careful" in out.text else out.text  # the warning's file/line
                if streams and streams[-1][0] == out.name:
                    streams[-1] = (out.name, streams[-1][1] + text)
                else:
                    streams.append((out.name, text))
        shown.append(streams)
    return shown, [s for s in statuses(runs) if s]


@pytest.mark.slow
def test_a_hit_shows_the_streams_in_the_order_the_kernel_sent_them(tmp_path):
    plain, _ = _streams(tmp_path, flowyml=False)
    assert plain[0] == [("stdout", "first\n"), ("stderr", "careful"), ("stdout", "second\n")]
    assert plain[1] == [("stdout", "a\nb\n"), ("stderr", "w\n")]
    assert [name for name, _ in plain[2]] == ["stdout", "stderr"] * 3
    first, states = _streams(tmp_path, flowyml=True)
    assert first == plain and all("done" in s for s in states), states
    again, states = _streams(tmp_path, flowyml=True)  # a fresh kernel: every cell a hit
    assert all("cached" in s for s in states), states
    assert again == plain


def test_a_recording_notes_where_the_kernel_sent_each_stream(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("flowyml.notebook.replay.time.monotonic", lambda: clock[0])
    rec = Recording(flush_interval=0.2)
    rec.stream("stdout", "a\n")
    clock[0] += 0.5  # the kernel sent stdout at 100.2
    rec.stream("stderr", "w\n")
    rec.stream("stdout", "b\n")
    rec.finish()
    assert rec.items == [{"type": "stream", "name": "stdout", "text": "a\n"},
                         {"type": "flush", "names": ["stdout"]},
                         {"type": "stream", "name": "stderr", "text": "w\n"},
                         {"type": "stream", "name": "stdout", "text": "b\n"}]
    # quick: nothing sent before the end (the kernel then sends stdout, then stderr)
    quick = Recording(flush_interval=0.2)
    for name, text in (("stdout", "a\n"), ("stderr", "w\n"), ("stdout", "b\n")):
        quick.stream(name, text)
    quick.finish()
    assert [i["type"] for i in quick.items] == ["stream"] * 3
    # one stream only: where it was sent changes nothing shown, it stays one item
    one = Recording(flush_interval=0.2)
    for _ in range(3):
        one.stream("stdout", "x")
        clock[0] += 0.5
    one.finish()
    assert one.items == [{"type": "stream", "name": "stdout", "text": "xxx"}]


def test_a_long_printout_is_recorded_whole():
    """Each write used to copy the text so far (200,000 prints took minutes)."""
    rec = Recording()
    for i in range(200_000):
        rec.stream("stdout", f"{i}\n")
    assert rec.items[0]["text"].count("\n") == 200_000 and rec.size == len(rec.items[0]["text"])
    rec.stream("stdout", "more\n")  # reading items in between does not lose what follows
    assert rec.items[0]["text"].endswith("199999\nmore\n")


@pytest.mark.slow
def test_a_cells_value_then_its_figure_replay_as_execute_result_then_display(tmp_path):
    """``df.plot()`` / ``sns.heatmap(...)`` as a cell's last line: plain shows the value as
    ``Out[n]`` (an execute_result), then the figure the inline backend shows at the end of
    the cell. A hit showed the value as a plain display, after nothing, and the figure."""
    pytest.importorskip("matplotlib")
    cells = ["%%step\nimport matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2])\nax",
             "print(type(_).__name__)"]

    def kinds(outputs):
        return [(o.output_type, sorted(o.get("data", {}))) for o in outputs
                if o.output_type != "stream" and not is_status(o)] + [
            o.text for o in outputs if o.output_type == "stream"]

    plain, first, again, states = three_runs(tmp_path, cells, kinds, allow_errors=False)
    assert plain[0] == [("execute_result", ["text/plain"]), ("display_data", ["image/png", "text/plain"])]
    assert "cached" in states[0], states
    assert first == plain and again[0] == plain[0]
