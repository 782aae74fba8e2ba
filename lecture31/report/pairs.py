"""Pair the measurements: each workload's reference variant and the others, and their speedups.

[Measurement] --pairMeasurements--> [PairResult]: speedup = reference seconds / variant
seconds, with a seeded bootstrap interval over the rounds where the run kept them. A variant
timed with the reference beside each of its rounds (``referenceRounds``, interleaved) is divided
round by round instead: the stat of the rounds' own ratios (ratio of the mins for ``min``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from .parse import Measurement, ReportError, parseBenchmarks
from .records import Record
from .stats import DEFAULT_SEED, Interval, roundRatioInterval, speedupInterval, statistic

__all__ = (
    "PairResult",
    "SpeedupChange",
    "VariantResult",
    "pairMeasurements",
    "pairResults",
    "speedupChanges",
)


@lru_cache(maxsize=256)
def _cachedInterval(
    slowRounds: tuple[float, ...], fastRounds: tuple[float, ...], stat: str, seed: int
) -> Interval:
    """One bootstrap per pair and variant, however often a report shows it: with hundreds of
    rounds (the breaker pairs) one takes a noticeable fraction of a second."""
    return speedupInterval(slowRounds, fastRounds, stat=stat, seed=seed)


def _pairedInterval(
    referenceRounds: tuple[float, ...], rounds: tuple[float, ...], stat: str, seed: int | None
) -> Interval:
    """Round i of both variants was timed moments apart: the stat of the rounds' own ratios,
    resampled whole; for ``min`` (the least disturbed round) the ratio of the mins, resampled
    in pairs."""
    if stat == "min":
        return speedupInterval(referenceRounds, rounds, stat=stat, seed=seed, paired=True)
    return roundRatioInterval(referenceRounds, rounds, stat=stat, seed=seed)


_cachedPairedInterval = lru_cache(maxsize=256)(_pairedInterval)


@dataclass(frozen=True, slots=True)
class VariantResult:
    """One variant of a pair: its time (one statistic of its rounds) and what is shown beside it."""

    variant: str
    seconds: float
    idealSeconds: float | None = None
    statedIdealSpeedup: float | None = None
    calls: int | None = None
    columns: Mapping[str, float | None] = field(default_factory=dict)
    rounds: tuple[float, ...] | None = None  # every round's seconds, if the run kept them
    # The reference's seconds timed beside each of this variant's rounds (interleaved), if any.
    referenceRounds: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class PairResult:
    """One workload timed as a reference variant and one or more others, in one session.

    Speedup of a variant = reference seconds / variant seconds. The two-variant names
    (``referenceName``, ``variantName``, ``speedup``, ...) describe the first non-reference
    variant.
    """

    comparison: str
    pair: str
    scale: int
    reference: VariantResult
    others: tuple[VariantResult, ...]
    stat: str = "median"
    scaleLabel: str = "scale"

    @property
    def variants(self) -> tuple[VariantResult, ...]:
        return (self.reference, *self.others)

    def variant(self, name: str) -> VariantResult:
        for result in self.variants:
            if result.variant == name:
                return result
        raise KeyError(name)

    def speedupOf(self, name: str) -> float:
        """Reference seconds / this variant's; round by round where the variant was timed
        beside the reference (``referenceRounds``)."""
        result = self.variant(name)
        if result.referenceRounds is None:
            return self.reference.seconds / result.seconds
        if result.rounds is None:
            return statistic(result.referenceRounds, self.stat) / result.seconds
        return _cachedPairedInterval(
            result.referenceRounds, result.rounds, self.stat, DEFAULT_SEED
        ).point

    def intervalOf(self, name: str, *, seed: int | None = DEFAULT_SEED) -> Interval | None:
        """The speedup of ``name`` with its 95% bootstrap interval over the rounds of both
        variants (``stat`` of each resample), or None when either variant kept no rounds.

        The rounds are resampled independently: pytest-benchmark times one variant's rounds
        before the other's, so no round of one belongs with a round of the other. A variant
        timed beside the reference (``referenceRounds``) is resampled in pairs instead.
        """
        result = self.variant(name)
        reference, variant = result.referenceRounds, result.rounds
        paired = reference is not None
        if reference is None:
            reference = self.reference.rounds
        if reference is None or variant is None:
            return None
        if paired:
            interval = (_pairedInterval if seed is None else _cachedPairedInterval)(
                reference, variant, self.stat, seed
            )
        elif seed is None:  # fresh draws each call: nothing to cache
            interval = speedupInterval(reference, variant, stat=self.stat, seed=None)
        else:
            interval = _cachedInterval(reference, variant, self.stat, seed)
        # The point is the table's own (stats.<stat> of each variant), equal to the interval's
        # up to rounding: keep one number per speedup on the page.
        point = self.speedupOf(name)
        return Interval(point, min(interval.low, point), max(interval.high, point))

    def speedupText(self, name: str) -> str:
        """``6.23x (6.11-6.37)`` with rounds, ``6.23x`` without."""
        interval = self.intervalOf(name)
        return f"{self.speedupOf(name):.2f}x" if interval is None else str(interval)

    def idealSpeedupOf(self, name: str) -> float | None:
        """The stated ideal, else the speedup at the variant's critical-path bound."""
        result = self.variant(name)
        if result.statedIdealSpeedup is not None:
            return result.statedIdealSpeedup
        if result.idealSeconds is None:
            return None
        return self.reference.seconds / result.idealSeconds

    def efficiencyOf(self, name: str) -> float | None:
        """Measured / ideal speedup: 1.0 means the variant runs at its bound."""
        ideal = self.idealSpeedupOf(name)
        return None if ideal is None else self.speedupOf(name) / ideal

    # --- the two-variant view (the first non-reference variant) ---
    @property
    def referenceName(self) -> str:
        return self.reference.variant

    @property
    def variantName(self) -> str:
        return self.others[0].variant

    @property
    def referenceSeconds(self) -> float:
        return self.reference.seconds

    @property
    def variantSeconds(self) -> float:
        return self.others[0].seconds

    @property
    def idealSeconds(self) -> float | None:
        return self.others[0].idealSeconds

    @property
    def speedup(self) -> float:
        return self.speedupOf(self.variantName)

    @property
    def idealSpeedup(self) -> float | None:
        """The speedup the fast variant would show if it ran at its critical-path bound."""
        return self.idealSpeedupOf(self.variantName)

    @property
    def efficiency(self) -> float | None:
        """Bound / measured: 1.0 means the fast variant runs at its critical path."""
        return self.efficiencyOf(self.variantName)

    @property
    def calls(self) -> int | None:
        return self.others[0].calls

    @property
    def overheadPerCall(self) -> float | None:
        """Seconds the fast variant adds per call (pairs that time ``calls`` calls per round)."""
        if not self.calls:
            return None
        return (self.variantSeconds - self.referenceSeconds) / self.calls


@dataclass(frozen=True, slots=True)
class SpeedupChange:
    """One variant's speedup in this run beside a compared run's (None: not in that run)."""

    pair: str
    variant: str
    reference: str
    speedup: float
    idealSpeedup: float | None
    comparedSpeedup: float | None
    interval: Interval | None = None

    @property
    def change(self) -> float | None:
        """Relative change against the compared run (+0.05 = 5% faster than it)."""
        if self.comparedSpeedup is None:
            return None
        return self.speedup / self.comparedSpeedup - 1


def _referenceOf(pair: str, records: Sequence[Record]) -> str:
    named = {r.reference for r in records}
    if len(named) != 1:
        shown = ", ".join(sorted(repr(n) for n in named))
        raise ReportError(f"pair {pair!r}: its benchmarks name different references ({shown})")
    (reference,) = named
    return reference


def _variantResult(measurement: Measurement) -> VariantResult:
    r = measurement.record
    return VariantResult(
        r.variant,
        measurement.seconds,
        r.idealSeconds,
        r.idealSpeedup,
        r.calls,
        r.columns,
        measurement.rounds,
        r.referenceRounds,
    )


def pairMeasurements(
    measurements: Sequence[Measurement], stat: str = "median", *, partial: bool = False
) -> list[PairResult]:
    """Group measurements by pair: the reference variant first, the others in run order.

    A pair needs its reference and at least one other variant; without them it is an error,
    or (``partial=True``, for a session that ran only some benchmarks) left out. Comparisons
    keep the order they first appear in; pairs within one are sorted by scale.
    """
    byPair: dict[str, dict[str, Measurement]] = {}
    for m in measurements:
        variants = byPair.setdefault(m.record.pair, {})
        if m.record.variant in variants:
            raise ReportError(
                f"pair {m.record.pair!r} has two benchmarks for variant {m.record.variant!r}"
            )
        variants[m.record.variant] = m

    results = []
    for pair, variants in byPair.items():
        records = [m.record for m in variants.values()]
        try:
            reference = _referenceOf(pair, records)
            if reference not in variants:
                raise ReportError(
                    f"pair {pair!r} has no benchmark of its reference variant {reference!r} "
                    f"(variants: {', '.join(sorted(variants))})"
                )
            if len(variants) < 2:
                raise ReportError(f"pair {pair!r} has only its reference variant {reference!r}")
        except ReportError:
            if partial:
                continue
            raise
        ref = variants[reference]
        scales = {r.scale for r in records}
        if len(scales) != 1:
            raise ReportError(f"pair {pair!r}: its variants disagree on the scale {sorted(scales)}")
        results.append(
            PairResult(
                comparison=ref.record.comparison,
                pair=pair,
                scale=ref.record.scale,
                reference=_variantResult(ref),
                others=tuple(_variantResult(m) for v, m in variants.items() if v != reference),
                stat=stat,
                scaleLabel=next(
                    (r.scaleLabel for r in records if r.scaleLabel != "scale"), "scale"
                ),
            )
        )
    order = {c: i for i, c in enumerate(dict.fromkeys(r.comparison for r in results))}
    return sorted(results, key=lambda r: (order[r.comparison], r.scale, r.pair))


def pairResults(run: dict, stat: str = "median", *, partial: bool = False) -> list[PairResult]:
    """A run's pairs: ``parseBenchmarks`` then ``pairMeasurements``, labelled with ``stat``."""
    return pairMeasurements(parseBenchmarks(run, stat), stat, partial=partial)


def speedupChanges(
    run: Sequence[PairResult], compared: Sequence[PairResult] | None = None
) -> list[SpeedupChange]:
    """Each variant's speedup, beside the compared run's speedup of the same pair and variant."""
    previous = {(r.pair, v.variant): r for r in compared or () for v in r.others}
    changes = []
    for r in run:
        for v in r.others:
            old = previous.get((r.pair, v.variant))
            sameReference = old is not None and old.reference.variant == r.reference.variant
            changes.append(
                SpeedupChange(
                    r.pair,
                    v.variant,
                    r.reference.variant,
                    r.speedupOf(v.variant),
                    r.idealSpeedupOf(v.variant),
                    old.speedupOf(v.variant) if old is not None and sameReference else None,
                    r.intervalOf(v.variant),
                )
            )
    return changes
