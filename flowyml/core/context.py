"""Pipeline context: named values injected into the step parameters of the same name."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any


class Context:
    """A set of named parameters, with optional inheritance from a parent context.

    >>> ctx = Context(learning_rate=0.001, epochs=10)
    >>> ctx.epochs, ctx["learning_rate"]
    (10, 0.001)
    """

    def __init__(self, **kwargs: Any) -> None:
        self._params: dict[str, Any] = dict(kwargs)
        self._parent: Context | None = None
        self._metadata: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"Context has no parameter '{name}'") from None

    def __getitem__(self, key: str) -> Any:
        if key in self._params:
            return self._params[key]
        if self._parent is not None:
            return self._parent[key]
        raise KeyError(f"Context has no parameter '{key}'")

    def __setitem__(self, key: str, value: Any) -> None:
        self._params[key] = value

    def __contains__(self, key: object) -> bool:
        return key in self._params or (self._parent is not None and key in self._parent)

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Context):
            return self.to_dict() == other.to_dict()
        return NotImplemented

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def keys(self) -> set[str]:
        return set(self.to_dict())

    def items(self) -> list[tuple[str, Any]]:
        return list(self.to_dict().items())

    def to_dict(self) -> dict[str, Any]:
        out = self._parent.to_dict() if self._parent is not None else {}
        out.update(self._params)
        return out

    def update(self, data: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self._params.update(data or {}, **kwargs)

    def inherit(self, **overrides: Any) -> Context:
        """A child context that sees this one's values, with ``overrides`` on top."""
        child = Context(**overrides)
        child._parent = self
        return child

    def inject_params(self, func: Callable[..., Any]) -> dict[str, Any]:
        """The context values ``func`` would receive, by parameter name."""
        values = self.to_dict()
        return {name: values[name] for name in _param_names(func) if name in values}

    def validate_for_step(self, step_func: Callable[..., Any], exclude: list[str] | None = None) -> list[str]:
        """Required parameters of ``step_func`` that the context does not provide."""
        func = getattr(step_func, "func", step_func)
        exclude = set(exclude or ())
        values = self.to_dict()
        missing = []
        for p in inspect.signature(func).parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in ("self", "cls"):
                continue
            if p.name in exclude or p.default is not p.empty:
                continue
            if p.name not in values:
                missing.append(p.name)
        return missing

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in list(self.to_dict().items())[:5])
        return f"Context({shown}{', ...' if len(self) > 5 else ''})"


def _param_names(func: Callable[..., Any]) -> list[str]:
    func = getattr(func, "func", func)
    return [
        p.name for p in inspect.signature(func).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in ("self", "cls")
    ]


def parse_context_value(text: str) -> Any:
    """A context value typed as text (``--set k=v``, ``%flowyml context k=v``): a Python
    literal when it is one (``3``, ``0.5``, ``[1, 2]``, ``None``), else the string itself."""
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def context(**kwargs: Any) -> Context:
    """Create a :class:`Context`."""
    return Context(**kwargs)
