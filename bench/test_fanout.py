"""Exercise 2: adaptive vs fixed 0.5 s deadline over one seeded series of queries (``fanout-15``).

    fixed:    15 x fanOut(6 shards, deadline 0.5 s)                 (a tracker that never adapts)
    adaptive: 15 x fanOut(6 shards, deadline = 2 x p90 of the last 20 latencies, 0.5 s to start)

Both variants see the same sampled latencies and failures (the seed fixes them per query and
shard), so the difference is the deadline alone: the adaptive one waits longer and in exchange
hears from more shards. The "speedup" column is fixed time / adaptive time (below 1 by design);
the shards-responded columns are what that time buys.
"""

from __future__ import annotations

import statistics

import pytest

from lecture31 import fanout

SEED = 31
NUM_QUERIES = 15
NUM_SHARDS = 6
FIXED_TIMEOUT_SECONDS = 0.5


class _FixedTracker(fanout.LatencyTracker):
    """Always suggests the homework's cold-start default; still records what it sees."""

    def suggestedTimeout(self) -> float:
        return FIXED_TIMEOUT_SECONDS


@pytest.mark.timeout(300)
@pytest.mark.parametrize("variant", ["fixed", "adaptive"])
def test_fanout_queries(measure, benchmark, variant):
    def series():
        tracker = _FixedTracker() if variant == "fixed" else fanout.LatencyTracker()
        return fanout.runQueries(NUM_QUERIES, NUM_SHARDS, seed=SEED, tracker=tracker)

    results = measure(
        pair=f"fanout-{NUM_QUERIES}",
        variant=variant,
        reference="fixed",
        columns={"shards responded": "meanShardsResponded"},
        scale=NUM_QUERIES,
        kind="fanout",
        target=series,
        virtualClockFor=(fanout,),  # the gate's instrument: its latencies are virtual too
        numShards=NUM_SHARDS,
    )
    assert len(results) == NUM_QUERIES
    responded = [r["shardsResponded"] for r in results]
    benchmark.extra_info["meanShardsResponded"] = statistics.fmean(responded)
    benchmark.extra_info["meanQuerySeconds"] = benchmark.stats.stats.median / NUM_QUERIES
    benchmark.extra_info["usedTimeouts"] = [round(r["usedTimeout"], 4) for r in results]
    if variant == "fixed":
        assert {r["usedTimeout"] for r in results} == {FIXED_TIMEOUT_SECONDS}
