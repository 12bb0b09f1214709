"""Executors under test: the four built-in ones, Dask on one loopback LocalCluster per module."""

from __future__ import annotations

import importlib.util

import pytest

HAS_DISTRIBUTED = importlib.util.find_spec("distributed") is not None
EXECUTORS = ["sequential", "threads", "processes",
             pytest.param("dask", marks=[pytest.mark.dask, pytest.mark.skipif(
                 not HAS_DISTRIBUTED, reason="dask.distributed is not installed")])]


@pytest.fixture(scope="module")
def dask_client():
    """A 2-worker LocalCluster on loopback, shared by the module's tests."""
    if not HAS_DISTRIBUTED:
        pytest.skip("dask.distributed is not installed")
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                          "distributed.worker.daemon": False}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None, host="127.0.0.1",
                               resources={"CPU": 1})
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(params=EXECUTORS)
def executor(request):
    """The executor argument for ``Pipeline.run``: a name, or the shared Dask client."""
    if request.param == "dask":
        return request.getfixturevalue("dask_client")
    return request.param
