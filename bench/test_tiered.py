"""Exercise 1: sequential vs three-tier handling of N requests (pairs ``tiered-N``).

    sequential: parse, metadata, parse, metadata, ...        (one thread, ~80 ms per request)
    tiered:     gather(N x [parse -> process pool, metadata -> thread pool])   (warm pools)
    threads:    the same, with a thread pool of the process pool's size for the parse

idealSeconds is a lower bound for the tiered run from the seeded draws: the slowest request's own
parse + metadata, or the metadata sleeps spread over the 10 threads, or the parses spread over
the 4 processes, whichever is longest.
"""

from __future__ import annotations

import time
from unittest import mock

import pytest

from lecture31 import tiered
from lecture31._pools import makeThreadPool, warmPool

SEED = 31
SCALES = (10, 40)
RECORDS_PER_REQUEST = 20
_METADATA_MIN_SECONDS = 0.05  # sleeps at least this long are metadata, shorter ones parse


def _metadataSleeps(numRequests: int) -> list[float]:
    """The metadata sleep of each request under SEED, read off a sequential run with no sleeping."""
    slept: list[float] = []
    with mock.patch.object(time, "sleep", slept.append):
        tiered.runSequential(numRequests, seed=SEED)
    metadata = [s for s in slept if s >= _METADATA_MIN_SECONDS]
    assert len(metadata) == numRequests, "expected one metadata sleep per request"
    return metadata


def _parseSeconds() -> float:
    """What one request's 20-record parse really costs here (time.sleep(0.0001) overshoots)."""
    chunk = [f"{i},1.5,2024-01-01" for i in range(RECORDS_PER_REQUEST)]
    costs = []
    for _ in range(5):
        start = time.perf_counter()
        tiered.parseCsvChunk(chunk)
        costs.append(time.perf_counter() - start)
    return min(costs)


def idealTieredSeconds(numRequests: int, pools) -> float:
    metadata = _metadataSleeps(numRequests)
    parse = _parseSeconds()
    return max(
        parse + max(metadata),
        sum(metadata) / pools.threads,
        numRequests * parse / pools.processes,
    )


@pytest.mark.parametrize("scale", SCALES)
def test_sequential_requests(measure, scale):
    measure(
        pair=f"tiered-{scale}",
        variant="sequential",
        reference="sequential",
        scaleLabel="concurrent requests",
        scale=scale,
        kind="tiered",
        target=lambda: tiered.runSequential(scale, seed=SEED),
    )


@pytest.mark.parametrize("scale", SCALES)
def test_tiered_requests(measure, tieredPools, scale):
    result = measure(
        pair=f"tiered-{scale}",
        variant="tiered",
        reference="sequential",
        scaleLabel="concurrent requests",
        scale=scale,
        kind="tiered",
        target=lambda: tiered.runTiered(
            scale, threadPool=tieredPools.threadPool, processPool=tieredPools.processPool, seed=SEED
        ),
        idealSeconds=idealTieredSeconds(scale, tieredPools),
    )
    assert len(result.results) == scale


@pytest.fixture(scope="module")
def parseThreads(tieredPools):
    """A thread pool the size of the process pool, to stand in for it: Exercise 1, honestly."""
    pool = makeThreadPool(tieredPools.processes, "bench-parse-threads")
    try:
        warmPool(pool, tieredPools.processes)
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("scale", SCALES)
def test_tiered_requests_with_threads_for_the_parse(measure, tieredPools, parseThreads, scale):
    """The same run with the parse on threads: parseCsvChunk's "CPU work" is time.sleep, which
    releases the GIL, so a thread pool of the same size does what the process pool does."""
    result = measure(
        pair=f"tiered-{scale}",
        variant="threads",
        reference="sequential",
        scale=scale,
        kind="tiered",
        target=lambda: tiered.runTiered(
            scale, threadPool=tieredPools.threadPool, processPool=parseThreads, seed=SEED
        ),
        idealSeconds=idealTieredSeconds(scale, tieredPools),
    )
    assert len(result.results) == scale
