"""Sizes for people: ``"16M"`` -> bytes and bytes -> ``"1.5 MiB"`` (budgets, bounds, reports)."""

from __future__ import annotations

import re

_SIZE = r"^\s*(\d*\.?\d+)\s*([kmgt]?)(?:i?b)?\s*$"  # compiled at first use (re's cache)


def parse_size(text: str | int) -> int:
    """``"16M"`` -> 16777216; also ``"500k"``, ``"1.5G"``, ``"2MiB"``, ``"123"`` or an int
    (bytes). Binary multiples."""
    if isinstance(text, int):
        return max(text, 0)
    match = re.match(_SIZE, str(text), re.IGNORECASE)
    if not match:
        raise ValueError(f"not a size: {text!r}; use bytes or a number with k, M, G (e.g. 16M)")
    number, unit = float(match.group(1)), match.group(2).lower()
    return int(number * 1024 ** " kmgt".index(unit or " "))


def size_text(n: float) -> str:
    """``1.5 MiB``: bytes for people (cache reports, replay bounds, gc summaries)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
