"""The life of a ``%%step`` cell, one run of it, stage by stage.

:meth:`CellRun.go` reads as the stages a newcomer looks for:

1. :meth:`~CellRun.gather_inputs` -- each input resolved to the version the cell reads, and
   its condition;
2. :meth:`~CellRun.make_key` -- the cache key from the code and the inputs' digests;
3. :meth:`~CellRun.look_up` -- an entry under that key whose files and generator state
   still hold;
4. :meth:`~CellRun.take_hit` (a hit: definitions, outputs and what the cell showed come
   back, nothing runs) or :meth:`~CellRun.run_body` (a miss: the body runs in the user
   namespace, with retries, the time limit and file recording);
5. :meth:`~CellRun.record_versions` -- inputs the body changed in place become new
   versions, the outputs' digests are remembered;
6. :meth:`~CellRun.store_result` -- outputs, replay, files, process-wide state into one entry;
7. :meth:`~CellRun.report` -- the namespace tidied, the state set, a ``StepFinished`` event.

A stage that ends the run early raises :class:`_Stop`. The session (:class:`flowyml.notebook.
session.NotebookSession`) is passed in: it holds the namespace, the versions and the store,
and this module never imports it (it sits above this one).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import os
import pickle
import sys
import time
import types
import uuid
import warnings
from collections.abc import Callable, Generator, Iterator
from typing import Any, NoReturn

from flowyml.events import StepFinished, StepRetrying, StepStarted
from flowyml.executors.runner import backoff
from flowyml.notebook.ipysyntax import outside_lines
from flowyml.notebook.outside import (
    MISSING,
    attributes_set,
    bound_unseen,
    changed_classes,
    changed_defaults,
    changed_through_functions,
    class_attributes,
    defaults_set,
    mutable_defaults,
    patched_outside,
)
from flowyml.notebook.replay import Recording
from flowyml.notebook.stepcells import (
    PRODUCED,
    NotebookStep,
    StepRunError,
    unpicklable_reason,
    unstorable_output,
)
from flowyml.sizes import size_text
from flowyml.store import byvalue as _byvalue
from flowyml.store import entry as _entry
from flowyml.store import explain as _explain
from flowyml.store import sharing as _sharing
from flowyml.timeouts import StepTimeoutError, time_limit, within
from flowyml.tracking import files as _files
from flowyml.tracking import slotnames as _slotnames
from flowyml.tracking import state as _state

#: ``execute()`` runs the cell's body in the namespace: the exception it raised (or
#: ``None``), optionally with what it showed
Execute = Callable[[], "BaseException | tuple[BaseException | None, Recording | None] | None"]
#: the digest of an input that was never made (the cell reads a name nothing defined)
ABSENT = "absent"


@contextlib.contextmanager
def recorded_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Every warning raised inside, recorded instead of shown (as ``catch_warnings(record=True)``
    with an ``"always"`` filter), without resetting what Python remembers of the warnings it
    has shown: ``catch_warnings`` marks the filters changed when it exits, which clears every
    module's record, so a library's warning shown once per place in plain Python (networkx's
    "No data for colormapping" from two cells drawing graphs) was shown again by the next
    cell after each stored step. The filter is put in the list and taken out in place, and
    the warnings raised under it are not recorded as shown."""
    module = warnings
    impl = getattr(module, "_showwarnmsg_impl", None)
    if impl is None:  # another warnings implementation: the plain way
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught
        return
    caught: list[warnings.WarningMessage] = []
    always = ("always", None, Warning, None, 0)
    shown = module.showwarning
    module.filters.insert(0, always)
    module._showwarnmsg_impl = caught.append  # type: ignore[attr-defined]
    module.showwarning = module._showwarning_orig  # type: ignore[attr-defined]
    try:
        yield caught
    finally:
        module._showwarnmsg_impl = impl  # type: ignore[attr-defined]
        module.showwarning = shown
        for index, entry in enumerate(module.filters):
            if entry is always:
                del module.filters[index]
                break


def registered_from_notebook(name: str, ns: dict[str, Any]) -> bool:
    """Whether the kernel's line magic ``name`` is the notebook's own function of that name
    (``@register_line_magic def hello(line)``): the IPython shell is looked up, never
    imported, and asked which function the magic runs."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    find = getattr(shell, "find_line_magic", None)
    func = find(name) if find is not None else None
    return (isinstance(func, types.FunctionType) and ns.get(name) is func
            and func.__globals__ is ns)


def _storable(value: Any) -> bool:
    """Whether the cache can store ``value``: as ``pickle`` does, or by value (a closed
    file, a notebook function; :mod:`flowyml.store.byvalue`)."""
    for dumps in (functools.partial(pickle.dumps, protocol=5), _byvalue.dumps):
        try:
            dumps(value)
            return True
        except Exception:
            continue
    return False

class _Stop(Exception):
    """A stage ended the run in ``state`` (raising :class:`StepRunError` after the report
    when ``raise_error``)."""

    def __init__(self, state: str, raise_error: bool = False) -> None:
        super().__init__(state)
        self.state, self.raise_error = state, raise_error


class CellRun:
    """One run of step cell ``rec`` in ``session`` (see the module docstring)."""

    def __init__(self, session: Any, rec: NotebookStep, execute: Execute,
                 replay: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        self.session, self.rec, self.execute, self.replay = session, rec, execute, replay
        self.run_id = uuid.uuid4().hex[:12]
        self.started = time.perf_counter()
        self.swapped: dict[str, Any] = {}  # what the namespace held before the inputs
        self.values: dict[str, Any] = {}
        self.digests: dict[str, str | None] = {}
        self.key: str | None = None
        self.parts: Any = None
        self.entry: Any = None
        self.files_note: dict[str, Any] | None = None
        self.state_notes: Any = None
        self.recording: Recording | None = None
        #: names the body bound or removed out of the analysis' sight (``globals()[...]``,
        #: ``exec``, ``%run script.py``, ``%pylab``)
        self.unseen: list[str] = []
        #: notebook data the functions it calls read (``total()`` summing ``results``), their
        #: digests (part of the key), and those the body changed through them that cannot
        #: become a new version (not hashable by content, or outputs declared with -o)
        self.helpers: dict[str, Any] = {}
        self.helper_digests: dict[str, str] = {}
        self.helpers_changed: list[str] = []
        #: the notebook classes those functions reach, and those whose attributes the body
        #: set through them (``set_lr(0.5)`` setting ``Config.lr``)
        self.helper_classes: list[type] = []
        self.classes_changed: list[str] = []
        #: notebook functions whose container defaults the body filled (``acc=[]``)
        self.defaults_changed: list[Any] = []
        self.observed = _files.Observed()
        self.compute = 0.0

    # -- the stages ----------------------------------------------------------------------
    def go(self) -> NotebookStep:
        """Run the stages; the step's record, with its state."""
        return drive(self.flow())

    async def go_async(self) -> NotebookStep:
        """:meth:`go` for a body that awaits: ``execute()`` returns an awaitable, awaited in
        the caller's event loop (IPython runs a cell that awaits at top level in the
        kernel's loop, and so does a ``%%step`` cell)."""
        return await drive_async(self.flow())

    def flow(self) -> Generator[Any, Any, NotebookStep]:
        """The stages, as a generator that yields what must be awaited (see :func:`drive`)."""
        rec = self.rec
        rec.error, rec.attempts, rec.time_saved = None, 0, 0.0
        rec.replay_note, rec.notes, rec.not_stored = None, [], None
        self.session._last = rec.name
        # hashing and storing pickle values: no `__slotnames__` left on their classes
        with _slotnames.own_pickling():
            return (yield from self._stages())

    def _stages(self) -> Generator[Any, Any, NotebookStep]:
        try:
            self.gather_inputs()
            self.make_key()
            if self.look_up() is not None and self.take_hit():
                return self.report("cached")
            state_before = _state.snapshot()
            classes_before = class_attributes(self.helper_classes)
            defaults_before = mutable_defaults(self.session.ns)
            names_before = dict(self.session.ns)
            yield from self.run_body()
            self.classes_changed = changed_classes(classes_before)
            self.defaults_changed = changed_defaults(defaults_before)
            outputs, hashes, absent = self.record_versions()
            # names the step stores (inputs found changed become outputs) or that its functions
            # changed (said once, below) are not out of sight
            self.unseen = bound_unseen(self.rec.analysis, names_before, self.session.ns,
                                       handled={*self.rec.outputs, *self.helpers})
            self.store_result(outputs, hashes, absent, state_before)
            return self.report("done")
        except _Stop as stop:
            return self.report(stop.state, stop.raise_error)

    def gather_inputs(self) -> None:
        """Each input resolved to the version the cell reads (its value into the namespace
        for the body), then the cell's ``--condition``."""
        session, rec = self.session, self.rec
        for param in rec.params:
            try:
                self.values[param], self.digests[param] = session.resolve_input(rec, param)
            except KeyError as exc:
                if param in session.ns or param in session.context:
                    rec.error = exc.args[0]
                    raise _Stop("pending", raise_error=True) from None
                # the value was never made: as plain Python, the cell runs until it misses
                # it (a NameError, or one it catches itself); "absent" is part of its key
                self.digests[param] = ABSENT
                rec.notes.append(f"ran without '{param}', which is not defined (never made, or deleted)")
        if rec.step.condition is not None:
            try:
                holds = condition_holds(rec, session)
            except Exception as exc:
                rec.error = f"--condition {rec.spec.condition!r} failed: {type(exc).__name__}: {exc}"
                raise _Stop("failed", raise_error=True) from None
            if not holds:
                rec.error = None
                raise _Stop("skipped")
        for param, value in self.values.items():  # the body reads the versions it is given
            before = session.ns.get(param, MISSING)
            if before is not value:
                self.swapped[param] = before
                session.ns[param] = value

    def make_key(self) -> None:
        """The cache key (``None``: not cached) and its decodable parts."""
        self.helper_classes: list[type] = []
        self.helpers = self.session.helper_globals(self.rec, self.helper_classes)
        self.helper_digests = self.session.helper_digests(self.helpers, self.rec)
        self.key, self.parts = self.session.cache_key(self.rec, self.digests, self.helper_digests)
        self.rec.cache_key = None
        self.session._emit(StepStarted(run_id=self.run_id, step=self.rec.name, attempt=1))

    def look_up(self) -> Any:
        """The entry under the key whose generator state and ambient settings match and
        whose files still hold (those it wrote put back), else ``None`` with the reason in
        the step's notes."""
        rec, store = self.rec, self.session.store
        entry = store.lookup(self.key) if self.key is not None else None
        self.state_notes = _state_of(entry)
        # made under other settings: the entry for the settings now is beside it
        self.key, other, refused = _explain.under_settings(  # type: ignore[assignment]
            self.key, self.state_notes, lambda k: (e, _state_of(e)) if (e := store.lookup(k)) else None)
        if other is not None:
            entry, self.state_notes = other, _state_of(other)
        if refused:  # another generator state, other ambient settings: run it
            rec.notes.append(f"re-ran: {refused}")
            entry = self.state_notes = None
        self.files_note = _files.note_of(entry.meta) if entry is not None else None
        if self.files_note is not None:
            tracked = rec.step.track_files and _files.enabled_by_env()
            why_not = _files.stale_reason(self.files_note, recorded=tracked) or (
                tracked and _files.put_back(
                    self.files_note, lambda: store.load(entry).get(_files.FILES_OUTPUT, {}))) or None
            if why_not is not None:
                rec.notes.append(f"re-ran: {why_not}")
                entry = self.state_notes = None
        self.entry = entry
        return entry

    def take_hit(self) -> bool:
        """A hit: process-wide state, imports and definitions, then the outputs into the
        namespace and what the cell showed replayed. False when the entry no longer loads
        (removed since the lookup: the body runs)."""
        session, rec, entry, store = self.session, self.rec, self.entry, self.session.store
        first = _state.replay(self.state_notes)  # first: its imports may need its sys.path, its cwd
        outputs = None
        try:  # first: the outputs may be instances of classes the cell defines
            with _quiet():  # what its imports print is in the replay (see _quiet)
                session.restore_definitions(rec)
        except NameError as exc:
            # a definition reads a value the cell binds itself: a default, a decorator, a
            # class attribute (Norvig's Boggle: `PREFIXES = word_prefixes(WORDS)`, then
            # `def find_words(board, words=WORDS, prefixes=PREFIXES)`). Its outputs go into
            # the namespace first, as the body had bound them by then; then the definitions
            if exc.name not in rec.outputs:
                self._definitions_failed(exc)
            outputs = self._load_outputs()
            for name in rec.outputs:
                if name in outputs:
                    session.ns[name] = outputs[name]
            try:
                with _quiet():
                    session.restore_definitions(rec)
            except Exception as again:
                self._definitions_failed(again)
        except Exception as exc:
            self._definitions_failed(exc)
        if outputs is None:
            outputs = self._load_outputs()
        if not set(session.definite_outputs(rec)) <= set(outputs):
            return False
        failed = _state.replay(self.state_notes, again=first)  # again: for modules its imports loaded
        if failed:
            rec.notes.append(f"could not apply again what it changed: {', '.join(failed)}")
        if _state.ATTRIBUTES in (self.state_notes or {}).get("changed", ()):
            session.patches[rec.name] = self.key  # as when it ran: later steps keyed on it
        made = [o for o in rec.outputs if o in outputs]
        hashes = {o: entry.output_hashes.get(o) for o in made}
        session.record_produced(rec, {o: outputs[o] for o in made}, hashes, self.digests,
                                files=self.files_note)
        rec.time_saved, rec.cache_key = entry.duration, self.key
        recorded = store.load_replay(entry)
        if entry.meta.get("notes", {}).get("replay_skipped"):
            rec.replay_note = entry.meta["notes"]["replay_skipped"]
        if recorded and self.replay is not None:
            self.replay(recorded)
        return True

    def _load_outputs(self) -> dict[str, Any]:
        """The entry's outputs (``{}`` when it was removed since the lookup: recompute)."""
        try:  # from the namespace, as a user's pickle.loads would (see loading_into)
            with _entry.loading_into(self.session.ns), _sharing.shared(self.values):
                return self.session.store.load(self.entry)
        except _entry.CacheLoadError as exc:
            warnings.warn(str(exc), _entry.CacheWarning, stacklevel=2)
            return {}

    def _definitions_failed(self, exc: Exception) -> NoReturn:
        self.rec.error = f"restoring its imports and definitions failed: {type(exc).__name__}: {exc}"
        raise _Stop("failed", raise_error=True) from None

    def run_body(self) -> Generator[Any, Any, None]:
        """A miss: ``execute()`` runs the body, with retries (backing off), the time limit
        and the files it reads and writes recorded. An ``execute()`` that returns an
        awaitable (a body that awaits) is yielded to the driver, with the time limit as a
        timer in the event loop (``SIGALRM`` would land in the loop's own code)."""
        session, rec = self.session, self.rec
        step = rec.step
        attempts = 1 + max(int(step.retry or 0), 0)
        tracking = session.file_tracking(rec) if self.key is not None else None
        for attempt in range(1, attempts + 1):
            rec.attempts = attempt
            if attempt > 1:
                session._emit(StepStarted(run_id=self.run_id, step=rec.name, attempt=attempt))
                for param, value in self.values.items():  # a failed attempt may have changed them
                    session.ns[param] = value
            t0 = time.perf_counter()
            try:
                with time_limit(None if rec.awaits else step.timeout), (
                        tracking.recording(self.values.values()) if tracking is not None
                        else contextlib.nullcontext(self.observed)) as self.observed:
                    with _slotnames.users_code():
                        outcome = self.execute()
                        if inspect.isawaitable(outcome):
                            outcome = yield within(outcome, step.timeout)
                    if tracking is not None:
                        # lazy frames and datasets read their files when computed, in C; a
                        # path is read by the cells it is an input of, not the one naming it
                        # (`IMAGES = Path("images")` then figures saved into it elsewhere)
                        # (so are files a list of paths names: `names = glob.glob(...)`)
                        self.observed.lazy = [*self.values.values(), *(
                            v for o in rec.outputs if not isinstance(
                                v := session.ns.get(o), str | os.PathLike | list | tuple | set
                                | frozenset | dict))]
            except StepTimeoutError as exc:  # fired outside the body's own frames
                outcome = exc
            error, self.recording = outcome if isinstance(outcome, tuple) else (outcome, None)
            self.compute = time.perf_counter() - t0
            rec.runs += 1
            if error is None:
                missing = [o for o in session.definite_outputs(rec) if o not in session.ns]
                if missing:
                    rec.error = f"the cell did not assign output(s) {missing}"
                    raise _Stop("failed", raise_error=True)
                rec.error = None
                return
            rec.error = f"{type(error).__name__}: {error}".rstrip(": ")
            if isinstance(error, KeyboardInterrupt):
                rec.error = "interrupted (KeyboardInterrupt)"
                raise _Stop("interrupted", raise_error=True)
            if attempt == attempts:
                raise _Stop("timed_out" if isinstance(error, StepTimeoutError) else "failed",
                            raise_error=True)
            delay = backoff(step, attempt)
            session._emit(StepRetrying(run_id=self.run_id, step=rec.name, attempt=attempt,
                                       error=rec.error, delay=delay))
            time.sleep(delay)

    def record_versions(self) -> tuple[dict[str, Any], dict[str, str | None], list[str]]:
        """The body may have changed any object, also through an alias (a numpy view, a list
        held by two names): inputs changed in place become outputs (a new version, a new
        key); the outputs, their digests and the names it left unbound."""
        session = self.session
        session.epoch += 1
        changed = session.changed_inputs(self.rec, self.values, self.digests)
        self.helpers_changed = changed_through_functions(self.helpers, self.helper_digests,
                                                         session.ns, session.remember_digest)
        if self.helpers_changed and self.rec.spec.outputs is None:
            # data changed through the functions it called (`add(x)` appending to `results`):
            # like an input changed in place, an input (keyed as it was) and a new version
            moved = [n for n in self.helpers_changed if n in self.helper_digests]
            for name in moved:
                self.digests[name] = self.helper_digests.pop(name)
            changed += [n for n in moved if n not in changed]
            self.helpers_changed = [n for n in self.helpers_changed if n not in moved]
        if changed:
            self.rec = session.add_changed_outputs(self.rec, changed)
            self.key, self.parts = session.cache_key(self.rec, self.digests, self.helper_digests)
        rec = self.rec
        outputs = {o: session.ns[o] for o in rec.outputs if o in session.ns}
        absent = [o for o in rec.outputs if o not in outputs]
        for out in [o for o in outputs if o in rec.analysis.maybe]:
            if not _storable(outputs[out]):  # a loop or `with` target (a lock) is left out
                absent.append(out)
                del outputs[out]
        hashes = session.output_digests(rec, outputs, self.key)
        session.record_produced(rec, outputs, hashes, self.digests, files=self.observed.note)
        return outputs, hashes, absent

    def store_result(self, outputs: dict[str, Any], hashes: dict[str, str | None],
                     absent: list[str], state_before: Any) -> None:
        """One entry: the outputs, what the cell showed (within the replay bound), the files
        it wrote, and the process-wide state it changed (not part of the key: re-applied on
        a hit, checked at lookup). An output that cannot be stored is said once."""
        session, rec, store = self.session, self.rec, self.session.store
        notes: dict[str, Any] = {"absent": absent} if absent else {}
        shown = self.recording.items if self.recording is not None else []
        attributes, owners = attributes_set(rec.analysis, session.ns)
        # (a notebook function's filled defaults are set again as attributes are)
        filled, unstored_defaults = defaults_set(self.defaults_changed, session.ns)
        attributes = [*attributes, *filled]
        changed_state = _state.record(state_before, rec.body, shown=bool(shown),
                                      images=any(_shows_image(item) for item in shown),
                                      attributes=attributes)
        patched = patched_outside(owners, session.ns)
        patched += [c for c in self.classes_changed
                    if not any(p == c or p.startswith(f"{c} (") for p in patched)]
        if patched or attributes:  # part of every later step's key (Session.cache_key)
            session.patches[rec.name] = self.key or uuid.uuid4().hex
        outside = outside_lines(rec.analysis.ipython,
                                lambda name: registered_from_notebook(name, session.ns))
        if outside:
            shown = ", ".join(f"`{text}`" for text in outside[:2]) + (", ..." if len(outside) > 2 else "")
            patched.append(f"what only IPython can do again ({shown}: packages installed, "
                           "the kernel shown, an extension's magic)")
        if self.recording is not None and self.recording.live_widgets:
            patched.append("the widgets it shows (live: their models exist only in the kernel "
                           "that made them)")
        if unstored_defaults:
            patched.append(f"the default values of {', '.join(unstored_defaults[:5])} "
                           "(a container every call shares, filled by its calls)")
        if self.helpers_changed:
            patched.append(f"the notebook's {', '.join(self.helpers_changed[:5])} (through the "
                           "functions it calls, out of flowyml's sight)")
        if self.unseen:
            patched.append(f"the namespace (it binds {', '.join(self.unseen[:5])}"
                           f"{', ...' if len(self.unseen) > 5 else ''} out of flowyml's sight)")
        if patched:  # a hit could not do it again: the step runs every time
            changed_state = dict(changed_state or {})
            changed_state["unstored"] = [*changed_state.get("unstored", []), *patched]
        if rec.analysis.namespace_reads:  # what it lists changes with any cell: runs every time
            changed_state = dict(changed_state or {})
            changed_state["namespace_reads"] = list(rec.analysis.namespace_reads)
        if changed_state:
            notes["state"] = changed_state
        items: list[dict[str, Any]] | None = None
        if self.recording is not None:
            if self.recording.size <= session.replay_max:
                items = self.recording.to_json()
            else:
                rec.replay_note = (f"outputs not kept for replay: {size_text(self.recording.size)} "
                                   f"is over the {size_text(session.replay_max)} bound "
                                   "(FLOWYML_REPLAY_MAX)")
                notes["replay_skipped"] = rec.replay_note
        stored, observed = outputs, self.observed
        if observed.note:
            notes[_files.NOTE] = observed.note
            if observed.kept:
                stored = {**outputs, _files.FILES_OUTPUT: observed.kept}
        if observed.problem:
            rec.notes.append(observed.problem)
        rec.not_stored = unstorable_output(outputs)
        if self.key is not None and None not in hashes.values() and rec.not_stored is None:
            # an input an output holds (`models = {'lr': lr}`) is stored as a reference to
            # it: a hit binds it to the input's object, as the body did (see store.sharing)
            given = {n: v for n, v in self.values.items() if n not in outputs}
            with recorded_warnings() as caught, _sharing.sharing(given):
                done = store.store(self.key, stored, output_hashes=hashes, parts=self.parts,
                                   duration=self.compute, replay=items, notes=notes or None,
                                   explain=_explain.explain_facts(rec.step.func, self.values))
            for w in caught:  # an unpicklable output: said once, in the status line
                reason = unpicklable_reason(str(w.message), outputs)
                if reason is None:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
                rec.not_stored = rec.not_stored or reason
            if done:
                rec.cache_key = self.key
                session.trim_to_budget()
        if rec.not_stored:
            rec.uncacheable_reason = rec.not_stored

    def report(self, state: str, raise_error: bool = False) -> NotebookStep:
        """The namespace keeps the outputs of a step that produced them, and gets back what
        it held for the other inputs; the step's state, its ``StepFinished`` event."""
        session, rec = self.session, self.rec
        for param, before in self.swapped.items():  # put back what the namespace held
            if param not in rec.outputs or state not in PRODUCED:
                if before is MISSING:
                    session.ns.pop(param, None)
                else:
                    session.ns[param] = before
        rec.state = state
        rec.duration = time.perf_counter() - self.started
        session._emit(StepFinished(run_id=self.run_id, step=rec.name, state=state,
                                   duration=rec.duration, cached=state == "cached",
                                   attempts=rec.attempts, error=rec.error,
                                   time_saved=rec.time_saved))
        if raise_error:
            raise StepRunError(rec.name, state, f"step '{rec.name}' {state}: {rec.error}")
        return rec


def drive(flow: Generator[Any, Any, Any]) -> Any:
    """Run ``flow`` (a generator of the stages) in plain code: it must not yield anything
    to await (its ``execute()`` returned a plain outcome)."""
    try:
        pending = next(flow)
    except StopIteration as stop:
        return stop.value
    if inspect.iscoroutine(pending):
        pending.close()
    flow.close()
    raise TypeError("this body awaits: run it with go_async() in an event loop")


async def drive_async(flow: Generator[Any, Any, Any]) -> Any:
    """Run ``flow`` in an event loop: what it yields is awaited and sent back (an exception
    raised while awaiting is thrown into it at the ``yield``)."""
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        try:
            pending = flow.throw(thrown) if thrown is not None else flow.send(sent)
        except StopIteration as stop:
            return stop.value
        try:
            sent, thrown = await pending, None
        except BaseException as exc:  # handed to the flow, which decides
            sent, thrown = None, exc


def condition_holds(rec: NotebookStep, session: Any) -> bool:
    """The cell's ``--condition`` with its parameters from the context and the namespace."""
    kwargs = {}
    for param in rec.step.condition_params:
        if param in session.context:
            kwargs[param] = session.context[param]
        elif param in session.ns:
            kwargs[param] = session.ns[param]
        else:
            raise NameError(f"name '{param}' is not defined")
    return bool(rec.step.condition(**kwargs))


_IMAGE_TYPES = ("image/", "application/pdf")


def _shows_image(item: dict[str, Any]) -> bool:
    """A recorded output that is a figure (matplotlib's style shaped it)."""
    return any(mime.startswith(_IMAGE_TYPES) for mime in item.get("data") or ())


@contextlib.contextmanager
def _quiet() -> Any:
    """Streams dropped while a hit re-runs its cell's imports and definitions: a module
    that prints (or warns) when it is imported -- a notebook loaded by an import hook, a
    library's banner -- printed it when the body ran, so it is in the cell's recorded
    output, which the hit replays; shown live as well it would appear twice."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def _state_of(entry: Any) -> Any:
    """The process-state notes of a cache entry (``None``: no entry, or none)."""
    return entry.meta.get("notes", {}).get("state") if entry is not None else None
