"""SPEC §7 and §9, found by the widened corpus (100 pandas puzzles, benchmarks/corpus/SOURCES.md):
pandas data holding Python objects of several kinds -- a column of lists, a column mixing
numbers and strings -- must work in a step cell as in plain Python, and a cell reading it
must never be a hit for other values.

pandas' vectorised hash hashes strings itself and every other object by ``str(value)``: a
column of lists made it raise (the step cell failed where plain Python runs), and ``1`` and
``"1"`` hashed alike (a cell reading the column was a hit for the other values).
"""

from __future__ import annotations

import pytest

from .conftest import before_and_after_a_restart, step_cell

pytest.importorskip("pandas")


def _shown(capsys) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if not line.startswith("step '")]


def test_a_frame_with_a_column_of_lists_is_a_step_and_a_hit_after_a_restart(ip, session, capsys):
    """The puzzles' flights table: ``'RecentDelays': [[23, 47], [], [24, 43, 87], ...]``,
    changed in place in the same cell, then expanded by later cells."""
    cells = ["import pandas as pd\n"
             "df = pd.DataFrame({'FlightNumber': [10045, None, 10065],\n"
             "                   'RecentDelays': [[23, 47], [], [24, 43, 87]]})\n"
             "df['FlightNumber'] = df['FlightNumber'].interpolate().astype(int)",
             "delays = df['RecentDelays'].apply(pd.Series)\nprint(delays.shape)",
             "print(df['RecentDelays'].map(len).tolist())"]
    rounds = before_and_after_a_restart(ip, capsys, cells)
    for errors, out, _ in rounds:
        assert errors == [] and out == ["(3, 3)", "[2, 0, 3]"], (errors, out)
    states = rounds[1][2]
    assert set(states.values()) == {"cached"}, states  # the second time: a fresh kernel


@pytest.mark.parametrize("before, after", [
    ("pd.DataFrame({'c': ['a', '1', 2]})", "pd.DataFrame({'c': ['a', 1, 2]})"),
    ("pd.DataFrame({'c': [1, 2, 3]}, index=['a', '1', 2])",
     "pd.DataFrame({'c': [1, 2, 3]}, index=['a', 1, 2])"),
    ("pd.DataFrame({'c': pd.Categorical(['1', 'a'])})",
     "pd.DataFrame({'c': pd.Categorical([1, 'a'])})"),
    ("pd.DataFrame({'c': [1, 2]}, index=pd.MultiIndex.from_tuples([('1', 'x'), ('a', 'y')]))",
     "pd.DataFrame({'c': [1, 2]}, index=pd.MultiIndex.from_tuples([(1, 'x'), ('a', 'y')]))"),
])
def test_a_cell_reading_objects_is_not_a_hit_for_their_string_forms(ip, capsys, before, after):
    """Edit the cell that makes ``df`` from strings to numbers of the same text: the cell
    reading it must run again and show the numbers' types, as plain Python does -- its key
    holds ``df``'s digest, which was the same for both."""
    show = ("print([type(v).__name__ for v in df['c']],\n"
            "      [type(v).__name__ for v in df.index.get_level_values(0)])")
    step_cell(ip, "", f"import pandas as pd\ndf = {before}", cell_id="make")
    step_cell(ip, "", show, cell_id="show")
    first = _shown(capsys)
    step_cell(ip, "", f"import pandas as pd\ndf = {after}", cell_id="make")
    step_cell(ip, "", show, cell_id="show")
    second = _shown(capsys)
    ip.run_cell(f"import pandas as pd\ndf = {after}\n{show}")
    plain = _shown(capsys)
    assert second == plain != first
