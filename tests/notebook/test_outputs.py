"""A step's recorded outputs as nbformat outputs and as one static HTML / text picture."""

from __future__ import annotations

import pytest

from flowyml.notebook.outputs import strip_ansi, to_html, to_outputs, to_text

ITEMS = [
    {"type": "stream", "name": "stdout", "text": "made 3 rows\n"},
    {"type": "display", "data": {"text/html": "<table><tr><td>1</td></tr></table>",
                                 "text/plain": "   a\n0  1"}, "metadata": {}},
    {"type": "display", "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"},
     "metadata": {"image/png": {"width": 10}}},
    {"type": "stream", "name": "stderr", "text": "careful <x>\n"},
    {"type": "result", "data": {"text/plain": "42"}, "metadata": {}},
    {"type": "error", "ename": "ValueError", "evalue": "bad",
     "traceback": ["\x1b[0;31mValueError\x1b[0m: bad"]},
]


def test_nbformat_outputs_keep_order_kind_and_data():
    out = to_outputs(ITEMS)
    assert [o["output_type"] for o in out] == ["stream", "display_data", "display_data", "stream",
                                              "display_data", "error"]
    assert out[2]["metadata"] == {"image/png": {"width": 10}}
    assert out[4]["data"] == {"text/plain": "42"}  # the last value, without a prompt
    assert out[5]["traceback"] == ["\x1b[0;31mValueError\x1b[0m: bad"]  # colours for the front end


def test_static_text_and_html_show_everything_in_order_and_escaped():
    text = to_text(ITEMS)
    assert text.splitlines() == ["made 3 rows", "   a", "0  1", "<Figure>", "careful <x>", "42",
                                 "ValueError: bad"]
    page = to_html(ITEMS, step="load")
    assert page.startswith('<div class="flowyml-area" data-step="load">')
    order = [page.index(s) for s in ("made 3 rows", "<table>", 'src="data:image/png;base64,iVBORw0KGgo="',
                                     "careful &lt;x&gt;", "42", "ValueError: bad")]
    assert order == sorted(order)
    assert "\x1b" not in page and "\x1b" not in text
    assert to_html([], "x") == '<div class="flowyml-area" data-step="x"></div>' and to_text([]) == ""


def test_strip_ansi():
    assert strip_ansi("\x1b[1;32mok\x1b[0m done") == "ok done"


def test_a_results_value_is_kept_by_name_or_when_small():
    """What a hit needs to put the value of a cell's result back into ``_``."""
    import collections
    import datetime
    import threading
    from decimal import Decimal
    from fractions import Fraction

    import numpy as np

    from flowyml.notebook.replay import RESULT_VALUE_MAX, result_ref, result_value

    big = np.zeros(RESULT_VALUE_MAX)  # 8x over the bound
    ns = {"df": big, "_": big, "Out": {}}
    assert result_ref(big, ns) == {"name": "df"}  # the name that holds it, never `_`
    assert result_value({"name": "df"}, ns) is big
    assert result_ref(np.zeros(RESULT_VALUE_MAX), ns) is None  # too big, no name
    for value in (42, 2.5, "text", [1, (2, 3)], {"a": np.float64(1.5)}, np.arange(4)):
        ref = result_ref(value, ns)
        assert ref is not None and "pickle" in ref
        again = result_value(ref, ns)
        assert type(again) is type(value) and repr(again) == repr(value)
    assert result_ref(threading.Lock(), ns) is None and result_ref(None, ns) is None
    # another library's small value is kept too (a sympy Rational, a Fraction), not a big one
    for value in (Fraction(9, 4), Decimal("2.25"), datetime.date(2026, 12, 7)):
        ref = result_ref(value, ns)
        assert ref is not None and result_value(ref, ns) == value
    assert result_ref(collections.UserList(range(RESULT_VALUE_MAX)), ns) is None
    with pytest.raises(LookupError):
        result_value({"name": "gone"}, ns)


def test_an_update_by_display_id_changes_the_display_it_names():
    """A reactive area shows a step's outputs after its ``update_display`` calls, as the
    front end shows a cell's: the update replaces the display with its id and is no output
    of its own (an update of a display another cell made changes nothing here)."""
    items = [{"type": "display", "data": {"text/plain": "0/10"}, "metadata": {}, "display_id": "bar"},
             {"type": "stream", "name": "stdout", "text": "working\n"},
             {"type": "update", "data": {"text/plain": "10/10"}, "metadata": {}, "display_id": "bar"},
             {"type": "update", "data": {"text/plain": "elsewhere"}, "metadata": {}, "display_id": "x"}]
    assert to_outputs(items) == [
        {"output_type": "display_data", "data": {"text/plain": "10/10"}, "metadata": {}},
        {"output_type": "stream", "name": "stdout", "text": "working\n"}]
    assert to_text(items) == "10/10\nworking"
