"""Benchmark plumbing: the ``measure`` fixture, round counts, and the slowdown injector.

    measure(pair=, variant=, scale=, target=)
        |-- benchmark.group = pair            (one table per comparison in `pytest bench`)
        |-- benchmark.extra_info = pair, variant, scale, idealSeconds, ...
        |-- target() -> coroutine? run it on the session loop (benchRunner)
        |-- LECTURE31_BENCH_SLOWDOWN? stretch this variant's rounds (bench code only)
        '-- benchmark.pedantic(rounds, warmup_rounds, iterations=1)

Injecting a slowdown, to prove the CI gate catches one without touching the library::

    LECTURE31_BENCH_SLOWDOWN='pipeline-*/correct=1.3' pytest bench --bench-quick ...

stretches every round of the matching pair/variant (fnmatch patterns) to 1.3x its measured wall
time by sleeping ``0.3 x elapsed`` after it: the same effect on the median as a library that got
30% slower, and recorded as ``extra_info['injectedSlowdown']`` so such a run cannot pass for a
real one.
"""

from __future__ import annotations

import fnmatch
import inspect
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

SLOWDOWN_ENV = "LECTURE31_BENCH_SLOWDOWN"


@dataclass(frozen=True)
class Rounds:
    """Timed rounds and untimed warm-up rounds for one kind of benchmark."""

    rounds: int
    warmup: int


# Full runs (baselines) vs --bench-quick (CI). The report divides one statistic of each
# variant's rounds (median for tables, min for the CI gate), so a handful of rounds rides out a
# noisy round on a shared 2-core machine; quick mode's 5 rounds kept unchanged code within 9% of
# a quiet baseline by min even with one core busy. The kinds differ because one round costs from
# ~0.3 ms (breaker loops) to ~9 s (15 fan-out queries).
ROUNDS = {
    # kind: (full, quick)
    "tiered": (Rounds(7, 2), Rounds(5, 1)),
    "pipeline": (Rounds(7, 2), Rounds(5, 1)),
    "large": (Rounds(3, 1), Rounds(3, 1)),
    # Seeded sleeps only: every round sleeps the same, so one round is already representative.
    "fanout": (Rounds(2, 0), Rounds(1, 0)),
    "breaker": (Rounds(200, 20), Rounds(50, 5)),
    "tiers": (Rounds(7, 1), Rounds(5, 1)),
}


def _parseSlowdowns(text: str) -> list[tuple[str, str, float]]:
    """``'PAIR/VARIANT=FACTOR,...'`` -> [(pairGlob, variantGlob, factor)]."""
    specs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        target, _, factor = part.partition("=")
        pairGlob, _, variantGlob = target.partition("/")
        try:
            value = float(factor)
        except ValueError:
            value = float("nan")
        if not pairGlob or not variantGlob or not value >= 1.0:
            raise pytest.UsageError(
                f"{SLOWDOWN_ENV}: {part!r} is not PAIR/VARIANT=FACTOR with FACTOR >= 1 "
                "(e.g. 'pipeline-*/correct=1.3')"
            )
        specs.append((pairGlob, variantGlob, value))
    return specs


def _slowdownFactor(pair: str, variant: str) -> float:
    factor = 1.0
    for pairGlob, variantGlob, value in _parseSlowdowns(os.environ.get(SLOWDOWN_ENV, "")):
        if fnmatch.fnmatchcase(pair, pairGlob) and fnmatch.fnmatchcase(variant, variantGlob):
            factor *= value
    return factor


def _stretched(fn: Callable[[], object], factor: float) -> Callable[[], object]:
    def run():
        start = time.perf_counter()
        result = fn()
        time.sleep((time.perf_counter() - start) * (factor - 1.0))
        return result

    return run


def pytest_configure(config: pytest.Config) -> None:
    """A malformed slowdown spec is a usage error before anything runs, not 20 test errors."""
    _parseSlowdowns(os.environ.get(SLOWDOWN_ENV, ""))


@pytest.fixture
def rounds(request: pytest.FixtureRequest) -> Callable[[str], Rounds]:
    """``rounds(kind)``: the round counts for this session (full, or --bench-quick)."""
    quick = request.config.getoption("--bench-quick")
    return lambda kind: ROUNDS[kind][1 if quick else 0]


@pytest.fixture
def measure(benchmark, benchRunner, rounds):
    """Time ``target`` as one variant of one pair; returns the last round's result."""

    def _measure(
        *,
        pair: str,
        variant: str,
        scale: int,
        target: Callable[[], object],
        kind: str,
        idealSeconds: float | Callable[[object], float] | None = None,
        **extraInfo: object,
    ):
        def once():
            result = target()
            if inspect.iscoroutine(result):
                result = benchRunner.run(result)
            return result

        factor = _slowdownFactor(pair, variant)
        timed = once if factor == 1.0 else _stretched(once, factor)
        benchmark.group = pair
        benchmark.extra_info.update(pair=pair, variant=variant, scale=scale, **extraInfo)
        if factor != 1.0:
            benchmark.extra_info["injectedSlowdown"] = factor
        plan = rounds(kind)
        result = benchmark.pedantic(
            timed, rounds=plan.rounds, warmup_rounds=plan.warmup, iterations=1
        )
        if callable(idealSeconds):
            idealSeconds = idealSeconds(result)
        if idealSeconds is not None:
            benchmark.extra_info["idealSeconds"] = float(idealSeconds)
        return result

    return _measure
