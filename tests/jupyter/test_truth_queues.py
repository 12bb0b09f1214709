"""A ``queue.Queue`` a cell keeps (``q = PriorityQueue()``, items put and taken in the same
cell, as the Python 3 Cookbook notebooks do) is stored: its items and attributes, made
again on load with a new lock (``flowyml.store.byvalue``). ``pickle`` refuses its lock, so
such a cell ran again after every restart."""

from __future__ import annotations

import pytest

from .conftest import before_and_after_a_restart
from .kernel_runs import everything, three_runs


def test_cells_keeping_queues_hit_after_a_restart(ip, capsys):
    cells = [
        "from queue import PriorityQueue, LifoQueue, Queue\nq = PriorityQueue()\n"
        "for item in [(2, 'code'), (1, 'eat'), (3, 'sleep')]:\n    q.put(item)\nprint(q.get())",
        "stack = LifoQueue()\nstack.put(1)\nstack.put(2)\nbounded = Queue(maxsize=3)\nbounded.put('a')",
        "print(q.qsize(), q.get(), q.get(), q.empty())",
        "bounded.put('b')\nprint(stack.get(), bounded.maxsize, bounded.get(), bounded.unfinished_tasks)",
    ]
    (errors1, out1, _), (errors2, out2, states) = before_and_after_a_restart(ip, capsys, cells)
    assert not errors1 and not errors2, (errors1, errors2)
    assert out1 == out2 == ["(1, 'eat')", "2 (2, 'code') (3, 'sleep') True", "2 3 a 2"], (out1, out2)
    assert set(states.values()) == {"cached"}, states


@pytest.mark.slow
def test_a_queue_subclass_of_the_notebook_loads_with_a_working_lock(tmp_path):
    """A notebook's subclass of ``Queue`` with its own attribute, in a real kernel: a hit
    after a restart, and the loaded queue blocks and wakes as a new one does (a thread
    waiting on ``get`` is woken by a ``put``: its conditions share the new lock)."""
    cells = [
        "%%step\nfrom queue import Queue\nclass Tasks(Queue):\n    def __init__(self, label):\n"
        "        super().__init__(maxsize=4)\n        self.label = label\n\n"
        "tasks = Tasks('todo')\ntasks.put('a')\ntasks.put('b')",
        "import threading\ngot = []\nprint(tasks.label, tasks.maxsize, tasks.get(), tasks.qsize())\n"
        "tasks.get()\nworker = threading.Thread(target=lambda: got.append(tasks.get(timeout=20)))\n"
        "worker.start()\ntasks.put('c')\nworker.join()\nprint(got, tasks.empty(), type(tasks).__name__)",
    ]
    plain, first, again, states = three_runs(tmp_path, cells, everything)
    assert plain == first == again == ["", "stdout: todo 4 a 1\n['c'] True Tasks\n"], (plain, first, again)
    assert ": cached" in states[0], states
