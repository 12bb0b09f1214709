"""Which notebook steps are stale, and why -- pure functions over fingerprints.

A step's outputs were made from a :class:`Provenance`: its code fingerprint, the digest of
each input value it received, and the digests of the outputs it produced. Comparing that
with the fingerprints *now* tells whether the outputs are still what running the step would
give, and if not, which code, which input or which upstream step changed. Nothing here
hashes a value or touches a namespace; callers pass digests in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: verdict states
FRESH, STALE, NEVER_RUN = "fresh", "stale", "never_run"


@dataclass(frozen=True)
class Provenance:
    """What a step's current outputs were made from."""

    code: str | None
    inputs: Mapping[str, str | None]
    outputs: Mapping[str, str | None]
    #: the record of the files it read and wrote (flowyml.tracking.files), if any
    files: Mapping[str, object] | None = None


@dataclass(frozen=True)
class Reason:
    """One cause of staleness: ``kind`` is never_run, code, input, file, upstream or
    upstream_stale."""

    kind: str
    name: str | None
    message: str


@dataclass(frozen=True)
class Verdict:
    """Whether a step's outputs are up to date (``fresh``), ``stale`` or ``never_run``."""

    step: str
    state: str
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    @property
    def why(self) -> str:
        return "; ".join(r.message for r in self.reasons)


def assess(
    order: Sequence[str],
    made: Mapping[str, Provenance | None],
    code_now: Mapping[str, str | None],
    inputs_now: Mapping[str, Mapping[str, str | None]],
    producers: Mapping[str, Mapping[str, str]],
    files_now: Mapping[str, str | None] | None = None,
    *,
    known: Mapping[str, Verdict] | None = None,
) -> dict[str, Verdict]:
    """Verdicts for the steps in ``order`` (a topological order).

    ``made[step]`` is the provenance of its outputs (``None``: never produced them);
    ``code_now[step]`` its code fingerprint now; ``inputs_now[step][param]`` the digest of
    the value the parameter would receive now (``None``: missing or unhashable);
    ``producers[step][param]`` the step whose output that parameter receives (a notebook
    name may be produced by several steps; each reader has its own producer);
    ``files_now[step]`` why a file the step read no longer matches (``None``: it does).
    ``known`` are verdicts of steps outside ``order`` (upstream of it), to assess a few
    steps without the whole notebook; they are not part of the result.
    """
    verdicts: dict[str, Verdict] = dict(known or {})
    for name in order:
        prov = made.get(name)
        params = inputs_now.get(name, {})
        mine = producers.get(name, {})
        upstream = _upstream_reasons(name, params, mine, verdicts)
        if prov is None:
            reasons = (Reason(NEVER_RUN, None, "never run"), *upstream)
            verdicts[name] = Verdict(name, NEVER_RUN, reasons)
            continue
        reasons_list: list[Reason] = []
        if code_now.get(name) != prov.code:
            reasons_list.append(Reason(
                "code", None, "code changed (the cell, or a helper function/class it uses, "
                "was edited)"))
        for param, now in params.items():
            reasons_list.extend(_input_reasons(param, now, prov, mine, made, name))
        changed_file = (files_now or {}).get(name)
        if changed_file:
            reasons_list.append(Reason("file", None, changed_file))
        reasons_list.extend(upstream)
        state = STALE if reasons_list else FRESH
        verdicts[name] = Verdict(name, state, tuple(reasons_list))
    return {name: verdicts[name] for name in order} if known else verdicts


def _input_reasons(param: str, now: str | None, prov: Provenance, producers: Mapping[str, str],
                   made: Mapping[str, Provenance | None], step: str) -> list[Reason]:
    then = prov.inputs.get(param)
    if param not in prov.inputs:
        return [Reason("input", param, f"new input '{param}'")]
    if now == then:
        return []
    if now is None:
        return [Reason("input", param, f"input '{param}' is no longer defined")]
    producer = producers.get(param)
    if producer is None or producer == step:
        return [Reason("input", param, f"input '{param}' changed")]
    up = made.get(producer)
    if up is not None and up.outputs.get(param) == now:
        return [Reason("upstream", producer,
                       f"upstream step '{producer}' produced a different '{param}'")]
    return [Reason("input", param,
                   f"'{param}' was changed outside its step '{producer}'")]


def _upstream_reasons(name: str, params: Mapping[str, str | None], producers: Mapping[str, str],
                      verdicts: Mapping[str, Verdict]) -> list[Reason]:
    reasons = []
    seen: set[str] = set()
    for param in params:
        producer = producers.get(param)
        if producer is None or producer == name or producer in seen:
            continue
        seen.add(producer)
        verdict = verdicts.get(producer)
        if verdict is not None and verdict.state != FRESH:
            what = "is stale" if verdict.state == STALE else "has not run"
            reasons.append(Reason("upstream_stale", producer, f"upstream step '{producer}' {what}"))
    return reasons


def stale_closure(verdicts: Mapping[str, Verdict]) -> list[str]:
    """Steps whose outputs need (re)making, in the verdicts' order."""
    return [name for name, v in verdicts.items() if v.state != FRESH]
