"""Publisher keys: Ed25519-signed cache entries, verified against trusted fingerprints.

A cache entry is a pickle: whoever can write one into a cache that others read can run code
on their machines. An HMAC secret (:mod:`flowyml.store.signing`) lets every holder both read and
forge. Here a *publisher* (CI) signs with a private key; *readers* hold only fingerprints:

* ``flowyml cache keygen`` writes an Ed25519 pair (PEM; the private key ``0600``) and
  prints the public key's fingerprint, ``SHA256:<base64>``, computed exactly as OpenSSH
  does (SHA-256 of the key's OpenSSH wire form, base64 without padding).
* ``FLOWYML_CACHE_SIGNING_KEY`` (a PEM or a path; ``signing_key=``) signs what this process
  writes: the entry's metadata gains ``signer`` (the raw public key, base64) and
  ``ed25519`` (the signature over every other field, as :func:`flowyml.store.signing.canonical`
  serialises them). The metadata holds the SHA-256 of the data and of the replay, so the
  signature covers everything that is ever deserialised. The public key travels in the
  entry; the reader's fingerprint pins it.
* ``FLOWYML_CACHE_TRUSTED_SIGNERS`` (comma-separated fingerprints; ``trusted_signers=``;
  ``%flowyml cache trust FP``) says whose entries this process loads. A store's own key is
  always trusted.
* ``FLOWYML_CACHE_VERIFY=off|on|strict`` (``verify=``): ``on`` makes an unsigned entry, or
  one whose signer is not trusted, a miss with one line naming the signer; ``strict``
  raises :class:`UntrustedEntryError` instead (the step does not run). Either way nothing
  is unpickled: the check reads only metadata.

Defaults (:func:`seal`): a cache on object storage verifies (``on``) and signs with this
machine's key, made once in ``$XDG_CONFIG_HOME/flowyml`` (``~/.config/flowyml``,
owner-only) when no key is given -- unless only an HMAC secret is set, which keeps working
as before. A local directory verifies only when a key or trusted signers are configured
(its ownership and permission checks stay as they are).

A signature is checked once per machine: a process remembers what it verified, and so does
the machine (:class:`_Memo`: HMAC records keyed by the store's private key, owner-only).
Who signed each entry (``cache info``, ``gc --untrusted``, ``%flowyml cache trust``) is
:mod:`flowyml.store.signers`. ``cryptography`` is imported only when a key is used (``pip install
'flowyml[sign]'``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import stat
import threading
from pathlib import Path
from typing import Any

from flowyml.store import signing as _signing

SIGNING_KEY_ENV = "FLOWYML_CACHE_SIGNING_KEY"
TRUSTED_ENV = "FLOWYML_CACHE_TRUSTED_SIGNERS"
VERIFY_ENV = "FLOWYML_CACHE_VERIFY"
POSTURES = ("off", "on", "strict")
#: file names written by ``flowyml cache keygen``
PRIVATE_NAME, PUBLIC_NAME = "flowyml-signing-key.pem", "flowyml-signing-key.pub.pem"
#: this machine's key (made once when a bucket is used without a key)
MACHINE_KEY_NAME = "machine-signing-key.pem"
_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")


class UntrustedEntryError(RuntimeError):
    """``FLOWYML_CACHE_VERIFY=strict``: a cache entry is unsigned or signed by a key this
    process does not trust (nothing of it was loaded)."""


class SigningKeyError(UntrustedEntryError):
    """This machine's signing key cannot be used (someone else could read it, or it is not
    a key): nothing is signed or verified with it, so nothing is loaded."""


# ---------------------------------------------------------------------------------------------
# Keys and fingerprints
# ---------------------------------------------------------------------------------------------


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise ImportError(
            "flowyml cache signing needs the 'cryptography' package: pip install "
            "'flowyml[sign]' (or set FLOWYML_CACHE_VERIFY=off to use the cache unsigned)"
        ) from None
    return serialization, ed25519


def fingerprint(public_raw: bytes) -> str:
    """``SHA256:<base64, no padding>`` of a raw 32-byte Ed25519 public key, as
    ``ssh-keygen -l`` prints it (SHA-256 of the OpenSSH wire-format key blob)."""
    kind = b"ssh-ed25519"
    blob = (len(kind).to_bytes(4, "big") + kind
            + len(public_raw).to_bytes(4, "big") + bytes(public_raw))
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


_FP_MEMO: dict[str, str] = {}


def fingerprint_of_signer(signer_b64: str) -> str | None:
    """The fingerprint of the ``signer`` field of an entry (``None``: not a valid key)."""
    found = _FP_MEMO.get(signer_b64)
    if found is None:
        try:
            raw = base64.b64decode(signer_b64, validate=True)
        except (ValueError, TypeError):
            return None
        if len(raw) != 32:
            return None
        found = fingerprint(raw)
        if len(_FP_MEMO) > 4096:
            _FP_MEMO.clear()
        _FP_MEMO[signer_b64] = found
    return found


def parse_trusted(value: Any) -> frozenset[str]:
    """Fingerprints from ``"SHA256:a,SHA256:b"`` (commas or spaces) or an iterable of them;
    anything else is refused with the expected form."""
    if value is None or value == "":
        return frozenset()
    items = re.split(r"[,\s]+", value) if isinstance(value, str) else list(value)
    out = set()
    for item in items:
        item = str(item).strip()
        if not item:
            continue
        if not _FINGERPRINT.match(item):
            raise ValueError(
                f"trusted signer {item!r} is not a key fingerprint; expected SHA256: and 43 "
                "base64 characters, as `flowyml cache keygen` prints it (e.g. "
                "FLOWYML_CACHE_TRUSTED_SIGNERS=SHA256:AbC...)")
        out.add(item)
    return frozenset(out)


def read_private_pem(key: Any) -> bytes:
    """The PEM of a private key given as PEM text/bytes, a path to a PEM file, or a
    ``cryptography`` Ed25519 private key object."""
    if hasattr(key, "private_bytes"):
        serialization, _ = _crypto()
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    text = key if isinstance(key, bytes) else str(os.fspath(key)).encode()
    if b"-----BEGIN" in text:
        return text.strip() + b"\n"
    path = Path(os.fsdecode(text)).expanduser()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(
            f"signing key {path}: cannot read it ({exc.strerror}); give a PEM private key or "
            "the path of one (make one with `flowyml cache keygen`)") from None


def load_private(pem: bytes) -> Any:
    """The Ed25519 private key object of ``pem`` (refusing any other kind of key)."""
    serialization, ed25519 = _crypto()
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"signing key is not an unencrypted PEM private key ({exc}); make "
                         "one with `flowyml cache keygen`") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ValueError(f"signing key is a {type(key).__name__}, not an Ed25519 key; make one "
                         "with `flowyml cache keygen`")
    return key


def public_raw(private_key: Any) -> bytes:
    serialization, _ = _crypto()
    return private_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                  serialization.PublicFormat.Raw)


def keygen(out_dir: str | os.PathLike[str]) -> tuple[Path, Path, str]:
    """Write a new Ed25519 pair into ``out_dir`` (private key ``0600``; existing files are
    never overwritten). Returns (private path, public path, fingerprint)."""
    serialization, ed25519 = _crypto()
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    private, public = out / PRIVATE_NAME, out / PUBLIC_NAME
    for path in (private, public):
        if path.exists():
            raise FileExistsError(f"{path} exists; keygen never overwrites a key (choose "
                                  "another --out folder, or remove it first)")
    key = ed25519.Ed25519PrivateKey.generate()
    _write_private(private, read_private_pem(key))
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public, fingerprint(public_raw(key))


def _write_private(path: Path, pem: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/flowyml``, else ``~/.config/flowyml`` (the machine key's folder)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "flowyml"


_MACHINE_LOCK = threading.Lock()


def machine_key_pem() -> bytes:
    """This machine's private key: made once (owner-only folder and file), then read.
    A key file someone else could read or replace is refused."""
    folder = config_dir()
    path = folder / MACHINE_KEY_NAME
    with _MACHINE_LOCK:
        if not path.exists():
            _, ed25519 = _crypto()
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            temp = folder / f".{MACHINE_KEY_NAME}.{os.getpid()}.tmp"
            temp.unlink(missing_ok=True)
            _write_private(temp, read_private_pem(ed25519.Ed25519PrivateKey.generate()))
            try:
                os.link(temp, path)  # never replaces a key another process made meanwhile
            except FileExistsError:
                pass
            finally:
                temp.unlink(missing_ok=True)
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()) \
                or st.st_mode & 0o077:
            raise SigningKeyError(
                f"flowyml machine signing key {path} is a link, not yours, or readable by others; "
                f"run `chmod 600 {path}` (or remove it: a new one is made), or set "
                f"{SIGNING_KEY_ENV}")
        return path.read_bytes()


# ---------------------------------------------------------------------------------------------
# The seal: signs what a store writes, says whether an entry may be loaded
# ---------------------------------------------------------------------------------------------

_PUBLIC_KEYS: dict[str, Any] = {}


class Seal:
    """A store's signing and verifying: an optional HMAC secret, this process's Ed25519
    key, the trusted fingerprints and the posture (``off``/``on``/``strict``).

    It takes the place of the plain HMAC secret in a store's ``secret`` attribute; the
    functions of :mod:`flowyml.store.signing` dispatch to it. Pickled (to a worker) as PEM text.
    """

    def __init__(self, *, hmac_secret: bytes | None, private_pem: bytes | None,
                 trusted: frozenset[str], posture: str, machine_key: bool = False) -> None:
        self.hmac_secret = hmac_secret
        self.private_pem = private_pem
        #: no key given: this machine's key, read (or made) when first needed
        self.machine_key = machine_key and private_pem is None
        self.posture = posture
        self._trusted_given = frozenset(trusted)
        self._key: Any = None
        self._signer: str | None = None
        self._fingerprint: str | None = None
        self._memo: _Memo | None = None

    def __getstate__(self) -> dict[str, Any]:
        # a worker signs with this process's key (as it would with the HMAC secret)
        if self.machine_key:
            self.private_pem, self.machine_key = machine_key_pem(), False
        return {"hmac_secret": self.hmac_secret, "private_pem": self.private_pem,
                "trusted": self._trusted_given, "posture": self.posture}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def __repr__(self) -> str:
        return f"Seal(posture={self.posture!r}, signer={self.fingerprint!r})"

    @property
    def checks(self) -> bool:
        """Whether loading needs the signed SHA-256 of data and replay."""
        return self.hmac_secret is not None or self.posture != "off"

    def _load(self) -> None:
        machine = self.machine_key
        if machine:
            self.private_pem, self.machine_key = machine_key_pem(), False
        if self._key is None and self.private_pem is not None:
            try:
                key = load_private(self.private_pem)
            except ValueError as exc:
                if not machine:
                    raise
                raise SigningKeyError(f"flowyml machine signing key in {config_dir()}: {exc}; "
                                      f"remove {MACHINE_KEY_NAME} (a new one is made)") from None
            raw = public_raw(key)
            self._signer = base64.b64encode(raw).decode()
            self._fingerprint = fingerprint(raw)
            self._key = key

    @property
    def fingerprint(self) -> str | None:
        """This process's signing key's fingerprint (``None``: it signs nothing)."""
        self._load()
        return self._fingerprint

    @property
    def memo(self) -> _Memo | None:
        """This key's record of signatures verified on this machine (``None``: no key)."""
        if self._memo is None:
            self._load()
            if self.private_pem is not None:
                self._memo = _Memo(self.private_pem)
        return self._memo

    @property
    def trusted(self) -> frozenset[str]:
        """Whose entries are loaded: the configured fingerprints and this store's own key."""
        own = self.fingerprint
        return self._trusted_given | {own} if own else self._trusted_given

    def sign(self, meta: dict[str, Any]) -> dict[str, Any]:
        """``meta`` as it will be read back (a JSON round trip), Ed25519-signed, then
        HMAC-signed when a secret is set too (the HMAC covers the Ed25519 fields)."""
        meta = json.loads(json.dumps(meta, default=str))
        meta.pop("signature", None)
        meta.pop("ed25519", None)
        self._load()
        if self._key is not None:
            meta["signer"] = self._signer
            meta["ed25519"] = base64.b64encode(self._key.sign(_ed_canonical(meta))).decode()
        if self.hmac_secret is not None:
            meta = _signing.sign(meta, self.hmac_secret)
        return meta

    def problem(self, meta: dict[str, Any]) -> str | None:
        """Why ``meta`` must not be loaded (an :class:`flowyml.store.signing.Untrusted` text for
        an unsigned or untrusted entry: a miss, never removed), or ``None``. Reads nothing
        but the metadata: the callers check the data against its signed SHA-256."""
        if self.hmac_secret is not None:
            problem = _signing.signature_problem(meta, self.hmac_secret)
            if problem is not None:
                return problem
        if self.posture == "off":
            return None
        signer, sig = meta.get("signer"), meta.get("ed25519")
        if not isinstance(signer, str) or not isinstance(sig, str):
            return _signing.Untrusted(
                "entry is unsigned (no publisher key), and this cache verifies signers "
                f"({VERIFY_ENV}={self.posture}); not loading it")
        fp = fingerprint_of_signer(signer)
        if fp is None:
            return "entry names no valid signer key (altered); refusing to load it"
        if fp not in self.trusted:
            return _signing.Untrusted(
                f"entry signed by {fp}, which this process does not trust; not loading it "
                f"(to use it: {TRUSTED_ENV}={fp})")
        if not verify(signer, sig, meta, self.memo):
            return (f"entry's signature by {fp} does not verify (altered); refusing to load it")
        if not isinstance(meta.get("sha256"), str):
            return "signed entry has no sha256 of its data; refusing to load it"
        return None

    def trusts(self, meta: dict[str, Any]) -> bool:
        """Whether a trusted key's valid signature covers ``meta`` (whatever the posture)."""
        signer, sig = meta.get("signer"), meta.get("ed25519")
        if not isinstance(signer, str) or not isinstance(sig, str):
            return False
        fp = fingerprint_of_signer(signer)
        return fp is not None and fp in self.trusted and verify(signer, sig, meta, self.memo)


def _ed_canonical(meta: dict[str, Any]) -> bytes:
    return _signing.canonical({k: v for k, v in meta.items() if k != "ed25519"})


def verify(signer_b64: str, sig_b64: str, meta: dict[str, Any], machine: _Memo | None = None) -> bool:
    """Whether ``sig_b64`` is ``signer_b64``'s Ed25519 signature of ``meta``.

    An Ed25519 verification costs 50-400 us of CPU; each exact (key, signature, signed
    bytes) is verified once and the SHA-256 of the three remembered: by this process, and
    -- given ``machine``, a store's :class:`_Memo` -- by this machine, so a repeated hit (a
    re-run, a cell run again, a restarted kernel) costs a SHA-256 of the metadata. A memo
    holds only what verified: changing any byte gives another digest."""
    body = _ed_canonical(meta)
    memo = hashlib.sha256(f"{signer_b64}\0{sig_b64}\0".encode() + body).digest()
    if memo in _VERIFIED:
        return True
    if machine is not None and machine.known(memo):
        _VERIFIED.add(memo)
        return True
    _, ed25519 = _crypto()
    key = _PUBLIC_KEYS.get(signer_b64)
    try:
        if key is None:
            key = ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(signer_b64, validate=True))
            if len(_PUBLIC_KEYS) > 4096:
                _PUBLIC_KEYS.clear()
            _PUBLIC_KEYS[signer_b64] = key
        key.verify(base64.b64decode(sig_b64, validate=True), body)
    except Exception:  # InvalidSignature, a malformed key or signature
        return False
    if len(_VERIFIED) > 200_000:
        _VERIFIED.clear()
    _VERIFIED.add(memo)
    if machine is not None:
        machine.add(memo)
    return True


class _Memo:
    """The signatures this machine verified before, kept across processes in one owner-only
    file of the config folder (``verified-<id>.bin``): 16-byte records, each an HMAC of a
    verified digest keyed by a secret derived from this store's *private* key. Someone
    who can write that file but does not hold the key cannot add a record that matches
    anything, so a record is as good as the verification it stands for. Best effort: a
    file that is not the user's own, or cannot be read or written, is simply not used."""

    MAX_BYTES = 16 * 2**20  # a million records; then it starts over

    def __init__(self, private_pem: bytes) -> None:
        self.secret = hashlib.sha256(b"flowyml verified-signature memo\0" + private_pem).digest()
        self.path = config_dir() / f"verified-{hashlib.sha256(self.secret).hexdigest()[:16]}.bin"
        self._known: set[bytes] | None = None
        self._lock = threading.Lock()

    def _tag(self, digest: bytes) -> bytes:
        import hmac

        return hmac.new(self.secret, digest, hashlib.sha256).digest()[:16]

    def _load(self) -> set[bytes]:
        known: set[bytes] = set()
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return known
        try:
            st = os.fstat(fd)
            if (hasattr(os, "getuid") and st.st_uid != os.getuid()) or st.st_mode & 0o077 \
                    or st.st_size > self.MAX_BYTES:
                return known
            data = os.read(fd, st.st_size)
        finally:
            os.close(fd)
        known.update(data[i:i + 16] for i in range(0, len(data) - len(data) % 16, 16))
        return known

    def known(self, digest: bytes) -> bool:
        with self._lock:
            if self._known is None:
                self._known = self._load()
            return self._tag(digest) in self._known

    def add(self, digest: bytes) -> None:
        tag = self._tag(digest)
        with self._lock:
            if self._known is None:
                self._known = self._load()
            if tag in self._known:
                return
            self._known.add(tag)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
                fd = os.open(self.path, flags, 0o600)
                try:
                    if os.fstat(fd).st_size >= self.MAX_BYTES:
                        os.ftruncate(fd, 0)
                    os.write(fd, tag)  # one append: whole, beside other processes' appends
                finally:
                    os.close(fd)
            except OSError:
                pass


#: SHA-256 of (signer, signature, signed bytes) of every signature this process verified
_VERIFIED: set[bytes] = set()


def signer_of(meta: dict[str, Any] | None) -> str | None:
    """The fingerprint an entry's metadata names as its signer (unverified; ``None``:
    unsigned). For ``flowyml cache info``."""
    signer = (meta or {}).get("signer")
    return fingerprint_of_signer(signer) if isinstance(signer, str) else None


def resolve(secret: Any = None, *, signing_key: Any = None, trusted_signers: Any = None,
            verify: str | None = None, remote: bool = False) -> Any:
    """What a store signs and checks with: the HMAC secret (``None``: nothing) when no
    publisher key is in play -- touching nothing else, as before -- else a :class:`Seal`."""
    if isinstance(secret, Seal):
        return secret
    hmac_secret = _signing.resolve_secret(secret)
    if (not remote and signing_key is None and trusted_signers is None and verify is None
            and not any(os.environ.get(n) for n in (SIGNING_KEY_ENV, TRUSTED_ENV, VERIFY_ENV))):
        return hmac_secret
    return seal(hmac_secret, signing_key, trusted_signers, verify, remote)


def seal(hmac_secret: bytes | None, signing_key: Any = None, trusted_signers: Any = None,
         verify_posture: str | None = None, remote: bool = False) -> bytes | Seal | None:
    """What a store signs and checks with (see the module docstring for the defaults):
    the plain HMAC secret (or ``None``) when no key is in play, else a :class:`Seal`."""
    posture = verify_posture or os.environ.get(VERIFY_ENV) or None
    if posture is not None:
        posture = str(posture).strip().lower()
        if posture not in POSTURES:
            raise ValueError(f"{VERIFY_ENV} / verify= must be one of off, on, strict; got "
                             f"{posture!r}")
    key = signing_key if signing_key is not None else (os.environ.get(SIGNING_KEY_ENV) or None)
    trusted = parse_trusted(trusted_signers) | parse_trusted(os.environ.get(TRUSTED_ENV))
    if posture is None:
        if remote:
            posture = "off" if hmac_secret is not None and key is None and not trusted else "on"
        else:
            posture = "on" if key is not None or trusted else "off"
    if posture == "off" and key is None:
        return hmac_secret
    pem = read_private_pem(key) if key is not None else None
    sealed = Seal(hmac_secret=hmac_secret, private_pem=pem, trusted=trusted, posture=posture,
                  machine_key=pem is None)
    if pem is not None:
        sealed._load()  # a key that is not one is an error now, not at the first write
    return sealed


def refuse(store: Any, key: str, step_name: str, problem: str) -> None:
    """An unsigned or untrusted entry: under ``strict`` raise :class:`UntrustedEntryError`,
    else report it once (a miss). The entry is never removed: another reader may trust it."""
    if getattr(store.secret, "posture", None) == "strict":
        raise UntrustedEntryError(
            f"flowyml cache, step '{step_name}': {problem}. {VERIFY_ENV}=strict refuses "
            "it before anything runs: trust its signer if you know it, or remove such "
            "entries with `flowyml cache gc --untrusted`")
    store._report(key, problem, once=True)
