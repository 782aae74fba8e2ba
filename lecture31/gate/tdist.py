"""Student's t distribution: the CDF and its quantile, for intervals from a handful of trials.

    tCdf(t, df)         through the regularized incomplete beta function (a continued fraction)
    tQuantile(p, df)    the t with tCdf(t, df) == p, by bisection on tCdf

Why not a table or scipy: the gate needs quantiles at Bonferroni-corrected levels (0.05 / m for
m pairs) and any number of trials, and scipy is a large dependency for forty lines of classic
numerics (Numerical Recipes' ``betacf``, Lentz's method). Checked against published t values in
``tests/gate/test_tdist.py``.
"""

from __future__ import annotations

import math

from .._runtime.checks import checkCount

__all__ = ("tCdf", "tQuantile")

_EPSILON = 1e-15
_TINY = 1e-300
_MAX_ITERATIONS = 500


def _betaContinuedFraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_ITERATIONS + 1):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _EPSILON:
            break
    return h


def _regularizedBeta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function, for 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    logFront = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(logFront)
    # The continued fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry
    # I_x(a, b) = 1 - I_{1-x}(b, a) on the other side.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betaContinuedFraction(a, b, x) / a
    return 1.0 - front * _betaContinuedFraction(b, a, 1.0 - x) / b


def tCdf(t: float, df: int) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    checkCount(df, "df")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * _regularizedBeta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def tQuantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (0 < p < 1)."""
    checkCount(df, "df")
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be a probability in (0, 1), got {p!r}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -tQuantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while tCdf(high, df) < p:  # the quantile is finite for p < 1: double until it is passed
        low, high = high, high * 2.0
    for _ in range(200):
        middle = (low + high) / 2.0
        if tCdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low <= 1e-12 * max(1.0, high):
            break
    return (low + high) / 2.0
