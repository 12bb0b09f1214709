"""Where the data behind an open handle lives: the file of a ``sqlite3`` connection. Both
the hashing of values (a connection is hashed by its file, :mod:`flowyml.hashing`) and the
record of the files a step reads (:mod:`flowyml.tracking.files`) ask, so it sits below
both."""

from __future__ import annotations

import os
from typing import Any


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
