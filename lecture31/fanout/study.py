"""The hedging study: every (model, policy, load) point in virtual time, as the rows API.md fixes.

    POINTS (model x policy x load) --simulateFanOuts, one process per core--> SimulationResult
        --> row(): mean, p50 ... p999 with p999's 95% interval, extra requests and work, wins
        --> stopsHelping(): the load above which a policy is worse than none
        --> crossover(): where duplicate-all's mean meets none's (theory: 1/3)

Quantile intervals are order-statistic intervals: the number of fan-outs below the true
quantile q is Binomial(n, q), so the order statistics at ranks n q -+ 1.96 sqrt(n q (1 - q))
bracket it with 95% confidence (the normal approximation of that binomial; at n = 2,000 and
q = 0.999 it rests on two expected values above the quantile, so read p999 there as rough).
They assume independent fan-outs; queueing makes neighbours alike, so they are somewhat too
narrow at high load.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Sequence

from .._runtime.checks import checkCount, checkSeed
from .._runtime.seeding import derivedRng
from .hedgepolicy import HedgeMode, HedgePolicy
from .replicas import MODELS
from .simulate import SimulationResult, simulateFanOuts

__all__ = (
    "LOADS",
    "POLICIES",
    "ROW_FIELDS",
    "crossover",
    "fixedDelay",
    "policyFor",
    "quantileInterval",
    "row",
    "runPoint",
    "stopsHelping",
    "studyPoints",
)

LOADS = tuple(round(0.1 * k, 1) for k in range(1, 10))
POLICIES = ("none", "fixed", "budgeted", "tied")
THEORY_POLICIES = (*POLICIES, "duplicate-all")
ROW_FIELDS = (
    "model",
    "load",
    "shards",
    "fanOuts",
    "policy",
    "mean",
    "p50",
    "p90",
    "p99",
    "p999",
    "p999Low",
    "p999High",
    # Beyond API.md's fields (readers ignore what they do not know): p50's and p99's intervals.
    "p50Low",
    "p50High",
    "p99Low",
    "p99High",
    "extraRequests",
    "extraWork",
    "hedgeWins",
)
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999}
Z95 = 1.959963984540054
# A policy "helps" at a load while its p99 is below none's; "hurts" once it is this much worse.
HURT_MARGIN = 0.10
# A second and a third copy, each to a replica not yet tried (the models have three).
ATTEMPTS = 3
_FIXED_DELAY_DRAWS = 20_000


def fixedDelay(model: str) -> float:
    """The fixed policy's delay: the model's p95 of service time on an idle replica.

    Right when the servers are idle; wrong under load, when queueing pushes most attempts
    past it and a delay that does not adapt (and no budget) doubles the work: on purpose.
    """
    spec = MODELS[model]
    rng = random.Random(f"fixed-delay:{model}")
    draws = sorted(spec.draw(rng) for _ in range(_FIXED_DELAY_DRAWS))
    return draws[int(0.95 * _FIXED_DELAY_DRAWS)]


def policyFor(model: str, policy: str) -> HedgePolicy:
    mode = HedgeMode(policy)
    return HedgePolicy(
        mode=mode,
        fixedDelay=fixedDelay(model) if mode is HedgeMode.FIXED else None,
        maxAttempts=ATTEMPTS if mode in (HedgeMode.FIXED, HedgeMode.BUDGETED) else 2,
    )


def studyPoints(models: Sequence[str] | None = None) -> list[tuple[str, str, float]]:
    """Every (model, policy, load) the study runs, in the order its rows come."""
    chosen = tuple(MODELS) if models is None else tuple(models)
    return [
        (model, policy, load)
        for model in chosen
        for policy in (THEORY_POLICIES if model == "theory" else POLICIES)
        for load in LOADS
    ]


def runPoint(point: tuple[str, str, float], fanOuts: int, seed: int | None) -> dict:
    """One row (module level and of plain arguments, so a process pool can run it)."""
    model, policy, load = point
    checkCount(fanOuts, "fanOuts")
    checkSeed(seed)
    # The same seed for every policy at one (model, load): the same arrivals and draws.
    pointSeed = None if seed is None else derivedRng(seed, model, load).getrandbits(63)
    result = simulateFanOuts(model, policyFor(model, policy), load, fanOuts, seed=pointSeed)
    return row(model, policy, load, result)


def quantileInterval(ordered: Sequence[float], q: float) -> tuple[float, float, float]:
    """(estimate, low, high) of quantile ``q`` of sorted values: 95% order-statistic interval."""
    n = len(ordered)
    if n == 0:
        raise ValueError("no values")
    spread = Z95 * math.sqrt(n * q * (1 - q))

    def at(rank: float) -> float:
        return ordered[min(n - 1, max(0, int(rank)))]

    return (
        at(math.ceil(n * q) - 1),
        at(math.floor(n * q - spread) - 1),
        at(math.ceil(n * q + spread)),
    )


def row(model: str, policy: str, load: float, result: SimulationResult) -> dict:
    ordered = sorted(result.latencies)
    values: dict[str, object] = {
        "model": model,
        "load": load,
        "shards": MODELS[model].shards,
        "fanOuts": len(ordered),
        "policy": policy,
        "mean": statistics.fmean(ordered),
    }
    for name, q in QUANTILES.items():
        estimate, low, high = quantileInterval(ordered, q)
        values[name] = estimate
        values[f"{name}Low"], values[f"{name}High"] = low, high
    values["extraRequests"] = result.extraAttempts / result.primaries
    values["extraWork"] = (
        result.totalWork / result.usefulWork - 1.0 if result.usefulWork > 0 else 0.0
    )
    values["hedgeWins"] = result.hedgeWins / result.extraAttempts if result.extraAttempts else 0.0
    values["budgetExcess"] = result.maxBudgetExcess
    return values


def stopsHelping(rows: Sequence[dict], model: str, policy: str) -> float | None:
    """The lowest load from which ``policy``'s p99 is no longer below none's (None: never)."""
    byLoad = {r["load"]: r for r in rows if r["model"] == model and r["policy"] == "none"}
    for r in sorted(rows, key=lambda r: r["load"]):
        same = r["model"] == model and r["policy"] == policy and r["load"] in byLoad
        if same and r["p99"] >= byLoad[r["load"]]["p99"]:
            return float(r["load"])
    return None


def crossover(rows: Sequence[dict], model: str = "theory") -> float | None:
    """The load where duplicate-all's mean meets none's (linear between the loads around it)."""
    none = {r["load"]: r["mean"] for r in rows if r["model"] == model and r["policy"] == "none"}
    dup = {
        r["load"]: r["mean"] for r in rows if r["model"] == model and r["policy"] == "duplicate-all"
    }
    loads = sorted(set(none) & set(dup))
    gaps = [(load, dup[load] / none[load] - 1.0) for load in loads]
    for (lowLoad, lowGap), (highLoad, highGap) in itertools.pairwise(gaps):
        if lowGap < 0 <= highGap:
            return float(lowLoad + (highLoad - lowLoad) * (-lowGap) / (highGap - lowGap))
    return None
