"""The `flowyml` command, driven as a user would: real subprocesses, real files."""

from __future__ import annotations

import sys

from .conftest import make_notebook, run

PIPELINE = '''
from flowyml import Pipeline, step

N = 3


@step(outputs=["numbers"])
def make(N):
    return list(range(N))


@step(inputs=["numbers"], outputs=["total"])
def add(numbers):
    if sum(numbers) == 666:
        raise ValueError("the number of the beast")
    return sum(numbers)


pipeline = Pipeline("cli_demo", context={"N": N}).add_steps([make, add])

if __name__ == "__main__":
    raise SystemExit("the CLI must import the module, not run it as __main__")
'''


def write_module(tmp_path):
    path = tmp_path / "demo.py"
    path.write_text(PIPELINE)
    return path


def test_help(flowyml_cmd, tmp_path):
    top = run([*flowyml_cmd, "--help"], tmp_path, None)
    assert top.returncode == 0 and "export" in top.stdout and "run" in top.stdout
    sub = run([*flowyml_cmd, "run", "--help"], tmp_path, None)
    assert "--executor" in sub.stdout and "--set" in sub.stdout and "--cache-dir" in sub.stdout
    mod = run([sys.executable, "-m", "flowyml", "export", "--help"], tmp_path, None)
    assert mod.returncode == 0 and "--output" in mod.stdout


def test_run_shows_progress_and_caches(flowyml_cmd, tmp_path):
    module = write_module(tmp_path)
    cache = tmp_path / "cache"
    first = run([*flowyml_cmd, "run", str(module)], tmp_path, cache)
    assert first.returncode == 0, first.stderr
    lines = [ln for ln in first.stdout.splitlines() if ln.startswith("[")]
    assert len(lines) == 2 and all(" done " in ln and "computed" in ln for ln in lines)
    assert "succeeded" in first.stdout and "2 steps" in first.stdout
    second = run([*flowyml_cmd, "run", str(module)], tmp_path, cache)
    lines = [ln for ln in second.stdout.splitlines() if ln.startswith("[")]
    assert len(lines) == 2 and all(" cached " in ln and "cache hit" in ln for ln in lines)


def test_set_overrides_context_and_failure_exits_1(flowyml_cmd, tmp_path):
    module = write_module(tmp_path)
    proc = run([*flowyml_cmd, "run", str(module), "--set", "N=37"], tmp_path, tmp_path / "c")
    assert proc.returncode == 1
    assert "FAILED" in proc.stdout and " failed " in proc.stdout
    assert "Traceback" in proc.stderr and "the number of the beast" in proc.stderr
    assert "step 'add' failed" in proc.stderr


def test_default_cache_is_next_to_the_module(flowyml_cmd, tmp_path):
    module = write_module(tmp_path)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    proc = run([*flowyml_cmd, "run", str(module)], elsewhere, None)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / ".flowyml" / "cache").is_dir()
    assert not (elsewhere / ".flowyml").exists()


def test_cache_dir_option_and_cache_commands(flowyml_cmd, tmp_path):
    module = write_module(tmp_path)
    cache = tmp_path / "mine"
    assert run([*flowyml_cmd, "run", str(module), "--cache-dir", str(cache)], tmp_path,
               None).returncode == 0
    info = run([*flowyml_cmd, "cache", "info", "--cache-dir", str(cache)], tmp_path, None)
    assert "make" in info.stdout and "add" in info.stdout
    cleared = run([*flowyml_cmd, "cache", "clear", "make", "--cache-dir", str(cache)],
                  tmp_path, None)
    assert "removed 1 entries" in cleared.stdout
    info = run([*flowyml_cmd, "cache", "info", "--cache-dir", str(cache)], tmp_path, None)
    assert "make" not in info.stdout.split("\n", 1)[1] and "add" in info.stdout


def test_export_command(flowyml_cmd, tmp_path):
    nb = make_notebook(tmp_path / "nb.ipynb", "K = 4", "%%step\nsquares = [i * i for i in range(K)]")
    proc = run([*flowyml_cmd, "export", str(nb), "-o", str(tmp_path / "out" / "mod.py")],
               tmp_path, None)
    assert proc.returncode == 0, proc.stderr
    ran = run([*flowyml_cmd, "run", str(tmp_path / "out" / "mod.py")], tmp_path, tmp_path / "c")
    assert ran.returncode == 0 and "squares" in ran.stdout


def test_user_errors_exit_2_with_one_line(flowyml_cmd, tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("not json")
    proc = run([*flowyml_cmd, "export", str(bad), "-o", str(tmp_path / "x.py")], tmp_path, None)
    assert proc.returncode == 2 and "not a Jupyter notebook" in proc.stderr
    assert "Traceback" not in proc.stderr
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    proc = run([*flowyml_cmd, "run", str(empty)], tmp_path, None)
    assert proc.returncode == 2 and "defines no Pipeline" in proc.stderr
    proc = run([*flowyml_cmd, "run", str(write_module(tmp_path)), "--set", "1x=2"], tmp_path, None)
    assert proc.returncode == 2 and "--set takes NAME=VALUE" in proc.stderr


def test_run_on_other_executors_shares_the_cache(flowyml_cmd, tmp_path):
    module = write_module(tmp_path)
    cache = tmp_path / "cache"
    threads = run([*flowyml_cmd, "run", str(module), "--executor", "threads", "--max-workers", "2"],
                  tmp_path, cache)
    assert threads.returncode == 0, threads.stderr
    assert "executor threads" in threads.stdout or "threads" in threads.stdout
    procs = run([*flowyml_cmd, "run", str(module), "--executor", "processes"], tmp_path, cache)
    assert procs.returncode == 0, procs.stderr
    lines = [ln for ln in procs.stdout.splitlines() if ln.startswith("[")]
    assert len(lines) == 2 and all("cache hit" in ln for ln in lines)
    bad = run([*flowyml_cmd, "run", str(module), "--executor", "nope"], tmp_path, cache)
    assert bad.returncode != 0 and "nope" in (bad.stderr + bad.stdout)
