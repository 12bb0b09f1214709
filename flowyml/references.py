"""What an object holds: a bounded walk of its references.

Two questions need it. The store asks whether an output holds one of the step's inputs (then
it pickles them as references, so a hit binds them to the inputs' objects); the notebook asks
which names hold an object a step changed in place (then they are changed outputs too). Both
walk ``gc.get_referents`` level by level, stop at objects that hold nothing worth following,
and give up after a number of objects, so a huge value costs a bounded time.
"""

from __future__ import annotations

import contextlib
import gc
import types
from collections.abc import Collection
from typing import Any

#: what holds no other object, or is stored by name (never walked into)
LEAVES = (int, float, complex, str, bytes, bool, type(None), type, types.ModuleType,
          types.BuiltinFunctionType)


class Walker:
    """Walks references from roots with one budget of objects for all its walks.

    ``depth`` bounds how many levels below a root are followed (None: no bound). A function
    is followed into its closure and defaults (never its globals) when ``into_functions``;
    otherwise it is not walked into.
    """

    def __init__(self, limit: int = 50_000, depth: int | None = None) -> None:
        self.left = limit
        self.depth = depth

    def reach(self, root: Any, wanted: Collection[int] | None = None, *,
              into_functions: bool = False) -> set[int] | bool:
        """The ids reachable from ``root`` (``wanted`` None), else whether an object whose id
        is in ``wanted`` is reachable (the root itself not counted)."""
        seen = {id(root)}
        level = [root]
        steps = 0
        while level and self.left > 0 and (self.depth is None or steps < self.depth):
            steps += 1
            below = []
            for ref in self._referents(level, into_functions):
                if wanted is not None and id(ref) in wanted:
                    return True
                if id(ref) in seen or isinstance(ref, LEAVES):
                    continue
                if isinstance(ref, types.FunctionType) and not into_functions:
                    continue
                seen.add(id(ref))
                if gc.is_tracked(ref):  # else it holds atoms only: nothing to follow
                    below.append(ref)
            self.left -= len(below)
            level = below
        return False if wanted is not None else seen

    @staticmethod
    def _referents(level: list[Any], into_functions: bool) -> list[Any]:
        if not into_functions:
            return gc.get_referents(*level)
        refs: list[Any] = []
        for item in level:
            if isinstance(item, types.FunctionType):
                for cell in item.__closure__ or ():
                    with contextlib.suppress(ValueError):  # an empty cell
                        refs.append(cell.cell_contents)
                refs.extend(item.__defaults__ or ())
            else:
                refs.extend(gc.get_referents(item))
        return refs
