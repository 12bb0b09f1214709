"""SPEC §7 and §9, found by the widened corpus (learn-python3's standard library notebook,
benchmarks/corpus/SOURCES.md): a class a cell makes with a call -- ``Person =
namedtuple("Person", [...])`` -- rather than a ``class`` statement is a value of the cell,
not a definition re-run on a hit. ``pickle`` stores it (and instances of it) by its name in
``__main__``, which a fresh kernel does not have when it loads the cell's outputs: the hit
after a restart failed, printed a ``CacheWarning`` and ran the cell again, every time.

Real kernels through nbclient: in a kernel the notebook's namespace is ``__main__``'s, as
pickle looks classes up there (a test shell's is not).
"""

from __future__ import annotations

import pytest

from .test_truth_restart import _run, _three

pytest.importorskip("nbclient")

_MAKE = ("%%step\nfrom collections import namedtuple\n"
         "Person = namedtuple('Person', ['name', 'age', 'is_gangster'])\n"
         "john = Person('John Doe', 83, True)\nlisa = Person('Lis Doe', age=77, is_gangster=False)\n"
         "print(john, lisa)")
_USE = ("%%step\nprint(isinstance(john, Person), type(lisa) is Person, Person._fields,\n"
        "      john._replace(age=84), Person._make(['Jane', 30, False]))")


@pytest.mark.slow
def test_a_namedtuple_made_in_a_cell_and_its_instances_are_hits_after_a_restart(
        tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = [_MAKE, _USE, "%%step\njane = Person('Jane', 30, False)",  # another cell's instance
             "%%step\nprint(jane, isinstance(jane, Person))"]
    plain, first, second, states = _three(tmp_path, cells)
    assert plain == first == second
    assert plain[1] == ("True True ('name', 'age', 'is_gangster') "
                        "Person(name='John Doe', age=84, is_gangster=True) "
                        "Person(name='Jane', age=30, is_gangster=False)\n")
    assert plain[3] == "Person(name='Jane', age=30, is_gangster=False) True\n"
    assert all(": cached" in s for s in states), states


@pytest.mark.slow
def test_a_cell_reading_a_namedtuple_class_runs_again_when_its_fields_change(
        tmp_path, monkeypatch):
    """The class's digest must be its content, not its name: ``Person`` with a field more
    is another value, so the cell printing its fields is not a hit for the old ones."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    show = "%%step\nprint(Person._fields)"
    _run(tmp_path, [_MAKE, show])
    edited = _MAKE.replace("'is_gangster'])", "'is_gangster', 'city'], defaults=['Paris'])")
    plain, _ = _run(tmp_path, [edited, show], flowyml=False)
    stepped, _ = _run(tmp_path, [edited, show])
    assert stepped == plain
    assert plain[1] == "('name', 'age', 'is_gangster', 'city')\n"


@pytest.mark.slow
def test_an_enum_made_by_a_call_is_a_hit_after_a_restart_and_keyed_by_its_members(
        tmp_path, monkeypatch):
    """``Color = Enum("Color", "RED GREEN")`` (the functional API) is a class made by a call
    too: its hit loads after a restart, its members are the class's, and a member more is
    another value for the cell listing them."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    make = "%%step\nimport enum\nColor = enum.Enum('Color', 'RED GREEN')\nfavourite = Color.GREEN"
    show = "%%step\nprint(favourite is Color.GREEN, [c.name for c in Color])"
    plain, first, second, states = _three(tmp_path, [make, show])
    assert plain == first == second == ["", "True ['RED', 'GREEN']\n"]
    assert all(": cached" in s for s in states), states
    edited = make.replace("'RED GREEN'", "'RED GREEN BLUE'")
    stepped, _ = _run(tmp_path, [edited, show])
    assert stepped == ["", "True ['RED', 'GREEN', 'BLUE']\n"]
