"""The A/B decision: each measure's head/base ratio over paired trials, and its verdict.

    trial i:  base run i  and  head run i, adjacent in time (ABBA), same machine
        per pair: each variant's seconds (``stat`` of its rounds) and each speedup over the
        pair's reference --> ratio head / base, one per trial
    over trials: the geometric mean ratio, and a one-sided t test on the log ratios of
        "worse than the tolerance" (seconds up, or speedup down, by more than tolerance)
    over the measures: Benjamini-Hochberg at the look's alpha, over every measure of the run
    each measure ends
        regressed     BH rejects "no worse than the tolerance"
        improved      its interval lies wholly beyond the tolerance on the better side
        held          its interval's worse end lies within the tolerance
        unresolved    neither: this run cannot tell (its interval straddles the tolerance)
    resolution: the smallest slowdown this run would have flagged, given its spread:
        (1 + tolerance) x exp(t x standard error) - 1

Why Benjamini-Hochberg: with 60 measures Bonferroni asks each for p < 0.05/60 and throws the
power away. When nothing changed every rejection is false, so BH's false-discovery bound is a
bound on false alarms per run (5%), as Bonferroni's was; when a real change moves several
measures (a slower stage moves its seconds and its speedup at every scale) BH rejects them at
higher levels. BH needs the tests independent or positively dependent (Benjamini & Yekutieli
2001): these are one-sided t tests whose trials share the host's drift, which moves them
together; the A/A sessions in bench/calibration/ check the false-alarm rate it gives.

Why paired trials: a shared host's speed drifts from minute to minute, but a trial's two runs
take place minutes apart at most and their ratio cancels what they share (Abedi & Brecht's
randomized multiple interleaved trials).

Why trimmed means for the CPU-bound groups (``GateGroup.trimSlowest``): there the host does not
drift, it jumps. For seconds at a time every CPU-bound round costs 1.3-1.6x (the same work, in
the thread's own CPU time: the host's doing, not the code's), so a whole breaker benchmark
(0.3 s) lands in a fast phase or a slow one, and a side's trials are two clusters (in CI's
quiet dry run of 2026-12-07, about half of them slow). Pairing cannot cancel a phase that the
other side's run, seconds later, did not share. What is stable is the fast cluster. So each
side's slowest ``trimSlowest`` of the trials are set aside (Winsorized into the standard error)
and the two sides' trimmed means compared by Yuen's test (Yuen 1974; one-sided trimming as in
Keselman et al. 2007), with Welch's degrees of freedom. What it gave, before and after, is in
docs/ci-gate.md and bench/calibration/TABLE.md. Unchanged code gives both sides the same
mixture, so trimming alone cannot make a false alarm; the A/A sessions check the standard
error's small-sample honesty.

Why seconds as well as speedups: the two runs share the machine, so seconds compare now, and a
change that slows a pair's variants alike (a slower ``normalizeReading`` slows naive and
correct) moves no speedup.
"""

from __future__ import annotations

import enum
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..report.pairs import pairResults
from .tdist import tCdf, tQuantile

__all__ = (
    "FAMILY_ALPHA",
    "Estimate",
    "Finding",
    "Measure",
    "Verdict",
    "compareTrials",
    "estimate",
    "judge",
    "measuresOf",
    "pairedTrials",
    "trimmedEstimate",
)

# The chance, over one gate run, that unchanged code shows a regression: 5%, spent over the
# run's looks (the second stage's look gets its own share: lecture31.gate.stages).
FAMILY_ALPHA = 0.05


class Verdict(enum.StrEnum):
    """How a measure ended: the words the summary and the JSON show."""

    REGRESSED = "regressed"
    IMPROVED = "improved"
    HELD = "held"
    UNRESOLVED = "unresolved"


@dataclass(frozen=True, slots=True)
class Measure:
    """One number a trial yields for one side: a variant's seconds, or a speedup."""

    pair: str
    kind: str  # "seconds" (lower is better) or "speedup" (higher is better)
    variant: str

    @property
    def name(self) -> str:
        return f"{self.pair} {self.variant} {self.kind}"

    def slowdownLog(self, logRatio: float) -> float:
        """log head/base turned to "how much worse": seconds up, or speedup down."""
        return logRatio if self.kind == "seconds" else -logRatio


@dataclass(frozen=True, slots=True)
class Estimate:
    """One measure over paired trials: both sides' figures and the log ratio's mean and error."""

    measure: Measure
    base: float  # geometric mean over the trials
    head: float
    logMean: float  # mean of log(head / base)
    logError: float  # its standard error (0 when every trial gave the same ratio)
    trials: int
    df: int = 0  # the t distribution's degrees of freedom (0: paired, trials - 1)

    @property
    def ratio(self) -> float:
        return math.exp(self.logMean)

    @property
    def freedom(self) -> int:
        return self.df or self.trials - 1


@dataclass(frozen=True, slots=True)
class Finding:
    """A measure's verdict: its estimate, interval, tolerance and what this run could resolve."""

    estimate: Estimate
    tolerance: float
    level: float  # one-sided level of each bound of the interval (alpha / measures)
    pValue: float  # of "no worse than the tolerance"
    verdict: Verdict
    group: str = ""

    @property
    def measure(self) -> Measure:
        return self.estimate.measure

    @property
    def base(self) -> float:
        return self.estimate.base

    @property
    def head(self) -> float:
        return self.estimate.head

    @property
    def ratio(self) -> float:
        return self.estimate.ratio

    @property
    def trials(self) -> int:
        return self.estimate.trials

    @property
    def spread(self) -> float:
        """Half the interval's width in log ratio (t at ``level`` x standard error)."""
        if self.estimate.logError == 0.0:
            return 0.0
        return tQuantile(1.0 - self.level, self.estimate.freedom) * self.estimate.logError

    @property
    def low(self) -> float:
        return math.exp(self.estimate.logMean - self.spread)

    @property
    def high(self) -> float:
        return math.exp(self.estimate.logMean + self.spread)

    @property
    def confidence(self) -> float:
        """The two-sided confidence of [low, high]."""
        return 1.0 - 2.0 * self.level

    @property
    def failed(self) -> bool:
        return self.verdict is Verdict.REGRESSED

    @property
    def change(self) -> float:
        """+0.12 = 12% slower (seconds) or 12% less speedup, whichever is worse for the head."""
        return math.exp(self.measure.slowdownLog(self.estimate.logMean)) - 1.0

    @property
    def resolution(self) -> float:
        """The smallest slowdown this run would have flagged, had it shown the same spread."""
        return (1.0 + self.tolerance) * math.exp(self.spread) - 1.0

    def __str__(self) -> str:
        unit = "s" if self.measure.kind == "seconds" else "x"
        worse = "slower" if self.measure.kind == "seconds" else "less speedup"
        return (
            f"{self.verdict:10} {self.measure.name}: base {self.base:.4g}{unit}, head"
            f" {self.head:.4g}{unit}, {abs(self.change):.1%}"
            f" {worse if self.change > 0 else 'better'} (head/base {self.ratio:.3f},"
            f" {self.confidence:.2%} interval {self.intervalText}, tolerance"
            f" {self.tolerance:.1%}, resolves {self.resolutionText}, {self.trials} trials)"
        )

    @property
    def intervalText(self) -> str:
        """``0.981-1.034``; an interval too wide to mean anything says so."""
        if self.high > 100.0 * self.ratio:
            return "wider than 100x either way"
        return f"{self.low:.3f}-{self.high:.3f}"

    @property
    def resolutionText(self) -> str:
        return f"{self.resolution:.1%}" if self.resolution < 10.0 else "nothing under 1000%"


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


def estimate(measure: Measure, base: Sequence[float], head: Sequence[float]) -> Estimate:
    """The paired estimate of ``measure`` from trial i's ``base[i]`` and ``head[i]``."""
    if len(base) != len(head):
        raise ValueError(f"trials must pair up, got {len(base)} base and {len(head)} head")
    if len(base) < 2:
        raise ValueError(f"an interval needs at least 2 trials, got {len(base)}")
    logs = [math.log(h / b) for b, h in zip(base, head, strict=True)]
    spread = statistics.stdev(logs)
    return Estimate(
        measure,
        _geometricMean(base),
        _geometricMean(head),
        statistics.fmean(logs),
        spread / math.sqrt(len(logs)) if spread > 1e-12 else 0.0,
        len(logs),
    )


def _trimmedSide(values: Sequence[float], trim: float) -> tuple[float, float, int]:
    """One side's log values with its slowest ``trim`` set aside: the trimmed mean, the squared
    standard error of it (Yuen's, from the Winsorized variance), and how many were kept."""
    logs = sorted(math.log(v) for v in values)
    if len(logs) < 2:
        raise ValueError(f"an interval needs at least 2 trials, got {len(logs)}")
    kept = max(2, len(logs) - math.floor(trim * len(logs)))  # two are the fewest with a spread
    winsorized = logs[:kept] + [logs[kept - 1]] * (len(logs) - kept)
    variance = statistics.variance(winsorized)
    return statistics.fmean(logs[:kept]), (len(logs) - 1) * variance / (kept * (kept - 1)), kept


def trimmedEstimate(
    measure: Measure, base: Sequence[float], head: Sequence[float], trim: float
) -> Estimate:
    """Yuen's comparison of the two sides' means with the slowest ``trim`` of each side's trials
    set aside (see the module docstring); the trials are not paired, the degrees of freedom are
    Welch's (rounded down)."""
    if not 0.0 < trim < 1.0:
        raise ValueError(f"trim must be in (0, 1), got {trim!r}")
    if len(base) != len(head):
        raise ValueError(f"trials must pair up, got {len(base)} base and {len(head)} head")
    baseMean, baseVariance, baseKept = _trimmedSide(base, trim)
    headMean, headVariance, headKept = _trimmedSide(head, trim)
    variance = baseVariance + headVariance
    exact = variance <= 1e-24  # every kept trial alike (a virtual clock): no spread to weigh
    welch = (
        baseKept + headKept - 2
        if exact
        else variance**2 / (baseVariance**2 / (baseKept - 1) + headVariance**2 / (headKept - 1))
    )
    return Estimate(
        measure,
        math.exp(baseMean),
        math.exp(headMean),
        headMean - baseMean,
        0.0 if exact else math.sqrt(variance),
        len(base),
        max(1, math.floor(welch)),
    )


def pairedTrials(
    base: Sequence[Mapping[Measure, float]],
    head: Sequence[Mapping[Measure, float]],
    *,
    trimSlowest: float = 0.0,
) -> tuple[list[Estimate], list[Measure], list[Measure]]:
    """Estimates of the measures every trial of both sides has; and those only one side has.
    ``trimSlowest``: compare trimmed means (``trimmedEstimate``) instead of paired ratios, of
    the seconds only: a speedup there divides two benchmarks that each fell in a phase of its
    own (four mixtures, not two), and the reference it divides by is the bench's own code."""
    if len(base) != len(head):
        raise ValueError(f"trials must pair up, got {len(base)} base and {len(head)} head")
    if not base:
        return [], [], []
    inBase = set.intersection(*(set(trial) for trial in base))
    inHead = set.intersection(*(set(trial) for trial in head))
    shared = sorted(inBase & inHead, key=lambda m: (m.pair, m.kind, m.variant))
    onlyBase = sorted(inBase - inHead, key=lambda m: m.name)
    onlyHead = sorted(inHead - inBase, key=lambda m: m.name)
    if trimSlowest:
        estimates = [
            trimmedEstimate(m, [b[m] for b in base], [h[m] for h in head], trimSlowest)
            for m in shared
            if m.kind == "seconds"
        ]
    else:
        estimates = [estimate(m, [b[m] for b in base], [h[m] for h in head]) for m in shared]
    return estimates, onlyBase, onlyHead


def _pWorse(estimate: Estimate, tolerance: float) -> float:
    """One-sided p of "no worse than the tolerance", from the t statistic of the log ratio."""
    margin = estimate.measure.slowdownLog(estimate.logMean) - math.log1p(tolerance)
    if estimate.logError == 0.0:
        return 0.0 if margin > 0 else 1.0
    return 1.0 - tCdf(margin / estimate.logError, estimate.freedom)


def benjaminiHochberg(pValues: Sequence[float], alpha: float, family: int) -> list[bool]:
    """Which of ``pValues`` BH rejects at ``alpha``, as if ``family`` tests were made (the
    tests not given count as p = 1: a smaller set judged against the whole family)."""
    if family < len(pValues):
        raise ValueError(f"family must count every test, got {family} for {len(pValues)}")
    order = sorted(range(len(pValues)), key=lambda i: pValues[i])
    passed = 0
    for rank, index in enumerate(order, start=1):
        if pValues[index] <= alpha * rank / family:
            passed = rank
    rejected = [False] * len(pValues)
    for index in order[:passed]:
        rejected[index] = True
    return rejected


def judge(
    estimates: Sequence[Estimate],
    toleranceOf: Callable[[Measure], float],
    *,
    alpha: float = FAMILY_ALPHA,
    family: int | None = None,
    groupOf: Callable[[Measure], str] = lambda measure: "",
) -> list[Finding]:
    """Each estimate's verdict at ``alpha`` (BH over ``family`` tests, default: these)."""
    family = len(estimates) if family is None else family
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    tolerances = [toleranceOf(e.measure) for e in estimates]
    for e, tolerance in zip(estimates, tolerances, strict=True):
        if not 0.0 <= tolerance < 1.0:
            raise ValueError(f"tolerance of {e.measure.name} must be in [0, 1), got {tolerance}")
    pValues = [_pWorse(e, t) for e, t in zip(estimates, tolerances, strict=True)]
    rejected = benjaminiHochberg(pValues, alpha, family) if estimates else []
    level = alpha / max(family, 1)
    findings = []
    for e, tolerance, p, regressed in zip(estimates, tolerances, pValues, rejected, strict=True):
        provisional = Finding(e, tolerance, level, p, Verdict.UNRESOLVED, groupOf(e.measure))
        bound = math.log1p(tolerance)
        worstEnd = e.measure.slowdownLog(e.logMean) + provisional.spread
        if regressed:
            verdict = Verdict.REGRESSED
        elif worstEnd < -bound:  # even its worst end is better than the tolerance
            verdict = Verdict.IMPROVED
        elif worstEnd < bound:
            verdict = Verdict.HELD
        else:
            verdict = Verdict.UNRESOLVED
        findings.append(Finding(e, tolerance, level, p, verdict, groupOf(e.measure)))
    return findings


def compareTrials(
    base: Sequence[Mapping[Measure, float]],
    head: Sequence[Mapping[Measure, float]],
    *,
    tolerance: float,
    familyAlpha: float = FAMILY_ALPHA,
) -> tuple[list[Finding], list[Measure], list[Measure]]:
    """Findings for the measures every trial of both sides has, at one tolerance; and those only
    one side has. Needs two trials or more: one trial has no spread to build an interval from."""
    if len(base) < 2:
        raise ValueError(f"an interval needs at least 2 trials, got {len(base)}")
    if not 0.0 <= tolerance < 1.0:
        raise ValueError(f"tolerance must be in [0, 1), got {tolerance!r}")
    estimates, onlyBase, onlyHead = pairedTrials(base, head)
    return judge(estimates, lambda m: tolerance, alpha=familyAlpha), onlyBase, onlyHead
