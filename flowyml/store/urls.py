"""Cache locations as text: which are URLs, their protocol, the local path of a plain path or
``file://`` URL, storage options, and messages that never show credentials (:func:`scrub`).
No store is opened here (that is :mod:`flowyml.store.locations`)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

#: connect/read timeouts and retries for S3 when the configuration gives none, so that an
#: unreachable endpoint is a message within seconds, not minutes of retries
S3_DEFAULT_CONFIG = {"connect_timeout": 5, "read_timeout": 60,
                     "retries": {"max_attempts": 3, "mode": "standard"}}
#: how long the reachability check of a remote store may take, at most (seconds)
CHECK_TIMEOUT = float(os.environ.get("FLOWYML_CACHE_CHECK_TIMEOUT", "10"))

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_SECRET_KEYS = re.compile(r"key|secret|token|pass|credential|sas|signature|auth|connection",
                          re.IGNORECASE)
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID",
               "AZURE_STORAGE_KEY", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_SAS_TOKEN",
               "AZURE_CLIENT_SECRET", "GOOGLE_APPLICATION_CREDENTIALS", "FLOWYML_CACHE_SECRET",
               "FLOWYML_CACHE_SIGNING_KEY")


class CacheUnavailableError(ConnectionError):
    """The cache location cannot be reached or used (one line: where, why, what to check)."""


# ---------------------------------------------------------------------------------------------
# Locations
# ---------------------------------------------------------------------------------------------


def protocol_of(location: Any) -> str | None:
    """The URL scheme of ``location`` (``"s3"``), ``None`` for a plain path."""
    if isinstance(location, str):
        found = _URL.match(location)
        if found:
            return found.group(1).lower()
    return None


def is_remote(location: Any) -> bool:
    """Whether ``location`` is a URL other than ``file://`` (a store opened through fsspec)."""
    proto = protocol_of(location)
    return proto is not None and proto not in ("file", "local")


def local_path(location: str | os.PathLike[str]) -> Path:
    """The local path of a plain path or ``file://`` URL; refuses any other URL.

    Refusing is the point: ``Path("s3://bucket/x")`` would quietly be the folder ``s3:/bucket/x``.
    """
    if is_remote(location):
        raise ValueError(
            f"{redact(str(location))} is a URL, not a local directory; open it with "
            "flowyml.open_store(...) (Pipeline(cache_dir=...) does) instead of CacheStore")
    if protocol_of(location) in ("file", "local"):
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(str(location))
        return Path(unquote(parts.netloc + parts.path) or "/").expanduser()
    return Path(location).expanduser()


def redact(url: str) -> str:
    """``url`` without user-info (``s3://KEY:SECRET@bucket`` -> ``s3://***@bucket``) or
    secret-looking query parameters (``?sig=...``)."""
    url = re.sub(r"^([A-Za-z][A-Za-z0-9+.\-]*://)[^/@]*@", r"\1***@", url)
    return re.sub(r"([?&][^=&]*(?:sig|key|token|secret|pass)[^=&]*=)[^&]*", r"\1***", url,
                  flags=re.IGNORECASE)


def userinfo(url: str) -> str | None:
    """The ``user:password`` part of a URL, if any (never to be shown)."""
    found = re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://([^/@]*)@", url)
    return found.group(1) if found else None


def secrets_in(options: Any) -> set[str]:
    """Every value in ``options`` (nested) under a secret-looking key, plus the secret
    environment variables' values: what :func:`scrub` removes from messages."""
    found: set[str] = set()

    def walk(value: Any, sensitive: bool) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, sensitive or bool(_SECRET_KEYS.search(str(k))))
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v, sensitive)
        elif sensitive and isinstance(value, str | bytes) and len(value) >= 3:
            found.add(value.decode(errors="replace") if isinstance(value, bytes) else value)

    walk(options or {}, False)
    for name in _SECRET_ENV:
        value = os.environ.get(name)
        if value and len(value) >= 3:
            found.add(value)
    return found


def scrub(text: str, options: Any = None) -> str:
    """``text`` with URL user-info and every known secret value replaced by ``***``."""
    text = re.sub(r"([A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s'\"]*@", r"\1***@", text)
    for secret in sorted(secrets_in(options), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def short_error(exc: BaseException, options: Any = None) -> str:
    """One line saying what went wrong (the root cause, not a chain), without credentials."""
    seen = set()
    while True:  # the innermost cause says it best ("Connection refused")
        nxt = exc.__cause__ or exc.__context__
        if nxt is None or id(nxt) in seen or not str(nxt):
            break
        seen.add(id(nxt))
        exc = nxt
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > 240:
        text = text[:237] + "..."
    return scrub(f"{type(exc).__name__}: {text}", options)


# ---------------------------------------------------------------------------------------------
# Storage options and the factory
# ---------------------------------------------------------------------------------------------


def storage_options_for(protocol: str, storage_options: dict[str, Any] | None) -> dict[str, Any]:
    """fsspec's configuration for ``protocol`` merged with ``storage_options`` (which win),
    plus short timeouts for S3 unless configured (nested ``config_kwargs`` merged too)."""
    import fsspec.config

    merged: dict[str, Any] = dict(fsspec.config.conf.get(protocol, {}))
    user = dict(storage_options or {})
    if protocol in ("s3", "s3a"):
        config = {**S3_DEFAULT_CONFIG, **dict(merged.get("config_kwargs") or {}),
                  **dict(user.get("config_kwargs") or {})}
        user["config_kwargs"] = config
    merged.update(user)
    return merged
