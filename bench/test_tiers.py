"""Which tier? One pair per workload (``tiers-cpu-python``, ...), one variant per tier.

    tiers-<workload>:  inline (reference) | threads | processes      (async-io: inline | loop)
                       the same TASKS seeded tasks, warm pools of WORKERS, timed from the loop
                       every round of a tier has an inline batch timed beside it (ABBA), so the
                       report divides round by round (extra_info referenceRounds)

``idealSpeedup`` beside each variant is the library's, a bound: min(tasks, workers) for waiting,
min(tasks, workers, cores) for CPU work on a GIL-free tier, 1.0 for Python CPU work on threads
under the GIL. What the cores delivered to CPU work (``measureScaling``, once per session) is
kept beside it as a measurement: ``measuredScaling`` with its 95% interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lecture31 import tiers
from lecture31._runtime.machine import usableCores
from lecture31.report.stats import Interval
from lecture31.tiers import matrix
from lecture31.tiers.scaling import measureScaling
from lecture31.tiers.workloads import idealSpeedup, runBatch

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
    scaling: Interval | None


@pytest.fixture(scope="module")
def tierPools(benchRunner, sessionPools):
    """Warm pools of WORKERS for the tiers, and the CPU scaling measured on the process pool."""
    pools = sessionPools(WORKERS, WORKERS, "bench-tiers")
    parallel = min(TASKS, WORKERS, usableCores())
    scaling = benchRunner.run(measureScaling(pools.processPool, parallel, rounds=9))
    return TierPools({"threads": pools.threadPool, "processes": pools.processPool}, scaling)


@pytest.mark.parametrize(("name", "tier"), CASES, ids=[f"{n}-{t}" for n, t in CASES])
def test_tier(measure, benchRunner, tierPools, name, tier):
    workload = tiers.WORKLOADS[name]
    inputs = workload.inputs(TASKS, SEED)
    executor = tierPools.executors.get(tier)
    scaling = tierPools.scaling
    results = measure(
        pair=f"tiers-{name}",
        variant=tier,
        reference="inline",
        comparison="tiers",  # one matrix: a row per workload, a column per tier
        scale=TASKS,
        kind="tiers",
        target=lambda: runBatch(workload, tier, inputs, executor),
        beside=None if tier == "inline" else lambda: runBatch(workload, "inline", inputs),
        idealSpeedup=idealSpeedup(
            workload.kind, tier, tasks=TASKS, workers=WORKERS, cores=usableCores()
        ),
        workers={"inline": 1, "loop": TASKS}.get(tier, WORKERS),
        **(
            {}
            if scaling is None
            else {
                "measuredScaling": scaling.point,
                "measuredScalingLow": scaling.low,
                "measuredScalingHigh": scaling.high,
            }
        ),
    )
    # Every tier must do inline's work, or the pair compares different things.
    assert results == benchRunner.run(runBatch(workload, "inline", inputs))
