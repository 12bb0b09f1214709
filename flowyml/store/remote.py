"""A cache on object storage (any fsspec URL): the same interface and promises as CacheStore.

Layout under the URL: ``joblib/flowyml/<step dir>/<xxh3 of key>/`` holding
``output-<uuid>.pkl`` (joblib persistence), optionally ``replay-<uuid>.json``, and
``meta.json``. Object stores have no rename, so an entry is committed by writing its data
objects first, each under a name no other writer uses, and ``meta.json`` **last**: the
metadata is the commit. A reader only ever follows a ``meta.json``, and a ``meta.json`` only
ever names data objects that were complete before it was written; of several concurrent
writers of one key the last ``meta.json`` wins, and the others' data objects are unreferenced
garbage (removed by ``clear()``, or by a later writer of the key once an hour old).

Reading verifies before anything is unpickled: format version, key, signature (with a
secret), then the data object's size and full xxh3 checksum (and signed SHA-256). Outputs
of at most :data:`INLINE_BYTES` pickled live inside ``meta.json`` (one object, one request)
and are checked the same way, in memory. Other data is
never unpickled from the network: it is downloaded into the local copy
(:mod:`flowyml.store.local_copy`), verified there, and loaded from there memory-mapped. Data objects
up to :data:`VERIFY_AT_LOOKUP_BYTES` are fetched and verified at lookup (a damaged one is a
reported miss, recomputed); larger ones are checked by size at lookup and verified in full
when loaded (a damaged one then raises :class:`flowyml.store.entry.CacheLoadError` and is
removed, as for very large local entries).

A lookup whose metadata and data were verified on this machine before needs no request:
the local copy keeps both, valid while the store's *generation* object is unchanged (every
``clear()`` writes a new one; it is re-read at most once a second).

An unreachable store is reported once ("caching is off") and the run goes on uncached;
:meth:`RemoteStore.check_safety` (called before a run starts) raises
:class:`flowyml.store.urls.CacheUnavailableError` with one line instead, within seconds.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import io
import json
import os
import threading
import time
import uuid
import warnings
from typing import Any

import xxhash

from flowyml.keys import step_of_key
from flowyml.store import remote_index as _index
from flowyml.store import signing as _signing
from flowyml.store import signing_keys as _publisher
from flowyml.store.aliases import follow
from flowyml.store.entry import (
    FORMAT_VERSION,
    FULL_VERIFY_BYTES,
    CacheEntry,
    CacheLoadError,
    CacheWarning,
    entry_facts,
    file_checksum,
    pack,
    plain_arrays,
    replay_items,
    unpack,
    unpicklable_output,
)
from flowyml.store.local import step_dirname
from flowyml.store.local_copy import LocalCopy
from flowyml.store.remote_lifecycle import GARBAGE_GRACE_SECONDS, RemoteLifecycle
from flowyml.store.urls import (
    CHECK_TIMEOUT,
    CacheUnavailableError,
    protocol_of,
    redact,
    short_error,
    storage_options_for,
    userinfo,
)

#: outputs up to this size (pickled) are kept inside meta.json: one object, one request
INLINE_BYTES = 16 * 1024
#: a store loads the shared index from this many lookups that reach the bucket on
INDEX_AFTER = 4
#: data objects up to this size are downloaded and verified at lookup
VERIFY_AT_LOOKUP_BYTES = 16 * 1024 * 1024
#: how long a read of the store's generation object stays fresh
GENERATION_TTL = 1.0
#: data objects up to this size are fetched in one read (larger ones are streamed to disk)
_SMALL_OBJECT = 4 * 1024 * 1024
#: how long a successful reachability check holds
CHECK_TTL = 30.0
_GENERATION = ".flowyml-generation"
#: location + options -> when this process last reached it (every store of it skips the check)
_CHECKED: dict[str, float] = {}
#: location + options -> (its generation, when it was read), shared by its stores
_GENERATIONS: dict[str, tuple[str, float]] = {}


class RemoteStore(RemoteLifecycle):
    """The cache at an fsspec URL (``s3://bucket/prefix``, ``gs://...``, ``az://...``)."""

    enabled = True

    def __init__(self, url: str, *, storage_options: dict[str, Any] | None = None,
                 secret: Any = None, local_copy: LocalCopy | None = None,
                 signing_key: Any = None, trusted_signers: Any = None,
                 verify: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.protocol = protocol_of(url) or "file"
        self.storage_options = storage_options_for(self.protocol, storage_options)
        #: the HMAC secret or a flowyml.store.signing_keys.Seal: a bucket verifies signers by
        #: default (this machine's key signs when none is given); see flowyml.store.signing_keys
        self.secret = _publisher.resolve(secret, signing_key=signing_key,
                                         trusted_signers=trusted_signers, verify=verify, remote=True)
        self.local_copy = local_copy or LocalCopy()
        self._init_state()

    def _init_state(self) -> None:
        self._fs: Any = None
        self._path: str | None = None
        self._reported: set[str] = set()
        self._off = False
        self._checked = 0.0
        self._lock = threading.Lock()
        self._memo: _index.Loaded | None = None
        self._network_lookups = 0
        self._made: set[Any] = set()  # folders of the local metadata made by this store
        self._id = xxhash.xxh3_64_hexdigest(self.url.encode())
        # what messages must never show: option values and the URL's user-info
        self._sensitive = {"options": self.storage_options, "url_secret": userinfo(self.url)}
        self._ident = self.url + "\0" + json.dumps(self.storage_options, sort_keys=True, default=repr)

    def __getstate__(self) -> dict[str, Any]:
        # shipped to workers: they open the file system themselves, and keep their local
        # copy where their own configuration says (the client's folder may not exist there)
        return {"url": self.url, "protocol": self.protocol,
                "storage_options": self.storage_options, "secret": self.secret}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.local_copy = LocalCopy()
        self._init_state()

    def __repr__(self) -> str:
        return f"RemoteStore({self.root!r})"

    # -- location ---------------------------------------------------------------------------
    @property
    def root(self) -> str:
        """The location, as shown to people (credentials removed)."""
        return redact(self.url)

    location = root

    @property
    def fs(self) -> Any:
        if self._fs is None:
            import fsspec

            # a copy: s3fs changes nested options (config_kwargs) in place
            fs = fsspec.filesystem(self.protocol, **copy.deepcopy(self.storage_options))
            self._path = fs._strip_protocol(self.url).rstrip("/")
            self._fs = fs
        return self._fs

    @property
    def path(self) -> str:
        """The location as the file system names it (``bucket/prefix``)."""
        self.fs  # noqa: B018 - sets _path
        assert self._path is not None
        return self._path

    @property
    def entries_path(self) -> str:
        return f"{self.path}/joblib/flowyml"

    def entry_path(self, key: str) -> str:
        """``<url path>/joblib/flowyml/<step dir>/<xxh3 of key>``."""
        digest = xxhash.xxh3_128_hexdigest(key.encode())
        return f"{self.entries_path}/{step_dirname(step_of_key(key))}/{digest}"

    # -- checks ---------------------------------------------------------------------------------
    def check_safety(self) -> None:
        """Make sure the store can be reached, within seconds; raise a one-line
        :class:`CacheUnavailableError` (no credentials in it) when it cannot."""
        ident = self._check_ident()
        if time.monotonic() - max(self._checked, _CHECKED.get(ident, 0.0)) < CHECK_TTL:
            return
        outcome: list[BaseException | None] = []

        def probe() -> None:
            try:
                self._probe()
                outcome.append(None)
            except BaseException as exc:  # reported below, on the caller's thread
                outcome.append(exc)

        worker = threading.Thread(target=probe, name="flowyml-cache-check", daemon=True)
        worker.start()
        worker.join(CHECK_TIMEOUT)
        if not outcome:
            raise CacheUnavailableError(
                f"flowyml cache: {self.root} did not answer within {CHECK_TIMEOUT:g} s; check the "
                "URL, the endpoint and your network (or use a local cache_dir)") from None
        if outcome[0] is not None:
            raise CacheUnavailableError(
                f"flowyml cache: cannot use {self.root} "
                f"({short_error(outcome[0], self._sensitive)}); check the URL, the "
                "endpoint and the credentials (fsspec config / storage_options), or use a "
                "local cache_dir") from None
        self._checked = _CHECKED[ident] = time.monotonic()
        self._off = False

    def _check_ident(self) -> str:
        return self._ident

    def check_or_warn(self) -> bool:
        """:meth:`check_safety`, but an unreachable store only turns caching off, with one
        warning (the notebook's choice: cells still run). Returns whether it is usable."""
        try:
            self.check_safety()
            return True
        except CacheUnavailableError as exc:
            self._off = True
            if "<caching-off>" not in self._reported:
                self._reported.add("<caching-off>")
                warnings.warn(f"{exc} -- caching is off; steps still run", CacheWarning, stacklevel=3)
            return False

    def _probe(self) -> None:
        import fsspec

        options = copy.deepcopy(self.storage_options)
        if self.protocol in ("s3", "s3a"):  # a quick answer: few retries, short timeouts
            config = dict(options.get("config_kwargs") or {})
            config.update(connect_timeout=min(float(config.get("connect_timeout", 3)), 3.0),
                          read_timeout=min(float(config.get("read_timeout", 5)), 5.0),
                          retries={"max_attempts": 1, "mode": "standard"})
            options.update(config_kwargs=config)
        fs = fsspec.filesystem(self.protocol, skip_instance_cache=True, **options)
        if hasattr(fs, "retries"):
            fs.retries = 1  # s3fs retries "retryable" errors (a refused connection) 5 times
        path = fs._strip_protocol(self.url).rstrip("/")
        bucket = path.split("/", 1)[0]
        try:
            fs.ls(path, detail=False)
        except FileNotFoundError:
            # an empty prefix is fine; a missing bucket (or container) is not
            if bucket != path:
                try:
                    fs.info(bucket)
                except FileNotFoundError:
                    raise FileNotFoundError(f"bucket or container {bucket!r} does not exist") from None

    # -- reading --------------------------------------------------------------------------------
    def lookup(self, key: str) -> CacheEntry | None:
        """The verified entry for ``key`` (an accepted edit's alias followed to the entry it
        names: :mod:`flowyml.store.aliases`), or ``None``; see :meth:`_lookup_one`."""
        return follow(self, self._lookup_one(key), self._lookup_one)

    def _lookup_one(self, key: str) -> CacheEntry | None:
        """The verified entry for ``key``, or ``None``; a bad entry is reported and removed.

        Asked in turn: this machine's verified copy (no request), the shared index (a few
        requests per run, see :mod:`flowyml.store.remote_index`), then ``meta.json`` itself."""
        if self._off:
            return None
        meta: dict[str, Any] = {}
        try:
            entry_dir = self.entry_path(key)
            generation = self._current_generation()
            hit = self._local_lookup(entry_dir, key, generation)
            if hit is not None:
                self._used(entry_dir, generation)
                return hit
            indexed = self._indexed(entry_dir, key, generation)
            if indexed is not None and self._check_data(entry_dir, indexed) is None:
                self._remember(entry_dir, indexed, generation)
                self._used(entry_dir, generation)
                return CacheEntry(entry_dir, indexed)
            try:
                raw = self.fs.cat_file(f"{entry_dir}/meta.json")
            except FileNotFoundError:
                return None
            meta, problem = self._parse_meta(raw, key)
            if problem is None:
                problem = self._check_data(entry_dir, meta)
                if problem:
                    self.fs.invalidate_cache(entry_dir)
                    if not self.fs.exists(f"{entry_dir}/meta.json"):
                        return None  # removed meanwhile (gc, clear): a miss, not damage
        except Exception as exc:
            self._unreachable(exc)
            return None
        if isinstance(problem, _signing.Untrusted):  # not damage: a miss, kept for others
            _publisher.refuse(self, key, step_of_key(key), problem)
            return None
        if problem:
            self._report(key, problem)
            self._discard(entry_dir, meta)
            return None
        self._remember(entry_dir, meta, generation)
        # read by itself: put it in the index, so the next fresh machine need not
        _index.record(self, generation, self._rel(entry_dir), meta, time.time())
        return CacheEntry(entry_dir, meta)

    def _rel(self, entry_dir: str) -> str:
        return entry_dir[len(self.entries_path) + 1:]

    def _used(self, entry_dir: str, generation: str) -> None:
        _index.record(self, generation, self._rel(entry_dir), used=time.time())

    def _indexed(self, entry_dir: str, key: str, generation: str) -> dict[str, Any] | None:
        """The index's verified copy of the entry's metadata (``None``: not there, or not
        sound -- then ``meta.json`` decides). The index is loaded from the
        :data:`INDEX_AFTER`-th lookup that reaches the store: a small run never pays for it."""
        self._network_lookups += 1
        memo = self._memo
        if memo is None or memo.generation != generation or \
                time.monotonic() - memo.at > _index.LOAD_TTL:
            if self._network_lookups < INDEX_AFTER:
                return None
            try:
                memo = self._memo = _index.load(self, generation)
            except Exception:  # only a hint: meta.json decides (and reports a real outage)
                memo = self._memo = _index.Loaded(generation, time.monotonic())
            if _index.worth_compacting(memo):
                with contextlib.suppress(Exception):
                    _index.rewrite(self, memo)
        meta = memo.metas.get(self._rel(entry_dir))
        if meta is None or self._meta_problem(meta, key) is not None:
            return None
        return meta

    def _parse_meta(self, raw: bytes, key: str) -> tuple[dict[str, Any], str | None]:
        try:
            meta = json.loads(raw)
        except ValueError as exc:
            return {}, f"unreadable metadata ({exc})"
        if not isinstance(meta, dict):
            return {}, f"unreadable metadata (expected a JSON object, got {type(meta).__name__})"
        return meta, self._meta_problem(meta, key)

    def _meta_problem(self, meta: dict[str, Any], key: str | None) -> str | None:
        if meta.get("format") != FORMAT_VERSION:
            return f"written by another format version ({meta.get('format')!r})"
        if key is not None and meta.get("key") != key:
            return "its metadata names another key"
        if _signing.checks(self.secret):
            problem = _signing.signature_problem(meta, self.secret)
            if problem:
                return problem
        if not isinstance(meta.get("size"), int) or not (
                isinstance(meta.get("inline"), str) if "inline" in meta
                else _plain_name(meta.get("data", "output.pkl"))):
            return "its metadata names no valid data object"
        replay = meta.get("replay")
        if isinstance(replay, dict) and not _plain_name(replay.get("name", "replay.json")):
            return "its metadata names no valid replay object"
        return None

    def _check_data(self, entry_dir: str, meta: dict[str, Any]) -> str | None:
        if "inline" in meta:
            return self._inline(meta)[1]
        size = meta["size"]
        if self.local_copy.existing(_digest_of(meta), size) is not None:
            return self._local_problem(meta)
        name = meta.get("data", "output.pkl")
        if size <= VERIFY_AT_LOOKUP_BYTES:
            _, problem = self._fetch(entry_dir, meta)
            return problem
        try:
            actual = self.fs.info(f"{entry_dir}/{name}").get("size")
        except FileNotFoundError:
            return f"data object {name} is missing"
        if actual != size:
            return f"{name} is {actual} bytes, expected {size} (truncated?)"
        return None

    def _inline(self, meta: dict[str, Any]) -> tuple[bytes, str | None]:
        """An output kept inside ``meta.json``, checked as a data object is (size, xxh3, and
        SHA-256 when signed): it is verified in memory, so it needs no file of its own."""
        try:
            raw = base64.b64decode(meta["inline"], validate=True)
        except (ValueError, TypeError):
            return b"", "its inline data is not readable (corrupted)"
        if len(raw) != meta["size"]:
            return raw, f"its inline data is {len(raw)} bytes, expected {meta['size']} (truncated?)"
        if "full:" + xxhash.xxh3_128_hexdigest(raw) != meta.get("checksum"):
            return raw, "its inline data checksum mismatch (corrupted)"
        signed = isinstance(meta.get("sha256"), str) or _signing.checks(self.secret)
        if signed and _signing.sha256_bytes(raw) != meta.get("sha256"):
            return raw, "its inline data does not match its sha256 (altered)"
        return raw, None

    def _local_problem(self, meta: dict[str, Any]) -> str | None:
        """Re-check a local copy: in full up to FULL_VERIFY_BYTES (as a local entry is)."""
        path = self.local_copy.data_path(_digest_of(meta))
        size, expected = meta["size"], str(meta.get("checksum"))
        if size <= FULL_VERIFY_BYTES and expected != (
                file_checksum(path, size) if expected.startswith("sampled:") else _full_checksum(path)):
            with contextlib.suppress(OSError):
                os.unlink(path)
            return "the local copy of its data does not match its checksum (removed)"
        return None

    def _fetch(self, entry_dir: str, meta: dict[str, Any]) -> tuple[Any, str | None]:
        """Download the entry's data into the local copy and verify it there."""
        name = meta.get("data", "output.pkl")
        size = meta["size"]

        def download(temp: str) -> None:
            if size <= _SMALL_OBJECT:  # one request, less machinery than a streamed download
                with open(temp, "wb") as fh:
                    fh.write(self.fs.cat_file(f"{entry_dir}/{name}"))
            else:
                self.fs.get_file(f"{entry_dir}/{name}", temp)

        def verify(temp: str) -> str | None:
            actual = os.stat(temp).st_size
            if actual != size:
                return f"{name} is {actual} bytes, expected {size} (truncated?)"
            expected = meta.get("checksum")
            got = file_checksum(temp, size) if str(expected).startswith("sampled:") else _full_checksum(temp)
            if got != expected:
                return f"{name} checksum mismatch (corrupted)"
            signed = isinstance(meta.get("sha256"), str) or _signing.checks(self.secret)
            if signed and not _signing.file_matches(temp, meta.get("sha256")):
                return f"{name} does not match its sha256 (altered)"
            return None

        try:
            return self.local_copy.fetch(_digest_of(meta), size, download, verify)
        except FileNotFoundError:
            return None, f"data object {name} is missing"

    def load(self, entry: CacheEntry) -> dict[str, Any]:
        """The outputs stored in ``entry``, loaded memory-mapped from the local copy."""
        from joblib import numpy_pickle

        meta = entry.meta
        step_name = step_of_key(str(meta.get("key", "?")))
        try:
            if "size" not in meta:  # an entry shipped back from a worker: read its metadata
                meta, problem = self._parse_meta(self.fs.cat_file(f"{entry.location}/meta.json"), None)
                step_name = step_of_key(str(meta.get("key", "?")))
                if problem is None and self.entry_path(str(meta.get("key"))) != str(entry.location):
                    problem = "its metadata names another key"
                if problem:
                    raise ValueError(problem)
            if "inline" in meta:
                raw, problem = self._inline(meta)
                if problem:
                    raise ValueError(problem)
                return plain_arrays(unpack(numpy_pickle.load(io.BytesIO(raw))))
            path, problem = self._fetch(str(entry.location), meta)
            if problem:
                raise ValueError(problem)
            return plain_arrays(unpack(numpy_pickle.load(str(path), mmap_mode="c")))
        except Exception as exc:
            self._discard(str(entry.location), meta)
            raise CacheLoadError(
                f"flowyml cache, step '{step_name}': its cached output could not be loaded "
                f"({short_error(exc, self._sensitive)}). The entry has been removed; run "
                "again to recompute it.") from None

    def load_replay(self, entry: CacheEntry) -> list[dict[str, Any]] | None:
        """What the step showed when it ran (``None``: nothing recorded, or unreadable)."""
        info = entry.meta.get("replay")
        if not isinstance(info, dict) or not _plain_name(info.get("name", "replay.json")):
            return None
        try:
            blob = self.fs.cat_file(f"{entry.location}/{info.get('name', 'replay.json')}")
        except Exception:
            return None
        return replay_items(self, entry, info, blob)

    # -- the local copy of verified metadata ------------------------------------------------------
    def _current_generation(self) -> str:
        now = time.monotonic()
        known = _GENERATIONS.get(self._ident)
        if known is not None and now - known[1] < GENERATION_TTL:
            return known[0]
        try:
            value = self.fs.cat_file(f"{self.path}/{_GENERATION}").decode(errors="replace")[:64]
        except FileNotFoundError:
            value = "0"
        _GENERATIONS[self._ident] = (value, now)
        return value

    def _local_meta_path(self, entry_dir: str) -> Any:
        step_dir, _, digest = entry_dir[len(self.entries_path) + 1:].partition("/")
        return self.local_copy.meta_path(self._id, step_dir, digest)

    def _local_lookup(self, entry_dir: str, key: str, generation: str) -> CacheEntry | None:
        try:
            record = json.loads(self._local_meta_path(entry_dir).read_bytes())
            meta = record["meta"]
            if record.get("generation") != generation or self._meta_problem(meta, key):
                return None
            if "inline" in meta:
                if self._inline(meta)[1]:
                    return None
            elif self.local_copy.existing(_digest_of(meta), meta["size"]) is None or \
                    self._local_problem(meta):
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return CacheEntry(entry_dir, meta)

    def _remember(self, entry_dir: str, meta: dict[str, Any], generation: str) -> None:
        """Keep verified metadata next to the local copy (best effort, atomic)."""
        with contextlib.suppress(OSError, ValueError):
            target = self._local_meta_path(entry_dir)
            if target.parent not in self._made:
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._made.add(target.parent)
            temp = self.local_copy.temp_file()
            with open(temp, "w") as fh:
                json.dump({"generation": generation, "meta": meta}, fh)
            os.replace(temp, target)

    # -- writing ---------------------------------------------------------------------------------
    def store(
        self,
        key: str,
        outputs: dict[str, Any],
        *,
        output_hashes: dict[str, str],
        parts: dict[str, Any] | None = None,
        duration: float = 0.0,
        shape: str | None = None,
        replay: list[dict[str, Any]] | None = None,
        notes: dict[str, Any] | None = None,
        explain: dict[str, Any] | None = None,
    ) -> bool:
        """Write an entry: data objects under fresh names, then ``meta.json`` (the commit)."""
        from joblib import numpy_pickle

        if self._off:
            return False
        temp: str | None = None
        uploaded: list[str] = []
        try:
            entry_dir = self.entry_path(key)
            uid = uuid.uuid4().hex
            temp = self.local_copy.temp_file()
            with open(temp, "wb") as fh:
                numpy_pickle.dump({n: pack(v) for n, v in outputs.items()}, fh)
        except OSError as exc:
            self._unreachable(exc, local=True)
            return self._cleanup(temp, uploaded)
        except Exception as exc:
            name = unpicklable_output(outputs)
            what = f"output '{name}' cannot be pickled" if name else f"cannot be stored ({exc})"
            self._report(key, f"{what}; it is not cached", once=not name)
            return self._cleanup(temp, uploaded)
        try:
            size = os.stat(temp).st_size
            meta: dict[str, Any] = {
                "format": FORMAT_VERSION, "key": key, "parts": parts, "outputs": output_hashes,
                "size": size, "checksum": _full_checksum(temp), "duration": duration,
                "shape": shape, "created": time.time(), "data": f"output-{uid}.pkl",
            }
            if size <= INLINE_BYTES:
                del meta["data"]
                with open(temp, "rb") as fh:
                    meta["inline"] = base64.b64encode(fh.read()).decode()
            if self.secret is not None:
                meta["sha256"] = _signing.sha256_file(temp)
            blob = entry_facts(meta, replay, notes, explain, self.secret)
            if blob is not None:
                meta["replay"]["name"] = f"replay-{uid}.json"
            meta = (_signing.sign(meta, self.secret) if self.secret is not None
                    else json.loads(json.dumps(meta, default=str)))
            fs = self.fs
            if "data" in meta:
                uploaded.append(f"{entry_dir}/{meta['data']}")
                fs.put_file(temp, uploaded[-1])
            if blob is not None:
                uploaded.append(f"{entry_dir}/{meta['replay']['name']}")
                fs.pipe_file(uploaded[-1], blob)
            fs.pipe_file(f"{entry_dir}/meta.json", json.dumps(meta).encode())  # the commit
            uploaded.clear()
            # what was just written is also this machine's verified copy
            if "inline" not in meta:
                with contextlib.suppress(OSError):
                    self.local_copy.add(temp, _digest_of(meta))
                    temp = None
            generation = self._current_generation()
            self._remember(entry_dir, meta, generation)
            _index.record(self, generation, self._rel(entry_dir), meta, time.time())
            self._sweep(entry_dir, meta)
            return True
        except Exception as exc:
            self._unreachable(exc)
            return self._cleanup(temp, uploaded)
        finally:
            if temp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp)

    def _cleanup(self, temp: str | None, uploaded: list[str]) -> bool:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        for path in uploaded:  # data of an entry that was never committed
            with contextlib.suppress(Exception):
                self.fs.rm_file(path)
        return False

    def _sweep(self, entry_dir: str, meta: dict[str, Any]) -> None:
        """Remove this key's unreferenced data objects once they are old (lost races, crashes)."""
        keep = {"meta.json", meta.get("data"), (meta.get("replay") or {}).get("name")}
        with contextlib.suppress(Exception):
            cutoff = time.time() - GARBAGE_GRACE_SECONDS
            for info in self.fs.ls(entry_dir, detail=True):
                name = info["name"].rstrip("/").rsplit("/", 1)[-1]
                if name in keep:
                    continue
                modified = _index.mtime_of(info)
                if modified is not None and modified < cutoff:
                    self.fs.rm_file(info["name"])

    # -- maintenance -----------------------------------------------------------------------------
    def clear(self, step_name: str | None = None) -> int:
        """Remove all entries (or those of one step), garbage included. Returns how many
        entries were removed. Other machines' local copies stop being used too."""
        base = self.entries_path + (f"/{step_dirname(step_name)}" if step_name else "")
        fs = self.fs
        try:
            found = fs.find(base)
        except FileNotFoundError:
            found = []
        count = sum(1 for p in found if p.endswith("/meta.json"))
        if found:
            fs.rm(found)
        with contextlib.suppress(FileNotFoundError):  # the index of the ending generation
            index = fs.find(f"{self.path}/index")
            if index:
                fs.rm(index)
        fs.pipe_file(f"{self.path}/{_GENERATION}", uuid.uuid4().hex.encode())
        _GENERATIONS.pop(self._ident, None)
        self._memo = None
        self.local_copy.clear_meta(self._id, step_dirname(step_name) if step_name else None)
        return count

    def flush(self) -> None:
        """Write this process's pending index records now (otherwise within 5 s, and
        at exit): what it committed and used, for fresh machines and for ``gc``."""
        _index.flush(self)

    def _discard(self, entry_dir: str, meta: dict[str, Any]) -> None:
        """Uncommit a bad entry (its meta.json first), then remove the objects it names."""
        targets = [f"{entry_dir}/meta.json"]
        for name in (meta.get("data"), (meta.get("replay") or {}).get("name")
                     if isinstance(meta.get("replay"), dict) else None):
            if _plain_name(name):
                targets.append(f"{entry_dir}/{name}")
        for target in targets:
            with contextlib.suppress(Exception):
                self.fs.rm_file(target)
        with contextlib.suppress(OSError):
            self._local_meta_path(entry_dir).unlink()

    def _unreachable(self, exc: BaseException, local: bool = False) -> None:
        """The store failed (network, permissions, local disk): caching off, said once."""
        self._off = True
        if "<caching-off>" in self._reported:
            return
        self._reported.add("<caching-off>")
        where = f"the local copy in {self.local_copy.dir}" if local else self.root
        warnings.warn(
            f"flowyml cache: caching is off -- cannot use {where} "
            f"({short_error(exc, self._sensitive)}). Steps still run and return their "
            "results, but nothing is stored or read there in this session.",
            CacheWarning, stacklevel=4)

    def _report(self, key: str, problem: str, once: bool = False) -> None:
        step_name = step_of_key(key)
        token = f"{step_name}:{problem}" if once else None
        if token and token in self._reported:
            return
        if token:
            self._reported.add(token)
        warnings.warn(f"flowyml cache, step '{step_name}': {problem}", CacheWarning, stacklevel=3)


def _plain_name(name: Any) -> bool:
    return (isinstance(name, str) and 0 < len(name) <= 200 and "/" not in name
            and "\\" not in name and name not in (".", "..") and not name.startswith("."))


def _digest_of(meta: dict[str, Any]) -> str:
    """The local copy's name for an entry's data: its SHA-256, else its xxh3 checksum."""
    sha = meta.get("sha256")
    if isinstance(sha, str) and sha:
        return "sha256-" + sha
    return str(meta.get("checksum", "")).replace(":", "-")


def _full_checksum(path: Any) -> str:
    """xxh3 of every byte of a file (remote entries are always checksummed in full), hashed
    through a memory map: no copy of the data through read() buffers."""
    import mmap

    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            return "full:" + xxhash.xxh3_128_hexdigest(b"")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return "full:" + xxhash.xxh3_128_hexdigest(view)
