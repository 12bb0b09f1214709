"""An unreachable or misconfigured store: a clear one-line message within seconds, never a
hang or a traceback wall, and never a credential in what is shown."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import warnings

import pytest

from flowyml import Pipeline, step
from flowyml.store.entry import CacheWarning
from flowyml.store.urls import CacheUnavailableError, redact, scrub

from .conftest import KEY_ID, SECRET_KEY, free_port, script_env


@step(outputs=["one"], register=False)
def one() -> int:
    return 1


def _closed_port() -> int:
    return free_port()  # nothing listens there any more


@pytest.fixture
def silent_server():
    """A loopback port that accepts connections and never answers (a hung endpoint)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    sock.close()


def _check_message(text: str) -> None:
    assert "\n" not in text.strip()
    assert SECRET_KEY not in text and KEY_ID not in text and "hunter2" not in text


@pytest.mark.parametrize("kind", ["closed-port", "silent-server"])
def test_unreachable_endpoint_is_one_clear_line_within_seconds(kind, request, tmp_path, monkeypatch):
    port = _closed_port() if kind == "closed-port" else request.getfixturevalue("silent_server")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("FLOWYML_CACHE_LOCAL_COPY_DIR", str(tmp_path / "copy"))
    opts = {"endpoint_url": f"http://127.0.0.1:{port}", "key": KEY_ID, "secret": SECRET_KEY}
    pipeline = Pipeline("p", cache_dir="s3://user:hunter2@some-bucket/cache",
                        storage_options=opts).add_step(one)
    started = time.monotonic()
    with pytest.raises(CacheUnavailableError) as info:
        pipeline.run()
    elapsed = time.monotonic() - started
    assert elapsed < 15, elapsed
    message = str(info.value)
    _check_message(message)
    assert "s3://***@some-bucket/cache" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no chained wall


def test_missing_bucket_is_a_clear_message(opts, s3_endpoint):
    pipeline = Pipeline("p", cache_dir="s3://flowyml-no-such-bucket/c", storage_options=opts)
    with pytest.raises(CacheUnavailableError, match="flowyml-no-such-bucket"):
        pipeline.add_step(one).run()


def test_cli_unreachable_store_one_line_exit_2(tmp_path, s3_endpoint):
    env = script_env(s3_endpoint, FSSPEC_S3_ENDPOINT_URL=f"http://127.0.0.1:{_closed_port()}")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "flowyml", "cache", "info", "--cache-dir",
                           "s3://some-bucket/cache"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert time.monotonic() - started < 20
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("flowyml cache: error: flowyml cache: cannot use")
    _check_message(proc.stderr)
    assert not (tmp_path / "s3:").exists()


def test_notebook_session_goes_on_uncached_with_one_warning(tmp_path, monkeypatch):
    from flowyml.notebook.session import NotebookSession

    monkeypatch.setenv("FLOWYML_CACHE_LOCAL_COPY_DIR", str(tmp_path / "copy"))
    session = NotebookSession({}, cache_dir="s3://some-bucket/cache",
                              storage_options={"endpoint_url": f"http://127.0.0.1:{_closed_port()}",
                                               "secret": SECRET_KEY, "key": KEY_ID})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = session.store
        assert store.lookup("a:b") is None
        assert store.store("a:b", {"x": 1}, output_hashes={"x": "h"}) is False
    reports = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert len(reports) == 1 and "caching is off" in reports[0]
    _check_message(reports[0])


def test_store_lost_mid_run_turns_caching_off_with_one_warning(url, opts, s3, monkeypatch):
    from flowyml.store.locations import open_store

    store = open_store(url, opts)
    store.check_safety()

    def broken(*a, **k):
        raise ConnectionResetError(f"connection reset while talking to {SECRET_KEY}")

    monkeypatch.setattr(store.fs, "cat_file", broken)
    monkeypatch.setattr(store.fs, "put_file", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(3):
            assert store.lookup(f"s:{i}") is None
            assert store.store(f"s:{i}", {"x": i}, output_hashes={"x": "h"}) is False
    reports = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert len(reports) == 1 and "caching is off" in reports[0]
    _check_message(reports[0])


def test_redact_and_scrub():
    assert redact("s3://AKIA:SECRET@bucket/x") == "s3://***@bucket/x"
    assert redact("az://c/x?sig=abc&sv=1") == "az://c/x?sig=***&sv=1"
    text = scrub("failed for https://u:p@host/x with key abcdefg", {"client_kwargs": {"aws_secret": "abcdefg"}})
    assert "abcdefg" not in text and "u:p@" not in text
