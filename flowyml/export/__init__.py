"""Notebook -> intermediate form (:mod:`flowyml.export.ir`) -> plain pipeline module
(:mod:`flowyml.export.codegen`). :func:`export_notebook` is the entry point, used by
``flowyml export`` and ``%flowyml export``. Never imports IPython.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from flowyml.export.codegen import ir_to_module
from flowyml.export.ir import NotebookExportError, notebook_to_ir, read_notebook
from flowyml.store.urls import is_remote

__all__ = ["NotebookExportError", "export_notebook", "ir_to_module", "notebook_cache_location",
           "notebook_to_ir", "read_notebook"]


# ---------------------------------------------------------------------------------------------
# The entry point
# ---------------------------------------------------------------------------------------------


_CACHE_DIR_LINE = re.compile(r"^[ \t]*%flowyml[ \t]+cache[ \t]+dir[ \t]+(\S+)[ \t]*$", re.MULTILINE)


def notebook_cache_location(nb: Any) -> str | None:
    """The location the notebook's last ``%flowyml cache dir LOCATION`` line sets, if any."""
    found = None
    for cell in nb.cells:
        if cell.cell_type == "code":
            for match in _CACHE_DIR_LINE.finditer(cell.source):
                found = match.group(1)
    return found


def export_notebook(notebook_path: str | Path, out_path: str | Path,
                    cache_location: str | os.PathLike[str] | None = None) -> Path:
    """Write ``notebook_path``'s pipeline as a plain module at ``out_path``; return that path.

    The pipeline is named after the notebook's file stem. Its cache is ``cache_location``
    (the ``%flowyml export`` magic passes the one its kernel uses), else the one the
    notebook's last ``%flowyml cache dir`` line names (a relative path there is relative to
    the notebook's folder, where its kernel starts), else ``.flowyml/cache`` next to the
    notebook; ``FLOWYML_CACHE_DIR`` overrides it when the module runs.
    """
    notebook_path, out_path = Path(notebook_path), Path(out_path)
    if out_path.resolve() == notebook_path.resolve():
        raise NotebookExportError(f"refusing to overwrite the notebook {notebook_path} with the "
                                  "module; pass a .py path as the output")
    nb = read_notebook(notebook_path)
    home = notebook_path.resolve().parent
    notebook_dir = Path(os.path.relpath(home, out_path.resolve().parent))
    location = cache_location if cache_location is not None else notebook_cache_location(nb)
    notes_root: Any = home / ".flowyml" / "cache"
    if location is not None:
        location = str(location)
        if not is_remote(location):
            target = home / Path(location).expanduser()  # an absolute location stays itself
            notes_root = target
            if not Path(location).expanduser().is_absolute():
                location = os.path.relpath(target, out_path.resolve().parent)
        else:
            notes_root = location
    notes_root = os.environ.get("FLOWYML_CACHE_DIR") or notes_root
    text = ir_to_module(notebook_to_ir(nb, notes_root), notebook_path.stem,
                        notebook_dir.as_posix(), location)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out_path)
    return out_path
