"""A ``%%step`` cell whose reads happen in threads it starts (a ``ThreadPoolExecutor``),
through a real IPython shell: the files are the cell's inputs all the same. SPEC §9."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.jupyter.conftest import step_cell


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / ".flowyml" / "cache"))
    monkeypatch.delenv("FLOWYML_TRACK_FILES", raising=False)
    (tmp_path / "data.csv").write_text("a\n1\n2\n")
    return tmp_path


def _edit(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


# the file's name is built at run time: no literal names it, only the thread's open() does
POOLED = """from concurrent.futures import ThreadPoolExecutor
def load(name):
    with open(name) as fh:
        return fh.read().split()[1:]
with ThreadPoolExecutor(max_workers=2) as pool:
    rows = pool.submit(load, "".join(["data", ".csv"])).result()
total = sum(int(r) for r in rows)"""


def test_a_cell_reading_in_a_thread_pool_re_runs_when_the_file_changes(ip, session, here):
    step_cell(ip, "", POOLED)
    assert ip.user_ns["total"] == 3
    step_cell(ip, "", POOLED)
    assert session.steps["rows"].state == "cached"

    _edit(here / "data.csv", "a\n1\n2\n10\n")
    rows = {r.name: r for r in session.status()}
    assert rows["rows"].state == "stale" and "data.csv changed" in rows["rows"].why
    step_cell(ip, "", POOLED)
    rec = session.steps["rows"]
    assert rec.state == "done"
    assert any("data.csv changed" in n for n in rec.notes), rec.notes
    assert ip.user_ns["total"] == 13
