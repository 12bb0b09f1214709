"""The ``flowyml`` command: ``export`` a notebook, ``run`` a pipeline module, manage the ``cache``.

``flowyml run PATH.py`` imports the module (``__name__`` is not ``"__main__"``, so its own
``if __name__ == "__main__":`` block stays quiet), finds its :class:`~flowyml.Pipeline`, runs
it with one progress line per finished step and exits 1 when a step failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from flowyml.core.context import parse_context_value
from flowyml.core.pipeline import Pipeline, PipelineResult
from flowyml.events import RunStarted, StepFinished


class CommandError(Exception):
    """A user mistake the command reports in one line (exit status 2)."""


# ---------------------------------------------------------------------------------------------
# Loading a pipeline module
# ---------------------------------------------------------------------------------------------


def load_pipeline(path: str | Path) -> tuple[Pipeline, Any]:
    """Import the module at ``path`` and return its pipeline and the module.

    The pipeline is the module's ``pipeline`` attribute, else its only ``Pipeline``
    instance. The module's directory goes first on ``sys.path`` (as ``python PATH.py`` does).
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise CommandError(f"no file at {path}; pass the path of a pipeline module (.py)")
    if path.suffix != ".py":
        raise CommandError(f"{path.name} is not a Python module; `flowyml run` takes a .py "
                           "file (use `flowyml export NOTEBOOK.ipynb -o PATH.py` first)")
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    name = path.stem if path.stem.isidentifier() else "_pipeline_module"
    if name in sys.modules or name in sys.stdlib_module_names:
        name = f"_flowyml_run_{name}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CommandError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    found = getattr(module, "pipeline", None)
    if isinstance(found, Pipeline):
        return found, module
    candidates = {k: v for k, v in vars(module).items() if isinstance(v, Pipeline)}
    if len(candidates) == 1:
        return next(iter(candidates.values())), module
    if not candidates:
        raise CommandError(f"{path.name} defines no Pipeline; create one at module level, e.g. "
                           "`pipeline = Pipeline('name').add_steps([...])`")
    raise CommandError(f"{path.name} defines several pipelines ({', '.join(sorted(candidates))}) "
                       "and none is named `pipeline`; name the one to run `pipeline`")


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["k=v", ...]`` -> context values: Python literals where they parse, else strings."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise CommandError(f"--set takes NAME=VALUE with NAME a Python identifier; got {item!r}")
        out[key] = parse_context_value(raw)
    return out


# ---------------------------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------------------------


class Progress:
    """A run listener printing one line per finished step: state, duration, cached or not."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.total = 0
        self.finished = 0
        self.width = 12
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        with self._lock:
            if isinstance(event, RunStarted):
                self.total = len(event.steps)
                self.width = max((len(s) for s in event.steps), default=12)
                self._print(f"running '{event.pipeline}': {self.total} steps on the "
                            f"{event.executor} executor")
            elif isinstance(event, StepFinished):
                self.finished += 1
                counter = f"[{self.finished}/{self.total}]" if self.total else "[-]"
                line = (f"{counter} {event.state:<15} {event.step:<{self.width}} "
                        f"{event.duration:7.2f}s")
                if event.cached:
                    line += f"  cache hit (saved {event.time_saved:.2f}s)"
                elif event.state == "done":
                    line += "  computed"
                    if event.rerun_reason:
                        line += f" ({event.rerun_reason})"
                if event.error:
                    line += f"  {event.error.splitlines()[0] if event.error else ''}"
                self._print(line)

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)


def summary_line(result: PipelineResult) -> str:
    """``3 steps: 2 cached, 1 done in 0.52s`` (+ failures)."""
    counts: dict[str, int] = {}
    for res in result.step_results.values():
        counts[res.state] = counts.get(res.state, 0) + 1
    states = ", ".join(f"{n} {state}" for state, n in counts.items())
    saved = sum(r.time_saved for r in result.step_results.values() if r.cached)
    verdict = "succeeded" if result.success else "FAILED"
    extra = f"; the cache saved {saved:.2f}s" if saved else ""
    return (f"pipeline '{result.pipeline_name}' {verdict} in {result.duration_seconds:.2f}s: "
            f"{len(result.step_results)} steps ({states}){extra}")


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


def _cmd_export(args: argparse.Namespace) -> int:
    from flowyml.export import export_notebook

    out = Path(args.output) if args.output else Path(args.notebook).with_suffix(".py")
    written = export_notebook(args.notebook, out)
    print(f"wrote {written}; run it with `flowyml run {written}` or `python {written}`")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from flowyml.graph import PipelineGraphError

    overrides = parse_overrides(args.set or [])
    pipeline, _ = load_pipeline(args.module)
    if args.cache_dir:
        pipeline.cache_dir = args.cache_dir
    elif pipeline.cache_dir is None and not os.environ.get("FLOWYML_CACHE_DIR"):
        # what `python PATH.py` uses: .flowyml/cache next to the module
        pipeline.cache_dir = Path(args.module).resolve().parent / ".flowyml" / "cache"
    if args.no_cache:
        pipeline.enable_cache = False
    try:
        result = pipeline.run(executor=args.executor, max_workers=args.max_workers,
                              listeners=[Progress()], **overrides)
    except PipelineGraphError as exc:
        raise CommandError(f"the pipeline's graph is broken: {exc}") from None
    print(summary_line(result), flush=True)
    for res in result.step_results.values():
        if not res.success and res.traceback:
            print(f"\nstep '{res.name}' failed:\n{res.traceback}", file=sys.stderr)
        elif not res.success and res.error:
            print(f"step '{res.name}' {res.state}: {res.error}", file=sys.stderr)
    return 0 if result.success else 1


def _cmd_cache(args: argparse.Namespace) -> int:
    import json

    from flowyml.store import explain as _explain
    from flowyml.store import lifecycle
    from flowyml.store.local import cache_report
    from flowyml.store.locations import open_store
    from flowyml.store.urls import is_remote

    if args.action == "keygen":
        return _cmd_keygen(args)
    pipeline = _pipeline_for(args.pipeline) if args.pipeline else None
    where = args.cache_dir
    if where is None and not os.environ.get("FLOWYML_CACHE_DIR"):
        where = Path.cwd() / ".flowyml" / "cache"  # as the help says (not next to flowyml/)
    store = pipeline.cache if pipeline is not None and not args.cache_dir else open_store(where)
    if is_remote(str(store.root)):
        store.check_safety()  # cannot be reached: one line, within seconds
    current = _explain.current_keys(pipeline) if pipeline is not None else None
    if args.action == "clear":
        print(cache_report(store, "clear", args.step))
    elif args.action == "info":
        report = lifecycle.info(store, current)
        if args.step:
            from flowyml.store.local import step_dirname

            report["steps"] = {k: v for k, v in report["steps"].items() if k == step_dirname(args.step)}
        from flowyml.store import signers

        signed = signers.signers(store)
        if args.step:
            signed = [r for r in signed if r["step"] in report["steps"]]
        if args.json:
            print(json.dumps({**report, "entries": signed}, indent=1))
        else:
            print("\n".join(filter(None, [lifecycle.info_text(report),
                                          signers.signers_text(signed)])))
    elif args.untrusted:  # gc --untrusted
        from flowyml.store import signers

        try:
            removed, kept = signers.gc_untrusted(store, dry_run=args.dry_run)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        verb = "would remove" if args.dry_run else "removed"
        print(f"cache at {store.root}: {verb} {len(removed)} entries no trusted key signed; "
              f"{kept} stay")
    else:  # gc
        try:
            older = lifecycle.parse_age(args.older_than) if args.older_than else None
            size = lifecycle.parse_size(args.max_size) if args.max_size else None
            grace = lifecycle.parse_age(args.grace) if args.grace else None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        report = lifecycle.gc(store, keep_latest=args.keep_latest, older_than=older,
                              max_size=size, protect=(current or {}).values(),
                              dry_run=args.dry_run, grace=grace)
        print(f"cache at {store.root}: {report.summary()}")
    return 0


def _cmd_keygen(args: argparse.Namespace) -> int:
    from flowyml.store import signing_keys

    try:
        private, public, fp = signing_keys.keygen(args.out or ".")
    except (FileExistsError, ImportError, OSError) as exc:
        raise CommandError(str(exc)) from None
    print(f"private key: {private} (owner-only; the publisher's FLOWYML_CACHE_SIGNING_KEY, "
          "e.g. a CI secret)")
    print(f"public key:  {public}")
    print(f"fingerprint: {fp}")
    print(f"readers trust it with FLOWYML_CACHE_TRUSTED_SIGNERS={fp}")
    return 0


def _pipeline_for(path: str) -> Any:
    """The pipeline of a module, or of a notebook (exported to a temporary module first)."""
    if path.endswith(".ipynb"):
        import tempfile

        from flowyml.export import export_notebook

        nb = Path(path).resolve()
        folder = Path(tempfile.mkdtemp(prefix="flowyml-plan-"))
        module = export_notebook(nb, folder / f"{nb.stem.replace('-', '_')}_plan.py")
        pipeline, _ = load_pipeline(module)
        if pipeline.cache_dir is None and not os.environ.get("FLOWYML_CACHE_DIR"):
            pipeline.cache_dir = nb.parent / ".flowyml" / "cache"
        return pipeline
    pipeline, _ = load_pipeline(path)
    if pipeline.cache_dir is None and not os.environ.get("FLOWYML_CACHE_DIR"):
        pipeline.cache_dir = Path(path).resolve().parent / ".flowyml" / "cache"
    return pipeline


def _planned(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The pipeline of ``args.module`` and what each of its steps would run with now."""
    from flowyml.store import explain as _explain

    pipeline = _pipeline_for(args.module)
    if args.cache_dir:
        pipeline.cache_dir = args.cache_dir
    planned = _explain.plan_steps(pipeline)
    if args.step not in planned:
        raise CommandError(f"no step named {args.step!r} in {args.module}; steps: "
                           f"{', '.join(planned)}")
    return pipeline, planned


def _cmd_why(args: argparse.Namespace) -> int:
    from flowyml.store import explain as _explain

    pipeline, planned = _planned(args)
    print(_explain.explain_planned(pipeline.cache, planned, args.step).text())
    return 0


def _cmd_accept(args: argparse.Namespace) -> int:
    from flowyml.store import accept as aliases
    from flowyml.store import explain as _explain

    pipeline, planned = _planned(args)
    store = pipeline.cache
    why = _explain.explain_planned(store, planned, args.step)
    step = planned[args.step]
    try:
        if why.upstream:
            name, producer, up = why.upstream[0]
            raise aliases.AcceptRefused(
                f"step '{args.step}': not accepted: input `{name}` differs: it comes from "
                f"`{producer}`, which re-runs because {up.because()}; run the pipeline instead")
        if why.hit:
            print(f"step '{args.step}': already a cache hit; nothing to accept")
            return 0
        if step.parts is None:
            raise aliases.AcceptRefused(f"step '{args.step}': cannot accept: {step.problem}")
        aliases.nearest_same_inputs(store, args.step, step.parts, step.facts)  # refuses early
        print(why.text())
        if not args.yes and not _confirm(f"accept the edit of step '{args.step}' (its new code "
                                         "reads the entry stored before it, no run)? [y/N] "):
            raise CommandError("not accepted: no confirmation; run again with --yes to accept "
                               "without asking")
        done = aliases.accept(store, args.step, step.parts, step.facts, step.problem)
    except aliases.AcceptRefused as exc:
        raise CommandError(str(exc)) from None
    print(done.text())
    return 0


def _confirm(question: str) -> bool:
    """Ask on the terminal; no answer (stdin closed or not given) is "no"."""
    try:
        answer = input(question)
    except EOFError:
        print(file=sys.stderr)
        return False
    return answer.strip().lower() in ("y", "yes")


def build_parser() -> argparse.ArgumentParser:
    """The ``flowyml`` argument parser (one sub-parser per command)."""
    from flowyml import __version__

    parser = argparse.ArgumentParser(
        prog="flowyml",
        description="Notebook work as a cached, restartable pipeline. Export a notebook's "
                    "%%step cells to a plain module, run it with progress, inspect the cache.",
        epilog="Example: flowyml export analysis.ipynb -o analysis.py && flowyml run analysis.py",
    )
    parser.add_argument("--version", action="version", version=f"flowyml {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    exp = sub.add_parser("export", help="write a notebook's pipeline as a plain Python module",
                         description="Write NOTEBOOK's pipeline as a plain module: imports and "
                         "ordinary cells at module level, each %%step cell as an @step "
                         "function with the same cache key, and a `pipeline` object.")
    exp.add_argument("notebook", help="the .ipynb file")
    exp.add_argument("-o", "--output", metavar="PATH.py",
                     help="where to write the module (default: NOTEBOOK with a .py suffix)")
    exp.set_defaults(func=_cmd_export)

    run = sub.add_parser("run", help="run a pipeline module with progress and a summary",
                         description="Import PATH.py, run its `pipeline` (or its only Pipeline) "
                         "and print one line per step. Exit status 1 when a step failed.")
    run.add_argument("module", metavar="PATH.py", help="the pipeline module")
    run.add_argument("--executor", default=None,
                     help="sequential (default), threads, processes, dask, or a dask scheduler "
                          "address")
    run.add_argument("--max-workers", type=int, default=None, metavar="N",
                     help="workers for parallel executors")
    run.add_argument("--cache-dir", default=None, metavar="DIR|URL",
                     help="cache directory or fsspec URL such as s3://bucket/cache (default: "
                          "FLOWYML_CACHE_DIR, else .flowyml/cache "
                          "next to PATH.py)")
    run.add_argument("--no-cache", action="store_true", help="run every step; store nothing")
    run.add_argument("--set", action="append", metavar="NAME=VALUE",
                     help="override a context value (a Python literal, else a string); "
                          "repeatable")
    run.set_defaults(func=_cmd_run)

    cache = sub.add_parser("cache", help="show, trim or clear the step cache; make a signing key",
                           description="Show the entries per step and who signed each (info), "
                           "remove old or untrusted ones (gc), clear them, or make a "
                           "publisher key pair (keygen).")
    cache.add_argument("action", choices=["info", "gc", "clear", "keygen"])
    cache.add_argument("step", nargs="?", default=None, help="only this step (info, clear)")
    cache.add_argument("--json", action="store_true", help="info as JSON")
    cache.add_argument("--pipeline", default=None, metavar="FILE.py|FILE.ipynb",
                       help="the entries its current steps would hit are shown (info) and "
                            "never removed (gc)")
    cache.add_argument("--keep-latest", type=int, default=1, metavar="N",
                       help="gc: keep the N most recently used entries of each step (default 1)")
    cache.add_argument("--older-than", default=None, metavar="AGE",
                       help="gc: remove only entries last used before AGE ago (30d, 12h)")
    cache.add_argument("--max-size", default=None, metavar="SIZE",
                       help="gc: remove least recently used entries down to SIZE (10G, 500M)")
    cache.add_argument("--dry-run", action="store_true", help="gc: show what would go")
    cache.add_argument("--grace", default=None, metavar="AGE",
                       help="gc: keep entries used within AGE, which may be in use (default 1m; "
                            "on a bucket the time its uses take to be recorded); 0s for none")
    cache.add_argument("--untrusted", action="store_true",
                       help="gc: remove every entry no trusted key signed (FLOWYML_CACHE_"
                            "TRUSTED_SIGNERS, this process's own key)")
    cache.add_argument("--out", default=None, metavar="DIR",
                       help="keygen: where to write the key pair (default: the current "
                            "directory)")
    cache.add_argument("--cache-dir", default=None, metavar="DIR|URL",
                       help="cache directory or fsspec URL such as s3://bucket/cache (default: "
                            "FLOWYML_CACHE_DIR, else .flowyml/cache "
                            "in the current directory)")
    cache.set_defaults(func=_cmd_cache)

    why = sub.add_parser("why", help="why a step will hit the cache or re-run",
                         description="Compare STEP's key parts now (code, each helper, each "
                         "input, context values) with its stored entries; name what differs.")
    why.add_argument("module", metavar="FILE.py|FILE.ipynb", help="the pipeline module or notebook")
    why.add_argument("step", help="the step")
    why.add_argument("--cache-dir", default=None, metavar="DIR", help="cache directory")
    why.set_defaults(func=_cmd_why)

    acc = sub.add_parser("accept", help="accept a harmless edit of a step without re-running it",
                         description="After an edit that changes nothing (a debug print): show "
                         "what differs, then make STEP's new key read the entry stored from the "
                         "same inputs before the edit. Nothing runs and no data is copied. "
                         "Refused when an input differs.")
    acc.add_argument("module", metavar="FILE.py|FILE.ipynb", help="the pipeline module or notebook")
    acc.add_argument("step", help="the step")
    acc.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    acc.add_argument("--cache-dir", default=None, metavar="DIR|URL", help="cache directory")
    acc.set_defaults(func=_cmd_accept)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flowyml`` console script; returns the exit status."""
    from flowyml.export import NotebookExportError
    from flowyml.store.urls import CacheUnavailableError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (CommandError, NotebookExportError, CacheUnavailableError) as exc:
        print(f"flowyml {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
