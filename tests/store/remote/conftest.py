"""A real S3-protocol server for the remote-cache tests: moto in server mode, in its own
process, on a free loopback port (never an in-process mock), torn down at the end.

Every test gets its own bucket and its own local-copy directory; credentials are dummies
and the instance-metadata lookup is off, so nothing ever leaves 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("s3fs", reason="s3fs is not installed (pip install flowyml[s3])")
pytest.importorskip("moto", reason="moto is not installed (pip install 'moto[server]')")

pytestmark = pytest.mark.remote

HERE = Path(__file__).parent
REPO = HERE.parents[2]
#: the dummy credentials of the loopback server (a test checks they never show up)
KEY_ID, SECRET_KEY = "AKIAFLOWYMLTESTKEY01", "flowyml-test-secret-access-key-DO-NOT-PRINT"
AWS_ENV = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server process exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    """Terminate a process started in its own session, and everything it started."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture(scope="session")
def s3_endpoint():
    """``http://127.0.0.1:PORT`` of a moto server process (the whole session shares it)."""
    saved = {k: os.environ.get(k) for k in AWS_ENV}
    os.environ.update(AWS_ENV)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, **AWS_ENV})
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def s3(s3_endpoint):
    """An s3fs file system on the loopback server (for looking at and damaging objects)."""
    import s3fs

    return s3fs.S3FileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True)


@pytest.fixture
def bucket(s3, tmp_path, monkeypatch):
    """A fresh bucket; this test's local copy lives under tmp_path."""
    name = f"flowyml-{uuid.uuid4().hex[:12]}"
    s3.mkdir(name)
    monkeypatch.setenv("FLOWYML_CACHE_LOCAL_COPY_DIR", str(tmp_path / "local-copy"))
    monkeypatch.delenv("FLOWYML_CACHE_SECRET", raising=False)
    return name


@pytest.fixture
def url(bucket):
    return f"s3://{bucket}/team-cache"


@pytest.fixture
def opts(s3_endpoint):
    return {"endpoint_url": s3_endpoint}


def script_env(s3_endpoint: str, **extra: str) -> dict[str, str]:
    """The environment of a subprocess: fsspec's own configuration names the endpoint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWYML_", "FSSPEC_"))}
    env.update(AWS_ENV)
    env["FSSPEC_S3_ENDPOINT_URL"] = s3_endpoint
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    # the loopback server answers in milliseconds; eight processes at once on a loaded
    # machine once took longer than the 10 s a real store gets (CI)
    env["FLOWYML_CACHE_CHECK_TIMEOUT"] = "60"
    env.update(extra)
    return env


def run_script(cwd: Path, s3_endpoint: str, *args: str, timeout: float = 120, **env: str) -> dict:
    """Run ``remote_pipeline.py`` in ``cwd``; its last stdout line is JSON."""
    proc = subprocess.run([sys.executable, str(HERE / "remote_pipeline.py"), *args], cwd=cwd,
                          env=script_env(s3_endpoint, **env), capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["stderr"] = proc.stderr
    return result


@pytest.fixture
def ipython_on_bucket(s3_endpoint, monkeypatch):
    """A real IPython shell with flowyml loaded afresh and fsspec's own configuration
    pointing s3:// at the test server (the notebook user's set-up); unloaded afterwards."""
    import fsspec.config

    pytest.importorskip("IPython")
    from IPython.core.getipython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    import flowyml_jupyter

    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": s3_endpoint})
    start_ipython()
    ip = get_ipython()
    flowyml_jupyter.unload_ipython_extension(ip)
    ip.reset(new_session=True)
    flowyml_jupyter.load_ipython_extension(ip)
    try:
        yield ip
    finally:
        flowyml_jupyter.unload_ipython_extension(ip)
        ip.reset(new_session=True)
