"""Exercise 1: sequential vs three-tier handling of N requests (pairs ``tiered-N``).

    sequential: parse, metadata, parse, metadata, ...        (one thread, ~80 ms per request)
    tiered:     gather(N x [parse -> process pool, metadata -> thread pool])   (warm pools)
    threads:    the same, with a thread pool of the process pool's size for the parse

idealSeconds is the library's bound (``lecture31.tiered.bounds.tieredBoundSeconds``, the one
``python -m lecture31 tiered`` prints): this seed's parses in FIFO waves on the processes, then
each request's metadata call on the threads.
"""

from __future__ import annotations

import pytest

from lecture31 import tiered
from lecture31.tiered.bounds import tieredBoundSeconds

SEED = 31
SCALES = (10, 40)


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
        idealSeconds=tieredBoundSeconds(
            scale, SEED, processes=tieredPools.processes, threads=tieredPools.threads
        ),
    )
    assert len(result.results) == scale


@pytest.fixture(scope="module")
def parseThreads(tieredPools, sessionPools):
    """A thread pool the size of the process pool, to stand in for it: Exercise 1, honestly."""
    return sessionPools(tieredPools.processes, 0, "bench-parse-threads").threadPool


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
        idealSeconds=tieredBoundSeconds(
            scale, SEED, processes=tieredPools.processes, threads=tieredPools.threads
        ),
    )
    assert len(result.results) == scale
