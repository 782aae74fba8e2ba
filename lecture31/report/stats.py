"""Confidence intervals for speedups, and the regression gate's decision: pure maths, no I/O.

    slow rounds --+                                        +--> Interval(point, low, high)
                  +--> seeded bootstrap of stat(slow) / stat(fast) --+        "6.23x (6.05-6.41)"
    fast rounds --+    (independent, or paired for interleaved rounds)
                  '--> seeded bootstrap of stat(slow[i] / fast[i]): each interleaved round's
                       own ratio (roundRatioInterval)
                                                                       |
    Interval + baseline speedup + tolerance --> gateDecision --> pass / fail

Why a bootstrap: a run keeps a handful of rounds per variant (``stats.data`` in pytest-benchmark
JSON; ``ROUNDS`` in bench/conftest.py), too few to trust a normal approximation of a ratio, and
the rounds are skewed (a neighbour's burst only ever adds time). The percentile bootstrap needs
no shape assumption and works on the same statistic the table prints (median, or min for the
gate). BCa would correct bias better
but estimates its acceleration from a jackknife, which is itself unstable at n = 5.

By min the bootstrap is known to under-cover (an extreme order statistic: most resamples keep
the sample's own minimum), so read that interval as "how much the speedup leans on the luckiest
round", not as 95% coverage. The gate does not rely on coverage either way: its tolerance is
calibrated from reruns of unchanged code (bench/calibrate-gate).

Why the draws come from ``numpy.random.RandomState(seed)``: NumPy froze that legacy generator's
stream (NEP 19), so the checked-in fixture's exact intervals hold on every numpy and Python the
project supports; the newer ``Generator`` streams may change between numpy releases.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict, Unpack

import numpy as np

from .._runtime.checks import checkCount, checkSeconds, checkSeed

__all__ = (
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "STATISTICS",
    "BootstrapOptions",
    "GateDecision",
    "Interval",
    "gateDecision",
    "requiredTolerance",
    "roundRatioInterval",
    "speedupInterval",
    "statistic",
)


# 10 000 resamples put the Monte-Carlo error of a 2.5% quantile well under the 0.01x the
# interval is printed with, at a cost per pair that a report does not notice (time it with
# `python -m timeit -s 'from lecture31.report.stats import speedupInterval as s'
# 's([1.1]*7, [.18]*7)'`).
DEFAULT_RESAMPLES = 10_000

# A fixed default seed: the same run always prints the same interval (the report is a pure
# function of its JSON). Any int gives an equally valid interval.
DEFAULT_SEED = 31


class _Reducer(Protocol):
    """A numpy statistic over rounds: a scalar, or one value per row with ``axis=1``."""

    def __call__(self, a: np.ndarray, axis: int | None = None) -> Any: ...


_REDUCERS: dict[str, _Reducer] = {"median": np.median, "min": np.min, "mean": np.mean}

# Which statistic of a variant's rounds a speedup divides (the report's --stat choices).
STATISTICS = tuple(_REDUCERS)


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate and its confidence interval, e.g. a speedup ``6.23x (6.05-6.41)``."""

    point: float
    low: float
    high: float
    confidence: float = 0.95

    def format(self, digits: int = 2, unit: str = "x") -> str:
        return f"{self.point:.{digits}f}{unit} ({self.low:.{digits}f}-{self.high:.{digits}f})"

    def __str__(self) -> str:
        return self.format()


@dataclass(frozen=True, slots=True)
class GateDecision:
    """Whether a pair fails the gate, and the numbers that decided it (for the message)."""

    failed: bool
    floor: float
    baselineSpeedup: float
    interval: Interval
    tolerance: float

    def __str__(self) -> str:
        drop = 1 - self.interval.point / self.baselineSpeedup
        verdict = "below" if self.failed else "not wholly below"
        text = (
            f"speedup {self.interval} is {drop:.0%} below the baseline's "
            f"{self.baselineSpeedup:.2f}x; interval {verdict} the floor {self.floor:.2f}x "
            f"(tolerance {self.tolerance:.0%})"
        )
        return text


def _rounds(values: object, name: str) -> np.ndarray:
    """A non-empty sequence of positive finite seconds, as a float array."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(f"{name} must be a sequence of seconds, got {values!r}")
    if len(values) == 0:
        raise ValueError(f"{name} must hold at least one round, got an empty sequence")
    return np.array(
        [checkSeconds(v, f"{name}[{i}]", positive=True) for i, v in enumerate(values)], float
    )


def _checkStat(stat: object) -> str:
    if stat not in STATISTICS:
        raise ValueError(f"stat must be one of {', '.join(STATISTICS)}, got {stat!r}")
    return stat


def _checkConfidence(confidence: object) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise TypeError(f"confidence must be a number in (0, 1), got {confidence!r}")
    if not 0.0 < confidence < 1.0:  # also rejects nan
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    return float(confidence)


def _resampleIndices(generator: np.random.RandomState, resamples: int, size: int) -> np.ndarray:
    """``resamples`` x ``size`` indices drawn uniformly from [0, size), with replacement."""
    return generator.randint(0, size, size=(resamples, size))


def statistic(rounds: Sequence[float], stat: str = "median") -> float:
    """``stat`` (one of STATISTICS) of a non-empty sequence of positive seconds."""
    return float(_REDUCERS[_checkStat(stat)](_rounds(rounds, "rounds")))


class BootstrapOptions(TypedDict, total=False):
    """The keywords every bootstrap interval takes; missing ones are ``_bootstrapArguments``'s
    defaults (median, 0.95, DEFAULT_RESAMPLES, DEFAULT_SEED)."""

    stat: str  # one of STATISTICS
    confidence: float
    resamples: int
    seed: int | None


def speedupInterval(
    slowRounds: Sequence[float],
    fastRounds: Sequence[float],
    *,
    paired: bool = False,
    **options: Unpack[BootstrapOptions],
) -> Interval:
    """Percentile-bootstrap interval of ``stat(slowRounds) / stat(fastRounds)``.

    Independent (default): each variant's rounds are resampled on their own, which is right for
    pytest-benchmark runs where one variant's rounds all ran before the other's (no round of A
    belongs with any round of B). ``paired=True`` is for interleaved runs (A, B, A, B...): round
    i of both variants is drawn together, so a slow minute that hit both stays in or out of a
    resample as a whole and does not widen the interval. The point estimate is the same either
    way: the ratio of the statistics over all rounds, as the table prints it.
    """
    slow = _rounds(slowRounds, "slowRounds")
    fast = _rounds(fastRounds, "fastRounds")
    reduce, confidence, resamples, seed = _bootstrapArguments(**options)
    if not isinstance(paired, bool):
        raise TypeError(f"paired must be a bool, got {paired!r}")
    if paired:
        _checkPaired(slow, fast)

    point = float(reduce(slow) / reduce(fast))
    generator = np.random.RandomState(seed)
    slowIndex = _resampleIndices(generator, resamples, len(slow))
    fastIndex = slowIndex if paired else _resampleIndices(generator, resamples, len(fast))
    ratios = reduce(slow[slowIndex], axis=1) / reduce(fast[fastIndex], axis=1)
    return _percentileInterval(point, ratios, confidence)


def roundRatioInterval(
    slowRounds: Sequence[float], fastRounds: Sequence[float], **options: Unpack[BootstrapOptions]
) -> Interval:
    """Percentile-bootstrap interval of ``stat`` over the rounds' own ratios, ``slow[i] / fast[i]``.

    For rounds timed moments apart (interleaved: round i of both variants within the same
    second): each round's ratio divides times that shared the machine's load of that moment, so
    load that comes and goes over seconds cancels in it, and the ratios are resampled whole.
    ``speedupInterval(paired=True)`` resamples rounds whole too, but divides two medians that
    may come from different rounds. Simulated (15 rounds, a lognormal load of sigma 0.25 shared
    by each round, a burst in one sample of five): high / low came out 1.47 that way, 1.11 this
    way, and the point wandered 3x less from run to run.
    """
    slow = _rounds(slowRounds, "slowRounds")
    fast = _rounds(fastRounds, "fastRounds")
    _checkPaired(slow, fast)
    reduce, confidence, resamples, seed = _bootstrapArguments(**options)
    ratios = slow / fast
    point = float(reduce(ratios))
    generator = np.random.RandomState(seed)
    resampled = reduce(ratios[_resampleIndices(generator, resamples, len(ratios))], axis=1)
    return _percentileInterval(point, resampled, confidence)


def _bootstrapArguments(
    *,
    stat: str = "median",
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int | None = DEFAULT_SEED,
) -> tuple[_Reducer, float, int, int | None]:
    """The checked arguments every bootstrap interval takes: its reducer first."""
    reduce = _REDUCERS[_checkStat(stat)]
    confidence = _checkConfidence(confidence)
    resamples = checkCount(resamples, "resamples", minimum=100)
    seed = checkSeed(seed)
    if seed is not None and not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32) or None, got {seed!r}")
    return reduce, confidence, resamples, seed


def _checkPaired(slow: np.ndarray, fast: np.ndarray) -> None:
    if len(slow) != len(fast):
        raise ValueError(
            f"paired rounds must be as many of each variant, got {len(slow)} slow and "
            f"{len(fast)} fast"
        )


def _percentileInterval(point: float, resampled: np.ndarray, confidence: float) -> Interval:
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(resampled, [tail, 1.0 - tail])
    # A quantile of resampled ratios can fall a rounding error outside [min, max] of the ratios
    # and, for a degenerate sample (one round each), a hair off the point: clamp so that
    # low <= point <= high always holds for whoever formats or compares it.
    return Interval(point, min(float(low), point), max(float(high), point), confidence)


def _checkSpeedup(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a positive number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _checkTolerance(tolerance: object) -> float:
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float):
        raise TypeError(f"tolerance must be a number in [0, 1), got {tolerance!r}")
    if not 0.0 <= tolerance < 1.0:
        raise ValueError(f"tolerance must be a number in [0, 1), got {tolerance!r}")
    return float(tolerance)


def gateDecision(interval: Interval, baselineSpeedup: float, tolerance: float) -> GateDecision:
    """Fail only when the whole interval lies below ``baselineSpeedup x (1 - tolerance)``.

    The floor is a strict bound: an interval whose high end sits exactly on it passes.
    """
    if not isinstance(interval, Interval):
        raise TypeError(f"interval must be an Interval, got {interval!r}")
    baselineSpeedup = _checkSpeedup(baselineSpeedup, "baselineSpeedup")
    tolerance = _checkTolerance(tolerance)
    floor = baselineSpeedup * (1.0 - tolerance)
    return GateDecision(interval.high < floor, floor, baselineSpeedup, interval, tolerance)


def requiredTolerance(interval: Interval, baselineSpeedup: float) -> float:
    """The smallest tolerance at which ``interval`` passes against ``baselineSpeedup``.

    Calibration reads it off reruns: unchanged code must pass (the gate's tolerance has to be at
    least the largest of these), a real slowdown must fail (the tolerance has to stay below the
    smallest of these over the slowed runs).
    """
    if not isinstance(interval, Interval):
        raise TypeError(f"interval must be an Interval, got {interval!r}")
    baselineSpeedup = _checkSpeedup(baselineSpeedup, "baselineSpeedup")
    return max(0.0, 1.0 - interval.high / baselineSpeedup)
