"""The regression check: each variant's speedup interval against the baseline's speedup.

[PairResult] (run) + [PairResult] (baseline) + tolerance --gateDecisions--> [Verdict]
a variant fails only when its whole interval lies below baseline x (1 - tolerance)
[PairResult] (run) + [PairResult] (baseline) --ungatedVariants--> what the baseline cannot judge
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .pairs import PairResult
from .parse import ReportError
from .stats import GateDecision, Interval, gateDecision

__all__ = (
    "BACKSTOP_TOLERANCE",
    "Regression",
    "Verdict",
    "checkRegressions",
    "gateDecisions",
    "ungatedVariants",
)

# The backstop: how far a pair's speedup may fall below the baseline's before --check fails
# (the same-machine A/B gate, lecture31.gate, is the fine check; this one is coarse). 0.25 tolerates
# a noisy shared machine but misses small regressions: a 30% slowdown of the fast variant lowers
# the speedup by only 1 - 1/1.3 = 23%. The CI gate therefore passes a tighter value (see .ci/run).
BACKSTOP_TOLERANCE = 0.25


@dataclass(frozen=True, slots=True)
class Regression:
    """A variant whose speedup fell more than the tolerance below the baseline's.

    With an ``interval`` (the run kept its rounds) the whole interval lay below the floor.
    """

    pair: str
    baselineSpeedup: float
    runSpeedup: float
    tolerance: float
    variant: str | None = None  # named only for pairs with more than two variants
    interval: Interval | None = None

    @property
    def floor(self) -> float:
        return self.baselineSpeedup * (1 - self.tolerance)

    def __str__(self) -> str:
        drop = 1 - self.runSpeedup / self.baselineSpeedup
        where = self.pair if self.variant is None else f"{self.pair}/{self.variant}"
        if self.interval is None:
            return (
                f"{where}: speedup {self.runSpeedup:.2f}x is {drop:.0%} below the baseline's "
                f"{self.baselineSpeedup:.2f}x (tolerance {self.tolerance:.0%}, "
                f"floor {self.floor:.2f}x)"
            )
        return (
            f"{where}: speedup {self.interval} is {drop:.0%} below the baseline's "
            f"{self.baselineSpeedup:.2f}x; the whole interval is below the floor "
            f"{self.floor:.2f}x (tolerance {self.tolerance:.0%})"
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """The gate's decision on one variant of one pair (``--check`` prints one per variant)."""

    pair: str
    variant: str
    decision: GateDecision
    named: bool  # the pair has more than two variants: messages name the variant
    fromRounds: bool = True  # False: the run kept no rounds, the interval is the point alone

    @property
    def failed(self) -> bool:
        return self.decision.failed

    def regression(self) -> Regression:
        d = self.decision
        return Regression(
            self.pair,
            d.baselineSpeedup,
            d.interval.point,
            d.tolerance,
            self.variant if self.named else None,
            d.interval if self.fromRounds else None,
        )

    def __str__(self) -> str:
        where = f"{self.pair}/{self.variant}" if self.named else self.pair
        d = self.decision
        verdict = "FAIL" if d.failed else "ok"
        shown = str(d.interval) if self.fromRounds else f"{d.interval.point:.2f}x (no rounds)"
        return (
            f"{verdict:4} {where}: {shown} against the baseline's {d.baselineSpeedup:.2f}x, "
            f"floor {d.floor:.2f}x"
        )


def gateDecisions(
    run: Sequence[PairResult],
    baseline: Sequence[PairResult],
    tolerance: float = BACKSTOP_TOLERANCE,
    *,
    only: Iterable[str] = (),
) -> list[Verdict]:
    """The gate's decision on every variant of every baseline pair matching ``only``.

    A variant fails when its speedup's interval (``PairResult.intervalOf``; the point alone if
    the run kept no rounds) lies wholly below the baseline's point speedup x (1 - tolerance).
    Every baseline pair matching ``only`` (fnmatch patterns; all when empty), and each of its
    variants, must be in the run: a benchmark that silently disappeared is an error, not a pass.
    A variant (or pair) only the run has is not judged: the baseline has nothing to judge it
    by (``ungatedVariants`` names them) until the baseline is refreshed.
    """
    if not 0 <= tolerance < 1:
        raise ReportError(f"tolerance must be in [0, 1), got {tolerance!r}")
    patterns = tuple(only)

    def wanted(pair: str) -> bool:
        return not patterns or any(fnmatch.fnmatchcase(pair, p) for p in patterns)

    current = {r.pair: r for r in run}
    checked = [b for b in baseline if wanted(b.pair)]
    if not checked:
        raise ReportError(f"the baseline has no pairs matching {list(patterns) or 'anything'}")
    missing = [b.pair for b in checked if b.pair not in current]
    if missing:
        raise ReportError(f"pairs in the baseline but missing from the run: {', '.join(missing)}")
    verdicts = []
    for base in checked:
        now = current[base.pair]
        if now.reference.variant != base.reference.variant:
            raise ReportError(
                f"pair {base.pair!r}: the run's reference is {now.reference.variant!r}, "
                f"the baseline's {base.reference.variant!r}"
            )
        names = {v.variant for v in now.others}
        lost = [v.variant for v in base.others if v.variant not in names]
        if lost:
            raise ReportError(
                f"pair {base.pair!r}: variants in the baseline but missing from the run: "
                f"{', '.join(lost)}"
            )
        for other in base.others:
            speedup = now.speedupOf(other.variant)
            interval = now.intervalOf(other.variant)
            decision = gateDecision(
                interval or Interval(speedup, speedup, speedup),
                base.speedupOf(other.variant),
                tolerance,
            )
            named = len(base.others) > 1 or len(now.others) > 1
            verdicts.append(
                Verdict(base.pair, other.variant, decision, named, interval is not None)
            )
    return verdicts


def ungatedVariants(
    run: Sequence[PairResult], baseline: Sequence[PairResult], *, only: Iterable[str] = ()
) -> list[str]:
    """``pair/variant`` of each variant of the run (pairs matching ``only``) the baseline lacks.

    The gate passes them by (a new variant cannot regress against nothing); the check lists
    them, so a new benchmark is seen not to be gated yet rather than taken for gated.
    """
    patterns = tuple(only)
    known = {(b.pair, v.variant) for b in baseline for v in b.others}
    return [
        f"{r.pair}/{v.variant}"
        for r in run
        if not patterns or any(fnmatch.fnmatchcase(r.pair, p) for p in patterns)
        for v in r.others
        if (r.pair, v.variant) not in known
    ]


def checkRegressions(
    run: Sequence[PairResult],
    baseline: Sequence[PairResult],
    tolerance: float = BACKSTOP_TOLERANCE,
    *,
    only: Iterable[str] = (),
) -> list[Regression]:
    """The variants ``gateDecisions`` fails, as Regressions (empty: the check passed)."""
    verdicts = gateDecisions(run, baseline, tolerance, only=only)
    return [v.regression() for v in verdicts if v.failed]
