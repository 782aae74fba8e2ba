"""Exercise 1: sequential vs three-tier handling of N requests (pairs ``tiered-N``).

    sequential: parse, metadata, parse, metadata, ...        (one thread, ~80 ms per request)
    tiered:     gather(N x [parse -> process pool, metadata -> thread pool])   (warm pools)

idealSeconds is the library's bound (``lecture31._bounds.tieredBoundSeconds``, the one
``python -m lecture31 tiered`` prints): this seed's parses in FIFO waves on the processes, then
each request's metadata call on the threads.
"""

from __future__ import annotations

import pytest

from lecture31 import _bounds, tiered

SEED = 31
SCALES = (10, 40)


@pytest.mark.parametrize("scale", SCALES)
def test_sequential_requests(measure, scale):
    measure(
        pair=f"tiered-{scale}",
        variant="sequential",
        scale=scale,
        kind="tiered",
        target=lambda: tiered.runSequential(scale, seed=SEED),
    )


@pytest.mark.parametrize("scale", SCALES)
def test_tiered_requests(measure, tieredPools, scale):
    result = measure(
        pair=f"tiered-{scale}",
        variant="tiered",
        scale=scale,
        kind="tiered",
        target=lambda: tiered.runTiered(
            scale, threadPool=tieredPools.threadPool, processPool=tieredPools.processPool, seed=SEED
        ),
        idealSeconds=_bounds.tieredBoundSeconds(
            scale, SEED, processes=tieredPools.processes, threads=tieredPools.threads
        ),
    )
    assert len(result.results) == scale
