"""What the tiered run cannot beat: its critical path, from a run's seeded draws and pool sizes.

    N parses, FIFO on P processes (waves)  -->  each request's metadata call, in the order its
    parse finished, on T threads; the bound is the last metadata call's finish

The draws are replayed exactly as ``runTiered`` draws them (same seed, same per-request
generator, same order); only the cost of one parse is measured, here, in-process.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._runtime.schedule import listSchedule, medianSeconds, windows
from .._runtime.seeding import derivedRng
from .handler import (
    METADATA_SECONDS,
    PROCESS_POOL_WORKERS,
    REQUESTS_IN_FLIGHT,
    THREAD_POOL_WORKERS,
    _makeChunk,
)
from .parsing import RECORDS_PER_REQUEST, parseCsvChunk

__all__ = ("parseSeconds", "tieredBoundSeconds", "tieredCriticalPath", "tieredMetadataSeconds")


def tieredCriticalPath(
    metadataSeconds: Sequence[float],
    *,
    parseSeconds: float,
    processes: int,
    threads: int,
    window: int = REQUESTS_IN_FLIGHT,
) -> float:
    """The tiered run's bound for these metadata latencies (one per request, in request order)."""
    total, first = 0.0, 0
    for size in windows(len(metadataSeconds), window):
        parsed = listSchedule([(0.0, parseSeconds)] * size, processes)
        latencies = metadataSeconds[first : first + size]
        # A request's metadata call is submitted the moment its parse comes back.
        total += max(listSchedule(sorted(zip(parsed, latencies, strict=True)), threads))
        first += size
    return total


def parseSeconds() -> float:
    """What one request's parse really costs here (``time.sleep(0.0001)`` overshoots)."""
    chunk = [f"{i},1.5,2024-01-01" for i in range(RECORDS_PER_REQUEST)]
    return medianSeconds(lambda: parseCsvChunk(chunk))


def tieredMetadataSeconds(numRequests: int, seed: int) -> list[float]:
    """Each request's metadata latency under ``seed``, drawn as ``handleRequest`` draws it."""
    latencies = []
    for requestId in range(numRequests):
        rng = derivedRng(seed, "tiered-request", requestId)
        _makeChunk(requestId, rng)
        latencies.append(rng.uniform(*METADATA_SECONDS))
    return latencies


def tieredBoundSeconds(
    numRequests: int,
    seed: int,
    *,
    processes: int = PROCESS_POOL_WORKERS,
    threads: int = THREAD_POOL_WORKERS,
    parse: float | None = None,
) -> float:
    """The one tiered bound: ``runTiered(numRequests, seed=seed)`` on warm pools of these sizes."""
    return tieredCriticalPath(
        tieredMetadataSeconds(numRequests, seed),
        parseSeconds=parseSeconds() if parse is None else parse,
        processes=processes,
        threads=threads,
    )
