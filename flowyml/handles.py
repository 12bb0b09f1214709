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
