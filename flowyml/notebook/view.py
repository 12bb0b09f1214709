"""The notebook's steps as a pipeline: versioned graph, staleness, status rows, ``%flowyml run``.

:class:`PipelineView` is mixed into :class:`flowyml.notebook.session.NotebookSession`: it sees the
steps with each input and output named by its version (``df``, ``df@2``), as a
:class:`flowyml.Pipeline` does, and answers what is stale and why.
"""

from __future__ import annotations

from typing import Any

from flowyml.core.step import Step
from flowyml.hashing import UnhashableValueError
from flowyml.notebook import staleness as _staleness
from flowyml.notebook.stepcells import PRODUCED, NotebookStep, RunReport, StepStatus
from flowyml.tracking import files as _files


class PipelineView:
    """Graph, staleness and runs over ``self.steps`` (see :class:`NotebookSession`)."""

    steps: dict[str, NotebookStep]
    ns: dict[str, Any]
    # and, from the session: wiring(), resolve_input(), value_of(), store, record_produced()

    def versioned_steps(self, names: list[str] | None = None) -> list[Step]:
        """The steps with each input and output named by its version (``df``, ``df@2``), as
        the pipeline graph, the DAG and ``%flowyml run`` see them."""
        wiring = self.wiring()
        out = []
        for rec in sorted(self.steps.values(), key=lambda r: r.position):
            if names is not None and rec.name not in names:
                continue
            s = rec.step
            copy = Step(s.func, name=s.name, inputs=wiring.inputs[rec.name],
                        outputs=wiring.outputs[rec.name], cache=s.cache, retry=s.retry,
                        timeout=s.timeout, resources=s.resources, tags=s.tags,
                        condition=s.condition, execution_group=s.execution_group,
                        description=s.description, files=s.files, track_files=s.track_files)
            copy.origin = s.origin
            copy.get_code_hash = s.get_code_hash  # type: ignore[method-assign]
            out.append(copy)
        return out

    def order(self) -> list[str]:
        """The notebook steps in DAG order (cell order where the graph is broken)."""
        from flowyml import graph as _graph

        try:
            return _graph.topological_order(self.graph())
        except _graph.PipelineGraphError:
            return [r.name for r in sorted(self.steps.values(), key=lambda r: r.position)]

    def graph(self) -> Any:
        """The networkx DAG of the notebook steps, edges named by version (DAG widget)."""
        from flowyml import graph as _graph

        wiring = self.wiring()
        available = {a for arts in wiring.inputs.values() for a in arts}
        return _graph.build_dag(self.versioned_steps(), available=available)

    def _param_digests(self, rec: NotebookStep) -> dict[str, str | None]:
        """The digest of each parameter's current value (``None``: missing or unhashable)."""
        digests: dict[str, str | None] = {}
        for param in rec.params:
            try:
                digests[param] = self.resolve_input(rec, param, load=False)[1]
            except KeyError:
                digests[param] = None
        return digests

    def _code_now(self, rec: NotebookStep) -> str | None:
        try:
            return rec.step.get_code_hash()
        except Exception:
            return None

    def verdicts(self) -> dict[str, _staleness.Verdict]:
        """Fresh / stale / never-run, with reasons, for every step in DAG order."""
        order = self.order()
        made, code_now, inputs_now, files_now = {}, {}, {}, {}
        for name in order:
            rec = self.steps[name]
            made[name] = rec.made
            code_now[name] = self._code_now(rec)
            inputs_now[name] = self._param_digests(rec)
            if rec.made is not None and rec.made.files:
                files_now[name] = _files.stale_reason(
                    rec.made.files, outputs=False,
                    recorded=rec.step.track_files and _files.enabled_by_env())
        return _staleness.assess(order, made, code_now, inputs_now, self.wiring().producers,
                                 files_now)

    def verdict_of(self, name: str, known: dict[str, _staleness.Verdict]) -> _staleness.Verdict:
        """Step ``name``'s verdict now, given the verdicts ``known`` of the steps above it
        (reactive mode re-checks one step at a time without assessing the whole notebook)."""
        rec = self.steps[name]
        return _staleness.assess([name], {name: rec.made}, {name: self._code_now(rec)},
                                 {name: self._param_digests(rec)}, self.wiring().producers,
                                 known=known)[name]

    def status(self) -> list[StepStatus]:
        """One row per step: its state (done, cached, stale, failed, pending...) and why."""
        rows = []
        wiring = self.wiring()
        for name, verdict in self.verdicts().items():
            rec = self.steps[name]
            if verdict.state == _staleness.STALE:
                state = "stale"
            elif verdict.state == _staleness.NEVER_RUN:
                state = rec.state if rec.state not in PRODUCED else "pending"
            else:
                state = rec.state
            why = verdict.why if verdict.state != _staleness.FRESH else ""
            if rec.error and state not in PRODUCED:
                why = f"{why}; {rec.error}" if why else rec.error
            extra = [n for n in (rec.not_stored and f"not stored: {rec.not_stored}",
                                 rec.replay_note, *rec.notes) if n]
            if state in PRODUCED and extra:
                why = "; ".join([why, *extra]) if why else "; ".join(extra)
            rows.append(StepStatus(name, state, why, rec.duration, rec.time_saved, rec.error,
                                   makes=", ".join(wiring.outputs.get(name, []))))
        return rows

    # -- %flowyml run ----------------------------------------------------------------------
    def run_stale(self, targets: list[str] | None = None, executor: Any = None,
                  max_workers: int | None = None, listeners: tuple[Any, ...] = ()) -> RunReport:
        """Run the stale and never-run steps (those ``targets`` need, or all) in DAG order
        through a :class:`flowyml.Pipeline`; fresh steps are not touched."""
        from flowyml import graph as _graph
        from flowyml.core.pipeline import Pipeline

        verdicts = self.verdicts()
        wanted = set(verdicts)
        if targets:
            unknown = [t for t in targets if t not in self.steps]
            if unknown:
                raise KeyError(f"no notebook step named {unknown}; steps: {sorted(self.steps)}")
            wanted = set(targets) | _graph.ancestors(self.graph(), targets)
        to_run = [n for n, v in verdicts.items() if n in wanted and v.state != _staleness.FRESH]
        report = RunReport(fresh=[n for n in verdicts if n in wanted and n not in to_run])
        if not to_run:
            return report
        wiring = self.wiring()
        produced_here = {a for n in to_run for a in wiring.outputs[n]}
        ctx: dict[str, Any] = {}
        for name in to_run:
            rec = self.steps[name]
            for param, art in zip(rec.params, wiring.inputs[name], strict=True):
                if art not in produced_here and art not in ctx:
                    ctx[art] = self.value_of(rec, param)
            for param in rec.step.condition_params:
                if param not in produced_here and param not in ctx:
                    try:
                        ctx[param] = self.value_of(rec, param)
                    except KeyError:
                        if param in self.ns:
                            ctx[param] = self.ns[param]
        pipe = Pipeline("notebook", context=ctx, cache_dir=self.store)  # the session's own store
        pipe.add_steps(self.versioned_steps(to_run))
        result = pipe.run(executor=executor, max_workers=max_workers, listeners=listeners)
        report.result = result
        finished = sorted(result.step_results.items(), key=lambda kv: self.steps[kv[0]].position)
        for name, res in finished:
            rec = self.steps[name]
            rec.state, rec.duration, rec.attempts = res.state, res.duration_seconds, res.attempts
            rec.error, rec.time_saved, rec.cache_key = res.error, res.time_saved, res.cache_key
            if res.state == "done":
                rec.runs += 1
                report.ran.append(name)
            elif res.state == "cached":
                report.cached.append(name)
            elif res.state == "skipped":
                report.skipped.append(name)
            else:
                report.failed.append(name)
            if not res.artifacts or res.state not in PRODUCED:
                continue
            arts = dict(zip(rec.outputs, wiring.outputs[name], strict=True))
            values = {o: res.artifacts[a].value for o, a in arts.items() if a in res.artifacts}
            hashes: dict[str, str | None] = {}
            for out, art in arts.items():
                try:
                    hashes[out] = res.artifacts[art].hash
                except (UnhashableValueError, KeyError):
                    hashes[out] = None
            self.record_produced(rec, values, hashes, self._param_digests(rec), files=res.files)
        return report
