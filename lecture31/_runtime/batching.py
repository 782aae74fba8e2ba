"""Send many small tasks to an executor in batches sized from what one task costs to send.

    event loop                      executor (process pool, dask cluster, threads)
    items --chunks of b--> run_in_executor(_applyBatch, fn, chunk) --> [fn(x) for x in chunk]
           <= WINDOW_PER_WORKER x workers batches in flight at once (memory stays bounded)

Every task pays a fixed cost to reach a worker and come back: ``o``, the *per-task overhead*
(pickling, queues, for dask also the scheduler). ``fn`` costs ``c`` per item where it runs. With
``n`` items on ``W`` workers, one dispatcher sending tasks one after another:

    time ~ n c / W  +  (n / b) o / W  (overhead)  +  b c  (the last batch's tail)

``batchSizeFor`` picks ``b`` from that: the sqrt balance of overhead against tail, but never so
small that the dispatcher (``o`` per task, serial) falls behind ``W`` busy workers, and no more
than ``ceil(n / W)`` (every worker gets work) unless the dispatcher could not even send that
many tasks in time. ``python -m lecture31.cluster --overhead``
measures ``o`` for each executor.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import statistics
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Protocol, TypeVar, cast

from .checks import checkCount, checkExecutor, checkSeconds
from .gathering import gatherAll as _gatherAll
from .pools import detached

__all__ = ("batchSizeFor", "executorWorkers", "mapInBatches", "measureOverhead", "noop")

# Batches in flight per worker: enough that a worker finishing a batch finds the next one queued
# (the dispatcher sends ahead), few enough that 10^7 items never become 10^7 pending futures.
WINDOW_PER_WORKER = 4

# No-ops timed to measure one executor's per-task overhead: one burst, sent all at once (what a
# gather of many tasks pays), after a warm-up round trip.
OVERHEAD_BURST = 64

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


class _SizedPool(Protocol):
    _max_workers: int


# Per-executor overhead measured once and reused: measuring costs a burst of no-ops (~0.1 s
# on a local dask cluster), and mapInBatches runs many times on one warm executor.
_overheadCache: weakref.WeakKeyDictionary[Executor, float] = weakref.WeakKeyDictionary()
# Per-function cost where it runs, keyed by module and name (functions may not be weakref-able).
_taskSecondsCache: dict[tuple[str, str], float] = {}


def noop() -> None:
    """The task whose round trip is pure overhead (module level: every executor can send it)."""


def _applyBatch(fn: Callable[[ItemT], ResultT], chunk: Sequence[ItemT]) -> list[ResultT]:
    """Runs in the worker: ``fn`` over one chunk, results in order."""
    return [fn(item) for item in chunk]


def _timedBatch(
    fn: Callable[[ItemT], ResultT], chunk: Sequence[ItemT]
) -> tuple[list[ResultT], float]:
    """Runs in the worker: ``_applyBatch`` and how long it took there (excludes the trip)."""
    start = time.perf_counter()
    results = _applyBatch(fn, chunk)
    return results, time.perf_counter() - start


def batchSizeFor(numItems: int, workers: int, *, overheadSeconds: float, taskSeconds: float) -> int:
    """Items per task for ``numItems`` items of ``taskSeconds`` each on ``workers`` workers.

    ``b = min(n, cap, max(ceil(sqrt(n o / (W c))), ceil(W o / c), 1))`` with
    ``cap = max(ceil(n / W), ceil(sqrt(n o / c)))``. The first sqrt balances the overhead of
    ``n / b`` tasks against the tail of one batch; ``W o / c`` keeps a serial dispatcher (``o``
    per task) fast enough to feed ``W`` workers; the cap gives every worker work, unless even
    that many tasks cannot be dispatched in time, and then sizes the batches so that dispatching
    them takes as long as running one (``b c = (n / b) o``).
    """
    checkCount(numItems, "numItems")
    checkCount(workers, "workers")
    overhead = checkSeconds(overheadSeconds, "overheadSeconds")
    cost = checkSeconds(taskSeconds, "taskSeconds")
    cost = max(cost, 1e-9)  # a task measured at 0 s (timer resolution) is just very cheap
    balance = math.ceil(math.sqrt(numItems * overhead / (workers * cost)))
    keepUp = math.ceil(workers * overhead / cost)
    cap = max(math.ceil(numItems / workers), math.ceil(math.sqrt(numItems * overhead / cost)))
    return max(1, min(numItems, cap, max(balance, keepUp)))


def executorWorkers(executor: Executor) -> int:
    """How many tasks ``executor`` runs at once (a dask client: its workers' threads)."""
    if isinstance(executor, ThreadPoolExecutor):
        return executor._max_workers
    if isinstance(executor, ProcessPoolExecutor):
        # typeshed omits ProcessPoolExecutor._max_workers, which CPython's __init__ sets.
        return cast(_SizedPool, executor)._max_workers
    client = getattr(executor, "_client", None)  # distributed's ClientExecutor
    if client is not None:
        threads: int = sum(client.nthreads().values())
        return max(1, threads)
    return os.cpu_count() or 1


async def measureOverhead(executor: Executor, *, burst: int = OVERHEAD_BURST) -> dict[str, float]:
    """Per-task cost of ``executor``, warm: ``roundTripSeconds`` of one no-op sent alone
    (median of 9), and ``perTaskSeconds``, a burst of ``burst`` no-ops sent at once divided by
    ``burst`` (what each task of a big gather pays)."""
    checkExecutor(executor, "executor", optional=False)
    checkCount(burst, "burst")
    return await _measureOverhead(executor, burst)


async def _measureOverhead(executor: Executor, burst: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()

    def send() -> asyncio.Future:
        future = loop.run_in_executor(executor, noop)
        # A measurement cancelled midway (its run ended) must not cancel a process pool's
        # future: on CPython 3.11 that can wedge the pool (lecture31._runtime.pools.detached).
        return detached(future) if isinstance(executor, ProcessPoolExecutor) else future

    await send()  # warm: a worker is up and has the function
    trips = []
    for _ in range(9):
        start = time.perf_counter()
        await send()
        trips.append(time.perf_counter() - start)
    start = time.perf_counter()
    await _gatherAll([send() for _ in range(burst)])
    perTask = (time.perf_counter() - start) / burst
    return {"roundTripSeconds": statistics.median(trips), "perTaskSeconds": perTask}


async def _overheadOf(executor: Executor) -> float:
    try:
        return _overheadCache[executor]
    except (KeyError, TypeError):
        pass
    overhead = (await _measureOverhead(executor, OVERHEAD_BURST))["perTaskSeconds"]
    # An executor that cannot be weakly referenced is measured every time.
    with contextlib.suppress(TypeError):
        _overheadCache[executor] = overhead
    return overhead


def _functionKey(fn: Callable) -> tuple[str, str]:
    return (getattr(fn, "__module__", "") or "", getattr(fn, "__qualname__", repr(fn)))


async def mapInBatches(
    executor: Executor,
    fn: Callable[[ItemT], ResultT],
    items: Iterable[ItemT],
    *,
    batchSize: int | None = None,
    taskSeconds: float | None = None,
) -> list[ResultT]:
    """``[fn(x) for x in items]`` computed on ``executor`` in batches, in order, from the loop.

    ``fn`` must be picklable for a process pool or a cluster (module level). ``batchSize=None``
    sizes batches with ``batchSizeFor`` from the executor's measured per-task overhead (once per
    executor) and ``taskSeconds`` (measured on the first items, one per worker, once per
    function, when not given). If one batch fails, the others are cancelled and awaited and the
    error propagates; so does cancellation.
    """
    # The executor and fn were checked by the runner that owns them (lecture31._runtime.dispatch).
    if batchSize is not None:
        checkCount(batchSize, "batchSize")
    if taskSeconds is not None:
        checkSeconds(taskSeconds, "taskSeconds")
    items = list(items)
    if not items:
        return []
    loop = asyncio.get_running_loop()
    workers = executorWorkers(executor)
    results: list = []
    start = 0
    if batchSize is None:
        overhead = await _overheadOf(executor)
        key = _functionKey(fn)
        if taskSeconds is None:
            taskSeconds = _taskSecondsCache.get(key)
        if taskSeconds is None:
            # Probe: the first item of each worker alone, timed where it runs. Its results are
            # kept, so the probe costs one round trip, not extra work.
            probe = items[:workers]
            timed = await _gatherAll(
                [loop.run_in_executor(executor, _timedBatch, fn, [item]) for item in probe]
            )
            for batch, _ in timed:
                results.extend(batch)
            taskSeconds = statistics.median(seconds for _, seconds in timed)
            _taskSecondsCache[key] = taskSeconds
            start = len(probe)
        if start == len(items):
            return results
        batchSize = batchSizeFor(
            len(items) - start, workers, overheadSeconds=overhead, taskSeconds=taskSeconds
        )
    chunks = [items[i : i + batchSize] for i in range(start, len(items), batchSize)]
    batches = await _windowed(
        loop, executor, fn, chunks, window=max(1, WINDOW_PER_WORKER * workers)
    )
    for batch in batches:
        results.extend(batch)
    return results


async def _windowed(loop, executor, fn, chunks: list, *, window: int) -> list[list]:
    """Run every chunk with at most ``window`` in flight; results in chunk order."""
    done: list[list | None] = [None] * len(chunks)
    pending: dict[asyncio.Future, int] = {}
    nextChunk = 0
    try:
        while nextChunk < len(chunks) or pending:
            while nextChunk < len(chunks) and len(pending) < window:
                future = loop.run_in_executor(executor, _applyBatch, fn, chunks[nextChunk])
                pending[future] = nextChunk
                nextChunk += 1
            finished, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for future in finished:
                done[pending.pop(future)] = future.result()  # raises a batch's error
    except BaseException:
        for future in pending:
            future.cancel()
        if pending:
            await asyncio.wait(pending)
            for future in pending:  # retrieved, so none is reported as never retrieved
                if not future.cancelled():
                    future.exception()
        raise
    return done  # type: ignore[return-value]
