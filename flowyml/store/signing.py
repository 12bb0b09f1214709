"""Signed cache entries: an HMAC-SHA256, keyed by a team secret, over an entry's metadata.

With ``FLOWYML_CACHE_SECRET`` (or ``cache_secret=``) set, every entry a store writes carries
``meta["sha256"]`` (SHA-256 of the output data), ``meta["replay"]["sha256"]`` (of what a
notebook cell showed) and ``meta["signature"]``: an HMAC-SHA256 over all of the metadata
(format, key, decoded key parts, output digests, sizes, both checksums, notes, ...). A store
with a secret refuses -- before anything is unpickled -- an entry whose signature is
missing or wrong, or whose data does not have the signed SHA-256. The xxh3 checksums stay
for integrity; SHA-256 is what makes the content part of what is signed (xxh3 is fast but
not collision-resistant, so an attacker could otherwise swap bytes behind a valid MAC).

Stdlib only (``hmac``, ``hashlib``, imported where used: loading OpenSSL costs a few ms, and
most caches are not signed); nothing here touches the network or the disk layout.

Publisher keys (Ed25519, :mod:`flowyml.store.signing_keys`) plug in here: a store's ``secret`` is
the plain HMAC secret (as before) or a ``signing_keys.Seal``, and :func:`sign`,
:func:`signature_problem` and :func:`checks` accept both (this module never imports that one).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

SECRET_ENV = "FLOWYML_CACHE_SECRET"
#: the scheme of a signature, stored as "<SCHEME>:<hex mac>"
SCHEME = "hmac-sha256-v1"


def resolve_secret(secret: str | bytes | None = None) -> bytes | None:
    """The secret to sign with: ``secret``, else ``FLOWYML_CACHE_SECRET``; ``None``: unsigned."""
    if secret is None:
        secret = os.environ.get(SECRET_ENV) or None
    if secret is None or secret == b"" or secret == "":
        return None
    return secret.encode() if isinstance(secret, str) else bytes(secret)


class Untrusted(str):
    """A refusal that is about *who* signed an entry (unsigned, or an untrusted signer), not
    about damage: the entry is a miss (or an error under ``strict``) and is never removed."""


def checks(secret: Any) -> bool:
    """Whether entries must carry (and match) the signed SHA-256 of their data and replay."""
    if secret is None:
        return False
    return isinstance(secret, bytes) or bool(secret.checks)


def canonical(meta: dict[str, Any]) -> bytes:
    """The bytes a signature covers: every field but the signature, in one fixed JSON form."""
    body = {k: v for k, v in meta.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      default=str).encode()


def sign(meta: dict[str, Any], secret: bytes) -> dict[str, Any]:
    """``meta`` as it will be read back (JSON round trip), with its ``signature`` added."""
    if not isinstance(secret, bytes):
        return secret.sign(meta)
    meta = json.loads(json.dumps(meta, default=str))
    meta["signature"] = f"{SCHEME}:{_mac(meta, secret)}"
    return meta


def signature_problem(meta: dict[str, Any], secret: bytes) -> str | None:
    """Why the metadata's signature is not acceptable, or ``None`` when it is."""
    if not isinstance(secret, bytes):
        return secret.problem(meta)
    signature = meta.get("signature")
    if not isinstance(signature, str) or not signature:
        return ("entry is not signed, and this cache requires signatures "
                f"({SECRET_ENV} is set); refusing to load it")
    import hmac

    scheme, _, mac = signature.partition(":")
    if scheme != SCHEME or not hmac.compare_digest(mac, _mac(meta, secret)):
        return ("entry signature does not match (written with another secret, or altered); "
                "refusing to load it")
    if not isinstance(meta.get("sha256"), str):
        return "signed entry has no sha256 of its data; refusing to load it"
    return None


def _mac(meta: dict[str, Any], secret: bytes) -> str:
    import hashlib
    import hmac

    return hmac.new(secret, canonical(meta), hashlib.sha256).hexdigest()


def sha256_bytes(blob: bytes) -> str:
    import hashlib

    return hashlib.sha256(blob).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a whole file, through a memory map (no copies; hashlib releases the GIL)."""
    import hashlib
    import mmap

    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return hashlib.sha256(b"").hexdigest()
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return hashlib.sha256(view).hexdigest()


# A file verified once is not hashed again by this process while it is unchanged: same
# device, inode, size, mtime and ctime (a process cannot set ctime, so a rewrite shows).
_VERIFIED: dict[tuple[int, ...], str] = {}
_BY_INODE: dict[tuple[int, int], str] = {}
_LOCK = threading.Lock()


def file_matches(path: str | os.PathLike[str], expected: Any) -> bool:
    """Whether the file's SHA-256 is ``expected`` (memoised per unchanged file)."""
    if not isinstance(expected, str):
        return False
    try:
        st = os.stat(path)
    except OSError:
        return False
    ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    with _LOCK:
        known = _VERIFIED.get(ident)
    if known is None:
        try:
            known = sha256_file(path)
        except OSError:
            return False
        with _LOCK:
            if len(_VERIFIED) > 100_000:
                _VERIFIED.clear()
            _VERIFIED[ident] = known
    import hmac

    return hmac.compare_digest(known, expected)


def digest_matches(data: Any, expected: Any) -> bool:
    """Whether bytes already in memory have the SHA-256 ``expected``."""
    import hashlib
    import hmac

    return isinstance(expected, str) and hmac.compare_digest(
        hashlib.sha256(data).hexdigest(), expected)


def fd_matches(fd: int, length: int, expected: Any) -> bool:
    """Whether the first ``length`` bytes of the open file ``fd`` have the SHA-256
    ``expected`` (through a memory map; memoised per unchanged file, as :func:`file_matches`)."""
    import hashlib
    import hmac
    import mmap

    if not isinstance(expected, str):
        return False
    st = os.fstat(fd)
    ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    with _LOCK:
        known = _VERIFIED.get(ident)
    if known is None:
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                known = hashlib.sha256(view[:length]).hexdigest()
            finally:
                view.release()
        with _LOCK:
            if len(_VERIFIED) > 100_000:
                _VERIFIED.clear()
            _VERIFIED[ident] = known
    with _LOCK:
        _BY_INODE[(st.st_dev, st.st_ino)] = known
    return hmac.compare_digest(known, expected)


def carry_over(fd: int) -> None:
    """After the store touched a file it just verified (a use changes mtime and ctime, not
    the content), keep it verified under its new times."""
    st = os.fstat(fd)
    with _LOCK:
        known = _BY_INODE.pop((st.st_dev, st.st_ino), None)
        if known is not None:
            _VERIFIED[(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)] = known


def entry_problem(meta: dict[str, Any], secret: bytes, data_path: str | os.PathLike[str]) -> str | None:
    """The signature, then the data's SHA-256: why this entry must be refused, or ``None``."""
    problem = signature_problem(meta, secret)
    if problem is None and not file_matches(data_path, meta.get("sha256")):
        problem = "output data does not match its signed sha256 (altered); refusing to load it"
    return problem
