"""A measure's history over commits measured in interleaved rounds: each commit's level with its
interval, and the steps, by binary segmentation with a paired t test over the rounds.

    values[r][c]    the measure of commit c in round r (each round runs every commit once)
    level(c)        geometric mean over the rounds, the round's own level taken out first
                    (a round on a slow minute is slow for every commit), t interval over rounds
    split of commits i..j at k:  per round, mean log of i..k-1 minus mean log of k..j;
                    t over the rounds of those differences (rounds are the replicates)
    binary segmentation: the split of largest |t| in a stretch is a step when its p-value is
        below alpha / boundaries (Bonferroni) and its size beyond the tolerance; then each side
        of it again, until no stretch has one

Why a paired t test over rounds and not a permutation test: with 5-10 rounds a permutation
(sign-flip) test has at most 2^R distinct outcomes, too few to reach a corrected level of
0.05 / 10; the log ratios of two runs are close to normal here (docs/ci-gate.md). Why
Bonferroni over the boundaries: each boundary between two neighbouring commits is one
hypothesis and is marked at most once, whichever stretch tests it, so n - 1 boundaries (times
the pairs, as the gate corrects) bound the family's false alarms. Why the size too: a step of
0.5% is real code but not a regression anyone gates on; it would be marked with enough rounds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from .tdist import tCdf, tQuantile

__all__ = ("LEVEL_CONFIDENCE", "Level", "Step", "changePoints", "levels")

LEVEL_CONFIDENCE = 0.95  # each commit's interval, as drawn: not corrected, it marks nothing


@dataclass(frozen=True, slots=True)
class Level:
    """One commit's value over the rounds, with its interval."""

    value: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Step:
    """A change of level at commit ``index`` (the first commit of the new level)."""

    index: int
    ratio: float  # the level after / the level before (segment means, geometric)
    p: float  # the split test's two-sided p-value


def _logs(values: Sequence[Sequence[float]]) -> list[list[float]]:
    rounds = [[math.log(v) for v in row] for row in values]
    if len(rounds) < 2 or len({len(row) for row in rounds}) != 1 or not rounds[0]:
        raise ValueError(f"need 2 rounds or more of the same commits, got {len(rounds)} rounds")
    return rounds


def levels(values: Sequence[Sequence[float]]) -> list[Level]:
    """Each commit's level (``values[round][commit]``), the round's own level taken out."""
    logs = _logs(values)
    grand = statistics.fmean(v for row in logs for v in row)
    centred = [[v - statistics.fmean(row) for v in row] for row in logs]
    spread = tQuantile(1 - (1 - LEVEL_CONFIDENCE) / 2, len(logs) - 1) / math.sqrt(len(logs))
    found = []
    for column in zip(*centred, strict=True):
        mean = statistics.fmean(column)
        half = spread * statistics.stdev(column)
        found.append(Level(*(math.exp(grand + x) for x in (mean, mean - half, mean + half))))
    return found


def _split(logs: list[list[float]], start: int, stop: int, at: int) -> tuple[float, float]:
    """(t, mean difference after - before) for splitting commits start..stop-1 at ``at``."""
    differences = [statistics.fmean(row[at:stop]) - statistics.fmean(row[start:at]) for row in logs]
    mean, sd = statistics.fmean(differences), statistics.stdev(differences)
    if sd == 0.0:
        return (0.0 if mean == 0.0 else math.copysign(math.inf, mean)), mean
    return mean / (sd / math.sqrt(len(differences))), mean


def _weighted(logs: list[list[float]], start: int, stop: int, at: int) -> float:
    """Where to split: the difference of the sides' means weighted by sqrt(nl * nr / n) (the
    CUSUM statistic; a split's own t would favour a quiet small side over the true boundary)."""
    left, right = at - start, stop - at
    difference = _split(logs, start, stop, at)[1]
    return abs(difference) * math.sqrt(left * right / (left + right))


def changePoints(
    values: Sequence[Sequence[float]], *, alpha: float, tolerance: float
) -> list[Step]:
    """The steps in ``values[round][commit]``: binary segmentation, each split tested over the
    rounds at ``alpha`` / (commits - 1), kept when its size is beyond ``tolerance``."""
    logs = _logs(values)
    commits = len(logs[0])
    if commits < 2:
        return []
    level = alpha / (commits - 1)
    found: list[tuple[int, float]] = []
    stretches = [(0, commits)]
    while stretches:
        start, stop = stretches.pop()
        if stop - start < 2:
            continue
        best = max(range(start + 1, stop), key=lambda at: _weighted(logs, start, stop, at))
        t, difference = _split(logs, start, stop, best)
        p = 2.0 * (1.0 - tCdf(abs(t), len(logs) - 1)) if math.isfinite(t) else 0.0
        if p >= level or abs(math.expm1(difference)) <= tolerance:
            continue
        found.append((best, p))
        stretches += [(start, best), (best, stop)]
    found.sort()
    # Each step's size between the levels of the stretches either side of it, as finally cut.
    bounds = [0, *(at for at, _ in found), commits]
    steps = []
    for i, (at, p) in enumerate(found, start=1):
        before = statistics.fmean(v for row in logs for v in row[bounds[i - 1] : at])
        after = statistics.fmean(v for row in logs for v in row[at : bounds[i + 1]])
        steps.append(Step(at, math.exp(after - before), p))
    # A split of a long stretch can pass while the levels either side of it, as finally cut,
    # differ by less than the tolerance: not a step anyone gates on.
    return [s for s in steps if abs(s.ratio - 1.0) > tolerance]
