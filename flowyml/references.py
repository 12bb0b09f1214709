"""What an object holds: a bounded walk of its references.

Two questions need it. The store asks whether an output holds one of the step's inputs (then
it pickles them as references, so a hit binds them to the inputs' objects) and where in the
inputs an output was taken from; the notebook asks which names hold an object a step changed
in place (then they are changed outputs too). Both walk ``gc.get_referents`` level by level,
stop at objects that hold nothing worth following, and give up after a number of references,
so a huge value costs a bounded time. numpy's object arrays (``axes`` of ``plt.subplots``)
hide their items from ``gc``: their items are followed too.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import types
from collections.abc import Collection
from typing import Any

#: what holds no other object, or is stored by name (never walked into)
LEAVES = (int, float, complex, str, bytes, bool, type(None), type, types.ModuleType,
          types.BuiltinFunctionType)


class Walker:
    """Walks references from roots with one budget for all its walks: the number of
    references it looks at (a huge container is looked at as far as the budget goes, from
    both ends).

    ``depth`` bounds how many levels below a root are followed (None: no bound). A function
    is followed into its closure and defaults (never its globals) when ``into_functions``;
    otherwise it is not walked into.
    """

    def __init__(self, limit: int = 200_000, depth: int | None = None) -> None:
        self.left = limit
        self.depth = depth

    def reach(self, root: Any, wanted: Collection[int] | None = None, *,
              into_functions: bool = False) -> set[int] | bool:
        """The ids reachable from ``root`` (``wanted`` None), else whether an object whose id
        is in ``wanted`` is reachable (the root itself not counted)."""
        np = sys.modules.get("numpy")
        array = np.ndarray if np is not None else ()
        seen = {id(root)}
        level = [root]
        steps = 0
        while level and self.left > 0 and (self.depth is None or steps < self.depth):
            steps += 1
            below = []
            refs = self._referents(level, into_functions, array)
            if len(refs) > self.left:
                half = self.left // 2
                refs = refs[:half] + refs[len(refs) - (self.left - half):]
            self.left -= len(refs)
            for ref in refs:
                if wanted is not None and id(ref) in wanted:
                    return True
                if id(ref) in seen or isinstance(ref, LEAVES):
                    continue
                if isinstance(ref, types.FunctionType) and not into_functions:
                    continue
                seen.add(id(ref))
                # (an object gc does not track holds atoms only: nothing to follow; but an
                # object array's items are hidden from gc)
                if gc.is_tracked(ref) or (type(ref) is array and ref.dtype == object):
                    below.append(ref)
            level = below
        return False if wanted is not None else seen

    def _referents(self, level: list[Any], into_functions: bool, array: Any) -> list[Any]:
        refs: list[Any] = []
        plain = []
        for item in level:
            if into_functions and isinstance(item, types.FunctionType):
                for cell in item.__closure__ or ():
                    with contextlib.suppress(ValueError):  # an empty cell
                        refs.append(cell.cell_contents)
                refs.extend(item.__defaults__ or ())
            elif type(item) is array and item.dtype == object:
                refs.extend(item.ravel()[:self.left].tolist())
            else:
                plain.append(item)
        refs.extend(gc.get_referents(*plain))
        return refs
