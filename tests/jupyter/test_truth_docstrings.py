"""Cells that show docstrings: ``print(get_text.__doc__)``, ``help(get_text)``,
``inspect.getdoc(A)``. The code fingerprint leaves docstrings out (editing one re-runs
nothing), so these cells kept showing the old text after a docstring above them was edited
and the notebook restarted (ethen8181's decorators notebook prints ``get_text.__doc__``
through ``functools.wraps``). Now a cell that reads docstrings is keyed by the docstrings
of the functions and classes it names. Real kernels through nbclient, compared with plain
Python (SPEC §9). The same for a decorator's wrapper renamed (``f.__name__``: a function's
own name is left out of its fingerprint), and for ``inspect.getsource(area)`` after a
comment in ``area`` was edited (comments are left out too)."""

from __future__ import annotations

import pytest

from .kernel_runs import printed, run_cells, statuses

pytestmark = pytest.mark.slow

CELLS = [
    "%%step\nfrom functools import wraps\ndef tags(tag):\n    def decorator(func):\n        @wraps(func)\n"
    "        def wrapper(name):\n            return f'<{tag}>{func(name)}</{tag}>'\n        return wrapper\n"
    "    return decorator",
    "%%step\n@tags('p')\ndef get_text(name):\n    '''returns some text'''\n    return 'Hello ' + name",
    "%%step\nprint(get_text('John'), get_text.__name__, get_text.__doc__)",
    "%%step\nhelp(get_text)",
    "%%step\nclass Greeter:\n    '''greets people'''\n    def greet(self):\n        '''says hello'''\n"
    "        return 'hello'",
    "%%step\nimport inspect\nprint(inspect.getdoc(Greeter), '/', Greeter.greet.__doc__)",
    "%%step\nprint(Greeter().greet(), get_text('Ann'))",
    "%%step\ndef bold(func):\n    def func_wrapper(name):\n        return '<b>' + func(name) + '</b>'\n"
    "    return func_wrapper\n\n@bold\ndef shout(name):\n    return name.upper()",
    "%%step\nprint(shout.__name__, shout('x'))",
    "%%step\ndef area(r):\n    # pi times r squared\n    return 3.14 * r * r",
    "%%step\nprint(inspect.getsource(area))",
]


def test_cells_showing_docstrings_show_the_edited_text_after_a_restart(tmp_path):
    edited = [c.replace("some text", "other text").replace("greets people", "greets everyone")
              .replace("says hello", "says hi").replace("func_wrapper", "inner")
              .replace("pi times", "PI TIMES") for c in CELLS]
    run_cells(tmp_path, CELLS, write=False)
    again = run_cells(tmp_path, CELLS, write=False)
    assert all(": cached" in s for s in statuses(again)), statuses(again)
    plain = [printed(o) for o in run_cells(tmp_path, edited, flowyml=False, write=False)]
    runs = run_cells(tmp_path, edited, write=False)
    assert plain[2] == "<p>Hello John</p> get_text returns other text\n", plain[2]
    assert "returns other text" in plain[3] and plain[5] == "greets everyone / says hi\n", plain
    assert plain[8] == "inner <b>X</b>\n", plain[8]
    assert "# PI TIMES r squared" in plain[10], plain[10]
    assert [printed(o) for o in runs] == plain
    # a cell that shows no docstring stays a hit: the edit changed no code it runs
    assert ": cached" in statuses(runs)[6], statuses(runs)
