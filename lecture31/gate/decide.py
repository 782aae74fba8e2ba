"""The A/B decision: each measure's head/base ratio over paired trials, and whether it regressed.

    trial i:  base run i  and  head run i, adjacent in time (ABBA), same machine
        per pair: each variant's seconds (``stat`` of its rounds) and each speedup over the
        pair's reference --> ratio head / base, one per trial
    over trials: the geometric mean ratio and its t interval (log ratios, paired by trial),
        each at confidence 1 - 0.05 / m for the m pairs compared at once (Bonferroni; or
        the m measures, the stricter choice)
    a measure fails only when its whole interval lies beyond the tolerance on the slow side:
        seconds   low  > 1 + tolerance
        speedup   high < 1 / (1 + tolerance)

Why paired trials: a shared host's speed drifts from minute to minute, but a trial's two runs
take place minutes apart at most and their ratio cancels what they share (Abedi & Brecht's
randomized multiple interleaved trials). Why seconds as well as speedups: the two runs share the
machine, so seconds compare now, and a change that slows a pair's variants alike (a slower
``normalizeReading`` slows naive and correct) moves no speedup.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..report.pairs import pairResults
from .tdist import tQuantile

__all__ = ("CORRECTIONS", "FAMILY_ALPHA", "Finding", "Measure", "compareTrials", "measuresOf")

# The chance, over one gate run, that unchanged code shows an interval that misses its true
# ratio: 5%, split evenly (Bonferroni) between the pairs compared at once, as the issue asks, or
# between every measure. Per pair is less strict than it looks: a pair's measures are not
# independent tests (a speedup is two of its seconds divided), and on CI's machine kind 24
# unchanged trials failed no block of 6-12 trials either way (docs/ci-gate.md).
FAMILY_ALPHA = 0.05
CORRECTIONS = ("pairs", "measures")


@dataclass(frozen=True, slots=True)
class Measure:
    """One number a trial yields for one side: a variant's seconds, or a speedup."""

    pair: str
    kind: str  # "seconds" (lower is better) or "speedup" (higher is better)
    variant: str

    @property
    def name(self) -> str:
        return f"{self.pair} {self.variant} {self.kind}"


@dataclass(frozen=True, slots=True)
class Finding:
    """One measure compared over the trials: both sides' figures and the head/base ratio."""

    measure: Measure
    base: float  # geometric mean over the trials
    head: float
    ratio: float  # head / base, geometric mean of the per-trial ratios
    low: float  # the ratio's interval at the corrected confidence
    high: float
    confidence: float
    tolerance: float

    @property
    def failed(self) -> bool:
        """The whole interval lies beyond the tolerance, on the slow side."""
        if self.measure.kind == "seconds":
            return self.low > 1.0 + self.tolerance
        return self.high < 1.0 / (1.0 + self.tolerance)

    @property
    def change(self) -> float:
        """+0.12 = 12% slower (seconds) or 12% less speedup, whichever is worse for the head."""
        return self.ratio - 1.0 if self.measure.kind == "seconds" else 1.0 / self.ratio - 1.0

    def __str__(self) -> str:
        verdict = "FAIL" if self.failed else "ok"
        unit = "s" if self.measure.kind == "seconds" else "x"
        worse = "slower" if self.measure.kind == "seconds" else "less speedup"
        return (
            f"{verdict:4} {self.measure.name}: base {self.base:.4g}{unit}, head {self.head:.4g}"
            f"{unit}, {abs(self.change):.1%} {worse if self.change > 0 else 'better'}"
            f" (head/base {self.ratio:.3f}, {self.confidence:.2%} interval"
            f" {self.low:.3f}-{self.high:.3f}, tolerance {self.tolerance:.0%})"
        )


def measuresOf(run: Mapping, stat: str) -> dict[Measure, float]:
    """Every measure of one trial's pytest-benchmark run (pairs missing a variant are left out)."""
    found: dict[Measure, float] = {}
    for pair in pairResults(dict(run), stat, partial=True):
        for variant in pair.variants:
            found[Measure(pair.pair, "seconds", variant.variant)] = variant.seconds
        for other in pair.others:
            found[Measure(pair.pair, "speedup", other.variant)] = pair.speedupOf(other.variant)
    return found


def _geometricMean(values: Sequence[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def compareTrials(
    base: Sequence[Mapping[Measure, float]],
    head: Sequence[Mapping[Measure, float]],
    *,
    tolerance: float,
    familyAlpha: float = FAMILY_ALPHA,
    correctFor: str = "pairs",
) -> tuple[list[Finding], list[Measure], list[Measure]]:
    """Findings for the measures every trial of both sides has; and those only one side has.

    ``base[i]`` and ``head[i]`` are trial i's measures. Needs two trials or more: one trial
    has no spread to build an interval from.
    """
    if len(base) != len(head):
        raise ValueError(f"trials must pair up, got {len(base)} base and {len(head)} head")
    if len(base) < 2:
        raise ValueError(f"an interval needs at least 2 trials, got {len(base)}")
    if not 0.0 <= tolerance < 1.0:
        raise ValueError(f"tolerance must be in [0, 1), got {tolerance!r}")
    if correctFor not in CORRECTIONS:
        raise ValueError(f"correctFor must be one of {', '.join(CORRECTIONS)}, got {correctFor!r}")
    inBase = set.intersection(*(set(trial) for trial in base))
    inHead = set.intersection(*(set(trial) for trial in head))
    shared = sorted(inBase & inHead, key=lambda m: (m.pair, m.kind, m.variant))
    onlyBase = sorted(inBase - inHead, key=lambda m: m.name)
    onlyHead = sorted(inHead - inBase, key=lambda m: m.name)
    if not shared:
        return [], onlyBase, onlyHead
    trials = len(base)
    tests = len({m.pair for m in shared}) if correctFor == "pairs" else len(shared)
    confidence = 1.0 - familyAlpha / tests
    spread = tQuantile(1.0 - (1.0 - confidence) / 2.0, trials - 1)
    findings = []
    for measure in shared:
        logs = [math.log(h[measure] / b[measure]) for b, h in zip(base, head, strict=True)]
        mean = statistics.fmean(logs)
        halfWidth = spread * statistics.stdev(logs) / math.sqrt(trials)
        findings.append(
            Finding(
                measure,
                _geometricMean([b[measure] for b in base]),
                _geometricMean([h[measure] for h in head]),
                math.exp(mean),
                math.exp(mean - halfWidth),
                math.exp(mean + halfWidth),
                confidence,
                tolerance,
            )
        )
    return findings, onlyBase, onlyHead
