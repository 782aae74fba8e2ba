"""Exercise 4: a sensor pipeline whose every stage runs on the tier its kind of work needs.

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

import asyncio
import functools
import math
import numbers
import os
import random
import statistics
import time
from collections.abc import Awaitable, Iterable, Mapping
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import TypeGuard

from ._batching import mapInBatches
from ._checks import checkCount, checkExecutor, checkProbability, checkSeed
from ._gathering import gatherAll as _gatherAll
from ._pools import detached, ownedPools
from ._seeding import derivedRng
from .breaker import CircuitBreaker, CircuitOpenError

__all__ = (
    "aggregateResults",
    "compareScales",
    "fetchSensorReading",
    "normalizeReading",
    "runCorrectPipeline",
    "runNaivePipeline",
    "runStorageBreakerBatches",
    "storeReading",
)

# The homework's workload, stage by stage.
FETCH_SECONDS = (0.08, 0.12)  # uniform network latency of one sensor read
SENSOR_MEAN, SENSOR_STD = 50.0, 15.0  # rawValue ~ gauss(50, 15); normalizing maps it to a z-score
NORMALIZE_ITERATIONS = 5000  # sin/cos rounds per reading: about 1 ms of pure-Python CPU
STORE_SECONDS = 0.02  # one blocking write: the thread waits, the CPU is idle

# CPU-bound work gains nothing from more processes than cores (they only time-slice), and each
# extra process costs a start-up (~0.1 s with forkserver) and memory. 4 is the lecture's pool
# size; on the 2-core CI machine this is 2.
NORMALIZE_PROCESSES = max(1, min(4, os.cpu_count() or 1))

# A store is 20 ms of waiting, not working, so the pool must be wide enough to overlap a whole
# gather of stores: N stores on T threads take ceil(N / T) waves of 20 ms. The default
# ThreadPoolExecutor width, min(32, cores + 4), is 6 threads on 2 cores: 8 waves (160 ms) at 48
# sensors, which alone caps the 48-sensor bound near 3.9x. 48 threads (one per sensor of the
# largest scale we compare) make it one 20 ms wave and lift the bound to ~7x (the measured
# speedups: results/SPEEDUPS.md, `pytest bench -k pipeline`). The cap: past 48 sensors stores
# queue again, one extra 20 ms wave per 48 sensors. Idle threads cost only stack address space
# (created on demand), so being this wide is cheap.
STORE_THREADS = 48

# At most this many sensors in flight: a run of N sensors goes through the stages in windows of
# this many (fetch all of a window, normalize them, store them), so memory stays flat as N grows.
# Far above the homework's 48 and the benchmarks' 480, which stay one window; each window costs
# one extra slowest-fetch (~0.1 s) against its ~11 s of normalizing on 2 cores.
SENSORS_IN_FLIGHT = 1000

DEFAULT_SCALES = (12, 24, 48)  # requirement 4's table

# Requirement 5: stores through one shared sync CircuitBreaker, in 5 batches of 12 sensors.
BATCHES, SENSORS_PER_BATCH = 5, 12
BREAKER_FAILURE_THRESHOLD = 3  # the homework's "after 3 consecutive failures"
STORE_FAILURE_PROBABILITY = 0.15  # the homework's rate: 3 in a row is rare (see main)
DEMO_FAILURE_PROBABILITY = 0.5  # a rate at which the breaker clearly opens within 5 batches
# Reset timeout 0.2 s, against the breaker's default 2.0 s. A batch takes ~0.13 s from one
# store gather to the next when its stores fail fast (fetch <= 0.12 s + normalizing), so after
# the circuit opens the next batch's stores come ~0.13 s later and all fail fast, and the one
# after comes ~0.26 s later and sends one half-open probe (its other stores fail fast, since
# a probe is in flight). 0.2 s sits ~65 ms from both, so a scheduling stall rarely moves a
# batch across it. 2.0 s would keep the circuit open for the rest of a 5-batch run (~0.7 s)
# and never show it recover; under 0.13 s the open state would not survive to the next batch.
BREAKER_RESET_SECONDS = 0.2

STORE_THREAD_NAME = "pipeline-store"


# --- the four stages -----------------------------------------------------------------------


async def _fetch(sensorId: int, rng: random.Random | None) -> tuple[dict, float]:
    """One sensor read, and the latency it slept (the ideal-time bound needs the slowest)."""
    source = random if rng is None else rng
    delay = source.uniform(*FETCH_SECONDS)
    await asyncio.sleep(delay)
    return {"sensorId": sensorId, "rawValue": source.gauss(SENSOR_MEAN, SENSOR_STD)}, delay


async def fetchSensorReading(sensorId: int, *, rng: random.Random | None = None) -> dict:
    """Read one sensor: ``uniform(0.08, 0.12)`` s of awaited latency, then ``gauss(50, 15)``."""
    reading, _ = await _fetch(sensorId, rng)
    return reading


def normalizeReading(reading: Mapping) -> dict:
    """The reading plus ``"normalized"``: its z-score, after 5000 rounds of sin/cos CPU work.

    Module level so the process pool can pickle it; a pure function of ``rawValue``, so the
    same reading normalizes to the same float in any process.
    """
    value = _realField(reading, "rawValue", "normalizeReading")
    # sin^2 + cos^2 == 1, so the rounds are real CPU work whose result is also a check: their
    # mean is 1 to within rounding, and scales the z-score by (almost exactly) nothing.
    total = 0.0
    for i in range(NORMALIZE_ITERATIONS):
        angle = value + i
        total += math.sin(angle) ** 2 + math.cos(angle) ** 2
    zScore = (value - SENSOR_MEAN) / SENSOR_STD
    return {**reading, "normalized": zScore * (total / NORMALIZE_ITERATIONS)}


def storeReading(
    reading: Mapping, *, failureProbability: float = 0.0, rng: random.Random | None = None
) -> dict:
    """Write one reading: 20 ms of blocking I/O, failing with ``failureProbability``.

    The failure draw is taken even when the probability is 0, so a sensor's random stream
    has the same shape whatever the failure rate.
    """
    sensorId = _field(reading, "sensorId", "storeReading")
    checkProbability(failureProbability, "failureProbability")
    time.sleep(STORE_SECONDS)
    source = random if rng is None else rng
    if source.random() < failureProbability:
        raise RuntimeError("store failed")
    return {"stored": True, "sensorId": sensorId}


def aggregateResults(results: Iterable[Mapping]) -> dict:
    """Count, mean and population std of the ``"normalized"`` values; at least one result."""
    # One pass, keeping only the floats: a long run may hand over a generator of many results.
    values = [
        _realField(result, "normalized", f"aggregateResults (result {index})")
        for index, result in enumerate(results)
    ]
    if not values:
        raise ValueError("aggregateResults needs at least one result, got none")
    mean, std = statistics.fmean(values), statistics.pstdev(values)
    return {"count": len(values), "mean": mean, "std": std}


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
    rngs = _sensorRngs(range(numSensors), seed)
    normalized = await _gatherAll(_naiveSensor(i, rng) for i, rng in enumerate(rngs))
    return aggregateResults(normalized)


# --- correct: each stage on its tier -------------------------------------------------------


async def _fetchAll(
    sensorIds: range, rngs: list[random.Random | None]
) -> tuple[list[dict], list[float]]:
    """Stage a on the event loop: every sensor at once; also the latencies sampled."""
    fetched = await _gatherAll(_fetch(i, rng) for i, rng in zip(sensorIds, rngs, strict=True))
    return [reading for reading, _ in fetched], [delay for _, delay in fetched]


async def _normalizeAll(processPool: Executor, readings: list[dict]) -> list[dict]:
    """Stage b in the process pool, one gather. Only the reading crosses: the rng stays here.

    On the standard pools each reading is its own task: their per-task overhead (~0.3 ms) is
    below a reading's cost (~1 ms), and one task per process measured no faster
    (``python -m lecture31.cluster --pipeline``). Detached: a failed gather must not cancel its
    siblings' process-pool futures (``_pools.detached``); the pool's owner cancels what is
    still queued. Any other executor (a dask cluster: ~7 ms a task) gets batches sized from its
    measured overhead (``_batching.mapInBatches``), or the overhead would dwarf the work.
    """
    if not isinstance(processPool, ProcessPoolExecutor | ThreadPoolExecutor):
        batched = mapInBatches(processPool, normalizeReading, readings)
        [normalized] = await _stage("normalize", [batched])
        return list(normalized)
    loop = asyncio.get_running_loop()
    return await _stage(
        "normalize",
        (
            detached(loop.run_in_executor(processPool, normalizeReading, reading))
            for reading in readings
        ),
    )


async def _storeAll(
    threadPool: Executor, readings: list[dict], rngs: list[random.Random | None]
) -> None:
    """Stage c in the thread pool, one gather. Each store draws its failure from its own
    sensor's rng (as in the naive run), so thread scheduling cannot reorder the draws."""
    loop = asyncio.get_running_loop()
    await _stage(
        "store",
        (
            loop.run_in_executor(threadPool, functools.partial(storeReading, reading, rng=rng))
            for reading, rng in zip(readings, rngs, strict=True)
        ),
    )


async def _runCorrect(
    numSensors: int,
    processPool: Executor,
    threadPool: Executor,
    seed: int | None,
    *,
    fetchSeconds: list[float] | None = None,
) -> dict:
    """The correct pipeline's aggregate, window by window; appends the fetch latencies slept."""
    values: list[float] = []
    normalized: list[dict] = []
    for first in range(0, numSensors, SENSORS_IN_FLIGHT):
        sensorIds = range(first, min(numSensors, first + SENSORS_IN_FLIGHT))
        rngs = _sensorRngs(sensorIds, seed)
        readings, delays = await _fetchAll(sensorIds, rngs)
        normalized = await _normalizeAll(processPool, readings)
        await _storeAll(threadPool, normalized, rngs)
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
    checkExecutor(processPool, "processPool")
    checkExecutor(threadPool, "threadPool")
    checkSeed(seed)
    async with ownedPools() as pools:
        processes = pools.processes(NORMALIZE_PROCESSES, given=processPool)
        threads = pools.threads(STORE_THREADS, STORE_THREAD_NAME, given=threadPool)
        await pools.warm(settleSeconds=0)  # start what we own off the loop (see warm)
        return await _runCorrect(numSensors, processes, threads, seed)


async def compareScales(
    scales: Iterable[int] = DEFAULT_SCALES,
    *,
    seed: int | None = None,
    processPool: Executor | None = None,
) -> list[dict]:
    """Naive vs correct at each scale, with the ideal time and the efficiency reached.

    Rows: ``sensors, naiveSeconds, correctSeconds, speedup, idealSeconds, efficiency``. The
    pools are made and warmed once, before any timing, so no row pays for process start-up.
    ``idealSeconds`` is the staged design's critical path (``_bounds.pipelineCriticalPath``):
    the slowest fetch of that run, plus the normalizations scheduled on the processes, plus the
    store waves on the threads; ``efficiency`` is ``idealSeconds / correctSeconds``.
    """
    # The measuring and explaining live in their own module, which builds on this one.
    from ._pipelinedemo import compareScales as compare

    return await compare(scales, seed=seed, processPool=processPool)


# --- requirement 5: stores through a circuit breaker ----------------------------------------


async def runStorageBreakerBatches(
    batches: int = BATCHES,
    sensorsPerBatch: int = SENSORS_PER_BATCH,
    *,
    failureProbability: float = STORE_FAILURE_PROBABILITY,
    seed: int | None = None,
    breaker: CircuitBreaker | None = None,
    processPool: Executor | None = None,
    threadPool: Executor | None = None,
) -> list[dict]:
    """Batches of the staged pipeline whose stores go through one shared ``CircuitBreaker``.

    Each batch fetches, normalizes and stores its sensors as ``runCorrectPipeline`` does, but
    every ``storeReading`` (failing with ``failureProbability``) is ``breaker.call``-ed in the
    thread pool. The breaker (default: threshold 3, ``BREAKER_RESET_SECONDS``) lives across
    batches, so failures at the end of one batch count towards opening it for the next.
    Rows: ``batch`` (from 1), ``successes``, ``failures``, ``fastFails`` (``CircuitOpenError``:
    the store was never called) and ``state`` (the breaker's, after the batch).

    Stores within a batch run concurrently, so "in a row" means in the order they finish. The
    failure draws come from each sensor's own generator and repeat with the seed; how many of
    them are reached, and so the fast-fails, also depend on that finishing order and on time.
    """
    checkCount(batches, "batches")
    checkCount(sensorsPerBatch, "sensorsPerBatch")
    checkProbability(failureProbability, "failureProbability")
    checkSeed(seed)
    checkExecutor(processPool, "processPool")
    checkExecutor(threadPool, "threadPool")
    if breaker is None:
        breaker = CircuitBreaker(BREAKER_FAILURE_THRESHOLD, BREAKER_RESET_SECONDS)
    rows = []
    sensorIds = range(sensorsPerBatch)
    async with ownedPools() as pools:
        processes = pools.processes(NORMALIZE_PROCESSES, given=processPool)
        threads = pools.threads(STORE_THREADS, STORE_THREAD_NAME, given=threadPool)
        await pools.warm(settleSeconds=0)  # start what we own off the loop (see warm)
        for batch in range(1, batches + 1):
            rngs = _sensorRngs(sensorIds, seed, "batch", batch)
            readings, _ = await _fetchAll(sensorIds, rngs)
            normalized = await _normalizeAll(processes, readings)
            outcomes = await _storeThroughBreaker(
                threads, breaker, normalized, rngs, failureProbability
            )
            rows.append({"batch": batch, **outcomes, "state": str(breaker.state)})
    return rows


async def _storeThroughBreaker(
    threadPool: Executor,
    breaker: CircuitBreaker,
    readings: list[dict],
    rngs: list[random.Random | None],
    failureProbability: float,
) -> dict:
    """Stage c through the breaker, one gather; every outcome is awaited and counted."""
    loop = asyncio.get_running_loop()
    store = functools.partial(storeReading, failureProbability=failureProbability)
    settled = await asyncio.gather(
        *(
            loop.run_in_executor(threadPool, functools.partial(breaker.call, store, r, rng=rng))
            for r, rng in zip(readings, rngs, strict=True)
        ),
        return_exceptions=True,
    )
    counts = {"successes": 0, "failures": 0, "fastFails": 0}
    for reading, outcome in zip(readings, settled, strict=True):
        if isinstance(outcome, CircuitOpenError):
            counts["fastFails"] += 1
        elif isinstance(outcome, RuntimeError):
            counts["failures"] += 1
        elif isinstance(outcome, BaseException):
            # Not a store failure but a bug (or a cancellation): do not count it, surface it.
            raise RuntimeError(
                f"storing sensor {reading['sensorId']} raised {outcome!r}, not a store failure"
            ) from outcome
        else:
            counts["successes"] += 1
    return counts


async def main(seed: int | None = None, *, processPool: Executor | None = None) -> None:
    """Requirement 4's table, then requirement 5's breaker batches at p = 0.15 and p = 0.5.

    ``processPool``: an executor for the CPU stage (the command line may pass one), used as is.
    """
    from ._pipelinedemo import runDemo

    await runDemo(seed, processPool=processPool)


# --- plumbing ------------------------------------------------------------------------------


async def _stage(name: str, aws: Iterable[Awaitable]) -> list:
    """One stage's gather; a broken pool becomes an error that names the stage."""
    try:
        return await _gatherAll(aws)
    except BrokenExecutor as exc:
        raise type(exc)(
            f"pipeline stage {name!r} failed: a worker of its pool died (killed, or crashed),"
            f" so the pool is broken and cannot finish the stage; start a new pool ({exc})"
        ) from exc


def _sensorRngs(sensorIds: range, seed: int | None, *labels: object) -> list:
    """One generator per sensor, so the draws do not depend on scheduling order."""
    return [derivedRng(seed, *labels, "sensor", i) for i in sensorIds]


def _isReal(value: object) -> TypeGuard[numbers.Real]:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _field(record: object, key: str, where: str) -> object:
    try:
        if not isinstance(record, Mapping):
            raise TypeError(f"not a mapping: {type(record).__name__}")
        return record[key]
    except (KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"{where}: expected a mapping with {key!r}, got {record!r}") from exc


def _realField(record: object, key: str, where: str) -> float:
    value = _field(record, key, where)
    if not _isReal(value) or not math.isfinite(float(value)):
        raise ValueError(f"{where}: {key!r} must be a finite number, got {value!r}")
    return float(value)
