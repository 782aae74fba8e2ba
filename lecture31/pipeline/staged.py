"""Exercise 4, requirements 2-3: the naive pipeline and the correct (staged) one.

Correct (``runCorrectPipeline``): one gather per stage, each stage on the tier its work needs.

      event loop          process pool          thread pool           event loop
    +------------+      +---------------+      +---------------+      +-----------+
    | fetch x N  | ---> | normalize x N | ---> | store x N     | ---> | aggregate |
    | awaited,   |      | CPU ~1 ms     |      | 20 ms blocked |      | inline    |
    | overlapped |      | each, spread  |      | each, one     |      |           |
    |            |      | over cores    |      | wave of N     |      |           |
    +------------+      +---------------+      +---------------+      +-----------+
      <= 0.12 s           ~N/2 ms on 2 cores     ~20 ms

Naive (``runNaivePipeline``): one coroutine per sensor, every stage inline on the event loop.

    sensor i:  await fetch --> normalize (loop blocked) --> store (loop blocked)

Once the first fetch lands, the sensors queue for the loop one at a time, ~21 ms each.
"""

from __future__ import annotations

import functools
import os
import random
from collections.abc import AsyncIterator, Awaitable
from concurrent.futures import BrokenExecutor, Executor
from contextlib import asynccontextmanager
from typing import NamedTuple, TypeVar

from .._runtime.checks import checkCount, checkExecutor, checkSeed
from .._runtime.dispatch import Dispatch
from .._runtime.gathering import gatherAll
from .._runtime.pools import ownedPools
from .._runtime.seeding import derivedRng
from .stages import _fetch, aggregateResults, normalizeReading, storeReading

__all__ = (
    "NORMALIZE_PROCESSES",
    "SENSORS_IN_FLIGHT",
    "STORE_THREADS",
    "STORE_THREAD_NAME",
    "runCorrectPipeline",
    "runNaivePipeline",
)

# CPU-bound work gains nothing from more processes than cores (they only time-slice), and each
# extra process costs a start-up (~0.1 s with forkserver) and memory. 4 is the lecture's pool
# size; on the 2-core CI machine this is 2.
NORMALIZE_PROCESSES = max(1, min(4, os.cpu_count() or 1))

# A store is 20 ms of waiting, not working, so the pool must be wide enough to overlap a whole
# gather of stores: N stores on T threads take ceil(N / T) waves of 20 ms. The default
# ThreadPoolExecutor width, min(32, cores + 4), is 6 threads on 2 cores: 8 waves (160 ms) at 48
# sensors, which alone caps the 48-sensor bound near 3.9x. One thread per sensor of the largest
# scale we compare (``compare.DEFAULT_SCALES``) makes it one 20 ms wave and lifts the bound to
# ~7x (the measured speedups: results/SPEEDUPS.md, `pytest bench -k pipeline`). The cap: past
# STORE_THREADS sensors stores queue again, one extra 20 ms wave per STORE_THREADS sensors. Idle
# threads cost only stack address space (created on demand), so being this wide is cheap.
STORE_THREADS = 48

# At most this many sensors in flight: a run of N sensors goes through the stages in windows of
# this many (fetch all of a window, normalize them, store them), so memory stays flat as N grows.
# Far above the homework's 48 and the benchmarks' 480, which stay one window; each window costs
# one extra slowest-fetch (~0.1 s) against its ~11 s of normalizing on 2 cores.
SENSORS_IN_FLIGHT = 1000

STORE_THREAD_NAME = "pipeline-store"

ResultT = TypeVar("ResultT")


# --- naive: everything inline on the event loop --------------------------------------------


async def _naiveSensor(sensorId: int, rng: random.Random | None) -> dict:
    reading, _ = await _fetch(sensorId, rng)
    # Both calls below block the event loop (that is the lesson): while one sensor normalizes
    # and stores, every other sensor's finished fetch waits for the loop to come back.
    normalized = normalizeReading(reading)
    storeReading(normalized, rng=rng)
    return normalized


async def runNaivePipeline(numSensors: int, *, seed: int | None = None) -> dict:
    """All four stages inline, one coroutine per sensor, under ``asyncio.gather``."""
    checkCount(numSensors, "numSensors")
    checkSeed(seed)
    rngs = sensorRngs(range(numSensors), seed)
    normalized = await gatherAll(_naiveSensor(i, rng) for i, rng in enumerate(rngs))
    return aggregateResults(normalized)


# --- correct: each stage on its tier -------------------------------------------------------


async def _fetchAll(
    sensorIds: range, rngs: list[random.Random | None]
) -> tuple[list[dict], list[float]]:
    """Stage a on the event loop: every sensor at once; also the latencies sampled."""
    fetched = await gatherAll(_fetch(i, rng) for i, rng in zip(sensorIds, rngs, strict=True))
    return [reading for reading, _ in fetched], [delay for _, delay in fetched]


async def _normalizeAll(processes: Dispatch, readings: list[dict]) -> list[dict]:
    """Stage b in the process pool, one gather. Only the reading crosses: the rng stays here.

    One task per reading on a process pool, batches on a cluster (``Dispatch.map`` decides).
    """
    return await _stage("normalize", processes.map(normalizeReading, readings))


async def _storeAll(
    threads: Dispatch, readings: list[dict], rngs: list[random.Random | None]
) -> None:
    """Stage c in the thread pool, one gather. Each store draws its failure from its own
    sensor's rng (as in the naive run), so thread scheduling cannot reorder the draws."""
    await _stage(
        "store",
        gatherAll(
            threads.call(functools.partial(storeReading, reading, rng=rng))
            for reading, rng in zip(readings, rngs, strict=True)
        ),
    )


class _Pools(NamedTuple):
    """A pipeline's two pools, as every runner takes them."""

    processes: Dispatch  # normalize
    threads: Dispatch  # store


async def _runCorrect(
    numSensors: int, pools: _Pools, seed: int | None, *, fetchSeconds: list[float] | None = None
) -> dict:
    """The correct pipeline's aggregate, window by window; appends the fetch latencies slept."""
    processes, threads = pools
    values: list[float] = []
    normalized: list[dict] = []
    for first in range(0, numSensors, SENSORS_IN_FLIGHT):
        sensorIds = range(first, min(numSensors, first + SENSORS_IN_FLIGHT))
        rngs = sensorRngs(sensorIds, seed)
        readings, delays = await _fetchAll(sensorIds, rngs)
        normalized = await _normalizeAll(processes, readings)
        await _storeAll(threads, normalized, rngs)
        values += [reading["normalized"] for reading in normalized]
        if fetchSeconds is not None:
            fetchSeconds += delays
    if numSensors <= SENSORS_IN_FLIGHT:
        return aggregateResults(normalized)  # stage d: microseconds, inline
    # Past one window only the floats were kept; the same numbers in the same order.
    return aggregateResults({"normalized": value} for value in values)


async def runCorrectPipeline(
    numSensors: int,
    *,
    processPool: Executor | None = None,
    threadPool: Executor | None = None,
    seed: int | None = None,
) -> dict:
    """Fetch on the loop, normalize in processes, store in threads, aggregate inline.

    Pools passed in are used and left open (benchmarks pass warm ones); missing ones are made
    here (``NORMALIZE_PROCESSES``, ``STORE_THREADS``) and shut down before returning. Past
    ``SENSORS_IN_FLIGHT`` sensors the stages run window by window.

    A stage whose pool breaks (a worker killed) raises its ``BrokenExecutor`` naming the stage.
    Cancelled, it returns at once: queued work is cancelled, but a store already blocking its
    thread cannot be killed; it finishes in the background and its pool's thread then exits.
    """
    checkCount(numSensors, "numSensors")
    checkSeed(seed)
    async with _pipelinePools(processPool, threadPool) as pools:
        return await _runCorrect(numSensors, pools, seed)


@asynccontextmanager
async def _pipelinePools(
    processPool: Executor | None, threadPool: Executor | None, *, settleSeconds: float = 0
) -> AsyncIterator[_Pools]:
    """The normalize and store pools of every runner: given ones used and left open, missing
    ones made (``NORMALIZE_PROCESSES``, ``STORE_THREADS``), started off the loop (see
    ``OwnedPools.warm``) and shut down on exit."""
    checkExecutor(processPool, "processPool")
    checkExecutor(threadPool, "threadPool")
    async with ownedPools() as pools:
        processes = Dispatch(pools.processes(NORMALIZE_PROCESSES, given=processPool))
        threads = Dispatch(pools.threads(STORE_THREADS, STORE_THREAD_NAME, given=threadPool))
        await pools.warm(settleSeconds=settleSeconds)
        yield _Pools(processes, threads)


# --- plumbing ------------------------------------------------------------------------------


async def _stage(name: str, work: Awaitable[ResultT]) -> ResultT:
    """One stage's work (a gather, or one reading's step); a broken pool becomes an error that
    names the stage."""
    try:
        return await work
    except BrokenExecutor as exc:
        raise type(exc)(
            f"pipeline stage {name!r} failed: a worker of its pool died (killed, or crashed),"
            f" so the pool is broken and cannot finish the stage; start a new pool ({exc})"
        ) from exc


def sensorRngs(sensorIds: range, seed: int | None, *labels: object) -> list:
    """One generator per sensor, so the draws do not depend on scheduling order."""
    return [derivedRng(seed, *labels, "sensor", i) for i in sensorIds]
