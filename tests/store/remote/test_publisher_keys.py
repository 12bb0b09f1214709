"""Publisher keys (Ed25519): CI signs with its private key, laptops trust its fingerprint.

Driven the way a team does it: ``flowyml cache keygen``, ``flowyml run`` in separate
processes (each "machine" with its own config folder and local copy), ``flowyml cache
info`` / ``gc --untrusted``, and ``%flowyml cache trust`` in a real IPython shell; on the
moto S3 server and on a local directory alike. A planted entry is a valid pickle that
writes a marker file when it is loaded: the marker must never appear.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from flowyml.store import signers, signing_keys
from flowyml.store.entry import CacheWarning, entry_file_parts, read_meta, write_entry_file
from flowyml.store.local import CacheStore
from flowyml.store.locations import open_store

from .conftest import script_env

pytest.importorskip("cryptography")

HERE = Path(__file__).parent
MODULE = HERE / "keys_pipeline.py"


class Payload:
    """Loading this writes ``marker``: what an attacker's pickle would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('code ran')",))


@pytest.fixture(params=["local", "s3"])
def where(request, tmp_path):
    """(location, storage options) of a shared cache: a local directory or a bucket."""
    if request.param == "local":
        return str(tmp_path / "shared-cache"), None
    return request.getfixturevalue("url"), request.getfixturevalue("opts")


def keypair(tmp_path: Path, name: str) -> tuple[Path, str]:
    private, _, fp = signing_keys.keygen(tmp_path / name)
    return private, fp


def machine(tmp_path: Path, name: str, **env: str) -> dict[str, str]:
    """The environment of one machine: its own config folder (machine key) and local copy."""
    (tmp_path / name).mkdir(parents=True, exist_ok=True)
    return {"XDG_CONFIG_HOME": str(tmp_path / name / "config"),
            "FLOWYML_CACHE_LOCAL_COPY_DIR": str(tmp_path / name / "copy"),
            "FLOWYML_TEST_RAN": str(tmp_path / name / "ran.txt"), **env}


def flowyml(tmp_path: Path, endpoint: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flowyml", *args], cwd=tmp_path,
                          env=script_env(endpoint, **env), capture_output=True, text=True,
                          timeout=180, check=False)


def run(tmp_path, endpoint, where, env) -> tuple[subprocess.CompletedProcess, list[str], list[str]]:
    """``flowyml run keys_pipeline.py --cache-dir LOCATION``: (process, steps whose body ran,
    flowyml cache warnings)."""
    ran = Path(env["FLOWYML_TEST_RAN"])
    ran.unlink(missing_ok=True)
    proc = flowyml(tmp_path, endpoint, "run", str(MODULE), "--cache-dir", where[0], env=env)
    lines = [ln for ln in proc.stderr.splitlines() if "CacheWarning: flowyml cache" in ln]
    return proc, ran.read_text().split() if ran.exists() else [], lines


def entry_meta(where, step_name: str) -> dict:
    location, opts = where
    if location.startswith("s3://"):
        import s3fs

        fs = s3fs.S3FileSystem(skip_instance_cache=True, **opts)
        path = next(p for p in fs.find(f"{location[5:]}/joblib/flowyml/{step_name}")
                    if p.endswith("meta.json"))
        return json.loads(fs.cat_file(path))
    (path,) = (CacheStore(location).entries_dir / step_name).iterdir()
    return read_meta(path)


def plant(where, step_name: str, key_path: Path, marker: Path) -> str:
    """Overwrite ``step_name``'s entry with a valid pickle signed by ``key_path`` (same step,
    same key) that writes ``marker`` when loaded. Returns the cache key."""
    meta = entry_meta(where, step_name)
    store = open_store(where[0], where[1], signing_key=str(key_path), verify="off")
    assert store.store(meta["key"], {"data": Payload(marker)}, output_hashes=meta["outputs"],
                       parts=meta["parts"])
    if hasattr(store, "flush"):
        store.flush()  # its index record too: a reader must refuse that as well
    assert entry_meta(where, step_name)["signer"] != meta["signer"]
    return meta["key"]


# ---------------------------------------------------------------------------------------------


def test_keygen_writes_an_owner_only_pair_and_prints_the_openssh_fingerprint(tmp_path, s3_endpoint):
    from cryptography.hazmat.primitives import serialization

    proc = flowyml(tmp_path, s3_endpoint, "cache", "keygen", "--out", "keys", env={})
    assert proc.returncode == 0, proc.stderr
    private = tmp_path / "keys" / signing_keys.PRIVATE_NAME
    public = tmp_path / "keys" / signing_keys.PUBLIC_NAME
    assert private.stat().st_mode & 0o777 == 0o600
    fp = next(ln.split()[-1] for ln in proc.stdout.splitlines() if ln.startswith("fingerprint:"))
    # the fingerprint of the key's OpenSSH form, as ssh-keygen -l computes it
    key = serialization.load_pem_public_key(public.read_bytes())
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    blob = base64.b64decode(line.split()[1])
    assert fp == "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    if shutil.which("ssh-keygen"):
        (tmp_path / "k.pub").write_bytes(line + b"\n")
        shown = subprocess.run(["ssh-keygen", "-lf", str(tmp_path / "k.pub")], capture_output=True,
                               text=True, check=True).stdout
        assert shown.split()[1] == fp
    again = flowyml(tmp_path, s3_endpoint, "cache", "keygen", "--out", "keys", env={})
    assert again.returncode == 2 and "never overwrites" in again.stderr


def test_ci_publishes_laptop_verifies_and_a_planted_entry_never_loads(where, tmp_path, s3_endpoint):
    ci_key, ci_fp = keypair(tmp_path, "ci-keys")
    ci = machine(tmp_path, "ci", FLOWYML_CACHE_SIGNING_KEY=str(ci_key))
    laptop = machine(tmp_path, "laptop", FLOWYML_CACHE_TRUSTED_SIGNERS=ci_fp)
    proc, ran, reports = run(tmp_path, s3_endpoint, where, ci)
    assert proc.returncode == 0, proc.stderr
    assert ran == ["make_data", "summarise"] and reports == []
    assert signing_keys.signer_of(entry_meta(where, "make_data")) == ci_fp

    # the laptop holds only CI's fingerprint: everything is a hit
    proc, ran, reports = run(tmp_path, s3_endpoint, where, laptop)
    assert proc.returncode == 0, proc.stderr
    assert ran == [] and reports == [] and "2 cached" in proc.stdout

    # someone with write access plants a pickle for the same step and key, signed by another key
    evil_key, evil_fp = keypair(tmp_path, "evil-keys")
    marker = tmp_path / "PWNED"
    plant(where, "make_data", evil_key, marker)
    for name in ("laptop2", "laptop3"):
        shutil.rmtree(tmp_path / name, ignore_errors=True)
    # strict: the step fails before anything runs; nothing is unpickled
    strict = {**machine(tmp_path, "laptop2", FLOWYML_CACHE_TRUSTED_SIGNERS=ci_fp),
              "FLOWYML_CACHE_VERIFY": "strict"}
    proc, ran, _ = run(tmp_path, s3_endpoint, where, strict)
    assert proc.returncode == 1 and ran == [] and not marker.exists(), proc.stdout + proc.stderr
    assert "strict" in proc.stderr and evil_fp in proc.stderr
    # on (the default here): a miss, one line naming the signer, recomputed
    proc, ran, reports = run(tmp_path, s3_endpoint, where,
                             machine(tmp_path, "laptop3", FLOWYML_CACHE_TRUSTED_SIGNERS=ci_fp))
    assert proc.returncode == 0, proc.stderr
    assert ran == ["make_data"] and not marker.exists()  # summarise: CI's entry, a hit
    assert len(reports) == 1 and evil_fp in reports[0] and "does not trust" in reports[0], reports

    # the planted entry is a live threat: a reader that verifies nothing runs its code
    plant(where, "make_data", evil_key, marker)
    reader = open_store(where[0], where[1], verify="off")
    entry = reader.lookup(entry_meta(where, "make_data")["key"])
    assert entry is not None
    with contextlib.suppress(Exception):  # what the payload leaves is no array
        reader.load(entry)
    assert marker.exists()


def test_a_laptops_own_writes_are_not_trusted_by_ci_unless_ci_trusts_it(where, tmp_path,
                                                                        s3_endpoint):
    ci_key, ci_fp = keypair(tmp_path, "ci-keys")
    laptop = machine(tmp_path, "laptop", FLOWYML_CACHE_TRUSTED_SIGNERS=ci_fp,
                     FLOWYML_TEST_N="7000")
    proc, ran, _ = run(tmp_path, s3_endpoint, where, laptop)
    assert proc.returncode == 0 and ran == ["make_data", "summarise"], proc.stderr
    # the laptop signed with its machine key, made once, owner-only
    key_file = tmp_path / "laptop" / "config" / "flowyml" / signing_keys.MACHINE_KEY_NAME
    assert key_file.stat().st_mode & 0o777 == 0o600
    laptop_fp = signing_keys.fingerprint(signing_keys.public_raw(
        signing_keys.load_private(key_file.read_bytes())))
    assert signing_keys.signer_of(entry_meta(where, "make_data")) == laptop_fp
    proc, ran, reports = run(tmp_path, s3_endpoint, where,
                             machine(tmp_path, "ci", FLOWYML_CACHE_SIGNING_KEY=str(ci_key),
                                     FLOWYML_TEST_N="7000"))
    assert proc.returncode == 0 and ran == ["make_data", "summarise"], proc.stderr
    assert len(reports) == 2 and all(laptop_fp in r for r in reports), reports
    # CI trusts the laptop: its next writes are hits for CI
    run(tmp_path, s3_endpoint, where, {**laptop, "FLOWYML_TEST_N": "8000"})
    proc, ran, reports = run(tmp_path, s3_endpoint, where,
                             machine(tmp_path, "ci", FLOWYML_CACHE_SIGNING_KEY=str(ci_key),
                                     FLOWYML_CACHE_TRUSTED_SIGNERS=laptop_fp,
                                     FLOWYML_TEST_N="8000"))
    assert proc.returncode == 0 and ran == [] and reports == [], proc.stderr


def test_cache_info_names_signers_and_gc_untrusted_removes_the_rest(where, tmp_path, s3_endpoint):
    ci_key, ci_fp = keypair(tmp_path, "ci-keys")
    ci = machine(tmp_path, "ci", FLOWYML_CACHE_SIGNING_KEY=str(ci_key))
    run(tmp_path, s3_endpoint, where, ci)
    run(tmp_path, s3_endpoint, where, machine(tmp_path, "laptop", FLOWYML_TEST_N="6000",
                                              FLOWYML_CACHE_TRUSTED_SIGNERS=ci_fp))
    laptop_fp = signing_keys.signer_of(entry_meta_of_n(where, 6000))
    assert laptop_fp not in (None, ci_fp)
    reader = machine(tmp_path, "reader", FLOWYML_CACHE_TRUSTED_SIGNERS=ci_fp)
    info = flowyml(tmp_path, s3_endpoint, "cache", "info", "--cache-dir", where[0], env=reader)
    assert info.returncode == 0, info.stderr
    assert info.stdout.count(ci_fp) == 2 and info.stdout.count(laptop_fp) == 2
    assert info.stdout.count("NOT trusted") == 2
    as_json = json.loads(flowyml(tmp_path, s3_endpoint, "cache", "info", "--json", "--cache-dir",
                                 where[0], env=reader).stdout)
    assert sorted((e["signer"], e["trusted"]) for e in as_json["entries"]) == sorted(
        [(ci_fp, True)] * 2 + [(laptop_fp, False)] * 2)
    dry = flowyml(tmp_path, s3_endpoint, "cache", "gc", "--untrusted", "--dry-run", "--cache-dir",
                  where[0], env=reader)
    assert "would remove 2 entries" in dry.stdout, dry.stdout + dry.stderr
    gone = flowyml(tmp_path, s3_endpoint, "cache", "gc", "--untrusted", "--cache-dir", where[0],
                   env=reader)
    assert "removed 2 entries" in gone.stdout and "2 stay" in gone.stdout, gone.stdout + gone.stderr
    after = json.loads(flowyml(tmp_path, s3_endpoint, "cache", "info", "--json", "--cache-dir",
                               where[0], env=reader).stdout)
    assert {e["signer"] for e in after["entries"]} == {ci_fp}
    if not where[0].startswith("s3://"):  # a local folder without keys: whom to trust?
        bare = flowyml(tmp_path, s3_endpoint, "cache", "gc", "--untrusted", "--cache-dir",
                       where[0], env=machine(tmp_path, "bare"))
        assert bare.returncode == 2 and "FLOWYML_CACHE_TRUSTED_SIGNERS" in bare.stderr


def entry_meta_of_n(where, n: int) -> dict:
    """The metadata of make_data's entry for context n."""
    location, opts = where
    store = open_store(location, opts, verify="off")
    for e, meta in signers.entry_metas(store):
        if e.step == "make_data" and (meta or {}).get("explain", {}).get(
                "values", {}).get("n") == repr(n):
            return meta
    raise AssertionError(f"no entry of make_data for n={n}")


# ---------------------------------------------------------------------------------------------
# Tampering: every byte that is deserialised is covered by the signature
# ---------------------------------------------------------------------------------------------


def _stores(where, tmp_path, monkeypatch):
    """(writer with CI's key, reader on another machine trusting only CI's fingerprint)."""
    ci_key, ci_fp = keypair(tmp_path, "ci-keys")
    writer = open_store(where[0], where[1], signing_key=str(ci_key))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "reader-config"))
    monkeypatch.setenv("FLOWYML_CACHE_LOCAL_COPY_DIR", str(tmp_path / "reader-copy"))
    reader = open_store(where[0], where[1], trusted_signers=[ci_fp])
    return writer, reader, ci_fp


def _tamper(where, key, what):
    """Flip one byte of an entry's data, metadata or replay, in place."""
    location, opts = where
    if location.startswith("s3://"):
        import s3fs

        fs = s3fs.S3FileSystem(skip_instance_cache=True, **opts)
        d = open_store(location, opts).entry_path(key)
        meta = json.loads(fs.cat_file(f"{d}/meta.json"))
        name = {"data": meta.get("data"), "replay": meta["replay"]["name"], "meta": "meta.json"}[what]
        raw = bytearray(fs.cat_file(f"{d}/{name}"))
        if what == "meta":
            meta["duration"] = 12345.0
            raw = bytearray(json.dumps(meta).encode())
        else:
            raw[len(raw) // 2] ^= 0x01
        fs.pipe_file(f"{d}/{name}", bytes(raw))
        return
    path = CacheStore(location).entry_path(key)
    meta, data, replay = entry_file_parts(path)
    if what == "meta":
        meta["duration"] = 12345.0
    elif what == "data":
        data = bytearray(data)
        data[len(data) // 2] ^= 0x01
    else:
        replay = bytearray(replay)
        replay[len(replay) // 2] ^= 0x01
    write_entry_file(path, meta, bytes(data), bytes(replay))


@pytest.mark.parametrize("what", ["data", "meta", "replay"])
def test_a_tampered_byte_is_refused(where, tmp_path, monkeypatch, what):
    writer, reader, ci_fp = _stores(where, tmp_path, monkeypatch)
    key = "tampered:0123"
    value = np.arange(5000)
    replay = [{"kind": "stream", "name": "stdout", "text": "shown once\n"}]
    assert writer.store(key, {"v": value}, output_hashes={"v": "h"}, replay=replay)
    entry = reader.lookup(key)
    assert entry is not None and reader.load_replay(entry) == replay  # sound before
    _tamper(where, key, what)
    monkeypatch.setenv("FLOWYML_CACHE_LOCAL_COPY_DIR", str(tmp_path / "reader2-copy"))
    fresh = open_store(where[0], where[1], trusted_signers=[ci_fp])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        entry = fresh.lookup(key)
    reports = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    if what == "replay":  # the outputs are sound; the altered replay is never shown
        assert entry is not None and np.array_equal(fresh.load(entry)["v"], value)
        assert fresh.load_replay(entry) is None
    else:
        assert entry is None and len(reports) == 1, reports
        if what == "meta":
            assert "does not verify" in reports[0], reports
        else:  # the checksum sees it first; a forger who fixes it meets the signed sha256
            assert "checksum" in reports[0] or "sha256" in reports[0], reports


def test_a_forged_index_record_is_never_used(url, opts, tmp_path, monkeypatch):
    """The bucket's shared index holds copies of entries' metadata: a record re-signed by
    another key (poisoned output digests) is ignored; meta.json decides."""
    from flowyml.store import remote as remote_store
    from flowyml.store import remote_index as index

    writer, reader, _ = _stores((url, opts), tmp_path, monkeypatch)
    for i in range(6):
        writer.store(f"idx:{i}", {"v": i}, output_hashes={"v": f"h{i}"})
    writer.flush()
    generation = writer._current_generation()
    loaded = index.load(writer, generation)
    evil_key, _ = keypair(tmp_path, "evil-keys")
    evil = open_store(url, opts, signing_key=str(evil_key), verify="off")
    forged = {rel: evil.secret.sign({**meta, "outputs": {"v": "0" * 32}})
              for rel, meta in loaded.metas.items()}
    index.write(writer, generation, forged, {})
    monkeypatch.setattr(remote_store, "INDEX_AFTER", 1)  # the reader consults the index at once
    seen = []
    real = reader._meta_problem
    monkeypatch.setattr(reader, "_meta_problem", lambda m, k: seen.append(m) or real(m, k))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(6):
            entry = reader.lookup(f"idx:{i}")
            assert entry is not None and entry.meta["outputs"] == {"v": f"h{i}"}
            assert reader.load(entry) == {"v": i}
    assert any(m.get("outputs") == {"v": "0" * 32} for m in seen)  # the forged ones were read
    assert not [w for w in caught if issubclass(w.category, CacheWarning)]


def test_local_cache_keeps_loading_unsigned_entries_and_pins_nothing_new(tmp_path):
    """A local folder without keys: today's unsigned entries load, and writing adds no
    signature fields (the format of existing entries does not change)."""
    store = CacheStore(tmp_path / "c")
    assert store.secret is None
    store.store("s:1", {"v": 1}, output_hashes={"v": "h"})
    meta = read_meta(store.entry_path("s:1"))
    assert "signer" not in meta and "ed25519" not in meta and "sha256" not in meta
    assert store.load(store.lookup("s:1")) == {"v": 1}
    code = ("import sys, flowyml; from flowyml.store.local import CacheStore; "
            f"s = CacheStore({str(tmp_path / 'c')!r}); s.load(s.lookup('s:1')); "
            "assert 'cryptography' not in sys.modules, 'cryptography was imported'")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWYML_CACHE_")}
    env["PYTHONPATH"] = str(HERE.parent.parent)
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


# ---------------------------------------------------------------------------------------------
# The notebook: %flowyml cache trust in a real IPython shell
# ---------------------------------------------------------------------------------------------


def test_notebook_trusts_ci_with_the_magic(url, ipython_on_bucket, tmp_path, monkeypatch):
    import flowyml_jupyter

    ip = ipython_on_bucket
    ci_key, ci_fp = keypair(tmp_path, "ci-keys")
    cell = "%%step\ncalls.append(1)\nsquares = [i * i for i in range(10)]"

    def fresh_session(**env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        flowyml_jupyter.unload_ipython_extension(ip)
        ip.reset(new_session=True)
        flowyml_jupyter.load_ipython_extension(ip)
        ip.user_ns["calls"] = []
        ip.run_line_magic("flowyml", f"cache dir {url}")
        return flowyml_jupyter._LOADED[id(ip)].session

    # "CI": a notebook run with the publisher key
    fresh_session(FLOWYML_CACHE_SIGNING_KEY=str(ci_key), **machine(tmp_path, "ci"))
    assert ip.run_cell(cell).success and ip.user_ns["calls"] == [1]
    # a laptop, strict, not trusting anyone yet: the cell raises and its body does not run
    monkeypatch.delenv("FLOWYML_CACHE_SIGNING_KEY")
    session = fresh_session(FLOWYML_CACHE_VERIFY="strict", **machine(tmp_path, "laptop"))
    result = ip.run_cell(cell)
    assert not result.success and ip.user_ns["calls"] == []
    assert type(result.error_in_exec).__name__ == "UntrustedEntryError"
    assert ci_fp in str(result.error_in_exec)
    from IPython.utils.capture import capture_output

    with capture_output() as out:
        ip.run_line_magic("flowyml", f"cache trust {ci_fp}")
    assert ci_fp in out.stdout and "strict" in out.stdout
    assert session.trusted_signers == (ci_fp,)
    assert ip.run_cell(cell).success  # a hit: restores CI's values, body not run
    assert ip.user_ns["squares"] == [i * i for i in range(10)]
    assert session.steps["squares"].state == "cached"
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="not a key fingerprint"):
        ip.run_line_magic("flowyml", "cache trust SHA256:short")


# ---------------------------------------------------------------------------------------------
# Settings: mistakes are named, HMAC and keys together, the machine key's permissions
# ---------------------------------------------------------------------------------------------


def test_bad_settings_are_named_with_the_fix(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"not a key fingerprint.*SHA256:"):
        CacheStore(tmp_path / "c", trusted_signers="ab:cd")
    monkeypatch.setenv("FLOWYML_CACHE_VERIFY", "sometimes")
    with pytest.raises(ValueError, match="one of off, on, strict; got 'sometimes'"):
        CacheStore(tmp_path / "c")
    monkeypatch.delenv("FLOWYML_CACHE_VERIFY")
    with pytest.raises(ValueError, match=r"cannot read it.*flowyml cache keygen"):
        CacheStore(tmp_path / "c", signing_key=str(tmp_path / "missing.pem"))
    (tmp_path / "rsa.pem").write_bytes(_rsa_pem())
    with pytest.raises(ValueError, match="not an Ed25519 key"):
        CacheStore(tmp_path / "c", signing_key=str(tmp_path / "rsa.pem"))


def _rsa_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


def test_hmac_secret_and_publisher_key_together(tmp_path):
    key, fp = keypair(tmp_path, "keys")
    both = CacheStore(tmp_path / "c", secret="team", signing_key=str(key))
    assert both.store("s:1", {"v": 1}, output_hashes={"v": "h"})
    meta = read_meta(both.entry_path("s:1"))
    assert meta["signature"].startswith("hmac-sha256-v1:") and signing_keys.signer_of(meta) == fp
    # the HMAC alone still verifies it (the Ed25519 fields are inside what it covers)
    assert CacheStore(tmp_path / "c", secret="team").lookup("s:1") is not None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert CacheStore(tmp_path / "c", secret="other", trusted_signers=fp).lookup("s:1") is None
    assert any("signature does not match" in str(w.message) for w in caught)


def test_machine_key_readable_by_others_is_refused(tmp_path, monkeypatch, url, opts):
    store = open_store(url, opts)
    assert store.store("s:1", {"v": 1}, output_hashes={"v": "h"})  # makes the machine key
    key_file = tmp_path / "config" / "flowyml" / signing_keys.MACHINE_KEY_NAME
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (key_file.parent.stat().st_mode & 0o077) == 0
    os.chmod(key_file, 0o644)
    with warnings.catch_warnings(record=True) as caught:  # caching off, never unverified
        warnings.simplefilter("always")
        other = open_store(url, opts)
        assert not other.store("s:2", {"v": 2}, output_hashes={"v": "h"})
        assert other.lookup("s:1") is None
    assert any("chmod 600" in str(w.message) for w in caught)


def test_machine_memo_spares_new_processes_the_check_and_cannot_be_forged(tmp_path):
    """A signature verified on this machine is remembered (an HMAC keyed by the store's
    private key, in an owner-only file): a new process skips the Ed25519 check; a record
    made without that key matches nothing, so an altered entry is still refused."""
    import hmac

    ci_key, ci_fp = keypair(tmp_path, "ci-keys")
    writer = CacheStore(tmp_path / "c", signing_key=str(ci_key))
    assert writer.store("s:1", {"v": 1}, output_hashes={"v": "h"})
    reader = CacheStore(tmp_path / "c", trusted_signers=ci_fp)
    assert reader.lookup("s:1") is not None
    memo = reader.secret.memo
    assert memo.path.stat().st_size == 16 and memo.path.stat().st_mode & 0o777 == 0o600
    # a new process (nothing verified in memory): the memo answers, no Ed25519 check
    signing_keys._VERIFIED.clear()
    calls = []
    real = signing_keys._crypto
    signing_keys._crypto = lambda: calls.append(1) or real()
    try:
        again = CacheStore(tmp_path / "c", trusted_signers=ci_fp)
        assert again.secret.memo is not None  # loads this machine's key (cryptography)
        calls.clear()
        assert again.lookup("s:1") is not None and calls == []
        # someone alters the metadata and plants records made with another secret
        path = writer.entry_path("s:1")
        meta, data, replay = entry_file_parts(path)
        meta["outputs"] = {"v": "0" * 32}
        write_entry_file(path, meta, data, replay)
        body = signing_keys._ed_canonical(meta)
        digest = hashlib.sha256(f"{meta['signer']}\0{meta['ed25519']}\0".encode() + body).digest()
        with open(memo.path, "ab") as fh:
            fh.write(hmac.new(b"guessed", digest, hashlib.sha256).digest()[:16])
            fh.write(digest[:16])
        signing_keys._VERIFIED.clear()
        victim = CacheStore(tmp_path / "c", trusted_signers=ci_fp)
        assert victim.secret.memo is not None
        calls.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert victim.lookup("s:1") is None
        assert calls  # a full check was made, and it failed
        assert any("does not verify" in str(w.message) for w in caught)
    finally:
        signing_keys._crypto = real
