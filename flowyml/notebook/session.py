"""The notebook's steps: define them from cells, run them with the cache, say what is stale.

:class:`NotebookSession` is the logic behind ``%%step`` and ``%flowyml``; it never imports
IPython. A ``%%step`` cell *is* the function :func:`flowyml.notebook.analysis.make_step_function`
builds (parameters = the values it reads, globals = the user namespace), registered as an
ordinary :class:`flowyml.Step`, so its cache key is exactly the one a pipeline run -- or the
exported module -- computes. Running the body itself is left to a callback, so the magic can
run it as a normal cell (prints, displays, tracebacks) while this module handles the cache,
retries, time limits, conditions, versions and provenance.

What a cell reads and makes comes from :mod:`flowyml.notebook.cells`; which version of a name it
reads from :mod:`flowyml.notebook.versions`; what it showed is kept by :mod:`flowyml.notebook.replay`.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import linecache
import sys
import time
import types
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from flowyml import keys as _keys
from flowyml.codehash import evaluates_strings, notebook_globals
from flowyml.core.step import Step, global_registry
from flowyml.events import Event, bus
from flowyml.hashing import UnhashableValueError, consumable, hash_value
from flowyml.keys import key_digest
from flowyml.notebook import staleness as _staleness
from flowyml.notebook import versions as _versions
from flowyml.notebook.analysis import make_step_function
from flowyml.notebook.cellrun import MISSING, CellRun, Execute
from flowyml.notebook.cells import CellAnalysis, analyze
from flowyml.notebook.cellspec import StepCellSpec
from flowyml.notebook.ipysyntax import CellIPythonOnlyError, CellPythonSyntaxError, CellSyntaxError
from flowyml.notebook.naming import default_step_name, unique_name
from flowyml.notebook.replay import replay_limit
from flowyml.notebook.stepcells import (
    PRODUCED,
    CellNotPythonError,
    IPythonOnlyCellError,
    NotebookStep,
    RunReport,
    StepDefinitionError,
    StepRunError,
    StepStatus,
    UnknownInputsError,
    base_of,
    code_shape,
    condition_function,
    first_line,
    is_code_dependency,
    read_changed_note,
    write_changed_note,
)
from flowyml.notebook.view import PipelineView
from flowyml.references import LEAVES, Walker
from flowyml.store import entry as _entry
from flowyml.store import explain as _explain
from flowyml.store import lifecycle
from flowyml.store import local as _cache
from flowyml.tracking import files as _files
from flowyml.tracking import state as _state

#: the origin module of notebook steps (re-running a cell replaces its step)
NOTEBOOK_ORIGIN = "__notebook__"

__all__ = ["NOTEBOOK_ORIGIN", "PRODUCED", "CellNotPythonError", "IPythonOnlyCellError",
           "NotebookSession", "NotebookStep", "RunReport",
           "StepDefinitionError", "StepRunError", "StepStatus", "UnknownInputsError", "is_code_dependency",
           "read_changed_note", "write_changed_note"]




class NotebookSession(PipelineView):
    """The steps of one notebook kernel, over its user namespace ``ns``."""

    def __init__(self, namespace: dict[str, Any], cache_dir: str | Path | None = None,
                 emit: Callable[[Event], None] | None = None, *,
                 storage_options: dict[str, Any] | None = None,
                 cache_secret: str | bytes | None = None) -> None:
        self.ns = namespace
        #: a path or any fsspec URL (``%flowyml cache dir URL``)
        self.cache_dir = cache_dir
        self.storage_options = storage_options
        self.cache_secret = cache_secret
        #: fingerprints whose cache entries this notebook loads (``%flowyml cache trust FP``),
        #: besides FLOWYML_CACHE_TRUSTED_SIGNERS; see flowyml.store.signing_keys
        self.trusted_signers: tuple[str, ...] = ()
        self.context: dict[str, Any] = {}
        self.steps: dict[str, NotebookStep] = {}
        self.replay_max = replay_limit()
        #: the bound on the files a step writes kept with its entry (None: FLOWYML_FILES_MAX)
        self.files_max: int | None = None
        #: a size budget for the cache (else FLOWYML_CACHE_MAX_SIZE), trimmed after stores
        self.cache_max_size: int | None = None
        #: the front end's name for the code of a cell run with this source (IPython's
        #: compiler, set by the extension; it also puts the source in linecache): restored
        #: definitions get the file and lines a run of the cell gives its functions
        self.code_name: Callable[[str], str] | None = None
        self._last_trim = -1e9
        #: bumped by every ordinary (non-step) cell: digests remembered before may be stale
        self.epoch = 0
        self._stores: dict[tuple[Any, ...], Any] = {}
        self._emit = emit or bus.emit
        self._seq = itertools.count(1)
        self._last: str | None = None  # the step cell run last
        self._wiring: _versions.Wiring | None = None
        # name -> (step that put it in the namespace, the object it put there)
        self._latest: dict[str, tuple[str, Any]] = {}
        # name -> (object, digest, epoch): digests known without hashing again
        self._memo: dict[str, tuple[Any, str, int]] = {}
        #: step -> its key (a random token when it had none), for each step cell run in this
        #: kernel that changed a class or a module (``mpl.colors.Colormap._repr_png_ = f``):
        #: part of every other step's key (see cache_key)
        self.patches: dict[str, str] = {}

    # -- cache -----------------------------------------------------------------------------
    @property
    def store(self) -> Any:
        """The store at ``cache_dir`` (a path or URL), else ``FLOWYML_CACHE_DIR``, else
        ``./.flowyml/cache`` (:func:`flowyml.store.locations.open_store`)."""
        from flowyml.store.locations import location_key, open_store

        ident = (location_key(self.cache_dir), id(self.storage_options), id(self.cache_secret),
                 self.trusted_signers)
        if ident not in self._stores:
            store = open_store(self.cache_dir, self.storage_options, self.cache_secret,
                               trusted_signers=self.trusted_signers or None)
            if hasattr(store, "check_or_warn"):  # a remote store: reachable, else one warning
                store.check_or_warn()
            self._stores[ident] = store
        return self._stores[ident]

    # -- defining --------------------------------------------------------------------------
    def producers(self, exclude: str | None = None) -> dict[str, str]:
        """Output name -> the notebook step producing its latest version."""
        out: dict[str, str] = {}
        for rec in sorted(self.steps.values(), key=lambda r: r.position):
            if rec.name != exclude:
                out.update(dict.fromkeys(rec.outputs, rec.name))
        return out

    def wiring(self) -> _versions.Wiring:
        """Which version of each name every step reads and makes (cached until a change)."""
        if self._wiring is None:
            self._wiring = _versions.wire([
                _versions.StepNames(r.name, r.position, r.params, r.outputs)
                for r in self.steps.values()])
        return self._wiring

    def define(self, spec: StepCellSpec, body: str, cell_id: str | None = None,
               magic_lines: frozenset[int] = frozenset()) -> NotebookStep:
        """Turn a cell into a registered step (replacing the cell's previous version).

        ``cell_id`` is the front end's id of the cell, when it sends one: it tells an edited
        cell from a new cell. Without it, a cell with the same body (or the cell run last,
        edited, when it does not read its own outputs) is the same cell.
        """
        try:
            analysis = analyze(body, magic_lines)
        except CellIPythonOnlyError as exc:
            raise IPythonOnlyCellError(f"%%step: the cell cannot be a step: {exc}", exc.what) from None
        except CellSyntaxError as exc:
            kind = CellNotPythonError if isinstance(exc, CellPythonSyntaxError) else StepDefinitionError
            raise kind(f"%%step: the cell cannot be a step: {exc}") from None
        code = [m for m in analysis.mutated if is_code_dependency(self.ns.get(m))]
        if code:  # `np.sort(x)` looks like `items.sort()`; a module is not data
            analysis = dataclasses.replace(
                analysis, mutated=[m for m in analysis.mutated if m not in code])
        shape = code_shape(analysis)
        old = self._identify(spec, analysis, body, cell_id, shape)
        if old is not None and (cell_id is not None or spec.name is not None):
            position = old.position
        else:
            position = next(self._seq)
        name = self._name_for(spec, analysis, old)
        outputs = self._outputs(spec, analysis, name, body)
        params = self._params(spec, analysis, name, position, outputs)
        condition = (condition_function(spec.condition, self.ns)
                     if spec.condition is not None else None)
        tags: dict[str, Any] = dict(spec.tags)
        if spec.pipeline is not None:
            tags["pipeline"] = spec.pipeline
        try:
            func = make_step_function(name, params, outputs, analysis.python, self.ns,
                                      filename=f"<flowyml-step-{name}>",
                                      optional=[o for o in outputs if o in analysis.maybe])
        except SyntaxError as exc:  # e.g. a top-level `await`: fine in a cell, not in a def
            raise StepDefinitionError(
                f"%%step {name}: the cell cannot be a step function: {exc.msg} (line "
                f"{exc.lineno}); run it as an ordinary cell") from None
        try:
            step = Step(func, name=name, inputs=params, outputs=outputs, cache=spec.cache,
                        retry=spec.retries, timeout=spec.timeout,
                        resources=spec.resources or None, tags=tags, condition=condition,
                        execution_group=spec.group, description=spec.description,
                        files=spec.files, track_files=spec.track_files)
            step.origin = (NOTEBOOK_ORIGIN, name)
            if old is not None and old.name != name:
                global_registry.unregister(old.name)
            global_registry.register(step)
        except (ValueError, TypeError) as exc:
            raise StepDefinitionError(f"%%step {name}: {exc}") from None
        if old is not None and old.name != name:
            del self.steps[old.name]
        rec = NotebookStep(name, body, params, outputs, step, spec, analysis=analysis,
                           cell=cell_id, position=position, shape=shape)
        rec.changed_in_place = [o for o in outputs if o not in analysis.produces
                                and spec.outputs is None]
        if old is not None:  # same cell run again: keep what its outputs were made from
            rec.made, rec.state, rec.runs = old.made, old.state, old.runs
            rec.duration, rec.time_saved = old.duration, old.time_saved
            rec.cache_key = old.cache_key
        self.steps[name] = rec
        self._wiring = None
        return rec

    def _identify(self, spec: StepCellSpec, analysis: CellAnalysis, body: str,
                  cell_id: str | None, shape: str) -> NotebookStep | None:
        """The step this cell already is, if any."""
        if cell_id is not None:
            for rec in self.steps.values():
                if rec.cell == cell_id:
                    return rec
        if spec.name is not None:
            rec = self.steps.get(spec.name)
            if rec is not None and cell_id is not None and rec.cell not in (None, cell_id):
                raise StepDefinitionError(
                    f"%%step {spec.name}: another cell already defines a step named "
                    f"'{spec.name}'; give this one a different name")
            return rec
        if cell_id is not None:
            return None
        # no cell id (nbclient, a terminal): execution order. The same body is the same cell
        # (run again); a cell that rebinds what it reads (`x = x + 1`) is that cell only when
        # it is run again right away -- later, it is a new step reading the latest version.
        same = [r for r in self.steps.values() if r.cell is None and r.spec.name is None
                and (r.body == body or r.shape == shape)]
        if same:
            rec = max(same, key=lambda r: r.position)
            if not set(analysis.reads) & set(rec.outputs) or rec.name == self._last:
                return rec
        # an edit of a cell that has not produced its outputs (being fixed): same default
        # name and values, and it does not read what that step makes. A cell after one that
        # worked is a new cell even when its default name is the same (`x2` then `x2[0, 0]`,
        # two `fig, ax = plt.subplots()` cells): a headless run (nbclient, papermill) runs
        # each cell once, top to bottom, and `flowyml export` names them `x2`, `x2_2`, so
        # the kernel must too, or the exported module misses the notebook's entries.
        base = default_step_name(analysis, declared=spec.outputs)
        makers = [r for r in self.steps.values() if base_of(r.name) == base
                  and r.cell is None and r.spec.name is None]
        if makers:
            rec = max(makers, key=lambda r: r.position)
            if (rec.state not in PRODUCED
                    and set(analysis.produces) == set(rec.analysis.produces)
                    and not set(analysis.reads) & set(rec.outputs)):
                return rec
        return None

    def _name_for(self, spec: StepCellSpec, analysis: CellAnalysis, old: NotebookStep | None) -> str:
        if spec.name is not None:
            return spec.name
        base = default_step_name(analysis, declared=spec.outputs)
        if old is not None and base_of(old.name) == base:
            return old.name
        taken = {n for n in self.steps if old is None or n != old.name}
        return unique_name(base, taken)

    def _outputs(self, spec: StepCellSpec, analysis: CellAnalysis, name: str, body: str) -> list[str]:
        if spec.outputs is not None:
            bound = {*analysis.outputs, *analysis.mutated, *analysis.defines,
                     *analysis.incidental}
            missing = [o for o in spec.outputs if o not in bound]
            if missing:
                raise StepDefinitionError(
                    f"%%step: declared output(s) {missing} are never assigned in the cell "
                    f"(it assigns {sorted(analysis.outputs)}); assign them or fix --outputs"
                )
            return list(spec.outputs)
        outputs = list(analysis.produces)
        outputs += [n for n in self._changed_note(name, body) if n not in outputs]
        return outputs

    def _params(self, spec: StepCellSpec, analysis: CellAnalysis, name: str, position: int,
                outputs: list[str]) -> list[str]:
        if spec.inputs is not None:
            return list(spec.inputs)
        above = {o for r in self.steps.values() if r.name != name and r.position < position
                 for o in r.outputs}
        params, unknown = [], []
        bound_here = {*analysis.outputs, *analysis.incidental, *analysis.defines}
        for n in analysis.reads:
            if n in above or n in self.context:
                params.append(n)
            elif n in self.ns:
                if not is_code_dependency(self.ns[n]):
                    params.append(n)
            elif not analysis.star_import and n not in bound_here and n not in analysis.deferred:
                # (read only in a function body: looked up when it is called, as in Python)
                unknown.append(n)
        # a builtin's name that a step or the namespace binds to a value (`sum = [...]`; a
        # library function bound to it, `from numpy import *`, is code: in the fingerprint)
        params += [n for n in analysis.builtin_reads if n in above or n in self.context
                   or (n in self.ns and not is_code_dependency(self.ns[n]))]
        if analysis.string_reads and (analysis.evaluates or any(
                evaluates_strings(self.ns.get(n)) for n in analysis.names_read)):
            # names it reads through strings it evaluates (`display('df1')`, `eval`, query)
            params += [n for n in analysis.string_reads if n not in params and n not in bound_here
                       and (n in above or (n in self.ns and not is_code_dependency(self.ns[n])))]
        # a name the cell changed through an alias (seen before, noted): an input too
        params += [n for n in outputs if n not in params and n not in analysis.produces
                   and n not in bound_here and (n in above or n in self.ns)]
        if unknown:
            known = [k for k in self.ns if not k.startswith("_")] + sorted(above)
            hints = "".join(
                f" Did you mean {close[0]!r} for {u!r}?" for u in unknown
                if (close := difflib.get_close_matches(u, known, n=1))
            )
            raise UnknownInputsError(
                f"%%step {name}: the cell reads {unknown}, which no cell run above in this "
                f"kernel defines and no step produces. Run the cell that makes it first (after "
                f"a restart, cached cells are instant), define it in an ordinary cell, set it "
                f"with `%flowyml context {unknown[0]}=...`, or declare --inputs.{hints}"
            )
        return params

    def forget(self, name: str) -> None:
        """Drop a step (the cell was deleted or renamed)."""
        if name not in self.steps:
            raise KeyError(f"no notebook step named '{name}'; steps: {sorted(self.steps)}")
        del self.steps[name]
        self._wiring = None
        global_registry.unregister(name)

    def plain_cell_ran(self, source: str = "") -> None:
        """An ordinary cell ran: it may have changed any value, so digests are re-checked
        (and if it seeded a random generator, that generator's state is known from now on)."""
        self.epoch += 1
        if source:
            _state.mark_source(source)

    # -- in-place changes, remembered per cell ----------------------------------------------
    def _changed_note(self, name: str, body: str) -> list[str]:
        return read_changed_note(self.store.root, name, body)

    def _remember_changed(self, name: str, body: str, names: list[str]) -> None:
        write_changed_note(self.store.root, name, body, names)

    # -- values and keys -------------------------------------------------------------------
    def digest_of(self, name: str, value: Any, known: str | None = None) -> str:
        """Content digest of ``value``; not re-hashed while no ordinary cell ran since.

        ``known`` is the digest recorded when a step made it: used when the value cannot
        be hashed by content (a matplotlib ``Figure``: its digest came from the step's key).
        """
        memo = self._memo.get(name)
        if memo is not None and memo[0] is value and memo[2] == self.epoch:
            return memo[1]
        try:
            digest = hash_value(value)
        except UnhashableValueError:
            if known is None or consumable(value):  # a generator read before: not as made
                raise
            digest = known
        self._memo[name] = (value, digest, self.epoch)
        return digest

    def remember_digest(self, name: str, value: Any, digest: str) -> None:
        """``value``'s digest, just computed: :meth:`digest_of` need not hash it again."""
        self._memo[name] = (value, digest, self.epoch)

    def resolve_input(self, rec: NotebookStep, param: str, load: bool = True) -> tuple[Any, str | None]:
        """The value a parameter receives and its digest (``None``: cannot be hashed).

        An upstream step's version when a step above makes it, else a context value, else
        the notebook variable. Raises KeyError naming where the value should come from.
        With ``load=False`` an older version is not loaded from the cache (the value is then
        ``None``; its digest is what its step recorded): enough for keys and staleness.
        """
        producer = self.wiring().producers.get(rec.name, {}).get(param)
        if (not load and param not in self.ns and param in rec.analysis.deleted
                and rec.made is not None and rec.made.inputs.get(param) is not None):
            # the step deleted its own input when it last ran (`total = sum(data); del
            # data`): where it stands is what it was given then
            return None, rec.made.inputs[param]
        if producer is not None and self._deleted_since(rec, param, producer):
            producer = None  # `del x` in a step after the one making it: plain Python has none
        if producer is None:
            if param in self.context:
                value = self.context[param]
            elif param in self.ns:
                value = self.ns[param]
            else:
                raise KeyError(f"step '{rec.name}' needs '{param}', which is not defined; define "
                               f"it in a cell or with `%flowyml context {param}=...`")
            return value, self._try_digest(param, value, None)
        up = self.steps[producer]
        if up.made is None and param in self.ns:
            # its step failed (or did not run): plain Python reads what the name holds now
            current = self.ns[param]
            return current, self._try_digest(param, current, None)
        if up.made is None:
            raise KeyError(f"step '{rec.name}' needs '{param}' from step '{producer}', which has "
                           f"not run yet; run its cell or `%flowyml run {rec.name}`")
        recorded = up.made.outputs.get(param)
        latest = self._latest.get(param)
        current = self.ns.get(param, MISSING)
        if latest is not None and latest[0] == producer and current is latest[1]:
            return current, self._try_digest(param, current, recorded)
        if (latest is not None and latest[0] == rec.name and current is latest[1]
                and param not in rec.analysis.outputs and rec.made is not None):
            # this very step changed it in place when it last ran (`next(it)`, `xs.append`):
            # run again, it receives what the name holds now, as in plain Python
            return current, self._try_digest(param, current, rec.made.outputs.get(param))
        if current is not MISSING and (latest is None or current is not latest[1]):
            # changed by an ordinary cell after its step made it: the namespace wins
            return current, self._try_digest(param, current, None)
        if latest is not None and current is latest[1] and latest[0] != producer \
                and (by := self.steps.get(latest[0])) is not None \
                and up.position < by.position < rec.position:
            # changed in place by a step between its maker and this one whose later run
            # changed nothing, so that it is no longer a maker of the name (the bootcamp's
            # `my_file.read()` cell, repeated: the same cell without ids): what the name
            # holds now, as in plain Python, not the maker's older version
            return current, self._try_digest(param, current, None)
        if not load:
            return None, recorded
        return self._load_version(rec, up, param, latest), recorded

    def _deleted_since(self, rec: NotebookStep, param: str, producer: str) -> bool:
        """A step between ``producer`` and ``rec`` deletes ``param`` (``del x, y``): ``rec``
        reads the namespace, as plain Python, not the version ``producer`` made."""
        low, high = self.steps[producer].position, rec.position
        return any(low < other.position < high and param in other.analysis.deleted
                   for other in self.steps.values())

    def _try_digest(self, name: str, value: Any, known: str | None) -> str | None:
        try:
            return self.digest_of(name, value, known)
        except UnhashableValueError:
            return None

    def _load_version(self, rec: NotebookStep, up: NotebookStep, param: str,
                      latest: tuple[str, Any] | None) -> Any:
        """An older version of ``param`` (the namespace holds a later one): from the cache."""
        entry = self.store.lookup(up.cache_key) if up.cache_key else None
        if entry is not None:
            try:
                with _entry.loading_into(self.ns):  # as take_hit loads
                    return self.store.load(entry)[param]
            except (KeyError, _cache.CacheLoadError):
                pass
        by = f" (step '{latest[0]}' made a later one)" if latest else ""
        raise KeyError(f"step '{rec.name}' reads '{param}' as step '{up.name}' made it, but "
                       f"that version is no longer in memory{by} and is not cached; re-run the "
                       f"cell of step '{up.name}' first")

    def value_of(self, rec: NotebookStep, param: str) -> Any:
        """The value a parameter receives (see :meth:`resolve_input`)."""
        return self.resolve_input(rec, param)[0]

    def helper_globals(self, rec: NotebookStep, classes: list[type] | None = None) -> dict[str, Any]:
        """The notebook data the functions step ``rec`` calls read or rebind without the
        cell naming it (``total()`` summing a global ``results``), by name: made by a step
        cell above, not its own inputs and outputs (see
        :func:`flowyml.codehash.notebook_globals`, which also gives the notebook classes
        they reach, into ``classes``)."""
        ns = self.ns
        # (not what the cell defines itself: the analysis sees what its own functions read,
        # and the namespace holds the previous run's definitions until the body runs)
        own_code = {*rec.analysis.defines, *rec.analysis.produces}
        roots = [ns[n] for n in rec.analysis.names_read if n in ns and n not in own_code]
        if not roots:
            return {}
        own = {*rec.params, *rec.outputs}
        # data a step cell above makes (its versions are flowyml's): what an ordinary cell
        # holds is the namespace's (a `calls` list a test's `tick()` appends to, as before)
        made = {o for r in self.steps.values() if r.position < rec.position for o in r.outputs}
        return {n: ns[n] for n in notebook_globals(roots, ns, classes=classes)
                if n not in own and n in ns and n in made}

    def helper_digests(self, values: dict[str, Any], rec: NotebookStep | None = None) -> dict[str, str]:
        """Digests of :meth:`helper_globals`' values, part of the step's key: a hit on
        ``t = total()`` showed the old sum after ``results`` was edited. A value that cannot
        be hashed by content (a matplotlib line an animation's function moves) is keyed by
        the version its step recorded while the name holds it, as an input is -- not by a
        digest remembered only until the next cell ran, which keyed it in one kernel and
        left it out in another (the animation cell missed after every restart) -- and is
        left out when there is none (it does not make the step uncached)."""
        out = {}
        for name, value in values.items():
            latest, known = self._latest.get(name), None
            if latest is not None and latest[1] is value and latest[0] in self.steps:
                made = self.steps[latest[0]].made
                known = made.outputs.get(name) if made is not None else None
            try:
                out[name] = self.digest_of(name, value, known)
            except UnhashableValueError:
                continue
        return out

    def cache_key(self, rec: NotebookStep, digests: dict[str, str | None],
                  helpers: dict[str, str] | None = None) -> tuple[str | None, dict[str, Any] | None]:
        """(key, decodable parts) for these parameter digests and the digests of the
        notebook data its functions read (:meth:`helper_digests`, found now when not given);
        ``None`` when uncacheable."""
        unhashable = [p for p, d in digests.items() if d is None]
        rec.uncacheable_reason = (
            f"input '{unhashable[0]}' cannot be hashed by content, so the step is not cached"
            if unhashable else None)
        if rec.step.cache is False or unhashable:
            return None, None
        code = None if rec.step.cache == "input_hash" else rec.step.get_code_hash()
        params = {p: d for p, d in digests.items() if d is not None}
        if helpers is None:
            helpers = self.helper_digests(self.helper_globals(rec), rec)
        # keyed as inputs are: a name the cell reaches through its functions keys it the
        # same way before and after the cell is found to change it (an input from then on)
        params.update((n, d) for n, d in helpers.items() if n not in params)
        parts = _keys.key_parts(rec.name, code, params)
        patches = {name: key for name, key in self.patches.items() if name != rec.name}
        if patches:
            # a class or module a step cell changed (a method set on a library's class)
            # changes what later cells compute and show without being one of their inputs:
            # the patching cell runs every time (a hit could not patch again), and which
            # version of it ran is part of every other key, so an edited patch is no hit
            parts["patched"] = dict(sorted(patches.items()))
        return _keys.key_from_parts(rec.name, parts), parts

    def current_keys(self) -> dict[str, str | None]:
        """Step name -> the key its current definition and inputs would hit (``None``: none)."""
        keys: dict[str, str | None] = {}
        for name, rec in self.steps.items():
            try:
                digests = {p: self.resolve_input(rec, p, load=False)[1] for p in rec.params}
                keys[name] = self.cache_key(rec, digests)[0]
            except Exception:
                keys[name] = None
        return keys

    # -- running a cell --------------------------------------------------------------------
    def run_cell_step(self, rec: NotebookStep, execute: Execute,
                      replay: Callable[[list[dict[str, Any]]], None] | None = None) -> NotebookStep:
        """Run a step cell: cache hit -> definitions and outputs back into the namespace and
        what the cell showed replayed through ``replay``; miss -> ``execute()`` runs the body
        in the namespace (returning the exception it raised, if any, and optionally what it
        showed), with retries and the time limit, then the outputs are stored. The stages
        are :class:`flowyml.notebook.cellrun.CellRun`'s. Raises :class:`StepRunError` when
        the step did not produce its outputs (not for a false condition)."""
        return CellRun(self, rec, execute, replay).go()

    def run_cell_flow(self, rec: NotebookStep, execute: Execute,
                      replay: Callable[[list[dict[str, Any]]], None] | None = None,
                      ) -> Generator[Any, Any, NotebookStep]:
        """:meth:`run_cell_step` as a generator that yields what must be awaited: for a
        body that awaits, whose ``execute()`` returns an awaitable (driven by
        :func:`flowyml.notebook.cellrun.drive_async` in the shell's event loop)."""
        return CellRun(self, rec, execute, replay).flow()

    def file_tracking(self, rec: NotebookStep) -> _files.Tracking | None:
        """How the cell's files are recorded (``None``: not at all; see
        :mod:`flowyml.tracking.files`)."""
        step = rec.step
        enabled = step.track_files and _files.enabled_by_env()
        if not enabled and not step.files:
            return None
        return _files.Tracking(step.files, enabled=enabled,
                               skip=[str(getattr(self.store, "root", "") or "")],
                               max_bytes=self.files_max, code=getattr(step.func, "__code__", None),
                               step=rec.name, commands=[ln.text for ln in rec.analysis.ipython])

    def trim_to_budget(self) -> None:
        """With ``FLOWYML_CACHE_MAX_SIZE`` / ``cache_max_size``: after a store (at most every
        half minute: a scan reads every entry's directory), trim entries no step needs."""
        budget = self.cache_max_size if self.cache_max_size is not None else lifecycle.budget_from_env()
        if budget is None or time.monotonic() - self._last_trim < 30:
            return
        self._last_trim = time.monotonic()
        line = lifecycle.trim_to_budget(self.store, budget, protect=self.current_keys().values())
        if line:
            print(line, file=sys.stderr)

    def why(self, name: str) -> str:
        """Why step ``name`` will hit or re-run, against its stored entries and following its
        inputs up to the steps that re-run first (``%flowyml why``)."""
        return self.explain(name).text()

    def explain(self, name: str, seen: dict[str, _explain.Why] | None = None) -> _explain.Why:
        """:class:`flowyml.store.explain.Why` for step ``name`` (see :meth:`why`)."""
        rec = self.steps.get(name)
        if rec is None:
            raise KeyError(f"no notebook step named '{name}'; steps: {sorted(self.steps)}")
        if rec.not_stored:  # its last run could not be stored (a generator): nothing to hit
            return _explain.Why(name, False, problem=rec.not_stored)
        seen = {} if seen is None else seen
        if name in seen:
            return seen[name]
        seen[name] = _explain.Why(name, True)  # a cycle (never in a notebook) ends here
        ups = []
        producers = self.wiring().producers.get(rec.name, {})
        for param in rec.params:
            producer = producers.get(param)
            if producer in self.steps and producer != name:
                up = self.explain(producer, seen)
                if up.reruns:
                    ups.append((param, producer, up))
        try:
            resolved = {p: self.resolve_input(rec, p, load=False) for p in rec.params}
        except KeyError as exc:
            seen[name] = _explain.explain(self.store, name, None, problem=exc.args[0], upstream=ups)
            return seen[name]
        _, parts = self.cache_key(rec, {p: d for p, (_, d) in resolved.items()})
        values = {p: v for p, (v, _) in resolved.items() if v is not None}
        facts = _explain.explain_facts(rec.step.func, values) if parts is not None else None
        seen[name] = _explain.explain(
            self.store, name, parts, facts, upstream=ups,
            problem=None if parts is not None else (rec.uncacheable_reason or "it is not cached (--no-cache)"))
        return seen[name]

    def accept(self, rec: NotebookStep) -> tuple[_explain.Why, Any]:
        """``%%step NAME --accept``: what differs now (the ``why`` of the edited cell), and the
        :class:`flowyml.store.accept.Accepted` alias that makes its new key hit the entry stored
        from the same inputs. Nothing runs. Raises :class:`flowyml.store.accept.AcceptRefused`
        naming the input when an input differs (also one made by a step that re-runs)."""
        from flowyml.store import accept as aliases

        why = self.explain(rec.name)
        if why.upstream:
            param, producer, up = why.upstream[0]
            raise aliases.AcceptRefused(
                f"step '{rec.name}': not accepted: input `{param}` differs: it comes from "
                f"`{producer}`, which re-runs because {up.because()}; run it first")
        try:
            resolved = {p: self.resolve_input(rec, p, load=False) for p in rec.params}
        except KeyError as exc:
            raise aliases.AcceptRefused(f"step '{rec.name}': cannot accept: {exc.args[0]}") from None
        _, parts = self.cache_key(rec, {p: d for p, (_, d) in resolved.items()})
        values = {p: v for p, (v, _) in resolved.items() if v is not None}
        done = aliases.accept(self.store, rec.name, parts,
                              _explain.explain_facts(rec.step.func, values),
                              problem=rec.uncacheable_reason or "it is not cached (--no-cache)")
        return why, done

    @staticmethod
    def definite_outputs(rec: NotebookStep) -> list[str]:
        """Outputs the cell always binds (the others are bound on some paths only)."""
        return [o for o in rec.outputs if o not in rec.analysis.maybe]

    def restore_definitions(self, rec: NotebookStep) -> None:
        """Re-run the cell's imports, ``def``s and ``class``es (a cache hit skips the body),
        and delete the names its ``del`` statements delete (also when it defines nothing:
        ``del x, y`` of values an earlier cell bound)."""
        source = rec.analysis.definitions
        if source.strip():
            self._exec_definitions(rec, source)
        for name in rec.analysis.deleted:
            self.ns.pop(name, None)

    def _exec_definitions(self, rec: NotebookStep, source: str) -> None:
        """Run ``source`` (the cell's definitions) in the namespace, under the file name a
        run of the body gets (tracebacks and ``inspect`` find its lines)."""
        filename = None
        if self.code_name is not None:  # the file a run of the body gets (see magics)
            try:
                filename = self.code_name("\n" + rec.body)
            except Exception:
                filename = None
        if filename is None:
            filename = f"<flowyml-definitions-{rec.name}>"
            linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True),
                                         filename)
        exec(compile(source, filename, "exec"), self.ns)

    def changed_inputs(self, rec: NotebookStep, values: dict[str, Any],
                        digests: dict[str, str | None]) -> list[str]:
        """Names the body changed in place without assigning them: its inputs (a method
        call), found by hashing them again, and numpy arrays that share memory with an
        array it changed (``sub = x[:2]; sub[0] = 9`` changes ``x``). For the latter,
        ``values`` and ``digests`` get what they were before the body."""
        changed = []
        for param, value in values.items():
            if param in rec.outputs or digests.get(param) is None:
                continue
            if self.ns.get(param, MISSING) is not value:
                continue
            try:
                now = hash_value(value)
            except UnhashableValueError:
                continue
            self._memo[param] = (value, now, self.epoch)
            if now != digests[param]:
                changed.append(param)
        # (an output that is still the object it was given was changed in place: `A += 1`
        # on an array, `df.loc[...] = ...`)
        same = [n for n in rec.outputs if n in values and self.ns.get(n, MISSING) is values[n]]
        touched = [self.ns[n] for n in dict.fromkeys([*changed, *rec.analysis.mutated, *same])
                   if n in self.ns]
        np = sys.modules.get("numpy")
        arrays = [a for a in touched if np is not None and isinstance(a, np.ndarray)]
        for name, (producer, obj) in list(self._latest.items()) if arrays else ():
            if (name in rec.outputs or name in values or self.ns.get(name, MISSING) is not obj
                    or not isinstance(obj, np.ndarray)
                    or not any(np.may_share_memory(obj, a) for a in arrays)):
                continue
            self._changed_alias(name, producer, obj, changed, values, digests)
        for name, producer, obj in self._holders(rec, values, touched):
            self._changed_alias(name, producer, obj, changed, values, digests)
        return changed

    def _changed_alias(self, name: str, producer: str, obj: Any, changed: list[str],
                       values: dict[str, Any], digests: dict[str, str | None]) -> None:
        """``name`` (bound by an earlier step, not an input) changed through a change the body
        made to another value: an input too, with the digest it had before the body."""
        memo = self._memo.get(name)
        made = self.steps[producer].made if producer in self.steps else None
        before = memo[1] if memo is not None and memo[0] is obj else (
            made.outputs.get(name) if made is not None else None)
        try:
            now = hash_value(obj)
        except UnhashableValueError:
            # drawing state (the figure holding the axes the body drew on) is keyed by the
            # step that made it: a change through an object it holds makes it this step's
            if before is not None and not consumable(obj):
                changed.append(name)
                values[name], digests[name] = obj, before
            return
        # (a function is hashed by its code: one whose closure holds what changed is taken
        # as changed, so that it is stored with it)
        if before is not None and (now != before or isinstance(obj, types.FunctionType)):
            changed.append(name)
            values[name], digests[name] = obj, before
            self._memo[name] = (obj, now, self.epoch)

    #: how deep into another name's value a change in place is looked for
    _HOLDER_DEPTH = 8
    #: at most this many objects visited in all while looking
    _HOLDER_LIMIT = 200_000

    def _holders(self, rec: NotebookStep, values: dict[str, Any],
                 touched: list[Any]) -> list[tuple[str, str, Any]]:
        """Names bound by earlier steps (not inputs of this one) whose value is an object the
        body changed in place (``b = a``, then ``a.append(2)``), holds one, or is held by one:
        ``ensemble = [m]`` then ``m.fit()`` changes ``ensemble`` too; ``for c in all_clf:
        c.fit(...)`` changes ``pipe1``, held by ``all_clf``. Each step's outputs are stored on
        their own, so after a restart ``ensemble[0]`` would be a copy of the unfitted ``m``:
        such a name is a changed output of the step as well (stored with ``m``, in one pickle,
        so the two stay one object). Found by walking references (``gc.get_referents``,
        containers only, a bounded number of objects in all: a value too big to walk is not
        followed); only run when the body changed something in place."""
        walker = Walker(self._HOLDER_LIMIT, self._HOLDER_DEPTH)
        opaque = (*LEAVES, types.FunctionType)
        roots = [o for o in touched if not isinstance(o, opaque)]
        if not roots:
            return []
        wanted = {id(o) for o in roots}
        inside: set[int] = set()
        for root in roots:
            inside |= walker.reach(root)  # type: ignore[arg-type]
        found: list[tuple[str, str, Any]] = []
        for name, (producer, obj) in list(self._latest.items()):
            if (name in rec.outputs or name in values
                    or self.ns.get(name, MISSING) is not obj):
                continue
            if isinstance(obj, types.FunctionType):
                # a closure over it (`f = make(m)`, then `m.w = 3`): stored with it, so that
                # after a restart `f` still reads the `m` the notebook holds
                if walker.reach(obj, wanted, into_functions=True):
                    found.append((name, producer, obj))
                continue
            if isinstance(obj, opaque):
                continue
            # (another name for the very object it changed, `b = a` then `a.append(2)`, too)
            if id(obj) in inside or walker.reach(obj, wanted):
                found.append((name, producer, obj))
        return found

    def add_changed_outputs(self, rec: NotebookStep, changed: list[str]) -> NotebookStep:
        """Make inputs changed in place outputs of the step (a new version), remembering it
        for this cell so the next kernel defines the same step (and so the same key)."""
        names = [*rec.changed_in_place, *(c for c in changed if c not in rec.changed_in_place)]
        self._remember_changed(rec.name, rec.body, names)
        spec = rec.spec
        if spec.outputs is not None:  # declared outputs win: just say it
            rec.notes.append(f"changed {', '.join(changed)} in place (found by re-hashing its "
                             "inputs after the body); declare them with -o to keep the change")
            return rec
        state = (rec.made, rec.runs, rec.duration, rec.time_saved, rec.attempts)
        new = self.define(spec, rec.body, cell_id=rec.cell)
        new.made, new.runs, new.duration, new.time_saved, new.attempts = state
        new.notes.append(f"{', '.join(changed)} changed in place (found by re-hashing the "
                         f"inputs after the body): now an output of step '{new.name}'")
        return new

    def output_digests(self, rec: NotebookStep, outputs: dict[str, Any],
                        key: str | None) -> dict[str, str | None]:
        """Content digests; a value that cannot be hashed by content (a matplotlib ``Figure``)
        gets its digest from the step's key, so the step and its dependents stay cached."""
        hashes: dict[str, str | None] = {}
        for out, value in outputs.items():
            try:
                hashes[out] = hash_value(value)
            except UnhashableValueError as exc:
                if key is not None and not consumable(value):
                    hashes[out] = key_digest(key, out)
                else:
                    hashes[out] = None
                    rec.uncacheable_reason = rec.uncacheable_reason or (
                        f"output '{out}' cannot be hashed by content ({first_line(exc)})")
        return hashes

    def record_produced(self, rec: NotebookStep, values: dict[str, Any], hashes: dict[str, str | None],
                  digests: dict[str, str | None], files: dict[str, Any] | None = None) -> None:
        """Outputs into the namespace, remembered as this step's versions."""
        self.ns.update(values)
        for out, value in values.items():
            self._latest[out] = (rec.name, value)
            digest = hashes.get(out)
            if digest is not None:
                self._memo[out] = (value, digest, self.epoch)
            else:
                self._memo.pop(out, None)
        rec.made = _staleness.Provenance(self._code_now(rec), dict(digests), hashes, files)
