"""Cache keys: what makes a step's result the same result, with no I/O.

A key is ``<step>:<xxh3-128 of the key parts>``: the step name, the code fingerprint and the
content digest of every value the step receives (:func:`make_key`). The parts are stored,
decodable, next to each entry (:func:`key_parts`), so ``why`` can say what differs. Also
here: the names outputs are stored under, and the digest of an output that has no content
hash (derived from its producer's key).
"""

from __future__ import annotations

import functools
import json
from typing import Any

import xxhash

from flowyml.hashing import FINGERPRINT_VERSION

KEY_VERSION = 1




def make_key(step_name: str, code: str | None, params: dict[str, str]) -> str:
    """A content-addressed key: step name + code fingerprint + each received value's digest.

    It is ``key_from_parts(step_name, key_parts(...))``, built in a few microseconds: that
    serialises the whole parts with ``json.dumps(sort_keys=True)`` (~13 us, once per step of
    every run); here the constant text around the parameters is made once per step and code
    version, and only the parameters' digests are escaped and joined. The result is the
    same string, byte for byte (checked once per process, and by the tests); should it ever
    differ, the parts are serialised as they are.
    """
    if _framed_keys_agree():
        try:
            return _framed_key(step_name, code, params)
        except TypeError:  # a digest that is not a string: the parts say what it makes
            pass
    return key_from_parts(step_name, key_parts(step_name, code, params))


_ESCAPE = json.encoder.encode_basestring_ascii  # what json.dumps(ensure_ascii=True) uses
_SENTINEL = "\0flowyml-params\0"


@functools.lru_cache(maxsize=65536)
def _key_frame(step_name: str, code: str | None) -> tuple[str, str, str]:
    """``(key prefix, JSON before the params, JSON after them)`` of one step's key, cut out
    of :func:`key_parts` itself serialised around a sentinel parameter."""
    text = json.dumps(key_parts(step_name, code, {_SENTINEL: _SENTINEL}), sort_keys=True)
    sentinel = f"{_ESCAPE(_SENTINEL)}: {_ESCAPE(_SENTINEL)}"
    head, found, tail = text.partition(sentinel)
    if not found:
        raise ValueError("key_parts no longer holds the params as given")
    return custom_key(step_name, ""), head, tail


def _framed_key(step_name: str, code: str | None, params: dict[str, str]) -> str:
    prefix, head, tail = _key_frame(step_name, code)
    body = ", ".join([f"{_ESCAPE(k)}: {_ESCAPE(v)}" for k, v in sorted(params.items())])
    return prefix + xxhash.xxh3_128_hexdigest(f"{head}{body}{tail}".encode())


@functools.cache
def _framed_keys_agree() -> bool:
    """Whether :func:`_framed_key` matches the serialised parts on awkward names and values."""
    samples = [("s", None, {}), ("a:b%c/\u00e9\"", "0" * 32, {"x": "1" * 32, "\u00fc\n": "key:2"}),
               ("t", "c", {"b": "2", "a": "1", "ab": "3"})]
    try:
        return all(_framed_key(*s) == key_from_parts(s[0], key_parts(*s)) for s in samples)
    except Exception:  # key_parts changed shape: the frame cannot be cut out of it
        return False


def key_from_parts(step_name: str, parts: dict[str, Any]) -> str:
    """The key for already-built :func:`key_parts`."""
    digest = xxhash.xxh3_128_hexdigest(json.dumps(parts, sort_keys=True).encode())
    return f"{_quote_step(step_name)}:{digest}"


def key_parts(step_name: str, code: str | None, params: dict[str, str]) -> dict[str, Any]:
    """The decodable form of a key, stored next to each entry."""
    return {
        "key_version": KEY_VERSION,
        "fingerprint_version": FINGERPRINT_VERSION,
        "step": step_name,
        "code": code,
        "params": dict(sorted(params.items())),
    }


def variant_key(key: str, ambient: str) -> str:
    """The key of ``key``'s entry made under other ambient settings (``ambient``: their
    digest, :func:`flowyml.tracking.state.ambient_variant`): the same cell run under two
    matplotlib styles keeps an entry for each instead of replacing one with the other."""
    step, _, digest = key.rpartition(":")
    return f"{step}:{xxhash.xxh3_128_hexdigest(f'{digest}|ambient|{ambient}'.encode())}"


def custom_key(step_name: str, user_key: str) -> str:
    """The key of a step whose ``cache`` is a callable returning ``user_key``."""
    return f"{_quote_step(step_name)}:{user_key}"


def _quote_step(step_name: str) -> str:
    # a key is "<step>:<rest>"; a ':' in the step name must not end the step part
    return step_name.replace("%", "%25").replace(":", "%3A")


def step_of_key(key: str) -> str:
    """The step name a key belongs to."""
    return key.partition(":")[0].replace("%3A", ":").replace("%25", "%")


def stored_name(output: str) -> str:
    """The name an output is stored under: a notebook version (``df@2``) is stored as the
    variable (``df``), so renumbered versions still find their entries (the notebook stores
    the same way)."""
    return output.split("@", 1)[0] if "@" in output else output


def key_digest(key: str, output: str) -> str:
    """The digest of an output that cannot be hashed by content (a matplotlib ``Figure``):
    derived from the key of the step that made it, so it and its dependents stay cached."""
    return "key:" + xxhash.xxh3_128_hexdigest(f"{key}\0{stored_name(output)}".encode())
