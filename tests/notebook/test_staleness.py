"""flowyml.notebook.staleness.assess as a table of cases (pure: digests in, verdicts out)."""

from __future__ import annotations

import pytest

from flowyml.notebook.staleness import FRESH, NEVER_RUN, STALE, Provenance, assess

ORDER = ["load", "clean", "report"]
PRODUCERS = {"raw": "load", "tidy": "clean", "text": "report"}
MADE = {
    "load": Provenance("c-load", {"n": "n1"}, {"raw": "r1"}),
    "clean": Provenance("c-clean", {"raw": "r1"}, {"tidy": "t1"}),
    "report": Provenance("c-report", {"tidy": "t1"}, {"text": "x1"}),
}
CODE = {"load": "c-load", "clean": "c-clean", "report": "c-report"}
INPUTS = {"load": {"n": "n1"}, "clean": {"raw": "r1"}, "report": {"tidy": "t1"}}


def _assess(made=None, code=None, inputs=None):
    verdicts = assess(ORDER, {**MADE, **(made or {})}, {**CODE, **(code or {})},
                      {**INPUTS, **(inputs or {})}, dict.fromkeys(ORDER, PRODUCERS))
    return {n: (v.state, v.why) for n, v in verdicts.items()}


CASES = [
    ("all fresh", {}, {}, {}, {"load": FRESH, "clean": FRESH, "report": FRESH},
     {}),
    ("code edit", {}, {"clean": "c-clean2"}, {}, {"load": FRESH, "clean": STALE, "report": STALE},
     {"clean": "code changed", "report": "upstream step 'clean' is stale"}),
    ("input change", {}, {}, {"load": {"n": "n2"}},
     {"load": STALE, "clean": STALE, "report": STALE},
     {"load": "input 'n' changed", "clean": "upstream step 'load' is stale"}),
    ("upstream re-ran with a new result",
     {"load": Provenance("c-load", {"n": "n1"}, {"raw": "r2"})}, {}, {"clean": {"raw": "r2"}},
     {"load": FRESH, "clean": STALE, "report": STALE},
     {"clean": "upstream step 'load' produced a different 'raw'"}),
    ("value overwritten outside its step", {}, {}, {"clean": {"raw": "r9"}},
     {"load": FRESH, "clean": STALE, "report": STALE},
     {"clean": "'raw' was changed outside its step 'load'"}),
    ("never run", {"clean": None}, {}, {},
     {"load": FRESH, "clean": NEVER_RUN, "report": STALE},
     {"clean": "never run", "report": "upstream step 'clean' has not run"}),
    ("input gone", {}, {}, {"load": {"n": None}}, {"load": STALE, "clean": STALE, "report": STALE},
     {"load": "input 'n' is no longer defined"}),
    ("new input", {}, {}, {"load": {"n": "n1", "m": "m1"}},
     {"load": STALE, "clean": STALE, "report": STALE}, {"load": "new input 'm'"}),
]


@pytest.mark.parametrize("made, code, inputs, states, whys",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_assess(made, code, inputs, states, whys):
    verdicts = _assess(made, code, inputs)
    assert {n: v[0] for n, v in verdicts.items()} == states
    for name, fragment in whys.items():
        assert fragment in verdicts[name][1]
    for name, state in states.items():
        assert (verdicts[name][1] == "") == (state == FRESH)
