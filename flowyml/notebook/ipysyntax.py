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
from collections.abc import Callable
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



#: IPython's own line magics (IPython 8-9 and its autoreload extension); a magic not among
#: them is an extension's (``%sql ...``), whose effects and reads are out of flowyml's sight
IPYTHON_MAGICS = frozenset((
    "aimport", "alias", "alias_magic", "autoawait", "autocall", "automagic", "autoreload",
    "autosave", "bookmark", "cat", "cd", "clear", "code_wrap", "colors", "conda", "config",
    "connect_info", "cp", "debug", "dhist", "dirs", "doctest_mode", "ed", "edit", "env", "gui",
    "hist", "history", "killbgscripts", "ldir", "less", "lf", "lk", "ll", "load", "load_ext",
    "loadpy", "logoff", "logon", "logstart", "logstate", "logstop", "ls", "lsmagic", "lx",
    "macro", "magic", "mamba", "man", "matplotlib", "micromamba", "mkdir", "more", "mv",
    "notebook", "page", "pastebin", "pdb", "pdef", "pdoc", "pfile", "pinfo", "pinfo2", "pip",
    "popd", "pprint", "precision", "prun", "psearch", "psource", "pushd", "pwd", "pycat",
    "pylab", "qtconsole", "quickref", "recall", "rehashx", "reload_ext", "rep", "rerun",
    "reset", "reset_selective", "rm", "rmdir", "run", "save", "sc", "set_env", "store", "sx",
    "system", "tb", "time", "timeit", "unalias", "unload_ext", "uv", "who", "who_ls", "whos",
    "xdel", "xmode",
))
#: magics a hit must not stand in for: they install packages (the environment is out of
#: flowyml's sight: a hit on a fresh machine would leave the package missing), or show or
#: change the kernel itself (``%whos``, ``%history``, ``%connect_info``, ``%reset``; ``%lsmagic``
#: and ``%magic`` list the magics registered now, ``%psearch`` the namespace's names)
_ALWAYS_RUN = frozenset((
    "pip", "conda", "mamba", "micromamba", "uv", "who", "who_ls", "whos", "history", "hist",
    "connect_info", "dhist", "dirs", "tb", "recall", "rerun", "reset", "xdel", "logstate",
    "notebook", "save", "lsmagic", "magic", "psearch",
))
#: shell commands that install packages (``!pip install x``, ``!sudo apt-get install ...``)
_INSTALLERS = frozenset(("pip", "pip3", "conda", "mamba", "micromamba", "uv", "apt", "apt-get",
                         "yum", "dnf", "brew", "npm"))


def outside_lines(lines: list[IPythonLine],
                  notebook_magic: Callable[[str], bool] | None = None) -> list[str]:
    """The IPython lines of a cell that only running it can stand for: package installs
    (``!pip install x``, ``%pip install x``), magics that show or change the kernel itself
    (``%whos``, ``%history``, ``%connect_info``, a bare ``%env``, ``%reset``) and magics of
    extensions (``%sql ...``). Other shell commands are cached, keyed by the files their
    words name (see :mod:`flowyml.tracking.files`). ``notebook_magic(name)`` tells a line
    magic the notebook registered from its own function of that name (``@register_line_magic
    def hello(line)``, then ``%hello french``): a call of that function, whose code is part of
    the cell's fingerprint (:func:`python_source` makes the line read the name), so it is
    cached like one."""
    found = []
    for line in lines:
        words = line.text.lstrip("!%").split()
        if line.kind == "shell":
            command = [w for w in words if w != "sudo"]
            if command[:1] and (command[0] in _INSTALLERS or (
                    command[0].startswith("python") and command[1:3] == ["-m", "pip"])):
                found.append(line.text)
        elif line.kind == "magic" and line.text.startswith("%"):
            name = words[0].rstrip("?") if words else ""  # `%run?`: the help of %run
            if (name in _ALWAYS_RUN or (name not in IPYTHON_MAGICS and not (
                    notebook_magic is not None and name.isidentifier() and notebook_magic(name)))
                    or (name == "env" and len(words) == 1)):
                found.append(line.text)
    return found


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
    timed = _timeit_cell(lines, magic_lines)
    if timed is not None:
        return timed
    found: list[IPythonLine] = []
    out: list[str] = []
    continued = 0  # lines left of a magic or shell line continued with backslashes
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        if continued:
            continued -= 1
            out.append("")  # part of the line above, which IPython runs as one
            continue
        if stripped.startswith(("%", "!")) and not stripped.startswith("%%") and stripped.endswith("\\"):
            stripped, continued = _continued_line(lines, number)
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
            out.append(indent + _left_out(stripped) + _expands(stripped, _foreign_magic(stripped)))
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


def _continued_line(lines: list[str], number: int) -> tuple[str, int]:
    """The magic or shell line starting at line ``number`` (1-based) with the lines its
    trailing backslashes continue it with, joined as IPython joins them before it runs the
    line (each backslash dropped, the parts joined by a space: ``%timeit [f(i) \\`` over
    ``for i in r]``), and how many lines after the first it takes."""
    end = number - 1
    while lines[end].rstrip().endswith("\\") and end + 1 < len(lines):
        end += 1
    parts = [lines[number - 1].strip(), *lines[number:end + 1]]
    text = " ".join([p.rstrip()[:-1] for p in parts[:-1]] + [parts[-1].rstrip()])
    return text.strip(), end - (number - 1)


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


_TIMEIT = re.compile(r"^%%timeit((?:\s+-[nrp]\s*\S+|\s+-[tcqo]+)*)\s*(.*)$")


def _timeit_cell(lines: list[str], magic_lines: frozenset[int]
                 ) -> tuple[str, list[IPythonLine]] | None:
    """A cell opened by ``%%timeit [options] [setup]``: IPython runs the setup and the body
    in a namespace of their own, many times, and binds nothing in the notebook's. So the
    Python is the body under ``if not 'IPython: %%timeit ...':`` (never true): what it reads
    from the notebook is an input, a name the setup binds (``%%timeit a = np.ones(9)`` /
    ``np.sort(a)``) is not, nothing it binds is an output (it was, and the step failed:
    "the cell did not assign output(s)"), and the exported module does not run it (as it
    did not run the timing). ``None``: not such a cell."""
    first = _first_code_line(lines)
    stripped = lines[first - 1].strip()
    match = _TIMEIT.match(stripped)
    if match is None or lines[first - 1] != lines[first - 1].lstrip():
        return None
    setup = match.group(2).strip()
    rest = "\n".join(lines[first:])
    inner, found = python_source(rest, frozenset(n - first for n in magic_lines if n > first))
    head = [*lines[: first - 1], f"if not {'IPython: ' + stripped!r}:"]
    if setup:
        if not _parses(setup):
            raise CellPythonSyntaxError(f"line {first}: the %%timeit setup is not Python: {setup}")
        head.append("    " + setup)
    block = [("    " + line if line.strip() else line) for line in inner.split("\n")]
    if not any(line.strip() for line in block):
        block.append("    pass")
    shift = first + (1 if setup else 0)
    moved = [IPythonLine(ln.lineno + shift, ln.text, ln.kind, ln.binds) for ln in found]
    return "\n".join([*head, *block]), [IPythonLine(first, stripped, "cell magic"), *moved]


_DOLLAR = re.compile(r"(?<!\$)\$([A-Za-z_][\w.]*)")
_BRACES = re.compile(r"(?<!\{)\{([^{}]+)\}")
#: the first item of the tuple :func:`_expands` reads (how :func:`is_interpolation` knows it)
_EXPANDS = "IPython expands"


def _foreign_magic(line: str) -> str | None:
    """The name of the line magic ``line`` calls when it is not one of IPython's own
    (``%hello french`` -> ``hello``): an extension's, or the notebook's own function
    registered as a magic, whose code the cell then runs (see :func:`outside_lines`)."""
    if not line.startswith("%") or line.startswith("%%"):
        return None
    words = line[1:].split()
    name = words[0] if words else ""
    return name if name.isidentifier() and name not in IPYTHON_MAGICS else None


def _expands(line: str, magic: str | None = None) -> str:
    """``; (lambda: ('IPython expands', files, files[0].upper()))`` for a ``!cmd`` or
    ``%magic`` line naming notebook values (``!echo $files {files[0].upper()}``: IPython
    puts their values in the command when it runs it), else ``""``. The names are the
    cell's reads (inputs when the notebook defines them, see :func:`is_interpolation`);
    before, editing ``files`` left ``!echo $files`` a hit showing the old list. The lambda
    is never called: the step's function evaluates nothing. ``magic``: the name of a line
    magic that is not IPython's, read too (a function of the notebook registered as that
    magic is then code the cell calls; an extension's name the notebook does not bind is
    no input)."""
    exprs = [*([magic] if magic else []), *(m.rstrip(".") for m in _DOLLAR.findall(line))]
    for inner in _BRACES.findall(line):
        for text in (inner, inner.split(":", 1)[0], inner.split("!", 1)[0]):
            if text.strip() and _parses_expression(text):
                exprs.append(text.strip())
                break
    exprs = [e for e in dict.fromkeys(exprs) if e and _parses_expression(e)]
    if not exprs:
        return ""
    code = f"; (lambda: ({_EXPANDS!r}, {', '.join(f'({e})' for e in exprs)}))"
    try:  # exactly one lambda over one tuple, or nothing (no text may escape it)
        tree = ast.parse("pass" + code)
    except SyntaxError:
        return ""
    if len(tree.body) != 2 or not is_interpolation(tree.body[1]) \
            or len(tree.body[1].value.body.elts) != len(exprs) + 1:  # type: ignore[attr-defined]
        return ""
    return code


def is_interpolation(node: ast.AST) -> bool:
    """Whether ``node`` is the statement :func:`_expands` added for an IPython line."""
    value = getattr(node, "value", None)
    return (isinstance(node, ast.Expr) and isinstance(value, ast.Lambda)
            and not value.args.args and isinstance(value.body, ast.Tuple) and bool(value.body.elts)
            and isinstance(value.body.elts[0], ast.Constant) and value.body.elts[0].value == _EXPANDS)


def _parses_expression(text: str) -> bool:
    try:
        ast.parse(text.strip(), mode="eval")
        return True
    except SyntaxError:
        return False


def _magic_binds(line: str) -> tuple[str, ...]:
    """The name ``%%capture [options] NAME`` stores its ``CapturedIO`` under, if any."""
    words = line.split()
    if words[0] != "%%capture":
        return ()
    names = [w for w in words[1:] if not w.startswith("-")]
    return (names[0],) if names and names[0].isidentifier() else ()


def is_left_out(line: str) -> bool:
    """Whether ``line`` is the neutral line :func:`python_source` put for an IPython line
    (``pass; 'IPython: %env A=1'``, a ``%%timeit`` cell's ``if not 'IPython: %%timeit':``)."""
    return line.strip().startswith(("pass; 'IPython: ", 'pass; "IPython: ',
                                    "if not 'IPython: ", 'if not "IPython: '))


def _first_code_line(lines: list[str]) -> int:
    return next((i for i, line in enumerate(lines, 1) if line.strip()), 1)


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
        return True
    except SyntaxError:
        return False
