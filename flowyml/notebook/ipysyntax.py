"""IPython syntax inside a cell: ``%magic``, ``!cmd``, ``%%time``, ``obj?`` and automagic lines.

The scoping walk (:mod:`flowyml.notebook.cells`) reads Python only, so each IPython line is set
aside first and replaced by a neutral ``pass`` line at its indentation (:func:`python_source`);
the magic layer runs the original text, as IPython would. Syntax a step cannot keep (``x = !cmd``,
a non-Python cell magic) is a :class:`CellSyntaxError` that says where and what to do instead.
Pure logic, no IPython.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_MAGIC_ASSIGN = re.compile(r"^\s*[\w.,\s\[\]()*]+=\s*[%!]")


class CellSyntaxError(ValueError):
    """The cell is not Python (once IPython lines are set aside); the message says where."""


class CellPythonSyntaxError(CellSyntaxError):
    """The cell's Python has a syntax error: plain IPython raises ``SyntaxError`` for it too."""


class CellIPythonOnlyError(CellSyntaxError):
    """IPython syntax a step cannot hold (a non-Python cell magic such as ``%%bash`` or
    ``%%writefile``, ``x = !cmd``) but IPython runs: ``what`` is that syntax (``%%bash``)."""

    def __init__(self, message: str, what: str) -> None:
        super().__init__(message)
        self.what = what


@dataclass(frozen=True)
class IPythonLine:
    """A line of IPython syntax inside a cell (1-based line number, the text, what it is)."""

    lineno: int
    text: str
    kind: str  # "magic", "shell", "cell magic"
    #: names the line binds when IPython runs it (``%%capture out`` binds ``out``)
    binds: tuple[str, ...] = ()



def python_source(body: str, magic_lines: frozenset[int] = frozenset()
                  ) -> tuple[str, list[IPythonLine]]:
    """``body`` with each IPython line replaced by ``pass`` at its indentation, and the lines.

    ``%magic``, ``!cmd`` and a leading ``%%magic`` line are set aside (the magic layer runs
    them as IPython would); ``x = !cmd`` / ``x = %magic`` and the bodies of non-Python cell
    magics cannot be: :class:`CellSyntaxError` says so in one line. ``magic_lines`` are the
    (1-based) lines IPython itself turns into magic calls without a ``%`` (automagic: ``ls``,
    ``cd dir``, ``pwd``); the magic layer asks IPython for them.
    """
    body = body.replace("\r\n", "\n")
    if _parses(body):  # plain Python (a `%d` line inside a string is not a magic)
        return body, []
    lines = body.split("\n")
    found: list[IPythonLine] = []
    out: list[str] = []
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        if stripped.startswith("%%"):
            magic = stripped.split()[0]
            if number != _first_code_line(lines) or magic not in ("%%time", "%%timeit", "%%capture"):
                raise CellIPythonOnlyError(
                    f"line {number}: the cell magic {magic} is IPython's, not Python, and a "
                    "step cannot cache what it does; leave %%step off its cell", magic)
            found.append(IPythonLine(number, stripped, "cell magic", _magic_binds(stripped)))
            out.append(indent + _left_out(stripped))
        elif stripped.startswith(("%time ", "%time\t")) and _parses(stripped[6:].strip()):
            # `%time stmt` runs stmt once in the namespace: the step does the same
            found.append(IPythonLine(number, stripped, "magic"))
            out.append(indent + stripped[6:].strip())
        elif stripped.startswith(("%", "!")) or (number in magic_lines and "=" not in stripped):
            found.append(IPythonLine(number, stripped, "shell" if stripped[0] == "!" else "magic"))
            out.append(indent + _left_out(stripped))
        elif stripped.endswith("?") and stripped.rstrip("?").replace(".", "").isidentifier():
            found.append(IPythonLine(number, stripped, "help"))  # `np.array?`
            out.append(indent + _left_out(stripped))
        elif _MAGIC_ASSIGN.match(line) and not _parses(line.strip()):
            raise CellIPythonOnlyError(
                f"line {number}: `{stripped}` assigns the result of IPython syntax, which a "
                "step cannot store; compute it in Python (e.g. subprocess.run) to cache it",
                stripped.split("=", 1)[1].strip().split()[0])
        else:
            out.append(line)
    return "\n".join(out), found


def _left_out(text: str) -> str:
    """The neutral line standing for an IPython line: ``pass; 'IPython: %env A=1'``. The
    string constant does nothing when the step function runs, but it is in the normalised
    AST, so the line's text is part of the code fingerprint (and of the cell's shape): a cell
    whose magic changed (``%env A=1`` -> ``%env A=2``, ``%%capture`` -> ``%%capture out``) is
    a new body, never a hit on what the old line did. (It was a comment, which the
    fingerprint ignores: such an edit was a hit replaying the old line's effect.) ``pass``
    first keeps the string from being read as a docstring; it also tells the reader of an
    exported module what ran in the notebook."""
    return f"pass; {'IPython: ' + text!r}"


def _magic_binds(line: str) -> tuple[str, ...]:
    """The name ``%%capture [options] NAME`` stores its ``CapturedIO`` under, if any."""
    words = line.split()
    if words[0] != "%%capture":
        return ()
    names = [w for w in words[1:] if not w.startswith("-")]
    return (names[0],) if names and names[0].isidentifier() else ()


def is_left_out(line: str) -> bool:
    """Whether ``line`` is the neutral line :func:`python_source` put for an IPython line."""
    return line.strip().startswith(("pass; 'IPython: ", 'pass; "IPython: '))


def _first_code_line(lines: list[str]) -> int:
    return next((i for i, line in enumerate(lines, 1) if line.strip()), 1)


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
        return True
    except SyntaxError:
        return False
