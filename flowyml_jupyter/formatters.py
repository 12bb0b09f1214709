"""IPython's display formatters as process state of a step (SPEC §9).

A cell can change how later cells *show* things without defining a name: sympy's
``init_printing()`` registers printers for its expressions, ``set_matplotlib_formats('svg')``
or ``%config InlineBackend.figure_format = 'retina'`` change how figures are shown. On a
hit the cell's body does not run, so the kernel would keep showing things the old way.
Two items of :mod:`flowyml.tracking.state` cover this:

- ``IPython.figure_formats``: the figure printers the inline backend registers (partials of
  IPython's ``print_figure``/``retina_figure``), stored as data and registered again on a hit;
- ``IPython.display_formatters``: every other printer and each formatter's ``enabled`` flag.
  Printers are functions, and a library that registers them often changes its classes too
  (sympy sets ``_repr_png_``/``_repr_latex_`` on ``Printable``), so a change cannot be made
  again from data: a step that makes one is never a hit and simply runs again;
- ``IPython.plain_text``: the plain-text formatter's settings (``%precision 2``,
  ``%pprint``), stored as data and set again on a hit; they are also ambient settings of a
  step that shows something (its numbers were printed under them);
- ``IPython.extensions``: the extensions a cell loaded (``%load_ext autoreload``) and
  autoreload's mode (``%autoreload 2``), loaded and set again on a hit;
- ``IPython.inline_backend``: the inline backend's settings
  (``%config InlineBackend.figure_format = 'retina'``), set again on a hit as ``%config``
  sets them: the backend registers its figure printers from them when a later cell first
  draws, which would otherwise undo the printers replayed above; they are also ambient
  settings of a step that draws (a figure is shown in the format set when it ran);
- ``IPython.shell``: which expressions of a cell show their value
  (``%config InteractiveShell.ast_node_interactivity = 'all'``) and how tracebacks look
  (``%xmode Minimal``), set again on a hit.

They are registered when the extension loads (``flowyml`` itself never imports IPython).
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from flowyml.tracking import state

_PYLAB = "IPython.core.pylabtools"
_FIGURE_PRINTERS = {"print_figure", "retina_figure"}


#: the shell the extension was loaded into (asking IPython each time costs 2 µs a capture)
_SHELL: list[Any] = []


def _formatters(ipython_module: Any) -> dict[str, Any] | None:
    shell = _SHELL[0] if _SHELL else ipython_module.get_ipython()
    display = getattr(shell, "display_formatter", None)
    return None if display is None else display.formatters


def _is_figure_printer(printer: Any) -> bool:
    return (isinstance(printer, functools.partial) and getattr(printer.func, "__module__", "") == _PYLAB
            and getattr(printer.func, "__name__", "") in _FIGURE_PRINTERS)


def _figure_class() -> Any:
    module = sys.modules.get("matplotlib.figure")
    return getattr(module, "Figure", None)


def _capture_printers(ipython_module: Any) -> tuple[Any, ...] | None:
    """Per formatter: its ``enabled`` flag, how many printers it has and the sum of their
    identities, leaving out the figure printers. (A sum, not a list, because IPython moves a
    deferred printer to ``type_printers`` the first time it sees the type, which changes
    nothing; and it is cheap: this runs twice a step.)"""
    formatters = _formatters(ipython_module)
    if formatters is None:
        return None
    figure = _figure_class()
    out = []
    for mime, f in formatters.items():
        types, singletons, deferred, enabled = _tables(f)
        count = len(types) + len(singletons) + len(deferred)
        total = (sum(map(id, types.values())) + sum(map(id, singletons.values()))
                 + sum(map(id, deferred.values())))
        printer = types.get(figure) if figure is not None else None
        if _is_figure_printer(printer):
            count, total = count - 1, total - id(printer)
        out.append((mime, enabled, count, total))
    return tuple(out)


_TABLES = ("type_printers", "singleton_printers", "deferred_printers", "enabled")


def _tables(formatter: Any) -> tuple[Any, Any, Any, bool]:
    """A formatter's printer tables and ``enabled`` flag, read from its trait values
    (each trait read is a Python-level descriptor: forty of them a snapshot, twice a
    step); through the traits when a value was never set."""
    values = getattr(formatter, "_trait_values", None)
    try:
        found = tuple(values[name] for name in _TABLES)  # type: ignore[index]
    except (KeyError, TypeError):
        found = tuple(getattr(formatter, name) for name in _TABLES)
    return found[0], found[1], found[2], bool(found[3])


def _capture_figures(ipython_module: Any) -> tuple[Any, ...] | None:
    """``(mime, printer name, keywords)`` of each figure printer."""
    formatters = _formatters(ipython_module)
    if formatters is None:
        return None
    figure = _figure_class()
    if figure is None:
        return ()  # matplotlib not loaded yet: no figure printer (a step loading it may add one)
    found = []
    for mime, f in formatters.items():
        printer = _tables(f)[0].get(figure)
        if _is_figure_printer(printer):
            found.append((mime, printer.func.__name__, tuple(sorted(printer.keywords.items()))))
    return tuple(found)


def _changed(before: Any, after: Any) -> Any:
    return None if before is None or before == after else after


def _apply_figures(ipython_module: Any, figures: tuple[Any, ...]) -> None:
    import importlib

    pylab = importlib.import_module(_PYLAB)
    from matplotlib.figure import Figure

    formatters = _formatters(ipython_module)
    if formatters is None:
        raise RuntimeError("no IPython shell to register figure printers on")
    for formatter in formatters.values():
        if _is_figure_printer(formatter.type_printers.get(Figure)):
            formatter.pop(Figure, None)
    for mime, name, keywords in figures:
        formatters[mime].for_type(Figure, functools.partial(getattr(pylab, name), **dict(keywords)))


def _cannot_apply(ipython_module: Any, change: Any) -> None:
    raise RuntimeError("display formatter changes are not stored")


#: the plain-text formatter's settings (``%precision 2``, ``%pprint``) and their defaults
_PLAIN_TEXT = {"float_precision": "", "pprint": True, "max_seq_length": 1000, "max_width": 79,
               "verbose": False, "newline": "\n"}


def _capture_plain_text(ipython_module: Any) -> dict[str, Any] | None:
    formatters = _formatters(ipython_module)
    formatter = formatters.get("text/plain") if formatters is not None else None
    if formatter is None:
        return None
    values = getattr(formatter, "_trait_values", {})
    return {name: values.get(name, default) for name, default in _PLAIN_TEXT.items()}


def _plain_text_change(before: dict[str, Any] | None, after: dict[str, Any]) -> Any:
    if before is None or before == after:
        return None
    return {name: value for name, value in after.items() if before.get(name) != value}


def _apply_plain_text(ipython_module: Any, change: dict[str, Any]) -> None:
    formatter = _formatters(ipython_module)["text/plain"]  # type: ignore[index]
    for name, value in change.items():
        setattr(formatter, name, value)


def _capture_inline(ipython_module: Any) -> dict[str, Any] | None:
    """The inline backend's settings made with ``%config InlineBackend.x = ...``: IPython
    keeps them in the shell's configuration (the backend's instance, made when the first
    figure is drawn, reads them from there)."""
    shell = _SHELL[0] if _SHELL else ipython_module.get_ipython()
    config = getattr(shell, "config", None)
    if config is None:
        return None
    section = config.get("InlineBackend") if "InlineBackend" in config else None
    return dict(section) if section else {}


def _apply_inline(ipython_module: Any, change: dict[str, Any]) -> None:
    """As the user did: ``%config InlineBackend.name = value`` for each changed setting
    (it updates the backend's instance, when there is one, and the shell's configuration)."""
    shell = _SHELL[0] if _SHELL else ipython_module.get_ipython()
    for name, value in change.items():
        shell.run_line_magic("config", f"InlineBackend.{name} = {value!r}")


def register(shell: Any) -> None:
    """Add the items to the process-state registry for ``shell``'s formatters and
    extensions (idempotent: by name)."""
    _SHELL[:] = [shell]
    state.register(state.StateItem("IPython.plain_text", "IPython", _capture_plain_text,
                                   _plain_text_change, _apply_plain_text))
    state.register_ambient(state.Ambient("IPython's plain-text display settings",
                                         "IPython.plain_text", "shown",
                                         baseline=lambda _: dict(_PLAIN_TEXT)))
    state.register(state.StateItem("IPython.extensions", "IPython", _capture_extensions,
                                   _extensions_change, _apply_extensions))
    state.register(state.StateItem("IPython.shell", "IPython", _capture_shell, _shell_change,
                                   _apply_shell))
    state.register(state.StateItem("IPython.figure_formats", "IPython", _capture_figures,
                                   _changed, _apply_figures))
    state.register(state.StateItem("IPython.display_formatters", "IPython", _capture_printers,
                                   _changed, _cannot_apply, stored=False))
    state.register(state.StateItem("IPython.inline_backend", "IPython", _capture_inline,
                                   _plain_text_change, _apply_inline))
    state.register_ambient(state.Ambient("the inline backend's figure settings",
                                         "IPython.inline_backend", "plots"))


# -- extensions ------------------------------------------------------------------------------

#: autoreload's mode by its reloader's flags (enabled, check_all, autoload_obj)
_AUTORELOAD_MODES = {(False, False, False): "0", (True, False, False): "1",
                     (True, True, False): "2", (True, True, True): "3"}


def _autoreload_mode(shell: Any) -> str | None:
    magics = shell.magics_manager.registry.get("AutoreloadMagics")
    reloader = getattr(magics, "_reloader", None)
    if reloader is None:
        return None
    flags = (bool(getattr(reloader, "enabled", False)), bool(getattr(reloader, "check_all", False)),
             bool(getattr(reloader, "autoload_obj", False)))
    return _AUTORELOAD_MODES.get(flags, "2" if flags[1] else "1")


def _capture_extensions(ipython_module: Any) -> tuple[Any, ...] | None:
    shell = _SHELL[0] if _SHELL else ipython_module.get_ipython()
    manager = getattr(shell, "extension_manager", None)
    if manager is None:
        return None
    return tuple(sorted(manager.loaded)), _autoreload_mode(shell)


def _extensions_change(before: Any, after: Any) -> Any:
    if before is None or before == after:
        return None
    added = [name for name in after[0] if name not in before[0]]
    mode = after[1] if after[1] != before[1] else None
    return (added, mode) if added or mode is not None else None


def _apply_extensions(ipython_module: Any, change: Any) -> None:
    shell = _SHELL[0] if _SHELL else ipython_module.get_ipython()
    added, mode = change
    for name in added:
        shell.extension_manager.load_extension(name)
    if mode is not None:
        shell.run_line_magic("autoreload", mode)


# -- the shell's own settings ----------------------------------------------------------------

def _capture_shell(ipython_module: Any) -> tuple[Any, ...] | None:
    shell = _SHELL[0] if _SHELL else ipython_module.get_ipython()
    if shell is None:
        return None
    tb = getattr(shell, "InteractiveTB", None)
    return shell.ast_node_interactivity, getattr(tb, "mode", None)


def _shell_change(before: Any, after: Any) -> Any:
    if before is None or before == after:
        return None
    return tuple(new if new != old else None for old, new in zip(before, after, strict=True))


def _apply_shell(ipython_module: Any, change: Any) -> None:
    shell = _SHELL[0] if _SHELL else ipython_module.get_ipython()
    interactivity, mode = change
    if interactivity is not None:
        shell.ast_node_interactivity = interactivity
    if mode is not None:
        shell.InteractiveTB.set_mode(mode=mode)
