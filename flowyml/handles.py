"""Where the data behind an open handle lives: the file of a ``sqlite3`` connection, the
file and position of a Python file object (``f = open('notes.txt')`` kept for later
cells). The hashing of values (a handle is hashed by what it reads, :mod:`flowyml.hashing`),
its storage (:mod:`flowyml.store.byvalue`) and the record of the files a step reads
(:mod:`flowyml.tracking.files`) ask, so it sits below them."""

from __future__ import annotations

import io
import os
from typing import Any, NamedTuple

#: the file objects ``open`` returns with its default buffering: text, binary
_FILE_TYPES = (io.TextIOWrapper, io.BufferedReader, io.BufferedWriter, io.BufferedRandom)
#: ``os.open`` flags a file object opened again must not have: it would empty the file, or
#: fail on a file that exists (the step that opened it made it; a hit puts it back first)
_FRESH_FLAGS = os.O_TRUNC | os.O_CREAT | os.O_EXCL


class FileHandle(NamedTuple):
    """What a Python file object is, for hashing and for opening it again: the file (as
    ``open`` was given it, so it names the same file again from the same folder, as running
    the cell again would), ``open``'s mode, encoding and
    errors (``None`` for binary), and the position ``tell`` gives (``None`` when closed)."""

    path: str
    mode: str
    encoding: str | None
    errors: str | None
    position: int | None


def writing(f: Any) -> bool:
    """Whether ``f`` is an open Python file object that writes to its file (a mode with
    ``w``, ``a``, ``x`` or ``+``)."""
    try:
        return (type(f) in _FILE_TYPES and not f.closed
                and bool(set(str(f.mode)) & set("wax+")))
    except (AttributeError, ValueError):
        return False


def flush(f: Any) -> bool:
    """Write out what a file object open for writing holds in its buffers, so that its file
    is what it has written (a step's end, before its files are recorded); ``False`` when it
    cannot (the disk is full, it was detached)."""
    try:
        f.flush()
    except (OSError, ValueError, AttributeError):
        return False
    return True


def file_handle(f: Any) -> FileHandle | None:
    """``f`` as a :class:`FileHandle` when it is one ``open`` made from a path and opening
    it again gives the same object: open for reading, open for writing into a file that is
    there (``open('test.txt', 'w+')`` kept for later cells: flushed first, so that its file
    holds all it wrote, and opened again without emptying it), or closed (any mode: nothing
    can be done with it but look at it). ``None`` for anything else: one opened from a
    descriptor (``sys.stdout``), a text file partway through a ``for line in f`` loop
    (Python cannot tell its position then), a writer whose buffer cannot be written out."""
    if type(f) not in _FILE_TYPES:
        return None
    try:
        name, mode, closed = f.name, f.mode, f.closed
    except (AttributeError, ValueError):  # a raw file detached from its wrapper
        return None
    if not isinstance(name, str) or not isinstance(mode, str):
        return None
    text = isinstance(f, io.TextIOWrapper)
    if closed:
        if not text and set(mode) - set("rb"):
            return None  # a closed binary writer: its mode cannot be given back (see _closed)
        position = None
    else:
        if not os.path.isfile(name):
            return None  # (``sys.stdin`` is named ``'<stdin>'``)
        if set(mode) & set("wax+") and not flush(f):
            return None
        try:
            position = f.tell()
        except (OSError, ValueError):
            return None
    return FileHandle(name, mode, f.encoding if text else None, f.errors if text else None,
                      position)


def _opener(path: str, flags: int) -> int:
    return os.open(path, flags & ~_FRESH_FLAGS)


def reopen(handle: FileHandle) -> Any:
    """The file object ``handle`` describes, opened again: at its position when it was
    open (a writer without emptying or creating its file: the file is what it wrote, put
    back by its step's hit), closed when it was (opened for reading, so a closed writer
    never truncates its file again; a text file gets its mode back: a closed file shows
    only its name and mode)."""
    path, mode, encoding, errors, position = handle
    if position is None:
        # (a file gone since fails the load: the entry is dropped and its step runs)
        f = open(path, "rb" if "b" in mode else "r", encoding=encoding, errors=errors)  # noqa: SIM115
        if isinstance(f, io.TextIOWrapper):
            f.mode = mode
        f.close()
        return f
    f = open(path, mode, encoding=encoding, errors=errors, opener=_opener)  # noqa: SIM115
    f.seek(position)
    return f


def sqlite_database(con: Any) -> str | None:
    """The file of a ``sqlite3`` connection's main database, relative to the working
    directory when under it; ``None`` for a database in memory or a temporary one, or a
    connection that cannot say (closed, made in another thread)."""
    try:
        rows = con.execute("PRAGMA database_list").fetchall()
    except Exception:
        return None
    path = next((row[2] for row in rows if row[1] == "main"), None)
    if not path:
        return None
    path = os.path.realpath(path)
    cwd = os.path.join(os.path.realpath(os.getcwd()), "")
    return path[len(cwd):] if path.startswith(cwd) else path


def sqlite_closed(con: Any) -> bool:
    """Whether a ``sqlite3`` connection is closed (``con.close()``, as tutorials end each
    cell that queries): it then only refuses to work (every use raises "Cannot operate on a
    closed database"), whatever file it was connected to."""
    try:
        con.total_changes  # noqa: B018 (checks the connection only: no thread check)
    except Exception as exc:  # sqlite3.ProgrammingError
        return "closed database" in str(exc)
    return False


class SqliteCursor(NamedTuple):
    """What a ``sqlite3`` cursor of a closed connection still shows (``cur =
    con.cursor(); cur.execute(...); con.close()``): its last statement's columns (names), row
    count and last row id, its ``arraysize`` and ``row_factory``, and whether it was closed
    itself (it says "closed cursor" rather than "closed database" then)."""

    columns: tuple[str, ...] | None
    rowcount: int
    lastrowid: int | None
    arraysize: int
    row_factory: Any
    closed: bool


def sqlite_cursor(cur: Any) -> SqliteCursor | None:
    """``cur`` as a :class:`SqliteCursor` when its connection is closed; ``None`` while it
    is open (its rows still to be fetched are the database's, and fetching them is a use)."""
    con = getattr(cur, "connection", None)
    if con is None or not sqlite_closed(con):
        return None
    try:
        cur.fetchone()  # refused: the connection is closed (nothing is read)
    except Exception as exc:
        closed = "closed cursor" in str(exc)
    else:  # pragma: no cover - a closed connection always refuses
        return None
    description = cur.description
    columns = None if description is None else tuple(d[0] for d in description)
    return SqliteCursor(columns, cur.rowcount, cur.lastrowid, cur.arraysize, cur.row_factory,
                        closed)


def sqlite_closed_connection(row_factory: Any, text_factory: Any) -> Any:
    """A closed ``sqlite3`` connection with these factories: what any closed one is."""
    import sqlite3

    con = sqlite3.connect(":memory:")
    con.row_factory, con.text_factory = row_factory, text_factory
    con.close()
    return con


def sqlite_closed_cursor(state: SqliteCursor) -> Any:
    """A cursor of a closed connection showing ``state``: made on a database in memory by a
    statement with those columns (a ``SELECT NULL AS ...``; one changing ``rowcount`` rows,
    or a ``CREATE``, when there were none) after an insert giving its last row id, then the
    connection closed. ``None`` when that does not give ``state`` back."""
    import sqlite3

    mem = sqlite3.connect(":memory:", isolation_level=None)
    cur = mem.cursor()
    if state.columns is not None or state.rowcount != -1 or state.lastrowid is not None:
        if state.columns is None and state.rowcount >= 0:
            rows = int(state.rowcount)  # (a table made by a select sets no last row id)
            mem.execute("CREATE TABLE r AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT "
                        f"i + 1 FROM n WHERE i < {rows}) SELECT i AS x FROM n WHERE i <= {rows}")
        if state.lastrowid:
            mem.execute("CREATE TABLE l (x)")
            mem.execute("INSERT INTO l (rowid) VALUES (?)", (state.lastrowid,))
        if state.columns is not None:
            names = ", ".join('NULL AS "{}"'.format(n.replace('"', '""')) for n in state.columns)
            cur.execute(f"SELECT {names}")
        elif state.rowcount >= 0:
            cur.execute("UPDATE r SET x = x")
        else:
            cur.execute("CREATE TABLE d (x)")
    cur.arraysize, cur.row_factory = state.arraysize, state.row_factory
    if state.closed:
        cur.close()
    mem.close()
    return cur if sqlite_cursor(cur) == state else None
