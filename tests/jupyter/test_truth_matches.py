"""Regular-expression matches a cell keeps (``match = re.search(...)``) are stored: found
again from their pattern and string on load (``flowyml.store.byvalue``)."""

from __future__ import annotations

from .conftest import before_and_after_a_restart


def test_cells_keeping_regular_expression_matches_hit_after_a_restart(ip, capsys):
    """learn-python3's std-lib notebook: ``match = re.search(...)`` made its cell run after
    every restart (a match cannot be pickled); it is stored and found again now."""
    cells = ["import re\nsecret = 'qwret 8sfg12f5 fd09f_df'\nmatch = re.search(r'(\\d+)f(\\d)', secret)",
             "print(match.group(1), match.span())",
             "digits = list(re.finditer(r'\\d', secret))\nprint(len(digits), digits[-1].span())"]
    (errors1, out1, _), (errors2, out2, states) = before_and_after_a_restart(ip, capsys, cells)
    assert not errors1 and not errors2
    assert out1 == out2 == ["12 (10, 14)", "6 (18, 19)"]
    assert set(states.values()) == {"cached"}, states
