"""Confidence intervals for speedups, and the regression gate's decision: pure maths, no I/O.

    slow rounds --+                                        +--> Interval(point, low, high)
                  +--> seeded bootstrap of stat(slow) / stat(fast) --+        "6.23x (6.05-6.41)"
    fast rounds --+    (independent, or paired for interleaved rounds)
                                                                       |
    Interval + baseline speedup + tolerance [+ Mann-Whitney p] --> gateDecision --> pass / fail

Why a bootstrap: a run keeps 5-7 rounds per variant (``stats.data`` in pytest-benchmark JSON),
too few to trust a normal approximation of a ratio, and the rounds are skewed (a neighbour's
burst only ever adds time). The percentile bootstrap needs no shape assumption and works on the
same statistic the table prints (median, or min for the gate). BCa would correct bias better
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
from functools import cache
from typing import Any, Protocol

import numpy as np

from lecture31._checks import checkCount, checkSeconds, checkSeed

__all__ = (
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "STATISTICS",
    "GateDecision",
    "Interval",
    "MannWhitney",
    "gateDecision",
    "mannWhitneyU",
    "requiredTolerance",
    "roundSpeedups",
    "speedupInterval",
)

# Which statistic of a variant's rounds a speedup divides (the report's --stat choices).
STATISTICS = ("median", "min", "mean")

# 10 000 resamples put the Monte-Carlo error of a 2.5% quantile well under the 0.01x the
# interval is printed with, at a cost per pair that a report does not notice (time it with
# `python -m timeit -s 'from lecture31._stats import speedupInterval as s' 's([1.1]*7, [.18]*7)'`).
DEFAULT_RESAMPLES = 10_000

# A fixed default seed: the same run always prints the same interval (the report is a pure
# function of its JSON). Any int gives an equally valid interval.
DEFAULT_SEED = 31


class _Reducer(Protocol):
    """A numpy statistic over rounds: a scalar, or one value per row with ``axis=1``."""

    def __call__(self, a: np.ndarray, axis: int | None = None) -> Any: ...


_REDUCERS: dict[str, _Reducer] = {"median": np.median, "min": np.min, "mean": np.mean}

# Exact Mann-Whitney distribution (no ties) up to this many observations in total; beyond it
# the normal approximation is within 0.001 of the exact p-value at the alphas used here.
_EXACT_MAX_TOTAL = 40


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
class MannWhitney:
    """The U statistic of the first sample and its p-value under ``alternative``."""

    u: float
    pValue: float
    alternative: str
    exact: bool


@dataclass(frozen=True, slots=True)
class GateDecision:
    """Whether a pair fails the gate, and the numbers that decided it (for the message)."""

    failed: bool
    floor: float
    baselineSpeedup: float
    interval: Interval
    tolerance: float
    pValue: float | None = None

    def __str__(self) -> str:
        drop = 1 - self.interval.point / self.baselineSpeedup
        verdict = "below" if self.failed else "not wholly below"
        text = (
            f"speedup {self.interval} is {drop:.0%} below the baseline's "
            f"{self.baselineSpeedup:.2f}x; interval {verdict} the floor {self.floor:.2f}x "
            f"(tolerance {self.tolerance:.0%})"
        )
        if self.pValue is not None:
            text += f", Mann-Whitney p = {self.pValue:.4f}"
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


def speedupInterval(
    slowRounds: Sequence[float],
    fastRounds: Sequence[float],
    *,
    stat: str = "median",
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int | None = DEFAULT_SEED,
    paired: bool = False,
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
    reduce = _REDUCERS[_checkStat(stat)]
    confidence = _checkConfidence(confidence)
    resamples = checkCount(resamples, "resamples", minimum=100)
    seed = checkSeed(seed)
    if seed is not None and not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32) or None, got {seed!r}")
    if not isinstance(paired, bool):
        raise TypeError(f"paired must be a bool, got {paired!r}")
    if paired and len(slow) != len(fast):
        raise ValueError(
            f"paired rounds must be as many of each variant, got {len(slow)} slow and "
            f"{len(fast)} fast"
        )

    point = float(reduce(slow) / reduce(fast))
    generator = np.random.RandomState(seed)
    slowIndex = _resampleIndices(generator, resamples, len(slow))
    fastIndex = slowIndex if paired else _resampleIndices(generator, resamples, len(fast))
    ratios = reduce(slow[slowIndex], axis=1) / reduce(fast[fastIndex], axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    # A quantile of resampled ratios can fall a rounding error outside [min, max] of the ratios
    # and, for a degenerate sample (one round each), a hair off the point: clamp so that
    # low <= point <= high always holds for whoever formats or compares it.
    return Interval(point, min(float(low), point), max(float(high), point), confidence)


def roundSpeedups(
    slowRounds: Sequence[float], fastRounds: Sequence[float], *, stat: str = "median"
) -> list[float]:
    """Each fast round as a speedup against the slow variant's ``stat``: ``stat(slow) / fast_i``.

    Puts the fast variant's rounds of two runs on one scale (speedup, not seconds), so that
    runs on machines of different speed can be compared round by round (``mannWhitneyU``).
    """
    slow = _rounds(slowRounds, "slowRounds")
    fast = _rounds(fastRounds, "fastRounds")
    reference = float(_REDUCERS[_checkStat(stat)](slow))
    return [reference / f for f in fast.tolist()]


@cache
def _uCounts(n: int, m: int) -> tuple[int, ...]:
    """How many of the C(n+m, n) orderings of two tie-free samples give each U = 0..n*m.

    The largest observation is either one of the n (it beats all m: U grows by m) or one of
    the m (it beats none): counts(n, m) = counts(n-1, m) shifted by m + counts(n, m-1).
    """
    if n == 0 or m == 0:
        return (1,)
    counts = [0] * (n * m + 1)
    for u, c in enumerate(_uCounts(n - 1, m)):
        counts[u + m] += c
    for u, c in enumerate(_uCounts(n, m - 1)):
        counts[u] += c
    return tuple(counts)


_ALTERNATIVES = ("two-sided", "less", "greater")


def mannWhitneyU(
    first: Sequence[float], second: Sequence[float], *, alternative: str = "two-sided"
) -> MannWhitney:
    """Mann-Whitney U test of ``first`` against ``second`` (scipy is not a dependency).

    U counts the pairs where ``first`` is the larger (ties count a half). ``"less"`` asks whether
    ``first`` tends to be smaller. Exact distribution when there are no ties and at most 40
    observations; otherwise the normal approximation with tie and continuity corrections, as
    scipy's ``method="asymptotic"`` does.
    """
    if alternative not in _ALTERNATIVES:
        raise ValueError(
            f"alternative must be one of {', '.join(_ALTERNATIVES)}, got {alternative!r}"
        )
    a = _finite(first, "first")
    b = _finite(second, "second")
    n, m = len(a), len(b)
    u = float(sum((x > y) + 0.5 * (x == y) for x in a for y in b))
    values = np.concatenate([a, b])
    _, tieSizes = np.unique(values, return_counts=True)
    tied = bool((tieSizes > 1).any())

    if not tied and n + m <= _EXACT_MAX_TOTAL:
        counts = _uCounts(n, m)
        total = math.comb(n + m, n)
        k = int(u)
        atMost = sum(counts[: k + 1]) / total
        atLeast = sum(counts[k:]) / total
        pValue = {
            "less": atMost,
            "greater": atLeast,
            "two-sided": min(1.0, 2 * min(atMost, atLeast)),
        }[alternative]
        return MannWhitney(u, pValue, alternative, exact=True)

    mean = n * m / 2
    tieTerm = float((tieSizes**3 - tieSizes).sum()) / ((n + m) * (n + m - 1))
    sd = math.sqrt(n * m / 12 * ((n + m + 1) - tieTerm))
    if sd == 0:  # every observation equal: no evidence either way
        return MannWhitney(u, 1.0, alternative, exact=False)

    def upper(z: float) -> float:
        return 0.5 * math.erfc(z / math.sqrt(2))

    if alternative == "greater":
        pValue = upper((u - mean - 0.5) / sd)
    elif alternative == "less":
        pValue = upper((mean - u - 0.5) / sd)
    else:
        pValue = min(1.0, 2 * upper((abs(u - mean) - 0.5) / sd))
    return MannWhitney(u, pValue, alternative, exact=False)


def _finite(values: object, name: str) -> np.ndarray:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(f"{name} must be a sequence of numbers, got {values!r}")
    if len(values) == 0:
        raise ValueError(f"{name} must hold at least one value, got an empty sequence")
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int | float | np.floating | np.integer):
            raise TypeError(f"{name}[{i}] must be a number, got {v!r}")
        if not math.isfinite(v):
            raise ValueError(f"{name}[{i}] must be finite, got {v!r}")
        out.append(float(v))
    return np.array(out)


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


def gateDecision(
    interval: Interval,
    baselineSpeedup: float,
    tolerance: float,
    *,
    pValue: float | None = None,
    alpha: float = 0.002,
) -> GateDecision:
    """Fail only when the whole interval lies below ``baselineSpeedup x (1 - tolerance)``.

    The floor is a strict bound: an interval whose high end sits exactly on it passes. With a
    ``pValue`` (e.g. ``mannWhitneyU(run, baseline, alternative="less")`` on ``roundSpeedups``)
    the pair fails only if, in addition, ``pValue < alpha``: asv's rule of "the ratio passes its
    factor *and* the rank test agrees". Without one the interval alone decides.
    """
    if not isinstance(interval, Interval):
        raise TypeError(f"interval must be an Interval, got {interval!r}")
    baselineSpeedup = _checkSpeedup(baselineSpeedup, "baselineSpeedup")
    tolerance = _checkTolerance(tolerance)
    if pValue is not None and (
        isinstance(pValue, bool) or not isinstance(pValue, int | float) or not 0 <= pValue <= 1
    ):
        raise ValueError(f"pValue must be a number in [0, 1] or None, got {pValue!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
    floor = baselineSpeedup * (1.0 - tolerance)
    failed = interval.high < floor and (pValue is None or pValue < alpha)
    return GateDecision(failed, floor, baselineSpeedup, interval, tolerance, pValue)


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
