"""Hypothesis fuzzing of the ``%%step`` option parser and of the value hasher.

* ``parse_step_line`` accepts any text and either returns a spec or raises
  ``StepLineError`` (a ``ValueError`` with the fix) -- never anything else, never exits.
* ``hash_value``: a value and any structural copy of it (pickle round trip, deep copy,
  sets built in another order, and dicts too inside objects hashed through the
  pickle-based fallback) hash equally, in this process and in a process
  with another ``PYTHONHASHSEED``; values that differ (including in type: ``1`` vs ``1.0``
  vs ``True``, ``0.0`` vs ``-0.0``, list vs tuple, a dict's insertion order, which a loop
  over it sees) hash differently; nothing crashes.
"""

from __future__ import annotations

import copy
import json
import math
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from flowyml import Step
from flowyml.hashing import hash_value
from flowyml.notebook.cellspec import StepCellSpec, StepLineError, parse_step_line

from .conftest import script_env
from .fuzz_types import Box

FLAGS = ["-i", "--inputs", "-o", "--outputs", "--cache", "--no-cache", "--retries", "--timeout",
         "--tags", "--resources", "--pipeline", "--group", "--condition", "--description"]
TOKENS = st.one_of(
    st.sampled_from(FLAGS),
    st.sampled_from(["a,b", "x", "1", "-3", "nan", "inf", "k=v", "=", "'", '"', "\\", "--",
                     "code_hash", "false", "a b", "1 +", "x > 1", "é", "\x00"]),
    st.text(max_size=12),
)


def _check_line(line: str) -> None:
    try:
        spec = parse_step_line(line)
    except StepLineError as exc:
        assert str(exc).startswith("%%step")
        return
    assert isinstance(spec, StepCellSpec)
    assert spec.retries >= 0
    assert spec.timeout is None or spec.timeout > 0
    assert spec.name is None or spec.name.isidentifier()


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=80))
def test_parse_step_line_never_crashes_on_text(line):
    _check_line(line)


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(TOKENS, max_size=8))
def test_parse_step_line_never_crashes_on_option_soup(tokens):
    _check_line(" ".join(tokens))


# -- hash_value -------------------------------------------------------------------------------

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
    st.binary(max_size=20), st.complex_numbers(allow_nan=False),
)
KEYS = st.one_of(st.text(max_size=8), st.integers(), st.floats(allow_nan=True),
                 st.tuples(st.integers(), st.text(max_size=3)), st.frozensets(st.integers(), max_size=3))
ARRAYS = hnp.arrays(st.sampled_from([np.int64, np.float32, np.uint8, np.bool_]),
                    hnp.array_shapes(max_dims=2, max_side=4))
VALUES = st.recursive(
    st.one_of(SCALARS, ARRAYS),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.tuples(inner, inner),
        st.dictionaries(KEYS, inner, max_size=4),
        st.frozensets(st.one_of(st.integers(), st.text(max_size=5)), max_size=4),
        st.sets(st.one_of(st.integers(), st.text(max_size=5)), max_size=4),
        st.builds(Box, inner),  # any other object: the pickle-based fallback
    ),
    max_leaves=12,
)


def _rebuilt(value, reorder_dicts=False):
    """An equal value built differently: sets re-inserted in reverse order, and dicts too
    inside a Box (hashed through the pickle-based fallback, which ignores their order)."""
    if isinstance(value, dict):
        pairs = list(value.items())
        return {k: _rebuilt(v, reorder_dicts) for k, v in (reversed(pairs) if reorder_dicts else pairs)}
    if isinstance(value, list | tuple):
        return type(value)(_rebuilt(v, reorder_dicts) for v in value)
    if isinstance(value, set | frozenset):
        return type(value)(reversed(list(value)))
    if isinstance(value, np.ndarray):
        return np.array(value, copy=True, order="F")
    if isinstance(value, Box):
        return Box(_rebuilt(value.content, True))  # same content, other memory layout
    return value


def _same(a, b) -> bool:
    """Equality that also tells types, NaN, -0.0 and array dtypes apart."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, complex):
        return _same(a.real, b.real) and _same(a.imag, b.imag)
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        for k, v in a.items():
            match = [kb for kb in b if _same(k, kb)]
            if len(match) != 1 or not _same(v, b[match[0]]):
                return False
        return True
    if isinstance(a, set | frozenset):
        return len(a) == len(b) and all(any(_same(x, y) for y in b) for x in a)
    if isinstance(a, Box):
        return _same(a.content, b.content)
    return a == b


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
def test_equal_values_hash_equally(value):
    digest = hash_value(value)
    assert hash_value(pickle.loads(pickle.dumps(value))) == digest
    assert hash_value(copy.deepcopy(value)) == digest
    assert hash_value(_rebuilt(value)) == digest


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES, VALUES)
def test_different_values_hash_differently(a, b):
    assume(not _same(a, b))
    assert hash_value(a) != hash_value(b)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.one_of(st.integers(), st.text(max_size=5)), VALUES, min_size=2, max_size=6))
def test_a_reordered_dict_hashes_differently(value):
    reordered = dict(reversed(list(value.items())))
    assert hash_value(reordered) != hash_value(value)
    assert hash_value(dict(reversed(list(reordered.items())))) == hash_value(value)


def test_type_and_sign_are_part_of_the_hash():
    distinct = [1, 1.0, True, "1", b"1", [1], (1,), {1}, frozenset({1}), 0.0, -0.0, None, np.int64(1),
                np.array([1]), np.array([1.0]), np.array([[1]]), {"a": 1}, {"a": 1.0}]
    assert len({hash_value(v) for v in distinct}) == len(distinct)


#: values whose naive hashing depends on PYTHONHASHSEED (string hashing decides set order)
SEED_SENSITIVE = [
    {"alpha", "beta", "gamma", "delta", "epsilon"},
    frozenset({"alpha", "beta", "gamma", "delta"}),
    {frozenset({"a", "b"}): 1, frozenset({"c", "d"}): 2},
    Box(frozenset({"alpha", "beta", "gamma", "delta"})),
    Box({"mixed": {1, "a", "b", 2.5}, 3: "int key", ("t", 1): {"x", "y", "z"}}),
    Box({frozenset({"p", "q"}): Box({"r", "s", "t"})}),
]


@settings(max_examples=3, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(VALUES, min_size=40, max_size=40))
def test_hashes_are_stable_across_processes_and_hash_seeds(values):
    values = values + SEED_SENSITIVE
    payload = pickle.dumps(values)
    mine = [hash_value(v) for v in values]
    code = ("import pickle, sys, json, numpy; from flowyml.hashing import hash_value; "
            "vals = pickle.loads(sys.stdin.buffer.read()); "
            "print(json.dumps([hash_value(v) for v in vals]))")
    for seed in ("1", "4242"):
        out = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True,
                             env=script_env(PYTHONHASHSEED=seed), check=True, timeout=60)
        assert json.loads(out.stdout) == mine


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--retries -1", "--retries must be >= 0"),
        ("--retries x", "invalid int value"),
        ("--timeout 0", "--timeout must be"),
        ("--timeout nan", "--timeout must be"),
        ("--timeout inf", "--timeout must be"),
        ("--cache maybe", "invalid choice"),
        ("--cache code_hash --no-cache", "contradict"),
        ("'unclosed", "cannot parse options"),
        ("bad-name", "not a Python identifier"),
        ("-o a,a", "lists a name twice"),
        ("-i 'a b'", "Python identifiers"),
        ("--tags novalue", "key=value"),
        ("--condition 'x >'", "not an expression"),
        ("--unknown 1", "unrecognized arguments"),
    ],
)
def test_malformed_step_lines_name_the_problem(line, message):
    with pytest.raises(StepLineError, match=re.escape(message)):
        parse_step_line(line)


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), 0, -1])
def test_step_refuses_a_timeout_that_cannot_be_enforced(timeout):
    with pytest.raises(ValueError, match="timeout must be a positive"):
        Step(lambda: 1, name="t", timeout=timeout)
