"""The CPU tier as one Executor, on this machine's processes or on a dask.distributed cluster.

    event loop --run_in_executor / mapInBatches--> cpuExecutor(kind)
                                                     |
        "process"  lecture31 process pool (forkserver, warm) --> worker processes, this host
        "dask"     Client --> scheduler --> dask workers: a LocalCluster (spawned processes,
                   1 thread each, loopback only) or the scheduler at `address`, any hosts

Whatever ``cpuExecutor`` starts it closes on exit, also on error and on cancellation: the
executor (queued work cancelled), then the client, then the local cluster. ``async with`` does
the blocking opening and closing in a helper thread, so the event loop keeps running.

``python -m lecture31.cluster --overhead`` measures the per-task round trip of each executor;
``--pipeline`` times the correct pipeline on each, per reading and batched; ``--model`` prints
the scale-out model and draws ``results/cluster-model.png``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor

from lecture31._checks import checkCount
from lecture31._pools import makeProcessPool, warmPool

__all__ = ("DASK_SCHEDULER_ENV", "EXTRA_HINT", "KINDS", "cpuExecutor")

KINDS = ("process", "dask")
DASK_SCHEDULER_ENV = "LECTURE31_DASK_SCHEDULER"
EXTRA_HINT = "pip install 'lecture31[distributed]'"

# Waiting for a remote scheduler or its workers: long enough for a cluster that is still coming
# up, short enough that a wrong address is an error within a minute, not a hang.
CONNECT_TIMEOUT_SECONDS = 30.0

# Local dask workers start as fresh interpreters ("spawn", dask's own default), never forked
# from this process, which runs threads (see lecture31._pools). Pinned for the cluster's whole
# life because a nanny re-reads it when it restarts a killed worker.
DASK_START_METHOD = "spawn"


def cpuExecutor(
    kind: str = "process", *, address: str | None = None, workers: int | None = None
) -> _CpuExecutor:
    """A context manager (``with`` or ``async with``) yielding the CPU tier's Executor.

    ``kind="process"``: the project's process pool, ``workers`` processes (default: the core
    count), started and warm. ``kind="dask"``: an executor on a dask cluster; ``address`` (or
    the environment variable ``LECTURE31_DASK_SCHEDULER``) names a running scheduler such as
    ``tcp://host:8786`` (then ``workers`` is how many workers to wait for, default 1), else a
    local cluster of ``workers`` single-threaded worker processes (default: the core count).
    """
    return _CpuExecutor(kind, address=address, workers=workers)


class _CpuExecutor:
    """One use: opens on enter, closes everything it opened on exit."""

    def __init__(self, kind: object, *, address: object, workers: object) -> None:
        if not isinstance(kind, str):
            raise TypeError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if address is not None and not isinstance(address, str):
            raise TypeError(f"address must be a scheduler address string or None, got {address!r}")
        if address is not None and kind != "dask":
            raise ValueError(f"address applies to kind='dask' only, got kind={kind!r}")
        if address == "":
            raise ValueError("address must be a scheduler address such as tcp://host:8786, got ''")
        if workers is not None:
            checkCount(workers, "workers")
        self.kind = kind
        self.address = address
        self.workers = workers
        self._stack: contextlib.ExitStack | None = None

    def __repr__(self) -> str:
        where = f" address={self.address!r}" if self.address else ""
        return f"<cpuExecutor {self.kind}{where} workers={self.workers}>"

    # --- sync ---------------------------------------------------------------------------

    def __enter__(self) -> Executor:
        if self._stack is not None:
            raise RuntimeError(f"{self!r} is already open; use a new cpuExecutor(...)")
        stack = contextlib.ExitStack()
        self._stack = stack
        try:
            if self.kind == "process":
                return _openProcessPool(stack, self.workers)
            return _openDask(stack, self.address, self.workers)
        except BaseException:
            stack.close()
            raise

    def __exit__(self, *excInfo: object) -> None:
        if self._stack is not None:
            self._stack.close()

    # --- async: the same, with the blocking parts in a helper thread ---------------------

    async def __aenter__(self) -> Executor:
        executor, cancelled = await _offThread(self.__enter__, "lecture31-cpu-open")
        if cancelled is not None:
            # Cancelled while opening: what was opened is closed before the cancellation goes on.
            await _offThread(self.__exit__, "lecture31-cpu-close", None, None, None)
            raise cancelled
        return executor

    async def __aexit__(self, *excInfo: object) -> None:
        _, cancelled = await _offThread(self.__exit__, "lecture31-cpu-close", *excInfo)
        if cancelled is not None:
            raise cancelled


async def _offThread(
    fn: Callable[..., object], name: str, *args: object
) -> tuple[object, asyncio.CancelledError | None]:
    """Run blocking ``fn`` in a helper thread without blocking the loop; always join it.

    A thread cannot be interrupted, and what it opens must not leak, so a cancellation
    arriving meanwhile is held, not acted on: returns ``(result, cancellation or None)`` once
    the thread is done; ``fn``'s own exception is raised.
    """
    loop = asyncio.get_running_loop()
    finished = loop.create_future()
    outcome: list[tuple[bool, object]] = []

    def settle() -> None:
        if not finished.done():
            finished.set_result(None)

    def run() -> None:
        try:
            outcome.append((True, fn(*args)))
        except BaseException as exc:  # handed to the awaiting coroutine below
            outcome.append((False, exc))
        finally:
            loop.call_soon_threadsafe(settle)

    helper = threading.Thread(target=run, name=name)
    helper.start()
    cancelled: asyncio.CancelledError | None = None
    while not finished.done():
        try:
            await asyncio.shield(finished)
        except asyncio.CancelledError as exc:
            cancelled = exc
    helper.join()
    ok, value = outcome[0]
    if not ok:
        raise value  # type: ignore[misc]
    return value, cancelled


def _openProcessPool(stack: contextlib.ExitStack, workers: int | None) -> Executor:
    size = workers or os.cpu_count() or 1
    pool = makeProcessPool(size)
    stack.callback(pool.shutdown, wait=True, cancel_futures=True)
    warmPool(pool, size)
    return pool


def _importDistributed():
    try:
        import dask
        import distributed
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"cpuExecutor(kind='dask') needs the 'distributed' extra: {EXTRA_HINT}"
        ) from exc
    return dask, distributed


def _openDask(stack: contextlib.ExitStack, address: str | None, workers: int | None) -> Executor:
    dask, distributed = _importDistributed()
    address = address or os.environ.get(DASK_SCHEDULER_ENV) or None
    if address is None:
        stack.enter_context(
            dask.config.set({"distributed.worker.multiprocessing-method": DASK_START_METHOD})
        )
        cluster = distributed.LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",  # loopback only: nothing here listens on the network
            scheduler_port=0,
            dashboard_address=None,
            worker_dashboard_address=None,
            # The scheduler serves HTTP even without a dashboard, on port 8787 unless told
            # otherwise, and warns when that port is taken: a free loopback port instead.
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        )
        stack.callback(cluster.close)
        client = distributed.Client(cluster, set_as_default=False)
    else:
        try:
            client = distributed.Client(
                address, set_as_default=False, timeout=CONNECT_TIMEOUT_SECONDS
            )
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(
                f"no dask scheduler answered at {address!r} within"
                f" {CONNECT_TIMEOUT_SECONDS:g} s ({exc})"
            ) from exc
    stack.callback(client.close)
    if address is not None:
        wanted = workers or 1
        try:
            client.wait_for_workers(wanted, timeout=CONNECT_TIMEOUT_SECONDS)
        except TimeoutError as exc:
            raise ConnectionError(
                f"dask scheduler {address!r} has fewer than {wanted} worker(s) after"
                f" {CONNECT_TIMEOUT_SECONDS:g} s; start them with `dask worker {address}`"
            ) from exc
    # pure=False: dask's default pure=True gives identical calls one key, so a repeated round
    # would be served from the first one's result instead of computed (dask/distributed#2022).
    executor = client.get_executor(pure=False)
    # Closed before the client: queued tasks are released, none is waited for.
    stack.callback(executor.shutdown, wait=False)
    _warmDask(executor, client)
    return executor


def _warmDask(executor: Executor, client) -> None:
    """One no-op per worker thread, so the first timed task does not pay for the first import."""
    from lecture31._batching import _noop

    threads = max(1, sum(client.nthreads().values()))
    for future in [executor.submit(_noop) for _ in range(threads)]:
        future.result(timeout=CONNECT_TIMEOUT_SECONDS)
