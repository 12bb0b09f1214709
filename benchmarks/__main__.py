"""``python -m benchmarks [--quick] [--only NAME ...] [--markdown]``: run and print one table.

Each benchmark runs side by side with its baseline; the table shows flowyml's figure, the
baseline's, their ratio and the issue's target. A benchmark that crashes becomes an error
row (and the exit status is 1); one that cannot run here is a skipped row with the reason.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks._common import render_table, row

#: in the order they run; "executors" is written with the executors and may not exist yet
BENCHMARKS = ("overhead", "hashing", "large_output", "import", "dag", "map", "notebook",
              "executors", "lifecycle", "store", "remote", "files", "reactive", "corpus")


def machine() -> str:
    """One line describing this machine and interpreter."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        mem = f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
    except ImportError:
        mem = "RAM unknown"
    return (f"{cpu}, {os.cpu_count()} cores, {mem}; Python {platform.python_version()} "
            f"on {platform.system()} {platform.release()}")


def run_one(name: str, quick: bool) -> list[dict[str, Any]]:
    """The rows of benchmark ``name``; a crash becomes an error row (re-raised by the caller)."""
    try:
        module = importlib.import_module(f"benchmarks.bench_{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"benchmarks.bench_{name}":
            return [row(name, "skipped", None, "", note=f"benchmarks/bench_{name}.py not present")]
        raise
    return list(module.run(quick))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: the whole suite in well under a minute (for CI)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, metavar="NAME",
                        help=f"run only these benchmarks ({', '.join(BENCHMARKS)})")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    failed = []
    for name in args.only or BENCHMARKS:
        t0 = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            rows.extend(run_one(name, args.quick))
        except Exception as exc:
            failed.append(name)
            traceback.print_exc()
            rows.append(row(name, "ERROR", None, "", note=f"{type(exc).__name__}: {exc}"[:200]))
        print(f"  {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    command = "python -m benchmarks" + (" " + " ".join(argv if argv is not None else sys.argv[1:]))
    print(f"flowyml benchmarks ({'quick' if args.quick else 'full'} mode), "
          f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"machine: {machine()}")
    print(f"command: {command.strip()}; {time.perf_counter() - started:.0f} s")
    print()
    print(render_table(rows, markdown=args.markdown))
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
