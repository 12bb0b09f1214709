"""A cell that defines a function and then binds the same name to a value (ethen8181's
decorators notebook: ``def greet(name): ...``, ``greet_someone = greet``, then ``greet =
compose_greet_func('John')``). The analysis counted ``greet`` neither as an output (it was
defined) nor as a definition (it was assigned), so the value was never stored: a hit once
left the *function* in ``greet`` (a wrong result), and since every step cell compares its
namespace the cell ran again after every restart ("binds greet out of flowyml's sight").
The value bound last is the cell's output now: a hit after a restart, showing what plain
Python shows. Real kernels through nbclient (SPEC §9)."""

from __future__ import annotations

import pytest

from .kernel_runs import as_plain

pytestmark = pytest.mark.slow

CELLS = [
    "%%step\ndef greet(name):\n    return 'Hello ' + name\n\ngreet_someone = greet\n"
    "print(greet_someone('John'))\n\n"
    "def compose_greet_func(name):\n    def get_message():\n        return 'Hello ' + name\n"
    "    return get_message\n\ngreet = compose_greet_func('John')\nprint(greet())",
    "%%step\nprint(greet(), greet_someone('Ann'))",
    "%%step\nimport math\ndef area(r):\n    return math.pi * r * r\n\narea = round(area(2), 3)",
    "%%step\nprint(area, type(area).__name__)",
]


def test_a_name_defined_then_bound_to_a_value_is_stored_and_hits(tmp_path):
    plain, states = as_plain(tmp_path, CELLS)
    assert plain[0] == "stdout: Hello John\nHello John\n", plain[0]
    assert plain[1] == "stdout: Hello John Hello Ann\n", plain[1]
    assert plain[3] == "stdout: 12.566 float\n", plain[3]
    assert all(": cached" in s for s in states), states
