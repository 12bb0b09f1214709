"""A plain user class for the hash fuzzing: hashed through the pickle-based fallback.

It lives in its own module so the subprocess of the cross-process test can unpickle it.
"""

from __future__ import annotations

from typing import Any


class Box:
    """Holds any value; equal when the contents are."""

    def __init__(self, content: Any) -> None:
        self.content = content

    def __repr__(self) -> str:
        return f"Box({self.content!r})"
