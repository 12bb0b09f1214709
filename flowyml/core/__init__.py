"""The FlowyML-compatible API: ``step``, ``context``, ``pipeline``, ``resources``, ``map_task``.

Each module loads at first use, also as an attribute (``flowyml.core.step.Step`` after
``import flowyml``).
"""

from __future__ import annotations

from flowyml import _submodule


def __getattr__(name: str) -> object:
    return _submodule(__name__, name)
