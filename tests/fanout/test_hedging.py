"""Hedged and tied requests: the race's rules, the asyncio fan-out, the virtual clock, the study."""

from __future__ import annotations

import asyncio
import random

import pytest

from lecture31 import cli
from lecture31._runtime.virtualclock import runVirtual
from lecture31.breaker import AsyncCircuitBreaker
from lecture31.fanout import LatencyTracker, hedgedFanOut
from lecture31.fanout.hedgepolicy import HedgeBudget, HedgePolicy
from lecture31.fanout.simulate import simulateFanOuts
from lecture31.fanout.study import crossover, policyFor, quantileInterval, row, runPoint

RESULT_KEYS = {
    "query",
    "shardsResponded",
    "shardsTimedOut",
    "shardsFailed",
    "totalRecords",
    "usedTimeout",
    "attemptsSent",
    "hedgesSent",
    "hedgeWins",
}


class LongDeadline(LatencyTracker):
    def suggestedTimeout(self) -> float:
        return 10.0


def scripted(script):
    """replicaFn: ``script[(shard, replica)] = (seconds, "ok" | "fail")``; records every call."""
    calls = []
    live = set()

    async def replica(shardId, replica, query, *, rng=None, onStarted=lambda: None):
        seconds, outcome = script.get((shardId, replica), (0.01, "ok"))
        calls.append((shardId, replica))
        live.add((shardId, replica))
        try:
            onStarted()
            await asyncio.sleep(seconds)
        finally:
            live.discard((shardId, replica))
        if outcome == "fail":
            raise RuntimeError("replica error")
        return {"shardId": shardId, "records": ["r"]}

    replica.calls = calls
    replica.live = live
    return replica


FIXED = HedgePolicy(mode="fixed", fixedDelay=0.05, maxAttempts=2)


def run(coroutine):
    return runVirtual(coroutine)


def test_the_budget_never_lets_extra_attempts_exceed_ratio_times_primaries_plus_burst():
    budget = HedgeBudget(0.05, 10)
    for _ in range(10_000):
        budget.deposit()
        while budget.tryWithdraw():
            pass
        assert budget.extra <= 10 + 0.05 * budget.primaries + 1e-9


def test_no_shard_spends_more_than_its_share_however_full_the_pool_is():
    budget = HedgeBudget(0.05, 10, shardRatio=0.3, shardBurst=5)
    for n in range(1, 2001):
        for shard in range(20):
            budget.deposit(shard)
        while budget.tryWithdraw(7):  # every hedge of the fan-out wants shard 7
            pass
        assert budget.shardBalances[7] >= 0
        assert budget.extra <= 5 + 0.3 * n + 1e-9  # shard 7's cap, not the pool's 10 + 0.05 x 20n
    assert budget.extra > 0.29 * 2000  # and it does get its share
    assert not budget.tryWithdraw(7)
    assert budget.tryWithdraw(8)  # the pool still serves the other shards


def test_the_per_shard_cap_keeps_correlated_slowness_from_costing_more_than_10pct():
    """Both replicas of a shard slow at once: a copy is as slow as the primary, so the pooled
    budget alone sent the slow shard ~as many hedges as primaries (p99 +13% at load 0.1)."""
    rows = {}
    for policy in ("none", "budgeted"):
        for load in (0.1, 0.2):
            result = simulateFanOuts(
                "correlated", policyFor("correlated", policy), load, 20_000, seed=1
            )
            rows[policy, load] = row("correlated", policy, load, result)
    for load in (0.1, 0.2):
        none, budgeted = rows["none", load], rows["budgeted", load]
        assert budgeted["p99"] <= 1.10 * none["p99"]
        assert budgeted["p50"] <= 1.10 * none["p50"]
    uncapped = HedgePolicy(mode="budgeted", maxAttempts=3, shardBudgetRatio=None)
    pooled = row(
        "correlated", "budgeted", 0.1, simulateFanOuts("correlated", uncapped, 0.1, 20_000, seed=1)
    )
    assert pooled["p99"] > 1.10 * rows["none", 0.1]["p99"]  # the harm the cap removes


@pytest.mark.parametrize("load", [0.1, 0.5, 0.9])
def test_the_budgeted_policy_stays_within_its_budget_at_every_load(load):
    policy = HedgePolicy(mode="budgeted", maxAttempts=3)
    result = simulateFanOuts("homework", policy, load, 800, seed=3)
    assert result.maxBudgetExcess <= policy.budgetBurst
    assert result.extraAttempts <= 0.05 * result.primaries + policy.budgetBurst


def test_a_slow_primary_is_hedged_to_a_different_replica_and_the_hedge_wins():
    replica = scripted({(0, 0): (1.0, "ok")})

    result = run(
        hedgedFanOut(
            "q", 1, LongDeadline(), policy=FIXED, replicas=2, replicaFn=replica, rng=_primaryOn(0)
        )
    )
    assert set(result) == RESULT_KEYS
    assert replica.calls == [(0, 0), (0, 1)]
    assert (result["attemptsSent"], result["hedgesSent"], result["hedgeWins"]) == (2, 1, 1)
    assert result["shardsResponded"] == 1


def _primaryOn(replica: int, replicas: int = 2) -> random.Random:
    """An rng under which shard 0's primary goes to ``replica``."""
    for seed in range(100):
        probe = random.Random(seed)
        if random.Random(probe.getrandbits(64)).randrange(replicas) == replica:
            return random.Random(seed)
    raise AssertionError("no seed found")


def test_losers_are_cancelled_and_awaited_before_the_call_returns():
    replica = scripted({(0, 0): (5.0, "ok")})

    async def main():
        result = await hedgedFanOut(
            "q", 1, LongDeadline(), policy=FIXED, replicas=2, replicaFn=replica, rng=_primaryOn(0)
        )
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return result, others, asyncio.get_running_loop().time()

    result, others, finishedAt = run(main())
    assert others == [] and replica.live == set()
    assert finishedAt == pytest.approx(0.06)  # 0.05 delay + 0.01 hedge, not the 5 s primary
    assert result["hedgeWins"] == 1


def test_a_fast_error_starts_the_next_attempt_at_once():
    replica = scripted({(0, 0): (0.001, "fail")})

    async def main():
        result = await hedgedFanOut(
            "q", 1, LongDeadline(), policy=FIXED, replicas=2, replicaFn=replica, rng=_primaryOn(0)
        )
        return result, asyncio.get_running_loop().time()

    result, finishedAt = run(main())
    assert replica.calls == [(0, 0), (0, 1)]
    assert finishedAt == pytest.approx(0.011)  # not after the 0.05 s hedge delay
    assert result["shardsResponded"] == 1 and result["shardsFailed"] == 0


def test_the_adaptive_deadline_still_applies():
    replica = scripted({(0, 0): (5.0, "ok"), (0, 1): (5.0, "ok")})

    async def main():
        tracker = LatencyTracker()  # 0.5 s until it has learnt
        result = await hedgedFanOut(
            "q", 1, tracker, policy=FIXED, replicas=2, replicaFn=replica, rng=_primaryOn(0)
        )
        return result, asyncio.get_running_loop().time()

    result, finishedAt = run(main())
    assert finishedAt == pytest.approx(0.5)
    assert result["shardsTimedOut"] == 1 and replica.live == set()


def test_tied_copies_cancel_the_twin_once_one_starts_service():
    started = []

    async def replica(shardId, replica, query, *, rng=None, onStarted=lambda: None):
        await asyncio.sleep(0.02 if replica == 0 else 0.001)  # replica 0 queues longer
        onStarted()
        started.append(replica)
        await asyncio.sleep(0.01)
        return {"records": []}

    result = run(
        hedgedFanOut(
            "q",
            1,
            LongDeadline(),
            policy=HedgePolicy(mode="tied"),
            replicas=2,
            replicaFn=replica,
            rng=_primaryOn(0),
        )
    )
    assert started == [1]  # the twin started first; the primary never began service
    assert result["hedgesSent"] == 1 and result["hedgeWins"] == 1


def test_a_losing_copy_never_counts_as_a_failure_of_its_replicas_breaker():
    replica = scripted({(0, 0): (1.0, "ok")})
    breakers = {(0, r): AsyncCircuitBreaker(failureThreshold=1) for r in range(2)}

    run(
        hedgedFanOut(
            "q",
            1,
            LongDeadline(),
            policy=FIXED,
            replicas=2,
            replicaFn=replica,
            breakers=breakers,
            rng=_primaryOn(0),
        )
    )
    assert breakers[0, 0].failureCount == 0 and breakers[0, 0].state == "closed"
    assert breakers[0, 1].state == "closed"


def test_a_failed_copy_counts_once_at_the_replica_that_failed():
    replica = scripted({(0, 0): (0.001, "fail")})
    breakers = {(0, r): AsyncCircuitBreaker(failureThreshold=5) for r in range(2)}
    run(
        hedgedFanOut(
            "q",
            1,
            LongDeadline(),
            policy=FIXED,
            replicas=2,
            replicaFn=replica,
            breakers=breakers,
            rng=_primaryOn(0),
        )
    )
    assert (breakers[0, 0].failureCount, breakers[0, 1].failureCount) == (1, 0)


def test_the_same_seed_gives_the_same_trace():
    def once():
        tracker = LatencyTracker()
        policy = HedgePolicy(mode="fixed", fixedDelay=0.3)

        async def series():
            return [
                await hedgedFanOut(f"q{i}", 6, tracker, policy=policy, rng=random.Random(i))
                for i in range(4)
            ]

        return run(series())

    assert once() == once()
    first = simulateFanOuts("hiccup", HedgePolicy(), 0.3, 300, seed=5).latencies
    assert first == simulateFanOuts("hiccup", HedgePolicy(), 0.3, 300, seed=5).latencies


@pytest.mark.slow
def test_the_virtual_clock_runs_the_same_code_as_real_time():
    """The same fan-outs on a real loop: the same attempts, winners and responses (the real
    loop's latencies carry a few ms of scheduling noise, so the deadline is kept far away)."""
    replica = scripted({(s, 0): (0.15, "ok") for s in range(4)})

    async def series():
        return [
            await hedgedFanOut(
                f"q{i}", 4, LongDeadline(), policy=FIXED, replicaFn=replica, rng=random.Random(i)
            )
            for i in range(3)
        ]

    virtual = runVirtual(series())
    real = asyncio.run(series())
    assert virtual == real


def test_the_theory_model_crosses_over_near_one_third():
    rows = [
        runPoint(("theory", policy, load), 20_000, 7)
        for policy in ("none", "duplicate-all")
        for load in (0.2, 0.3, 0.4, 0.5)
    ]
    assert crossover(rows) == pytest.approx(1 / 3, abs=0.05)


def test_the_order_statistic_interval_brackets_the_quantile():
    ordered = [float(i) for i in range(1, 1001)]
    estimate, low, high = quantileInterval(ordered, 0.5)
    assert estimate == 500.0 and low < 500 < high
    assert (low, high) == (469.0, 532.0)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["hedging", "--fan-outs", "0"], "--fan-outs"),
        (["hedging", "--fan-outs", "many"], "--fan-outs"),
        (["fanout", "--json", "x.json"], "--json"),
        (["tiers", "--fan-outs", "5"], "--fan-outs"),
    ],
)
def test_bad_arguments_are_one_line_naming_the_argument_and_exit_2(capsys, argv, named):
    with pytest.raises(SystemExit) as exitInfo:
        cli.main(argv)
    assert exitInfo.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and named in errors[0]


def test_a_json_path_that_cannot_be_written_is_one_line_and_exit_2(capsys, tmp_path):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert cli.main(["hedging", "--json", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--json" in err[0]
