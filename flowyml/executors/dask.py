"""Dask: units run as ``dask.distributed`` tasks, on a LocalCluster or an existing cluster.

``DaskExecutor()`` starts a loopback ``LocalCluster`` for the run (and closes it after);
``DaskExecutor(client=...)`` uses an existing ``Client`` (never closed here);
``DaskExecutor(address="tcp://host:8786")`` connects, failing within ``connect_timeout``
seconds with the address in the message. Step ``resources`` become Dask worker resources
(``CPU``, ``GPU``, ``MEMORY`` in bytes); a step needing more than any worker offers fails
before the run starts. Events come back live through the scheduler's event log (in
bunches for a job of several steps). Small ready units go to a worker several per Dask task
and a chain of steps that only feed each other is one task (see
:mod:`flowyml.executors.pool`); each task is submitted with ``pure=False`` and a key, so
nothing is tokenized.

Where results go: workers that see the client's cache (the same disk, checked with a
marker file -- never assumed -- or a remote store such as ``s3://...``) write entries there
and send back cache-backed artifacts, loaded lazily on the client. Workers that do not see
it send values back through Dask, and the client stores them in its own cache
(:mod:`flowyml.executors.relay`).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import pickle
import re
import uuid
from typing import Any

from flowyml.executors import relay
from flowyml.executors.pool import PoolExecutor, Unit, shipped
from flowyml.executors.worker import run_batch

DEFAULT_CONNECT_TIMEOUT = 5.0


def unit_resources(steps: list[Any]) -> dict[str, float]:
    """The Dask resources a unit needs: its most demanding step's CPU, GPU and MEMORY."""
    needs: dict[str, float] = {}
    for step in steps:
        req = getattr(step, "resource_requirements", None)
        if req is None:
            continue
        for key, value in (("CPU", req.cpu_cores), ("GPU", req.get_gpu_count()),
                           ("MEMORY", req.memory_bytes)):
            if value:
                needs[key] = max(needs.get(key, 0), value)
    return needs


class _LogChannel:
    """Events from a Dask worker to the client, through the scheduler's event log."""

    def __init__(self, worker: Any, topic: str) -> None:
        self.worker, self.topic = worker, topic

    def send(self, token: str, seq: int, event: Any) -> None:
        self.worker.log_event(self.topic, {"token": token, "seq": seq,
                                           "event": pickle.dumps(event)})

    def send_many(self, items: list[tuple[str, int, Any]]) -> None:
        self.worker.log_event(self.topic, {"events": pickle.dumps(items)})


def _run_on_dask(units: list[tuple[Any, ...]], topic: str, live: bool) -> Any:
    from distributed import get_worker

    worker = get_worker()
    if any(getattr(s, "timeout", None) or getattr(getattr(s, "map_config", None),
                                                  "timeout_per_item", None)
           for unit in units for s in unit[0]):
        # tasks run in worker threads, so a timed step runs in a killable child process;
        # Dask workers are daemonic by default, which forbids children
        multiprocessing.current_process().daemon = False
    # a dead batch is re-sent unit by unit, unblamed (PoolExecutor.started_before_run), so
    # only a job of one unit (a fused chain) needs its StepStarted sent at once
    return run_batch(units, _LogChannel(worker, topic), live=live, lazy=True,
                     label=worker.address, mapper=dask_mapper, blame_by_events=len(units) == 1)


def _run_item(call: Any, item: Any) -> Any:
    # an item task may need a killable child process for its timeout (see _run_on_dask)
    multiprocessing.current_process().daemon = False
    return call(item)


def dask_mapper(call: Any, items: list[Any], concurrency: int, fail_fast: bool) -> list[Any]:
    """map_task items as separate Dask tasks across the cluster, ``concurrency`` at a time.

    Runs inside a unit's task: ``worker_client`` secedes from the worker's thread pool while
    waiting, so the items can use this worker too.
    """
    from distributed import as_completed, worker_client

    from flowyml.executors.runner import NOT_RUN

    out: list[Any] = [(NOT_RUN, None)] * len(items)
    queue = list(enumerate(items))[::-1]
    with worker_client() as client:
        index_of: dict[Any, int] = {}

        def submit_next() -> Any:
            index, item = queue.pop()
            future = client.submit(_run_item, call, item, pure=False)
            index_of[future] = index
            return future

        running = as_completed([submit_next() for _ in range(min(concurrency, len(queue)))])
        failed = False
        for future in running:
            index = index_of.pop(future)
            try:
                out[index] = (future.result(), None)
            except Exception as exc:
                out[index] = (None, exc)
                failed = True
            if failed and fail_fast:
                for other in index_of:
                    other.cancel()
                break
            if queue:
                running.add(submit_next())
    return out


class DaskExecutor(PoolExecutor):
    """Runs units on a ``dask.distributed`` cluster."""

    name = "dask"
    lazy_outputs = True
    batching = True
    #: a Dask task costs a few ms of round trips: batches are longer than for processes
    batch_seconds = 0.05

    def __init__(self, client: Any = None, address: str | None = None,
                 max_workers: int | None = None,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
        import dask
        from distributed import Client, LocalCluster

        super().__init__(max_workers or 2)
        self._cluster: Any = None
        self._own_client = client is None
        if client is None and address is not None:
            try:
                client = Client(address, timeout=connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise ConnectionError(
                    f"could not reach the Dask scheduler at {address!r} within "
                    f"{connect_timeout:g} s ({exc}); check the address and that the scheduler "
                    "is running"
                ) from None
        elif client is None:
            n = max_workers or 2
            memory = _total_memory() // n
            with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                                  "distributed.worker.daemon": False}):
                self._cluster = LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                    host="127.0.0.1", memory_limit=memory or "auto",
                    resources={"CPU": 1, **({"MEMORY": memory} if memory else {})},
                )
            client = Client(self._cluster)
        self.client = client
        if max_workers is None:  # one job in flight per worker thread of the cluster
            with contextlib.suppress(Exception):
                workers = client.scheduler_info().get("workers", {})
                threads = sum(int(w.get("nthreads", 1)) for w in workers.values())
                self.max_workers = self._free[0] = max(threads, self.max_workers)
        self._shared: dict[int, bool] = {}  # id(store) -> do all workers see it?
        self._markers: list[str] = []
        self._topic = f"flowyml-events-{uuid.uuid4().hex}"
        client.subscribe_topic(self._topic, self._on_log)

    def _on_log(self, record: Any) -> None:
        _, msg = record
        if "events" in msg:  # a bunch from a batched job
            for token, seq, event in pickle.loads(msg["events"]):
                self._inbox.put(("event", token, seq, event))
            return
        self._inbox.put(("event", msg["token"], msg["seq"], pickle.loads(msg["event"])))

    # -- Executor ------------------------------------------------------------------------------
    def submit_unit(self, steps: list[Any], artifacts: dict[str, Any], context: dict[str, Any],
                    store: Any, run_id: str, emit: Any, unavailable: dict[str, str]) -> cf.Future:
        if self.shares_store(store):
            return super().submit_unit(steps, artifacts, context, store, run_id, emit, unavailable)
        deferred: list[dict[str, Any]] = []  # process state the hits changed: the worker's
        try:
            prefix, rest, gone = relay.probe_unit(steps, artifacts, context, store, run_id, emit,
                                                  unavailable, deferred)
            if rest:  # something must run: on a worker, with values
                needed = {n for s in rest for n in (*s.inputs, *s.condition_params)}
                pool = {**artifacts, **prefix.artifacts}
                shipped_in = relay.with_values({n: a for n, a in pool.items() if n in needed})
        except Exception as exc:  # e.g. an input the client's cache cannot load any more
            from flowyml.executors.base import crashed

            prefix, rest = crashed(steps, exc, run_id, emit), []
        if not rest:
            done: cf.Future = cf.Future()
            done.set_result(prefix)
            return done
        inner = super().submit_unit(rest, shipped_in, context, relay.RelayStore(store, deferred),
                                    run_id, emit, gone)
        if not prefix.results:
            return inner
        outer: cf.Future = cf.Future()  # the answered steps' results, then the shipped ones'

        def merge(future: cf.Future) -> None:
            outcome = future.result()
            outcome.results[:0] = prefix.results
            outcome.artifacts = {**prefix.artifacts, **outcome.artifacts}
            outer.set_result(outcome)

        inner.add_done_callback(merge)
        return outer

    def shares_store(self, store: Any) -> bool:
        """Whether every worker sees ``store``: remote stores do; a local directory is asked
        about with a marker file the client writes and each worker tries to read."""
        from flowyml.store.local import CacheStore

        if not isinstance(store, CacheStore):
            return True
        known = self._shared.get(id(store))
        if known is None:
            try:
                path, token = relay.place_marker(store.root)
            except OSError:
                known = False
            else:
                self._markers.append(path)
                with contextlib.suppress(Exception):
                    self.client.wait_for_workers(1, timeout=30)
                try:
                    answers = self.client.run(relay.sees_marker, path, token)
                except Exception:
                    answers = {}
                known = bool(answers) and all(answers.values())
            self._shared[id(store)] = known
        return known

    def _received(self, unit: Unit, outcome: Any) -> None:
        target = getattr(unit.args[2], "target", None)
        if outcome.relayed and target is not None:
            relay.store_relayed(target, outcome)

    def check_unit(self, steps: list[Any]) -> str | None:
        needs = unit_resources(steps)
        if not needs:
            return None
        workers = self.client.scheduler_info().get("workers", {})
        offers = {addr: info.get("resources") or {} for addr, info in workers.items()}
        if any(all(offer.get(k, 0) >= v for k, v in needs.items()) for offer in offers.values()):
            return None
        names = ", ".join(f"'{s.name}'" for s in steps)
        wanted = ", ".join(f"{k}={_fmt(v)}" for k, v in needs.items())
        return (f"step {names} needs Dask worker resources {{{wanted}}} but no worker has them "
                f"(workers offer: {offers or 'no workers'}); start workers with e.g. "
                f"`dask worker ... --resources \"{wanted.replace(', ', ',')}\"` or lower the "
                "step's resources")

    def _slots(self, steps: list[Any]) -> tuple[int, int]:
        # where a unit runs and with what is Dask's to decide, from its resources: here a
        # unit only takes one of the jobs kept in flight (a step asking for more CPUs than
        # max_workers would otherwise wait for slots that never come)
        return 1, 0

    def fusable(self, steps: list[Any]) -> bool:
        return super().fusable(steps) and not unit_resources(steps)

    def _start(self, units: list[Unit], live: bool) -> Any:
        label = "-".join(s.name for s in units[0].steps)[:60]
        if len(units) > 1:
            label += f"-and-{len(units) - 1}-more"
        # pure=False with an explicit key: nothing is tokenized
        return self.client.submit(
            _run_on_dask, [shipped(u) for u in units], self._topic, live,
            key=f"flowyml-{label}-{units[0].token}", pure=False,
            resources=unit_resources(units[0].steps) or None,
        )

    def _worker_died(self, exc: BaseException) -> bool:
        from concurrent.futures import CancelledError

        from distributed.scheduler import KilledWorker

        return isinstance(exc, KilledWorker | CancelledError)

    def _dead_worker(self, exc: BaseException) -> str | None:
        last = getattr(exc, "last_worker", None)
        address = getattr(last, "address", last)
        if isinstance(address, str):
            return address
        found = re.search(r"\w+://[\w.\-]+:\d+", str(exc))
        return found.group(0) if found else None

    def close(self) -> None:
        super().close()
        for path in self._markers:
            relay.remove_marker(path)
        self._markers.clear()
        with contextlib.suppress(Exception):  # the connection may be gone already
            self.client.unsubscribe_topic(self._topic)
        if self._own_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def _total_memory() -> int:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


__all__ = ["DaskExecutor"]
