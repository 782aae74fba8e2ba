"""Beyond Exercise 2: plain against hedged fan-out (``hedging-100``), in virtual time.

    plain:   100 fan-outs to 6 replicated shards, one copy each             (policy none)
    hedged:  the same fan-outs, a copy after p95 within a 5% budget         (policy budgeted)

Both run the asyncio ``hedgedFanOut`` on a ``VirtualClockLoop`` with one seed, so a round is
deterministic and takes well under a second of real time: what is timed is the machinery of
hedging (tasks, timers, cancellation), and the "speedup" is its overhead (below 1 by design).
"""

from __future__ import annotations

import random

import pytest

from lecture31._runtime.virtualclock import runVirtual
from lecture31.fanout import LatencyTracker, hedgedFanOut
from lecture31.fanout.hedgepolicy import DelayEstimator, HedgeBudget, HedgeMode, HedgePolicy

SEED = 31
NUM_FAN_OUTS = 100
NUM_SHARDS = 6


def series(mode: str) -> list[dict]:
    policy = HedgePolicy(mode=HedgeMode(mode))
    budget = HedgeBudget.forPolicy(policy)
    estimator = DelayEstimator(policy.percentile)
    tracker = LatencyTracker()
    rng = random.Random(SEED)

    async def run() -> list[dict]:
        return [
            await hedgedFanOut(
                f"q{i}",
                NUM_SHARDS,
                tracker,
                policy=policy,
                budget=budget,
                estimator=estimator,
                rng=random.Random(rng.getrandbits(64)),
            )
            for i in range(NUM_FAN_OUTS)
        ]

    return runVirtual(run())


@pytest.mark.parametrize("variant", ["plain", "hedged"])
def test_hedging_fanouts(measure, benchmark, variant):
    mode = "none" if variant == "plain" else "budgeted"
    results = measure(
        pair=f"hedging-{NUM_FAN_OUTS}",
        variant=variant,
        reference="plain",
        scale=NUM_FAN_OUTS,
        kind="hedging",
        target=lambda: series(mode),
        numShards=NUM_SHARDS,
    )
    assert len(results) == NUM_FAN_OUTS
    benchmark.extra_info["hedgesSent"] = sum(r["hedgesSent"] for r in results)
    benchmark.extra_info["shardsResponded"] = sum(r["shardsResponded"] for r in results)
