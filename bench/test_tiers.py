"""Which tier? One pair per workload (``tiers-cpu-python``, ...), one variant per tier.

    tiers-<workload>:  inline (reference) | threads | processes      (async-io: inline | loop)
                       the same TASKS seeded tasks, warm pools of WORKERS, timed from the loop

``idealSpeedup`` beside each variant is the library's: min(tasks, workers) for waiting, the
machine's parallel scaling limit (measured once per session, ``measureScalingLimit``) for CPU work
on a GIL-free tier, 1.0 for Python CPU work on threads under the GIL.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lecture31 import tiers
from lecture31._runtime.machine import usableCores
from lecture31.tiers import matrix
from lecture31.tiers.workloads import idealSpeedup, measureScalingLimit, runBatch

TASKS = 8
WORKERS = matrix.defaultWorkers()
SEED = 31

CASES = [
    (name, tier)
    for name, workload in tiers.WORKLOADS.items()
    for tier in matrix._tiersFor(workload, ["inline", "loop", "threads", "processes"])
]


@dataclass(frozen=True)
class TierPools:
    executors: dict
    scalingLimit: float


@pytest.fixture(scope="module")
def tierPools(benchRunner, sessionPools):
    """Warm pools of WORKERS for the tiers, and the scaling limit measured on the process pool."""
    pools = sessionPools(WORKERS, WORKERS, "bench-tiers")
    parallel = min(TASKS, WORKERS, usableCores())
    limit = benchRunner.run(measureScalingLimit(pools.processPool, parallel, rounds=9))
    return TierPools({"threads": pools.threadPool, "processes": pools.processPool}, limit)


@pytest.mark.parametrize(("name", "tier"), CASES, ids=[f"{n}-{t}" for n, t in CASES])
def test_tier(measure, benchRunner, tierPools, name, tier):
    workload = tiers.WORKLOADS[name]
    inputs = workload.inputs(TASKS, SEED)
    executor = tierPools.executors.get(tier)
    results = measure(
        pair=f"tiers-{name}",
        variant=tier,
        reference="inline",
        comparison="tiers",  # one matrix: a row per workload, a column per tier
        scale=TASKS,
        kind="tiers",
        target=lambda: runBatch(workload, tier, inputs, executor),
        idealSpeedup=idealSpeedup(
            workload.kind,
            tier,
            tasks=TASKS,
            workers=WORKERS,
            scalingLimit=tierPools.scalingLimit,
        ),
        workers={"inline": 1, "loop": TASKS}.get(tier, WORKERS),
        scalingLimit=tierPools.scalingLimit,
    )
    # Every tier must do inline's work, or the pair compares different things.
    assert results == benchRunner.run(runBatch(workload, "inline", inputs))
