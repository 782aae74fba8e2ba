"""What the staged designs cannot beat: critical paths from a run's seeded draws and pool sizes.

One home for the bounds that the demos print, ``compareScales`` reports and the benchmarks
record as ``idealSeconds``. Each is a list-scheduling simulation of the work as it is really
queued, so it is honest about pool sizes:

    tiered:    N parses, FIFO on P processes (waves)  -->  each request's metadata, in the order
               its parse finished, on T threads; the bound is the last metadata's finish
    pipeline:  slowest fetch  +  N normalizations on P processes  +  N stores on T threads
               (each stage is one gather: a barrier), summed over the windows of a long run

The draws are replayed exactly as the runners draw them (same seed, same per-entity generator,
same order); only the cost of one parse / one normalization is measured here, in-process.
"""

from __future__ import annotations

import asyncio
import heapq
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from unittest import mock

from . import pipeline, tiered
from ._seeding import derivedRng

__all__ = (
    "listSchedule",
    "medianSeconds",
    "normalizeSeconds",
    "parseSeconds",
    "pipelineBoundSeconds",
    "pipelineCriticalPath",
    "pipelineFetchSeconds",
    "tieredBoundSeconds",
    "tieredCriticalPath",
    "tieredMetadataSeconds",
)

CALIBRATION_ROUNDS = 20  # timings per calibration; the median shrugs off a noisy round


def listSchedule(jobs: Iterable[tuple[float, float]], workers: int) -> list[float]:
    """Finish time of each ``(readyAt, duration)`` job, taken FIFO by ``workers`` workers.

    A job starts when it is ready and a worker is free (the one free earliest), as a pool's
    queue hands work out in submission order.
    """
    freeAt = [0.0] * workers
    finishes = []
    for readyAt, duration in jobs:
        start = max(readyAt, heapq.heappop(freeAt))
        heapq.heappush(freeAt, start + duration)
        finishes.append(start + duration)
    return finishes


def _windows(count: int, window: int) -> list[int]:
    return [min(window, count - start) for start in range(0, count, window)]


def tieredCriticalPath(
    metadataSeconds: Sequence[float],
    *,
    parseSeconds: float,
    processes: int,
    threads: int,
    window: int = tiered.REQUESTS_IN_FLIGHT,
) -> float:
    """The tiered run's bound for these metadata latencies (one per request, in request order)."""
    total, first = 0.0, 0
    for size in _windows(len(metadataSeconds), window):
        parsed = listSchedule([(0.0, parseSeconds)] * size, processes)
        latencies = metadataSeconds[first : first + size]
        # A request's metadata call is submitted the moment its parse comes back.
        total += max(listSchedule(sorted(zip(parsed, latencies, strict=True)), threads))
        first += size
    return total


def pipelineCriticalPath(
    fetchSeconds: Sequence[float],
    *,
    normalizeSeconds: float,
    processes: int,
    threads: int,
    storeSeconds: float = pipeline.STORE_SECONDS,
    window: int = pipeline.SENSORS_IN_FLIGHT,
) -> float:
    """The staged pipeline's bound for these fetch latencies (one per sensor, in sensor order)."""
    total, first = 0.0, 0
    for size in _windows(len(fetchSeconds), window):
        total += (
            max(fetchSeconds[first : first + size])
            + max(listSchedule([(0.0, normalizeSeconds)] * size, processes))
            + max(listSchedule([(0.0, storeSeconds)] * size, threads))
        )
        first += size
    return total


def medianSeconds(fn: Callable[[], object], rounds: int = CALIBRATION_ROUNDS) -> float:
    """Median wall time of ``fn()`` over ``rounds`` calls here."""
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def parseSeconds() -> float:
    """What one request's parse really costs here (``time.sleep(0.0001)`` overshoots)."""
    chunk = [f"{i},1.5,2024-01-01" for i in range(tiered.RECORDS_PER_REQUEST)]
    return medianSeconds(lambda: tiered.parseCsvChunk(chunk))


def normalizeSeconds() -> float:
    """What one ``normalizeReading`` costs here."""
    reading = {"sensorId": -1, "rawValue": pipeline.SENSOR_MEAN}
    return medianSeconds(lambda: pipeline.normalizeReading(reading))


def tieredMetadataSeconds(numRequests: int, seed: int) -> list[float]:
    """Each request's metadata latency under ``seed``, drawn as ``handleRequest`` draws it."""
    latencies = []
    for requestId in range(numRequests):
        rng = derivedRng(seed, "tiered-request", requestId)
        tiered._makeChunk(requestId, rng)
        latencies.append(rng.uniform(*tiered.METADATA_SECONDS))
    return latencies


def pipelineFetchSeconds(numSensors: int, seed: int) -> list[float]:
    """Each sensor's fetch latency under ``seed``, read off a naive run that does not sleep."""
    delays: list[float] = []

    async def recordSleep(delay, result=None):
        delays.append(delay)
        return result

    # pipeline sleeps through the modules (asyncio.sleep, time.sleep): patched there, for this run.
    with (
        mock.patch.object(asyncio, "sleep", recordSleep),
        mock.patch.object(time, "sleep", lambda seconds: None),
        mock.patch.object(pipeline, "NORMALIZE_ITERATIONS", 1),
    ):
        asyncio.run(pipeline.runNaivePipeline(numSensors, seed=seed))
    assert len(delays) == numSensors, "expected one fetch sleep per sensor"
    return delays


def tieredBoundSeconds(
    numRequests: int,
    seed: int,
    *,
    processes: int = tiered.PROCESS_POOL_WORKERS,
    threads: int = tiered.THREAD_POOL_WORKERS,
    parse: float | None = None,
) -> float:
    """The one tiered bound: ``runTiered(numRequests, seed=seed)`` on warm pools of these sizes."""
    return tieredCriticalPath(
        tieredMetadataSeconds(numRequests, seed),
        parseSeconds=parseSeconds() if parse is None else parse,
        processes=processes,
        threads=threads,
    )


def pipelineBoundSeconds(
    numSensors: int,
    seed: int,
    *,
    processes: int = pipeline.NORMALIZE_PROCESSES,
    threads: int = pipeline.STORE_THREADS,
    normalize: float | None = None,
) -> float:
    """The one pipeline bound: ``runCorrectPipeline(numSensors, seed=seed)`` on warm pools."""
    return pipelineCriticalPath(
        pipelineFetchSeconds(numSensors, seed),
        normalizeSeconds=normalizeSeconds() if normalize is None else normalize,
        processes=processes,
        threads=threads,
    )
