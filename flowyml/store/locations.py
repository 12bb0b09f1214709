"""Where the cache lives: a path or any fsspec URL, opened by one factory, :func:`open_store`.

``open_store(location, storage_options=None, secret=None, trust=False)`` is what every caller
uses (``Pipeline``, the notebook session, the CLI, the magics): a plain path or a
``file://`` URL opens the local :class:`flowyml.store.local.CacheStore`; any other URL
(``s3://``, ``gs://``, ``az://``, ``memory://``, ...) opens a
:class:`flowyml.store.remote.RemoteStore`. A URL is never turned into a local folder.

Storage options come from fsspec's own configuration (``FSSPEC_S3_ENDPOINT_URL``,
``FSSPEC_S3='{"key": ...}'``, fsspec's config files: ``fsspec.config.conf``) merged with
``storage_options=`` (which win). Messages never show credentials: :func:`scrub` removes
URL user-info and every secret-looking option value from any text shown to the user.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flowyml.store.urls import (
    is_remote,
    local_path,
)


def default_location() -> str | Path:
    """``FLOWYML_CACHE_DIR`` (a path or URL), else ``.flowyml/cache`` next to the script."""
    env = os.environ.get("FLOWYML_CACHE_DIR")
    if env and is_remote(env):
        return env
    from flowyml.store.local import default_cache_dir

    return default_cache_dir()


_resolved: dict[tuple[str, str, str | None], str] = {}


def location_key(location: Any) -> str:
    """A stable identity of a location (a resolved path, or the URL without a trailing /).

    Asked several times per step: a resolved path is remembered for the working directory
    and ``FLOWYML_CACHE_DIR`` it was resolved under (resolving costs ~0.1 ms of syscalls)."""
    if isinstance(location, (str, os.PathLike)) or location is None:
        memo = (os.fspath(location) if location is not None else "", os.getcwd(),
                os.environ.get("FLOWYML_CACHE_DIR"))
        found = _resolved.get(memo)
        if found is None:
            found = _resolved[memo] = _location_key(location)
            if len(_resolved) > 256:
                _resolved.clear()
        return found
    return _location_key(location)


def _location_key(location: Any) -> str:
    if location is None:
        location = default_location()
    if is_remote(location):
        return str(location).rstrip("/")
    return str(local_path(location).resolve())


def notes_base(location: Any) -> Path:
    """Where small per-step hints are kept: the local cache directory, or for a remote store
    a folder of this machine's local copy (a URL is never a local folder)."""
    if is_remote(str(location)):
        import xxhash

        from flowyml.store.local_copy import default_dir

        return default_dir() / "notes" / xxhash.xxh3_64_hexdigest(location_key(str(location)).encode())
    return local_path(location)


# ---------------------------------------------------------------------------------------------
# Messages without credentials
# ---------------------------------------------------------------------------------------------


def open_store(
    location: Any = None,
    storage_options: dict[str, Any] | None = None,
    secret: Any = None,
    trust: bool = False,
    *,
    signing_key: Any = None,
    trusted_signers: Any = None,
    verify: str | None = None,
) -> Any:
    """The cache store at ``location`` (a path, a URL, or ``None`` for the default).

    A store object passed in is returned as it is. Local stores are
    :class:`flowyml.store.local.CacheStore`; remote ones :class:`flowyml.store.remote.RemoteStore`.
    ``secret`` (else ``FLOWYML_CACHE_SECRET``) signs and checks every entry; ``trust`` is
    ``trust_cache_dir`` for a local directory owned by someone else. ``signing_key``,
    ``trusted_signers`` and ``verify`` (else ``FLOWYML_CACHE_SIGNING_KEY``,
    ``FLOWYML_CACHE_TRUSTED_SIGNERS``, ``FLOWYML_CACHE_VERIFY``) are publisher keys: see
    :mod:`flowyml.store.signing_keys` (a URL verifies signers by default).
    """
    keys = {"signing_key": signing_key, "trusted_signers": trusted_signers, "verify": verify}
    if hasattr(location, "lookup") and hasattr(location, "store"):
        return location
    if location is None:
        location = default_location()
    if isinstance(location, str) and is_remote(location):
        from flowyml.store.remote import RemoteStore

        return RemoteStore(location, storage_options=storage_options, secret=secret, **keys)
    from flowyml.store.local import CacheStore

    return CacheStore(local_path(location), trust_cache_dir=trust, secret=secret, **keys)


def set_session_location(session: Any, location: str | None) -> str:
    """``%flowyml cache dir [LOCATION]``: check and switch the notebook's cache (or, without
    a location, say where it is). Raises :class:`CacheUnavailableError` and changes nothing
    when the new location cannot be used."""
    if location:
        store = open_store(location, session.storage_options, session.cache_secret,
                           trusted_signers=session.trusted_signers or None)
        if is_remote(location):
            store.check_safety()
        session.cache_dir = location
    return str(session.store.root)
