"""Plain-Python notebook semantics (Norvig's pytudes, the Python bootcamp): collections,
generators, random draws and files, as a bare ``%%step`` on every cell meets them."""

from __future__ import annotations

import functools
import random
import typing

import pytest

from .conftest import before_and_after_a_restart, step_cell
from .kernel_runs import printed, run_cells, statuses, three_runs


def test_an_edited_defaultdict_factory_is_a_new_input(ip, capsys, here):
    """The bootcamp's collections notebook: ``d = defaultdict(object)``, ``d['one']``, then
    ``d = defaultdict(lambda: 0)``, ``d['one']``. Both dicts are empty, and an empty
    defaultdict had one digest whatever its factory, so after a restart the reader of one
    was a hit for the other's entry: ``0`` shown for an ``object`` (SPEC section 9: an edited
    notebook, restarted, shows what plain Python shows)."""
    def run(factory: str) -> list[str]:
        step_cell(ip, "", f"from collections import defaultdict\nd = defaultdict({factory})")
        step_cell(ip, "", "value = d['one']\nprint(type(value).__name__)")
        return [ln for ln in capsys.readouterr().out.splitlines() if not ln.startswith("step '")]

    assert run("lambda: 0") == ["int"]
    ip.restart()
    assert run("object") == ["object"]  # the factory edited, the notebook restarted
    ip.restart()
    assert run("list") == ["list"]
    ip.restart()
    assert run("object") == ["object"]
    assert ip.user_ns["d"].default_factory is object


@pytest.mark.slow
def test_the_same_unseeded_draw_in_two_cells_draws_twice(tmp_path, monkeypatch):
    """The bootcamp's random notebook has ``random.randint(0,100)`` in two cells in a row,
    nothing seeded. Both cells are one step (same code, same inputs), and an entry drawn from
    an unseeded generator was a hit whatever the generator's state: the second cell showed
    the first's number again and put the generator back where the first left it, so every
    later draw repeated too. Plain Python draws new numbers; a fresh kernel may still take
    the first draw from the cache (any draw of an unseeded generator is as good)."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    draw = "%%step\nprint(random.random())"
    cells = ["import random", draw, draw, draw, "%%step\nprint(random.random(), 'next')"]
    for run in range(2):  # a fresh cache, then a fresh kernel on it
        outputs = run_cells(tmp_path, cells)
        numbers = [printed(o).split()[0] for o in outputs[1:]]
        assert all(numbers) and len(set(numbers)) == 4, (run, numbers, statuses(outputs))


def test_a_definition_reading_a_value_its_own_cell_binds_is_restored_on_a_hit(ip, capsys):
    """Norvig's Boggle: ``PREFIXES = word_prefixes(WORDS)``, then in the same cell
    ``def find_words(board, words=WORDS, prefixes=PREFIXES)``. A hit restores the cell's
    definitions before its outputs, so the default found no ``PREFIXES`` and the hit failed
    (every cell after it too); class attributes read the same way."""
    cells = ["WORDS = {'CAT', 'CATS', 'DOG'}",
             "def word_prefixes(words) -> set:\n"
             "    return {word[:i] for word in words for i in range(1, len(word))}\n\n"
             "PREFIXES = word_prefixes(WORDS)  # Precompute this once.\n\n"
             "def find_words(letters, words=WORDS, prefixes=PREFIXES):\n"
             "    return sorted(w for w in words if set(w) <= set(letters)), len(prefixes)\n\n"
             "SIZE = 5\n\nclass Board:\n    size = SIZE",
             "print(find_words('CATSX'), Board.size)"]
    (errors1, out1, _), (errors2, out2, states) = before_and_after_a_restart(ip, capsys, cells)
    assert not errors1 and not errors2, errors2
    assert out1 == out2 == ["(['CAT', 'CATS'], 5) 5"]
    assert set(states.values()) == {"cached"}, states
    assert ip.user_ns["find_words"].__defaults__[1] is ip.user_ns["PREFIXES"]


def test_a_cell_keeping_an_lru_cache_decorator_hits_after_a_restart(ip, capsys):
    """Norvig's Anigrams: ``cache = functools.lru_cache(None)``, then ``@cache`` on
    functions in that cell and later ones. The decorator is a closure of functools, which
    pickle refuses: the cell (seconds of search) ran again after every restart."""
    cells = ["import functools\ncache = functools.lru_cache(None)\n\n@cache\n"
             "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\nprint(fib(60))",
             "@cache\ndef double(n):\n    return 2 * n\n\n"
             "print(double(4), fib(30), fib.cache_info().maxsize, double.cache_info().maxsize)",
             "sized = functools.lru_cache(maxsize=2, typed=True)\n\n@sized\ndef half(n):\n"
             "    return n / 2\n\nprint(half(3), half.cache_info().maxsize, half.cache_parameters())"]
    (errors1, out1, _), (errors2, out2, states) = before_and_after_a_restart(ip, capsys, cells)
    assert not errors1 and not errors2, errors2
    assert out1 == out2 == ["1548008755920", "8 832040 None None",
                            "1.5 2 {'maxsize': 2, 'typed': True}"]
    assert set(states.values()) == {"cached"}, states


def test_the_same_seeded_draw_in_two_cells_keeps_an_entry_for_each(ip, capsys):
    """Norvig's TwelveBalls: ``random.seed(42)`` early, then ``do(puzzle12)`` in two cells in
    a row, each drawing from the generator. The two cells are one step with one key, and
    the second's entry replaced the first's (another generator state): after a restart
    each was refused in turn and both ran again. Each keeps its entry now."""
    cells = ["import random\nrandom.seed(42)", "print(random.random())", "print(random.random())",
             "print(random.random(), 'third')"]
    (errors1, out1, _), (errors2, out2, states) = before_and_after_a_restart(ip, capsys, cells)
    assert not errors1 and not errors2, errors2
    random.seed(42)
    expected = [str(random.random()), str(random.random()), f"{random.random()} third"]
    assert out1 == out2 == expected
    assert set(states.values()) == {"cached"}, states


def test_a_type_alias_with_a_quoted_name_hits_after_a_restart(ip, capsys):
    """Norvig's TwelveBalls opens with type aliases, one naming a class defined later:
    ``Tree = Union['Weighing', Set[Oddball]]``. Its ``ForwardRef`` keeps compiled code,
    which pickle refuses: the first cell ran again after every restart (and re-seeded)."""
    cells = ["from typing import *\nfrom dataclasses import dataclass\nBall = int\n"
             "Tree = Union['Weighing', Set[Ball]]\nMaybe = Optional['Weighing']\n\n"
             "@dataclass\nclass Weighing:\n    L: List[Ball]\n    gt: Tree = None",
             "print(Tree, Maybe, Weighing([1], {2}))"]
    (errors1, out1, _), (errors2, out2, states) = before_and_after_a_restart(ip, capsys, cells)
    assert not errors1 and not errors2, errors2
    assert out1 == out2 == ["typing.Union[ForwardRef('Weighing'), typing.Set[int]] "
                            "typing.Optional[ForwardRef('Weighing')] Weighing(L=[1], gt={2})"]
    assert set(states.values()) == {"cached"}, states
    assert ip.user_ns["Tree"].__args__ == (typing.ForwardRef("Weighing"), ip.user_ns["Set"][int])


@pytest.mark.slow
def test_a_class_rebound_to_its_lru_cache_wrapper_stays_wrapped_after_a_restart(tmp_path, monkeypatch):
    """Norvig's Spelling Bee: ``Honeycomb = functools.lru_cache(None)(Honeycomb)``. pickle
    stored the wrapper by its name, which found the bare class on load, and hashed both
    alike: after a restart the cell was a hit leaving ``Honeycomb`` unwrapped, and a later
    ``Honeycomb.cache_info()`` failed where plain Python shows it."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = ["from dataclasses import dataclass\n\n@dataclass(frozen=True, order=True)\n"
             "class H:\n    n: int",
             "import functools\nH = functools.lru_cache(None)(H)\nH(1)\nH.cache_info()",
             "print(type(H).__name__, H(1) is H(1))",
             "def make(n):\n    return H(n)",
             "print(make(2), H.cache_info())"]
    stepped = ["%%step\n" + c for c in cells]
    view = functools.partial(printed, results=True, errors=True)
    plain, first, again, status = three_runs(tmp_path, stepped, view=view)
    assert plain == first == again, again
    assert again[-1] == "H(n=2) CacheInfo(hits=2, misses=2, maxsize=None, currsize=2)\n"
    assert all("cached" in line for line in status), status
