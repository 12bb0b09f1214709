"""``%%step`` and ``%flowyml``: parse the line, make one :mod:`flowyml.notebook.session` call, display.

The logic (definition, cache, retries, staleness, runs) lives in
:class:`flowyml.notebook.session.NotebookSession`; this module only turns IPython input into calls
on it and shows the results: a status widget under every step cell and the live DAG.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import os
import shlex
import sys
from collections.abc import Callable, Generator, Iterator
from typing import Any

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.display import display

from flowyml.core.context import parse_context_value
from flowyml.events import Event, bus
from flowyml.notebook.analysis import awaits
from flowyml.notebook.cellrun import drive, drive_async
from flowyml.notebook.cellspec import OPTIONS, StepLineError, spec_from_namespace
from flowyml.notebook.session import (
    CellNotPythonError,
    IPythonOnlyCellError,
    NotebookSession,
    StepDefinitionError,
    StepRunError,
    UnknownInputsError,
)
from flowyml.notebook.tables import CacheTable, StatusTable
from flowyml.store.local import cache_report
from flowyml.store.signers import trust_signer


def _with_step_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Declare every ``%%step`` option from :data:`flowyml.notebook.cellspec.OPTIONS` (``%%step?``)."""
    for flags, kwargs in reversed(OPTIONS):
        func = magic_arguments.argument(*flags, **kwargs)(func)
    return magic_arguments.magic_arguments()(func)


class _LineParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(f"%flowyml: {message}\n{self.format_usage()}")


def _flowyml_parser() -> argparse.ArgumentParser:
    parser = _LineParser(prog="%flowyml", add_help=False)
    sub = parser.add_subparsers(dest="command", parser_class=_LineParser)
    sub.add_parser("status", add_help=False)
    run = sub.add_parser("run", add_help=False)
    run.add_argument("targets", nargs="*")
    run.add_argument("--all", action="store_true")
    run.add_argument("--executor", default=None)
    run.add_argument("--max-workers", type=int, default=None)
    run.add_argument("--upto", default=None, metavar="STEP")
    auto = sub.add_parser("auto", add_help=False)
    auto.add_argument("switch", nargs="?", choices=["on", "off"])
    ctx = sub.add_parser("context", add_help=False)
    ctx.add_argument("pairs", nargs="*", metavar="K=V")
    cache = sub.add_parser("cache", add_help=False)
    cache.add_argument("action", choices=["info", "gc", "clear", "dir", "trust"])
    cache.add_argument("step", nargs="?")  # "dir": the location (a path or URL); "trust": a fingerprint
    cache.add_argument("--json", action="store_true")
    cache.add_argument("--keep-latest", type=int, default=1)
    cache.add_argument("--older-than", default=None)
    cache.add_argument("--max-size", default=None)
    cache.add_argument("--dry-run", action="store_true")
    cache.add_argument("--grace", default=None)
    why = sub.add_parser("why", add_help=False)
    why.add_argument("step")
    sub.add_parser("dag", add_help=False)
    export = sub.add_parser("export", add_help=False)
    export.add_argument("path")
    export.add_argument("--notebook", default=None)
    config = sub.add_parser("config", add_help=False)
    config.add_argument("pairs", nargs="*", metavar="K=V")
    forget = sub.add_parser("forget", add_help=False)
    forget.add_argument("steps", nargs="+")
    return parser


@magics_class
class FlowymlMagics(Magics):
    """A shell around :class:`NotebookSession` for one IPython shell."""

    def __init__(self, shell: Any, session: NotebookSession | None = None) -> None:
        super().__init__(shell)
        self.session = session or NotebookSession(shell.user_ns)
        self.session.code_name = self._code_name
        self._status_widgets: dict[str, Any] = {}
        self._dags: list[Any] = []
        self._retired: list[Any] = []  # status widgets of earlier runs, closed at unload
        self._listener = bus.subscribe(self._on_event)
        self._cell_id: str | None = None
        self._in_step = 0
        #: reactive mode (``%flowyml auto on``): a step cell's stale descendants re-run at once
        self.auto = False
        self._areas: dict[str, Any] = {}  # step -> its cell's OutputArea (reactive mode)
        self._in_wave = False
        shell.events.register("pre_run_cell", self._pre_run_cell)
        shell.events.register("post_run_cell", self._post_run_cell)
        shell.input_transformers_cleanup.append(self._await_cells)

    def _pre_run_cell(self, info: Any) -> None:
        if not self._in_step:
            self._cell_id = getattr(info, "cell_id", None)

    def _await_cells(self, lines: list[str]) -> list[str]:
        """IPython input transform: a ``%%step`` cell whose body awaits at top level becomes
        ``await`` :meth:`step_async` (IPython then runs the cell in its event loop, as any
        cell that awaits); any other cell is left to IPython's own ``%%`` transform."""
        if not lines or not lines[0].startswith("%%step"):
            return lines
        # split as IPython's cell-magic transform does
        magic, _, first_line = lines[0][2:].rstrip().partition(" ")
        body = "".join(lines[1:])
        if (magic != "step" or ("await" not in body and "async" not in body)
                or not getattr(self.shell, "autoawait", True)):  # `%autoawait off`: as plain
            return lines
        try:
            python = self.shell.transform_cell(body)
        except Exception:  # IPython reports it when it runs the body
            return lines
        if not awaits(python):
            return lines
        return [f"await get_ipython().magics_manager.registry[{type(self).__name__!r}]"
                f".step_async({first_line!r}, {body!r})\n"]

    def _post_run_cell(self, result: Any) -> None:
        """An ordinary cell ran: values it may have changed get re-hashed when next used."""
        if self._in_step:
            return
        raw = getattr(getattr(result, "info", None), "raw_cell", "") or ""
        if not raw.lstrip().startswith("%%step"):
            self.session.plain_cell_ran(raw)

    # -- %%step ----------------------------------------------------------------------------
    @_with_step_options
    @cell_magic
    def step(self, line: str, cell: str) -> Any:
        """Make this cell a cached pipeline step.

        The cell's body runs like a normal cell on a cache miss; on a hit its outputs are
        loaded without running it. Inputs (values the cell reads from other cells) and
        outputs (names it assigns) are inferred unless declared. See ``%flowyml status``.
        """
        return drive(self._step_flow(line, cell))

    async def step_async(self, line: str, cell: str) -> Any:
        """``%%step`` for a cell whose body awaits at top level (``await``, ``async for``,
        ``async with``): the cell is rewritten to ``await`` this (see :func:`await_cells`),
        so that, as in any cell, the body runs in the shell's event loop -- the kernel's,
        where objects of other cells (an async client, a queue) live."""
        return await drive_async(self._step_flow(line, cell, awaits=True))

    def _step_flow(self, line: str, cell: str, awaits: bool = False) -> Generator[Any, Any, Any]:
        """The work of ``%%step``, yielding what must be awaited when the body ``awaits``."""
        ordinary: StepDefinitionError | None = None
        try:
            # shell-style quoting (IPython's parse_argstring keeps the quotes in values)
            args = self.step.parser.parse_args(shlex.split(line))
            spec = spec_from_namespace(args)
            rec = self.session.define(spec, cell, cell_id=self._cell_id,
                                      magic_lines=self._magic_lines(cell))
        except (UnknownInputsError, CellNotPythonError, IPythonOnlyCellError) as exc:
            ordinary = exc
        except (StepLineError, StepDefinitionError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        if ordinary is not None:
            # The cell runs as it would without %%step, showing what plain shows:
            # - `%%bash`, `%%writefile f.py`, `files = !ls`: IPython runs them (not cached:
            #   their effects are another program's or IPython's);
            # - a name nothing defines: the cell runs until it is missing (its imports and
            #   prints happen), then NameError, as plain Python;
            # - a syntax error: IPython shows its SyntaxError, with the line (run outside the
            #   handler: the user's error is not chained to ours).
            error, _ = (yield self._execute_async(cell)) if awaits else self._execute(cell)
            if error is not None:
                raise UsageError(f"{ordinary} (ran it as an ordinary cell)") from None
            # one status line says so (no stdout line: the cell's own output stays plain's)
            what = getattr(ordinary, "what", None) or next(
                (ln.strip() for ln in cell.split("\n") if ln.strip()), "")[:40]
            reason = str(ordinary).removeprefix("%%step: ").removeprefix("the cell cannot be a step: ")
            automagic = sorted(self._magic_lines(cell)) if isinstance(ordinary, UnknownInputsError) else []
            if automagic:  # `pwd`, `ls` alone: IPython runs them as %pwd, %ls (not a name read)
                line = cell.split("\n")[automagic[0] - 1].strip()
                what = line[:40]
                reason = (f"line {automagic[0]}: `{line}` is IPython's automagic "
                          f"%{line.split()[0]}, not Python; IPython runs it as it is")
            display({"text/plain": f"step '{what}': not cached, ran as an ordinary cell ({reason})"},
                    raw=True)
            return None
        if spec.accept:
            self._accept(rec)
        from flowyml_jupyter.capture import (
            close_new_figures,
            hold_result,
            open_figures,
            replay,
            replay_after_result,
            split_result,
        )
        from flowyml_jupyter.widgets import RunningLine, in_kernel

        # an earlier run's widget: its display is gone with the cell's old outputs (its
        # model stays open, as the front end may still hold it, until the unload)
        old = self._status_widgets.pop(rec.name, None)
        if hasattr(old, "comm"):
            self._retired.append(old)
        line = None
        if in_kernel():  # a front end that updates displays: show "running" while it runs
            line = RunningLine(rec.name)
            line.show()
            self._status_widgets[rec.name] = line
        old = self._areas.pop(rec.name, None)
        if old is not None:  # left with the cell's old outputs
            old.close()
        area = None
        if self.auto and in_kernel():  # its outputs go to an area updated in place
            from flowyml_jupyter.areas import OutputArea

            area = OutputArea(rec.name)
            area.show()
            self._areas[rec.name] = area
        figures = open_figures()
        shown: list[Any] = []

        def replay_outputs(items: list[dict[str, Any]]) -> None:
            before, result, after = split_result(items)
            replay(before)
            shown.append(result)
            replay_after_result(self.shell, after)  # the figures shown below the value

        body_errors: list[BaseException | None] = []

        def run_body() -> tuple[BaseException | None, Any]:
            error, recording = self._execute(cell, area)
            body_errors.append(error)
            return error, recording

        async def run_body_async() -> tuple[BaseException | None, Any]:
            error, recording = await self._execute_async(cell, area)
            body_errors.append(error)
            return error, recording

        self._in_step += 1
        reraise: BaseException | None = None
        try:
            rec = yield from self.session.run_cell_flow(
                rec, run_body_async if awaits else run_body,
                replay=area.set if area is not None else replay_outputs)
        except StepRunError as exc:  # `%debug` after it debugs the body's error, as plain
            exc.body_error = next((e for e in reversed(body_errors) if e is not None), None)
            # the body's own error, as plain; a time limit or an interrupt is flowyml's to say
            if exc.state != "failed" or exc.body_error is None or exc.body_error.__traceback__ is None:
                raise
            reraise = exc.body_error
        finally:
            self._in_step -= 1
            if line is not None and self._status_widgets.get(line.step_name) is line:
                del self._status_widgets[line.step_name]
            current = self.session.steps.get(rec.name)
            if current is not None and current.state == "cached":
                close_new_figures(figures)
            name = current.name if current is not None else rec.name
            widget = self._status_widget(name)  # made in the state the step ended in
            if line is not None:
                widget.adopt(line.handle)
            else:
                display(widget)
            self._refresh_dags()
        if reraise is not None:
            # the body failed: the cell fails with the body's own error, whose traceback
            # IPython showed where the body raised it, as under a plain cell (before the
            # figures the cell drew); not shown a second time, nor followed by an error of
            # flowyml's. Raised out of the handler above, so that nothing is chained to it.
            self._shown_already(reraise)
            raise reraise
        if area is not None and area.step != rec.name:  # renamed (changed an input in place)
            self._areas[rec.name] = self._areas.pop(area.step)
            area.step = rec.name
        if self.auto and not self._in_wave:
            self._wave_after(rec.name)
        if not shown or shown[0] is None:
            return None
        hold_result(self.shell, shown[0])  # `_` holds the value, as after a run
        return shown[0]  # a replayed last value is the cell's result

    def _accept(self, rec: Any) -> None:
        """``--accept``: print what differs, then alias the new key to the entry stored
        from the same inputs (the run that follows is then a hit: the body does not run)."""
        from flowyml.store.accept import AcceptRefused

        try:
            why, done = self.session.accept(rec)
        except AcceptRefused as exc:
            raise UsageError(f"{exc} (remove --accept to run the cell)") from None
        if not done.already:
            print(f"flowyml: {why.text()}")
        print(f"flowyml: {done.text()}")

    def _magic_lines(self, body: str) -> frozenset[int]:
        """Lines IPython turns into magic calls although they have no ``%`` (automagic:
        ``ls``, ``cd dir``), as IPython's own input transformer sees them."""
        if "\n" not in body.strip() and not body.strip():
            return frozenset()
        names = self.shell.magics_manager.magics["line"]
        if ("?" not in body and not self.shell.input_transformers_post  # help, user transforms
                and not any(line.split(None, 1)[0] in names
                            for line in body.split("\n") if line.strip())):
            return frozenset()  # nothing IPython could turn into a magic call: skip its pass
        try:
            transformed = self.shell.transform_cell(body).split("\n")
        except Exception:
            return frozenset()
        lines = body.split("\n")
        if len(transformed) not in (len(lines), len(lines) + 1):
            return frozenset()
        return frozenset(n for n, (a, b) in enumerate(zip(lines, transformed, strict=False), 1)
                         if a != b and "get_ipython()" in b and not a.lstrip().startswith(("%", "!")))

    def _code_name(self, source: str) -> str:
        """The file IPython gives the code of a cell run with ``source`` (in linecache)."""
        transformed = self.shell.transform_cell(source)
        return self.shell.compile.cache(transformed, self.shell.execution_count, raw_code=source)

    def _execute(self, body: str, area: Any = None) -> tuple[BaseException | None, Any]:
        """Run ``body`` as a cell; record what it shows (into ``area`` only, when given)."""
        with self._recorded(body, area) as recorder:
            # a leading newline keeps traceback line numbers equal to the cell's (line 1 = %%step)
            if (("await" in body or "async" in body) and _loop_running()
                    and awaits(self.shell.transform_cell(body))):
                result = self._run_elsewhere("\n" + body)
            else:
                result = self.shell.run_cell("\n" + body, store_history=False)
        return result.error_before_exec or result.error_in_exec, recorder.recording

    def _run_elsewhere(self, raw_cell: str) -> Any:
        """Run a cell that awaits from plain code while this thread's event loop runs (the
        kernel's, which cannot be waited on from inside: a reactive wave re-running it, a
        direct ``run_cell_magic`` call): in a helper thread, in an event loop of its own."""
        from concurrent.futures import ThreadPoolExecutor

        saved = self.shell.loop_runner
        self.shell.loop_runner = asyncio.run
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="flowyml-await") as pool:
                context = contextvars.copy_context()
                return pool.submit(context.run, self.shell.run_cell, raw_cell,
                                   store_history=False).result()
        finally:
            self.shell.loop_runner = saved

    async def _execute_async(self, body: str, area: Any = None) -> tuple[BaseException | None, Any]:
        """:meth:`_execute` for a body that awaits: run in the shell's event loop."""
        with self._recorded(body, area) as recorder:
            result = await run_cell_async(self.shell, "\n" + body)
        return result.error_before_exec or result.error_in_exec, recorder.recording

    def _shown_already(self, error: BaseException) -> None:
        """The next display of ``error``'s traceback (IPython's, as the cell raises it) is
        not sent: it was shown when the body raised it. It is still the kernel's last
        traceback (the reply to the front end carries it); another error is shown as ever."""
        shell = self.shell

        def same(evalue: Any) -> bool:
            # a StopIteration raised out of the (async) magic comes out as the RuntimeError
            # PEP 479 makes of it: still the body's error, which plain Python shows alone
            return evalue is error or (isinstance(evalue, RuntimeError) and evalue.__cause__ is error)

        def restore(attr: str, own: Any) -> None:
            if own is None:
                vars(shell).pop(attr, None)
            else:
                setattr(shell, attr, own)

        own_show, show = vars(shell).get("_showtraceback"), shell._showtraceback
        own_usage, usage = vars(shell).get("show_usage_error"), shell.show_usage_error

        def once(etype: Any, evalue: Any, stb: Any) -> Any:
            restore("_showtraceback", own_show)
            restore("show_usage_error", own_usage)
            if not same(evalue):
                return show(etype, evalue, stb)
            shell._last_traceback = stb
            return None

        def usage_once(exc: Any) -> Any:
            # a UsageError (`% matplotlib inline`) is printed, not shown as a traceback
            restore("_showtraceback", own_show)
            restore("show_usage_error", own_usage)
            return None if same(exc) else usage(exc)

        shell._showtraceback = once
        shell.show_usage_error = usage_once

    @contextlib.contextmanager
    def _recorded(self, body: str, area: Any = None) -> Iterator[Any]:
        """What a body run inside shows, recorded (and passed on, or into ``area``)."""
        from flowyml_jupyter.capture import OutputRecorder, keep_result

        quiet = _ends_with_semicolon(body)  # `plt.plot(x);` shows no value, as in any cell
        interactivity = self.shell.ast_node_interactivity
        if quiet:
            self.shell.ast_node_interactivity = "none"
        try:
            recorder = (OutputRecorder(self.shell) if area is None else
                        OutputRecorder(self.shell, passthrough=False, on_change=area.live))
            with recorder:
                yield recorder
            keep_result(recorder, self.shell.user_ns)
        finally:
            # put back only what was set here: the cell may set it itself
            # (`%config InteractiveShell.ast_node_interactivity = 'all'`), as any cell may
            if quiet and self.shell.ast_node_interactivity == "none":
                self.shell.ast_node_interactivity = interactivity
        if area is not None:
            area.set(recorder.recording.items)
            # a traceback shown in the area is not kept for replay
            recorder.recording.items = [i for i in recorder.recording.items if i["type"] != "error"]

    # -- %flowyml --------------------------------------------------------------------------
    @line_magic
    def flowyml(self, line: str) -> Any:
        """Manage the notebook pipeline.

        %flowyml status                      every step, its state and why it is stale
        %flowyml run [STEP ...] [--all] [--executor E] [--max-workers N]
                                             run the stale and never-run steps (DAG order)
        %flowyml context [k=v ...]           set (or show) context values
        %flowyml cache info [--json]         per step: entries, size, last use, current entry
        %flowyml cache gc [--keep-latest N] [--older-than 30d] [--max-size 10G] [--grace 1m] [--dry-run]
        %flowyml cache clear [STEP]          remove entries
        %flowyml why STEP                    why a step will hit or re-run
        %flowyml cache dir [PATH|URL]        show or set where the cache is (s3://..., gs://...)
        %flowyml cache trust [SHA256:...]    load entries signed by this key (or show whose)
        %flowyml dag                         the live pipeline graph
        %flowyml export PATH.py [--notebook NB.ipynb]   write the notebook as a module
        %flowyml forget STEP ...             drop steps whose cells were deleted or renamed
        %flowyml config [replay_max=16M] [files_max=64M] [auto=on|off]   settings (bounds on a
                                             step's replayed outputs and on the written
                                             files kept with it; reactive mode)
        %flowyml auto [on|off]               reactive mode: after a step cell runs, its stale
                                             descendants re-run at once (DAG order)
        %flowyml run --upto STEP             run the stale steps STEP needs, then STEP, as cells
        """
        try:
            args = _flowyml_parser().parse_args(shlex.split(line))
        except ValueError as exc:
            raise UsageError(f"%flowyml: cannot parse {line!r}: {exc}") from None
        if args.command is None:
            raise UsageError("%flowyml needs a command: status, run, context, cache, why, dag, "
                             "export, forget, config or auto (see %flowyml?)")
        return getattr(self, f"_cmd_{args.command}")(args)

    def _cmd_status(self, args: argparse.Namespace) -> None:
        rows = self.session.status()
        for row in rows:
            widget = self._status_widgets.get(row.name)
            if widget is not None and row.state == "stale":
                self._set_widget(widget, "stale", reason=row.why)
        display(StatusTable(rows))

    def _cmd_run(self, args: argparse.Namespace) -> None:
        if args.upto is not None:
            if args.targets or args.all or args.executor or args.max_workers:
                raise UsageError("%flowyml run --upto STEP takes no other steps or options")
            self._wave_upto(args.upto)
            return
        targets = None if args.all else (args.targets or None)
        for name in self._stale_names(targets):
            widget = self._status_widgets.get(name)
            if widget is not None:
                self._set_widget(widget, "pending")
        try:
            report = self.session.run_stale(targets, executor=args.executor,
                                            max_workers=args.max_workers)
        except KeyError as exc:
            raise UsageError(f"%flowyml run: {exc.args[0]}") from None
        finally:
            self._flush_widgets()
        for name in [*report.ran, *report.cached, *report.failed, *report.skipped]:
            widget = self._status_widgets.get(name)
            if widget is not None:
                self._show_state(widget, name)
        self._refresh_dags()
        print(report.summary())
        for name in report.failed:
            print(f"  {name}: {self.session.steps[name].error}")

    def _cmd_context(self, args: argparse.Namespace) -> None:
        if not args.pairs:
            print(f"flowyml context: {self.session.context!r}")
            return
        values = {}
        for pair in args.pairs:
            key, sep, text = pair.partition("=")
            if not sep or not key.isidentifier():
                raise UsageError(f"%flowyml context takes name=value pairs; got {pair!r}")
            values[key] = parse_context_value(text)
        self.session.context.update(values)
        self.shell.user_ns.update(values)  # cells read context values as variables
        print("flowyml context: " + ", ".join(f"{k}={v!r}" for k, v in values.items()))

    def _cmd_cache(self, args: argparse.Namespace) -> Any:
        from flowyml.store import lifecycle
        from flowyml.store.locations import set_session_location
        from flowyml.store.urls import CacheUnavailableError, is_remote

        try:
            if args.action == "dir":
                print("flowyml cache at " + set_session_location(self.session, args.step))
                return None
            if args.action == "trust":
                print(trust_signer(self.session, args.step))
                return None
            store = self.session.store
            if args.action == "clear":
                print("flowyml " + cache_report(store, args.action, args.step))
                return None
            if is_remote(str(store.root)):
                store.check_safety()
        except (CacheUnavailableError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        current = self.session.current_keys()
        if args.action == "gc":
            try:
                older = lifecycle.parse_age(args.older_than) if args.older_than else None
                size = lifecycle.parse_size(args.max_size) if args.max_size else None
                grace = lifecycle.parse_age(args.grace) if args.grace else None
            except ValueError as exc:
                raise UsageError(f"%flowyml cache gc: {exc}") from None
            report = lifecycle.gc(store, keep_latest=args.keep_latest, older_than=older,
                                  max_size=size, protect=current.values(), dry_run=args.dry_run,
                                  grace=grace)
            print(f"flowyml cache at {store.root}: {report.summary()}")
            return None
        report = lifecycle.info(store, current)
        if args.json:
            import json

            print(json.dumps(report, indent=1))
            return None
        display(CacheTable(report))
        from flowyml.store import signers

        signed = signers.signers_text(signers.signers(store))
        if signed:
            print(signed)
        return None

    def _cmd_why(self, args: argparse.Namespace) -> None:
        try:
            print(self.session.why(args.step))
        except KeyError as exc:
            raise UsageError(f"%flowyml why: {exc.args[0]}") from None

    def _cmd_dag(self, args: argparse.Namespace) -> None:
        from flowyml.graph import PipelineGraphError
        from flowyml_jupyter.widgets import DagWidget

        try:
            graph = self.session.graph()
        except PipelineGraphError as exc:
            raise UsageError(f"%flowyml dag: {exc}") from None
        widget = DagWidget()
        widget.update(graph, self._states())
        self._dags.append(widget)
        display(widget)

    def _cmd_export(self, args: argparse.Namespace) -> None:
        from flowyml.export import export_notebook
        from flowyml.store.urls import is_remote

        notebook = args.notebook
        if notebook is None:
            from flowyml_jupyter.notebook_path import current_notebook_path

            notebook = current_notebook_path(self.shell)
            if notebook is None:
                raise UsageError("%flowyml export: cannot tell which notebook this kernel runs; "
                                 "pass --notebook NB.ipynb (save the notebook first)")
        location = self.session.cache_dir  # set with %flowyml cache dir, else None
        if location is not None and not is_remote(str(location)):
            location = os.path.abspath(os.path.expanduser(location))  # the kernel's cwd
        out = export_notebook(notebook, args.path, cache_location=location)
        print(f"flowyml: exported {notebook} to {out if out is not None else args.path}")

    def _cmd_config(self, args: argparse.Namespace) -> None:
        from flowyml.sizes import parse_size
        from flowyml.sizes import size_text as describe_size
        from flowyml.tracking.files import max_from_env

        for pair in args.pairs:
            key, sep, text = pair.partition("=")
            if key == "auto" and sep:
                self.auto = _switch(text, "%flowyml config auto")
                continue
            if key not in ("replay_max", "files_max") or not sep:
                raise UsageError("%flowyml config takes replay_max=SIZE (e.g. 16M, 0 = off), "
                                 f"files_max=SIZE (e.g. 256M) or auto=on|off; got {pair!r}")
            try:
                setattr(self.session, key, parse_size(text))
            except ValueError as exc:
                raise UsageError(f"%flowyml config: {exc}") from None
        files_max = self.session.files_max
        print(f"flowyml config: replay_max={describe_size(self.session.replay_max)} "
              f"files_max={describe_size(files_max if files_max is not None else max_from_env())} "
              f"auto={'on' if self.auto else 'off'}")

    def _cmd_auto(self, args: argparse.Namespace) -> None:
        if args.switch is not None:
            self.auto = args.switch == "on"
        if self.auto:
            print("flowyml auto: on (after a step cell runs, its stale descendants re-run)")
        else:
            print("flowyml auto: off (run stale steps with %flowyml run)")

    # -- reactive mode ---------------------------------------------------------------------
    def _wave_after(self, trigger: str) -> None:
        """Re-run the stale descendants of step ``trigger`` (its cell just ran)."""
        from flowyml.notebook import reactive

        planned = reactive.downstream_wave(self.session, trigger)
        if planned is not None:
            self._run_wave(planned)

    def _wave_upto(self, target: str) -> None:
        """``%flowyml run --upto``: the stale ancestors of ``target``, then ``target``."""
        from flowyml.graph import PipelineGraphError
        from flowyml.notebook import reactive

        try:
            planned = reactive.upto_wave(self.session, target)
        except (KeyError, PipelineGraphError) as exc:
            raise UsageError(f"%flowyml run --upto: {exc.args[0] if exc.args else exc}") from None
        self._run_wave(planned)

    def _run_wave(self, planned: Any) -> None:
        """Run a planned wave, each step as its cell (outputs into its area), with a live
        summary under the running cell."""
        from flowyml.notebook import reactive
        from flowyml_jupyter.areas import OutputArea, WaveSummary
        from flowyml_jupyter.capture import close_new_figures, open_figures

        wave = planned[0]
        detached: dict[str, Any] = {}
        summary = WaveSummary(wave, detached)
        for item in wave.items:
            widget = self._status_widgets.get(item.step)
            if widget is not None:
                self._set_widget(widget, "pending")
        summary.show()

        def run_step(name: str) -> Any:
            rec = self.session.steps[name]
            area = self._areas.get(name)
            if area is None:
                area = detached[name] = OutputArea(name)
            area.clear()
            figures = open_figures()
            self._in_step += 1
            try:
                return self.session.run_cell_step(rec, lambda: self._execute(rec.body, area),
                                                  replay=area.set)
            finally:
                self._in_step -= 1
                current = self.session.steps.get(name)
                if current is not None and current.state == "cached":
                    close_new_figures(figures)
                widget = self._status_widgets.get(name)
                state = self._state_of(name) if widget is not None else None
                # the finished event drew the state; notes (a reason) need one more update
                if state is not None and (state[1]["reason"] or widget.state != state[0]):
                    self._set_widget(widget, state[0], **state[1])

        def changed(wave: Any, item: Any) -> None:
            widget = self._status_widgets.get(item.step)
            if widget is not None and item.state == "unchanged":
                self._show_state(widget, item.step)
            elif widget is not None and item.state == "stale":
                self._set_widget(widget, "stale", reason="the wave stopped before it")
            summary.update()

        self._in_wave = True
        try:
            reactive.run_session_wave(self.session, planned, run_step, changed)
        finally:
            self._in_wave = False
            self._flush_widgets()
            self._refresh_dags()
        summary.finish()

    def _cmd_forget(self, args: argparse.Namespace) -> None:
        for name in args.steps:
            try:
                self.session.forget(name)
            except KeyError as exc:
                raise UsageError(f"%flowyml forget: {exc.args[0]}") from None
            self._status_widgets.pop(name, None)
            self._areas.pop(name, None)
        self._refresh_dags()
        print(f"flowyml: forgot {', '.join(args.steps)}")

    # -- widgets ---------------------------------------------------------------------------
    def _status_widget(self, name: str) -> Any:
        """A new status widget for step ``name``, made in the step's current state."""
        from flowyml_jupyter.widgets import StepStatusWidget

        state = self._state_of(name)
        widget = (StepStatusWidget(name) if state is None
                  else StepStatusWidget(name, state=state[0], **state[1]))
        self._status_widgets[name] = widget
        return widget

    def _state_of(self, name: str) -> tuple[str, dict[str, Any]] | None:
        """(state, details) a status widget shows for step ``name``; ``None``: no such step."""
        rec = self.session.steps.get(name)
        if rec is None:
            return None
        reason = None
        if rec.state == "skipped":
            reason = f"condition {rec.spec.condition} is false"
        elif rec.state == "cached" and rec.uncacheable_reason:
            reason = rec.uncacheable_reason
        elif rec.state == "done" and (rec.not_stored or rec.uncacheable_reason):
            reason = f"not cached: {rec.not_stored or rec.uncacheable_reason}"
        notes = [n for n in (rec.replay_note, *rec.notes) if n] if rec.state in ("done", "cached") else []
        if notes:
            reason = "; ".join([reason, *notes] if reason else notes)
        return rec.state, {"duration": rec.duration, "attempts": rec.attempts or None,
                           "error": rec.error, "time_saved": rec.time_saved or None,
                           "reason": reason}

    def _show_state(self, widget: Any, name: str) -> None:
        state = self._state_of(name)
        if state is not None:
            self._set_widget(widget, state[0], **state[1])

    @staticmethod
    def _set_widget(widget: Any, state: str, **details: Any) -> None:
        widget.set_state(state, **details)

    def _states(self) -> dict[str, str]:
        return {row.name: row.state for row in self.session.status()}

    def _stale_names(self, targets: list[str] | None) -> list[str]:
        rows = self.session.status()
        return [r.name for r in rows if r.state not in ("done", "cached")
                and (targets is None or r.name in targets)]

    def _refresh_dags(self) -> None:
        if not self._dags:
            return
        try:
            graph, states = self.session.graph(), self._states()
        except Exception:
            return
        for dag in self._dags:
            dag.update(graph, states)

    def _flush_widgets(self) -> None:
        for widget in [*self._status_widgets.values(), *self._dags]:
            flush = getattr(widget, "flush", None)
            if flush is not None:
                flush()

    def _on_event(self, event: Event) -> None:
        """Route runner events to the step's status widget and to the shown DAGs."""
        name = getattr(event, "step", None)
        widget = self._status_widgets.get(name) if name else None
        if widget is not None:
            widget.handle_event(event)
        for dag in self._dags:
            dag.handle_event(event)

    def close(self) -> None:
        """Stop listening to events and close the widgets it made (the extension is being
        unloaded): no widget model outlives its shell."""
        bus.unsubscribe(self._listener)
        for event, handler in (("pre_run_cell", self._pre_run_cell),
                               ("post_run_cell", self._post_run_cell)):
            with contextlib.suppress(ValueError):
                self.shell.events.unregister(event, handler)
        with contextlib.suppress(ValueError):
            self.shell.input_transformers_cleanup.remove(self._await_cells)
        for widget in [*self._retired, *self._status_widgets.values(), *self._dags]:
            _close_widget(widget)
        self._retired.clear()
        self._dags.clear()
        self._status_widgets.clear()
        self._areas.clear()


def _loop_running() -> bool:
    """An event loop runs in this thread (in a kernel: its own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def run_cell_async(shell: Any, raw_cell: str) -> Any:
    """``shell.run_cell(raw_cell)`` (no history) awaited in the running event loop, for a
    cell that awaits: its ``post_execute`` and ``post_run_cell`` events (the inline
    backend shows its figures on the first) fire as for a cell run with ``run_cell``."""
    error = None
    try:
        transformed = shell.transform_cell(raw_cell)
    except Exception:
        transformed, error = raw_cell, sys.exc_info()
    result = None
    try:
        result = await shell.run_cell_async(raw_cell, store_history=False,
                                            transformed_cell=transformed,
                                            preprocessing_exc_tuple=error)
    finally:
        shell.events.trigger("post_execute")
        shell.events.trigger("post_run_cell", result)
    return result


def _switch(text: str, what: str) -> bool:
    value = text.strip().lower()
    if value in ("on", "true", "1", "yes"):
        return True
    if value in ("off", "false", "0", "no"):
        return False
    raise UsageError(f"{what} takes on or off; got {text!r}")


def _close_widget(widget: Any) -> None:
    """Close a status line or DAG view (its comms); a ``RunningLine`` or ``None``: nothing."""
    if widget is not None and hasattr(widget, "comm"):
        from flowyml_jupyter.widgets import close_quietly

        close_quietly(widget)


def _ends_with_semicolon(body: str) -> bool:
    if ";" not in body:  # IPython's check tokenizes the whole cell
        return False
    from IPython.core.displayhook import DisplayHook

    try:
        return DisplayHook.semicolon_at_end_of_expression(body)
    except Exception:  # tokenize errors: let IPython report the cell as it would
        return False
