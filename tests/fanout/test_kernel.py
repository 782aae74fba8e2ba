"""The compiled engine is the reference engine, faster: the same trace for the same seed."""

from __future__ import annotations

import dataclasses

import pytest

from lecture31.fanout import simulate
from lecture31.fanout.replicas import MODELS
from lecture31.fanout.simulate import simulateFanOuts
from lecture31.fanout.streams import CounterStream, toUnit
from lecture31.fanout.study import THEORY_POLICIES, policyFor

# Every model and policy the study runs, on ten shards (the reference engine is ~40 us a
# shard request), at a light load and at one where queues and hedges pile up.
CASES = [
    (model, policy, load)
    for model in MODELS
    for policy in THEORY_POLICIES
    if policy != "duplicate-all" or model == "theory"
    for load in (0.3, 0.85)
]


def narrow(model: str) -> simulate.LatencyModel:
    spec = MODELS[model]
    return dataclasses.replace(spec, shards=min(spec.shards, 10))


@pytest.mark.parametrize(("model", "policy", "load"), CASES)
def test_the_compiled_engine_gives_the_reference_engines_trace(model, policy, load):
    spec, hedging = narrow(model), policyFor(model, policy)
    reference = simulateFanOuts(spec, hedging, load, 300, seed=11, engine="reference")
    compiled = simulateFanOuts(spec, hedging, load, 300, seed=11, engine="compiled")
    assert compiled == reference  # every latency, in completion order, to the last bit
    assert len(compiled.latencies) == 300


def test_the_compiled_engine_follows_the_pooled_budget_without_a_shard_cap():
    uncapped = dataclasses.replace(policyFor("correlated", "budgeted"), shardBudgetRatio=None)
    spec = narrow("correlated")
    reference = simulateFanOuts(spec, uncapped, 0.3, 300, seed=5, engine="reference")
    assert simulateFanOuts(spec, uncapped, 0.3, 300, seed=5) == reference


def test_a_run_that_outgrows_its_stores_is_run_again_and_gives_the_same_trace(monkeypatch):
    args = ("hiccup", policyFor("hiccup", "budgeted"), 0.85, 400)
    expected = simulateFanOuts(*args, seed=3)
    # Two fan-out slots, a one-entry FIFO, a two-entry heap: every store overflows at once.
    monkeypatch.setattr(simulate, "FIRST_SLOTS", 2)
    monkeypatch.setattr(simulate, "FIRST_QUEUE", 1)
    monkeypatch.setattr(simulate, "FIRST_HEAP", 2)
    assert simulateFanOuts(*args, seed=3) == expected


def test_an_unknown_engine_is_named():
    with pytest.raises(ValueError, match="engine must be one of compiled, reference, got 'gpu'"):
        simulateFanOuts("homework", policyFor("homework", "none"), 0.5, 10, seed=1, engine="gpu")


def test_the_stream_is_splitmix64():
    # splitmix64 seeded with 0: its first output is 0xE220A8397B1DCDAF (Vigna's reference code).
    assert toUnit(0, 0) == (0xE220A8397B1DCDAF >> 11) * 2.0**-53
    stream = CounterStream(12345)
    draws = [stream.random() for _ in range(20_000)]
    assert draws[:3] == [toUnit(12345, n) for n in range(3)]
    assert all(0.0 <= u < 1.0 for u in draws)
    assert sum(draws) / len(draws) == pytest.approx(0.5, abs=0.01)
    assert len(set(draws)) == len(draws)
