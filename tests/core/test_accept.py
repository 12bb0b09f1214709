"""Accepting a harmless edit (issue 19.5, SPEC §9): `flowyml accept FILE STEP` on real files,
and the alias entry it writes (integrity, signing, gc)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from flowyml.store import lifecycle
from flowyml.store.entry import entry_file_parts, read_meta, write_entry_file
from flowyml.store.local import CacheStore

ROOT = Path(__file__).resolve().parents[2]

MODULE = textwrap.dedent("""
    from pathlib import Path

    from flowyml import Pipeline, step

    MARK = Path(__file__).with_name("runs.txt")

    @step(outputs=["rows"])
    def make(n_rows):
        return list(range(n_rows))

    @step(inputs=["rows"], outputs=["count"])
    def count(rows):
        with MARK.open("a") as fh:
            fh.write("count ran\\n")
        return len(rows){extra}

    pipeline = Pipeline("acc", context={{"n_rows": {n}}}).add_steps([make, count])
""")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    # runs.txt counts the bodies that ran; file tracking would put it back on hits
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FLOWYML_CACHE_DIR": str(tmp_path / "c"),
           "FLOWYML_TRACK_FILES": "0", **extra}
    return env


def flowyml(*args: str, cwd: Path, env: dict[str, str], code: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "flowyml", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == code, proc.stdout + proc.stderr
    return proc


def _runs(tmp_path: Path) -> int:
    mark = tmp_path / "runs.txt"
    return mark.read_text().count("count ran") if mark.exists() else 0


def _edit(module: Path, n: int = 10) -> None:
    """The harmless edit: a debug print in count's body."""
    source = MODULE.format(n=n, extra="")
    assert "    return len(rows)" in source
    module.write_text(source.replace("    return len(rows)",
                                     "    print('debug', len(rows))\n    return len(rows)"))


def test_accept_a_module_edit_without_running_it(tmp_path):
    module, env = tmp_path / "acc.py", _env(tmp_path)
    module.write_text(MODULE.format(n=10, extra=""))
    flowyml("run", str(module), cwd=tmp_path, env=env)
    assert _runs(tmp_path) == 1
    _edit(module)
    # no --yes and no terminal: the diff, then a refusal with the hint; nothing changes
    asked = flowyml("accept", str(module), "count", cwd=tmp_path, env=env, code=2)
    assert "its own code changed" in asked.stdout, asked.stdout
    assert "run again with --yes" in asked.stderr, asked.stderr
    assert "will re-run" in flowyml("why", str(module), "count", cwd=tmp_path, env=env).stdout
    done = flowyml("accept", str(module), "count", "--yes", cwd=tmp_path, env=env)
    assert "will re-run: against the nearest stored entry" in done.stdout  # the diff first
    assert "its own code changed" in done.stdout and "accepted" in done.stdout, done.stdout
    assert _runs(tmp_path) == 1  # the body did not run
    why = flowyml("why", str(module), "count", cwd=tmp_path, env=env).stdout
    assert "will be a cache hit" in why, why
    ran = flowyml("run", str(module), cwd=tmp_path, env=env).stdout
    assert "2 cached" in ran and _runs(tmp_path) == 1, ran
    # no copy of the data: the alias is a small entry beside the one it points at
    metas = [read_meta(e.path) for e in lifecycle.scan(CacheStore(tmp_path / "c"))
             if e.step == "count"]
    (alias,) = [m for m in metas if "alias" in (m.get("notes") or {})]
    (target,) = [m for m in metas if m is not alias]
    assert alias["notes"]["alias"]["key"] == target["key"] and alias["size"] < 200
    again = flowyml("accept", str(module), "count", "--yes", cwd=tmp_path, env=env)
    assert "already a cache hit" in again.stdout


def test_accept_refuses_when_an_input_differs_naming_it(tmp_path):
    module, env = tmp_path / "acc.py", _env(tmp_path)
    module.write_text(MODULE.format(n=10, extra=""))
    flowyml("run", str(module), cwd=tmp_path, env=env)
    _edit(module, n=12)  # the code edit, and an upstream input changed
    refused = flowyml("accept", str(module), "count", "--yes", cwd=tmp_path, env=env, code=2)
    assert "not accepted: input `rows` differs" in refused.stderr, refused.stderr
    assert "`n_rows` changed 10 → 12" in refused.stderr, refused.stderr
    # the step's own context input changed: refused, naming it
    module.write_text(MODULE.format(n=12, extra=""))
    flowyml("run", str(module), cwd=tmp_path, env=env)
    module.write_text(MODULE.format(n=12, extra="").replace(
        "def make(n_rows):\n    return", "def make(n_rows):\n    print(n_rows)\n    return")
        .replace('"n_rows": 12', '"n_rows": 13'))
    refused = flowyml("accept", str(module), "make", "--yes", cwd=tmp_path, env=env, code=2)
    assert "not accepted: an input differs" in refused.stderr, refused.stderr
    assert "`n_rows` changed 12 → 13" in refused.stderr, refused.stderr
    assert _runs(tmp_path) == 2
    nothing = tmp_path / "other.py"
    nothing.write_text(MODULE.format(n=10, extra="").replace('"acc"', '"other"'))
    empty = flowyml("accept", str(nothing), "make", "--yes", cwd=tmp_path,
                    env=_env(tmp_path / "elsewhere"), code=2)
    assert "nothing of it is stored yet" in empty.stderr, empty.stderr
    down = flowyml("accept", str(nothing), "count", "--yes", cwd=tmp_path,
                   env=_env(tmp_path / "elsewhere"), code=2)
    assert "upstream step 'make' will run first" in down.stderr, down.stderr


NOTEBOOK_CELLS = [
    "from pathlib import Path\nMARK = str(Path('runs.txt').resolve())\nn_rows = 10",
    "%%step make\nrows = list(range(n_rows))",
    "%%step count\nopen(MARK, 'a').write('count ran\\n')\ncount = len(rows)",
]


def _notebook(path: Path, cells: list[str]) -> Path:
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_accept_a_notebook_edit_then_the_exported_module_hits(tmp_path):
    env = _env(tmp_path)
    nb = _notebook(tmp_path / "analysis.ipynb", NOTEBOOK_CELLS)
    flowyml("export", str(nb), "-o", str(tmp_path / "first.py"), cwd=tmp_path, env=env)
    flowyml("run", str(tmp_path / "first.py"), cwd=tmp_path, env=env)
    assert _runs(tmp_path) == 1
    edited = [*NOTEBOOK_CELLS[:2], NOTEBOOK_CELLS[2].replace("count = len(rows)",
                                                             "print('debug')\ncount = len(rows)")]
    _notebook(nb, edited)
    done = flowyml("accept", str(nb), "count", "--yes", cwd=tmp_path, env=env)
    assert "its own code changed" in done.stdout and "accepted" in done.stdout, done.stdout
    assert _runs(tmp_path) == 0 + 1
    assert "will be a cache hit" in flowyml("why", str(nb), "count", cwd=tmp_path, env=env).stdout
    flowyml("export", str(nb), "-o", str(tmp_path / "second.py"), cwd=tmp_path, env=env)
    ran = flowyml("run", str(tmp_path / "second.py"), cwd=tmp_path, env=env).stdout
    assert "cache hit" in ran and "computed" not in ran and _runs(tmp_path) == 1, ran


def test_the_alias_keeps_every_integrity_check(tmp_path, monkeypatch):
    """The target is verified on every hit; a replaced target, a damaged or forged alias, or
    one signed with another secret is a miss that recomputes -- never a wrong hit."""
    monkeypatch.setenv("FLOWYML_CACHE_SECRET", "s3cret")
    module, env = tmp_path / "acc.py", _env(tmp_path, FLOWYML_CACHE_SECRET="s3cret")
    module.write_text(MODULE.format(n=10, extra=""))
    flowyml("run", str(module), cwd=tmp_path, env=env)
    _edit(module)
    flowyml("accept", str(module), "count", "--yes", cwd=tmp_path, env=env)
    assert "2 cached" in flowyml("run", str(module), cwd=tmp_path, env=env).stdout
    store = CacheStore(tmp_path / "c")
    (alias,) = [e for e in lifecycle.scan(store)
                if e.step == "count" and "alias" in (read_meta(e.path).get("notes") or {})]
    meta, data, replay = entry_file_parts(alias.path)
    assert meta["notes"]["alias"]["key"] and meta["signature"]
    # a forged alias (pointing elsewhere, signature kept) is refused by the signature check
    forged = {**meta, "notes": {"alias": {**meta["notes"]["alias"], "checksum": "full:0"}}}
    original = Path(alias.path).read_bytes()
    write_entry_file(alias.path, forged, data, replay)
    ran = flowyml("run", str(module), cwd=tmp_path, env=env)
    assert "1 cached, 1 done" in ran.stdout and "signature" in ran.stderr, ran.stdout + ran.stderr
    assert _runs(tmp_path) == 2
    # another secret: the alias (and everything else) is refused
    Path(alias.path).write_bytes(original) if Path(alias.path).exists() else None
    other = flowyml("run", str(module), cwd=tmp_path, env=_env(tmp_path, FLOWYML_CACHE_SECRET="x"))
    assert "2 done" in other.stdout, other.stdout


def test_a_replaced_target_makes_the_alias_a_miss(tmp_path):
    module, env = tmp_path / "acc.py", _env(tmp_path)
    module.write_text(MODULE.format(n=10, extra=""))
    flowyml("run", str(module), cwd=tmp_path, env=env)
    _edit(module)
    flowyml("accept", str(module), "count", "--yes", cwd=tmp_path, env=env)
    store = CacheStore(tmp_path / "c")
    (target,) = [e for e in lifecycle.scan(store)
                 if e.step == "count" and "alias" not in (read_meta(e.path).get("notes") or {})]
    meta, data, replay = entry_file_parts(target.path)
    meta["checksum"] = "full:" + "0" * 32  # another entry under the target's key
    write_entry_file(target.path, meta, data, replay)
    why = flowyml("why", str(module), "count", cwd=tmp_path, env=env).stdout
    assert "will re-run" in why and "accepted against was replaced" in why, why
    ran = flowyml("run", str(module), cwd=tmp_path, env=env)
    assert "1 cached, 1 done" in ran.stdout, ran.stdout + ran.stderr
    assert _runs(tmp_path) == 2


def test_gc_keeps_an_alias_with_the_entry_it_points_at(tmp_path):
    module, env = tmp_path / "acc.py", _env(tmp_path)
    module.write_text(MODULE.format(n=10, extra=""))
    flowyml("run", str(module), cwd=tmp_path, env=env)
    _edit(module)
    flowyml("accept", str(module), "count", "--yes", cwd=tmp_path, env=env)
    for n in (11, 12):  # newer versions of count, then back to the accepted one
        module.write_text(MODULE.format(n=n, extra=""))
        flowyml("run", str(module), cwd=tmp_path, env=env)
    for e in lifecycle.scan(CacheStore(tmp_path / "c")):  # used a minute ago: the next hit
        os.utime(e.path, (e.last_used - 60, e.last_used - 60))  # records a use (at most one per 2 s)
    _edit(module)
    assert "2 cached" in flowyml("run", str(module), cwd=tmp_path, env=env).stdout
    said = flowyml("cache", "gc", "--keep-latest", "1", "--grace", "0s", cwd=tmp_path, env=env)
    assert "removed 4 entries" in said.stdout, said.stdout  # make 11, 12; count 11, 12
    assert "2 cached" in flowyml("run", str(module), cwd=tmp_path, env=env).stdout
    assert _runs(tmp_path) == 3
