"""Speedup tables, a regression check and a speedup summary from pytest-benchmark JSON.

    RUN.json --loadRun--> run dict --parseBenchmarks--> [Measurement] --pairMeasurements-->
    (pytest bench            (schema errors: ReportError       |                [PairResult]
     --benchmark-json /       naming the benchmark)            |                     |
     --benchmark-save)                                         v                     |
        renderMarkdown (SPEEDUPS.md) <-- checkRegressions(baseline) <-- speedupChanges --+
                                         (exit 1)                       (bench summary)

What each benchmark records is defined once, in ``lecture31._benchformat``: its ``pair``
(``"pipeline-48"``), ``variant``, ``scale`` and the pair's ``reference`` variant, plus optional
bounds and extra columns. All variants of one pair ran in the same session on the same machine,
so their ratios (speedup = reference time / variant time) carry across machines of different
speed; that is what the check compares against a baseline, never raw seconds. Pairs with two
variants render as one row each; pairs with more render as a matrix (one column per variant).

Where the run kept each round (``stats.data``: always with ``--benchmark-json``, with
``--benchmark-save`` only with ``--benchmark-save-data``, which pyproject's addopts set), every
speedup is printed with its seeded 95% bootstrap interval, ``6.23x (6.11-6.37)``, and ``--check``
fails a variant only when that whole interval lies below the baseline's speedup x (1 - tolerance)
(``lecture31._stats.gateDecision``). Runs without rounds fall back to the point speedup.

    python -m lecture31.report [RUN.json]                # newest run under results/
    python -m lecture31.report RUN.json --baseline BASE.json --check --tolerance 0.15 --stat min
    python -m lecture31.report --plot speedups.png       # needs the ``plot`` extra
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from lecture31._benchformat import LEGACY_REFERENCES, FormatError, Record, parseRecord
from lecture31._stats import DEFAULT_SEED, GateDecision, Interval, gateDecision, speedupInterval

__all__ = (
    "DEFAULT_TOLERANCE",
    "STATS",
    "BarGroups",
    "Measurement",
    "PairResult",
    "Regression",
    "ReportError",
    "SpeedupChange",
    "VariantResult",
    "Verdict",
    "checkRegressions",
    "formatSeconds",
    "gateDecisions",
    "isMatrix",
    "loadRun",
    "main",
    "newestRun",
    "pairMeasurements",
    "pairResults",
    "parseBenchmarks",
    "plotBars",
    "plotSeries",
    "renderMarkdown",
    "renderSummary",
    "speedupChanges",
)

# How far a pair's speedup may fall below the baseline's before --check fails. 0.25 tolerates
# a noisy shared machine but misses small regressions: a 30% slowdown of the fast variant lowers
# the speedup by only 1 - 1/1.3 = 23%. The CI gate therefore passes a tighter value (see .ci/run).
DEFAULT_TOLERANCE = 0.25

# Which per-variant statistic a speedup divides. The median is what a reader expects in a table.
# The minimum is what a regression gate wants on a shared machine: a neighbour's burst only ever
# adds time, so the fastest round is the least disturbed one (the spread of both over reruns of
# unchanged code is in .ci/run, with the command that measured it).
STATS = ("median", "min", "mean")


class ReportError(Exception):
    """Raised by the report for unreadable runs, malformed benchmarks or missing pairs."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """One benchmark of a run: where it belongs (its Record), one statistic of its rounds and,
    if the run kept them, the rounds themselves (seconds, in run order)."""

    record: Record
    seconds: float
    rounds: tuple[float, ...] | None = None


@lru_cache(maxsize=256)
def _cachedInterval(
    slowRounds: tuple[float, ...], fastRounds: tuple[float, ...], stat: str, seed: int
) -> Interval:
    """One bootstrap per pair and variant, however often a report shows it: with hundreds of
    rounds (the breaker pairs) one takes a noticeable fraction of a second."""
    return speedupInterval(slowRounds, fastRounds, stat=stat, seed=seed)


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


@dataclass(frozen=True, slots=True)
class PairResult:
    """One workload timed as a reference variant and one or more others, in one session.

    Speedup of a variant = reference seconds / variant seconds. The two-variant names
    (``slowVariant``, ``fastVariant``, ``speedup``, ...) describe the first non-reference variant.
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
        return self.reference.seconds / self.variant(name).seconds

    def intervalOf(self, name: str, *, seed: int | None = DEFAULT_SEED) -> Interval | None:
        """The speedup of ``name`` with its 95% bootstrap interval over the rounds of both
        variants (``stat`` of each resample), or None when either variant kept no rounds.

        The rounds are resampled independently: pytest-benchmark times one variant's rounds
        before the other's, so no round of one belongs with a round of the other.
        """
        reference, variant = self.reference.rounds, self.variant(name).rounds
        if reference is None or variant is None:
            return None
        if seed is None:  # fresh draws each call: nothing to cache
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
    def slowVariant(self) -> str:
        return self.reference.variant

    @property
    def fastVariant(self) -> str:
        return self.others[0].variant

    @property
    def slowSeconds(self) -> float:
        return self.reference.seconds

    @property
    def fastSeconds(self) -> float:
        return self.others[0].seconds

    @property
    def idealSeconds(self) -> float | None:
        return self.others[0].idealSeconds

    @property
    def speedup(self) -> float:
        return self.speedupOf(self.fastVariant)

    @property
    def idealSpeedup(self) -> float | None:
        """The speedup the fast variant would show if it ran at its critical-path bound."""
        return self.idealSpeedupOf(self.fastVariant)

    @property
    def efficiency(self) -> float | None:
        """Bound / measured: 1.0 means the fast variant runs at its critical path."""
        return self.efficiencyOf(self.fastVariant)

    @property
    def calls(self) -> int | None:
        return self.others[0].calls

    @property
    def overheadPerCall(self) -> float | None:
        """Seconds the fast variant adds per call (pairs that time ``calls`` calls per round)."""
        if not self.calls:
            return None
        return (self.fastSeconds - self.slowSeconds) / self.calls


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


# --- I/O ------------------------------------------------------------------------------------


def loadRun(path: str | os.PathLike) -> dict:
    """Read one pytest-benchmark JSON file; ReportError if it is missing or not such a file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ReportError(f"{path} is not a text file (not UTF-8: {exc.reason})") from exc
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        run = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path} is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ReportError(f"{path} is nested too deeply to be a pytest-benchmark run") from exc
    if not isinstance(run, dict) or not isinstance(run.get("benchmarks"), list):
        raise ReportError(
            f"{path} is not a pytest-benchmark run (no 'benchmarks' list); "
            "write one with: pytest bench --benchmark-json=FILE"
        )
    return run


def newestRun(resultsDir: str | os.PathLike = "results") -> Path:
    """The most recently written run under ``resultsDir``/<machine>/ (pytest-benchmark layout)."""
    runs = sorted(Path(resultsDir).glob("*/*.json"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    if not runs:
        raise ReportError(
            f"no benchmark runs under {resultsDir}/; "
            "save one with: pytest bench --benchmark-save=NAME"
        )
    return runs[-1]


# --- parse: JSON -> Measurements (every schema error is a ReportError naming the benchmark) ---


def _benchName(bench: dict) -> str:
    return str(bench.get("fullname") or bench.get("name") or "?")


def _statistic(bench: dict, stat: str) -> float:
    stats = bench.get("stats")
    value = stats.get(stat) if isinstance(stats, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ReportError(
            f"benchmark {_benchName(bench)!r}: stats.{stat} is {value!r}, expected a finite number"
        )
    if value <= 0:
        raise ReportError(
            f"benchmark {_benchName(bench)!r}: stats.{stat} is {value!r}, "
            "expected a positive number"
        )
    return float(value)


def _rounds(bench: dict, stat: str, seconds: float) -> tuple[float, ...] | None:
    """The benchmark's per-round seconds (``stats.data``), None if the run did not keep them.

    Rounds that are there must be usable: positive finite numbers, as many as ``stats.rounds``
    says, whose ``stat`` is the one the run reports (else a hand-edited or truncated file would
    print an interval around a different speedup than the table's).
    """
    stats = bench.get("stats")
    if not isinstance(stats, dict) or stats.get("data") is None:
        return None
    data = stats["data"]
    name = _benchName(bench)
    if not isinstance(data, list) or not data:
        raise ReportError(
            f"benchmark {name!r}: stats.data is {type(data).__name__} "
            f"{'with no rounds' if isinstance(data, list) else ''}".rstrip()
            + ", expected a list of seconds per round"
        )
    for i, value in enumerate(data):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ReportError(
                f"benchmark {name!r}: stats.data[{i}] is {value!r}, expected positive seconds"
            )
    count = stats.get("rounds")
    if isinstance(count, int) and not isinstance(count, bool) and count != len(data):
        raise ReportError(
            f"benchmark {name!r}: stats.data holds {len(data)} rounds but stats.rounds is {count}"
        )
    ordered = sorted(float(v) for v in data)
    middle = len(ordered) // 2
    recomputed = {
        "min": ordered[0],
        "median": ordered[middle]
        if len(ordered) % 2
        else (ordered[middle - 1] + ordered[middle]) / 2,
        "mean": math.fsum(ordered) / len(ordered),
    }[stat]
    if not math.isclose(recomputed, seconds, rel_tol=1e-6):
        raise ReportError(
            f"benchmark {name!r}: the {stat} of stats.data is {recomputed!r} but stats.{stat} "
            f"is {seconds!r}; the rounds do not belong to this benchmark"
        )
    return tuple(float(v) for v in data)


def parseBenchmarks(run: dict, stat: str = "median") -> list[Measurement]:
    """Every paired benchmark of a run with its ``stat`` (one of ``STATS``), in run order.

    Benchmarks without ``extra_info['pair']`` are skipped. Each keeps its rounds if the run
    kept them (``stats.data``).
    """
    if stat not in STATS:
        raise ReportError(f"stat must be one of {', '.join(STATS)}, got {stat!r}")
    benchmarks = run.get("benchmarks") if isinstance(run, dict) else None
    if not isinstance(benchmarks, list):
        raise ReportError("not a pytest-benchmark run: no 'benchmarks' list")
    measurements = []
    for bench in benchmarks:
        if not isinstance(bench, dict):
            raise ReportError(f"a benchmark entry is {type(bench).__name__}, expected an object")
        try:
            record = parseRecord(_benchName(bench), bench.get("extra_info"))
        except FormatError as exc:
            raise ReportError(str(exc)) from exc
        if record is not None:
            seconds = _statistic(bench, stat)
            measurements.append(Measurement(record, seconds, _rounds(bench, stat, seconds)))
    return measurements


# --- pair: Measurements -> PairResults (pure) ------------------------------------------------


def _referenceOf(pair: str, records: Sequence[Record]) -> str:
    named = {r.reference for r in records}
    if named == {None}:  # a run from before the format named its reference
        legacy = [r.variant for r in records if r.variant in LEGACY_REFERENCES]
        if len(records) != 2 or len(legacy) != 1:
            raise ReportError(
                f"pair {pair!r} has variants {sorted(r.variant for r in records)}; a run without "
                f"extra_info.reference needs two, one of them {', '.join(LEGACY_REFERENCES)}"
            )
        return legacy[0]
    if len(named) != 1:
        shown = ", ".join(sorted(repr(n) for n in named))
        raise ReportError(f"pair {pair!r}: its benchmarks name different references ({shown})")
    (reference,) = named
    assert reference is not None
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


def gateDecisions(
    run: Sequence[PairResult],
    baseline: Sequence[PairResult],
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    only: Iterable[str] = (),
) -> list[Verdict]:
    """The gate's decision on every variant of every baseline pair matching ``only``.

    A variant fails when its speedup's interval (``PairResult.intervalOf``; the point alone if
    the run kept no rounds) lies wholly below the baseline's point speedup x (1 - tolerance).
    Every baseline pair matching ``only`` (fnmatch patterns; all when empty), and each of its
    variants, must be in the run: a benchmark that silently disappeared is an error, not a pass.
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
            named = len(base.others) > 1
            verdicts.append(
                Verdict(base.pair, other.variant, decision, named, interval is not None)
            )
    return verdicts


def checkRegressions(
    run: Sequence[PairResult],
    baseline: Sequence[PairResult],
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    only: Iterable[str] = (),
) -> list[Regression]:
    """The variants ``gateDecisions`` fails, as Regressions (empty: the check passed)."""
    verdicts = gateDecisions(run, baseline, tolerance, only=only)
    return [v.regression() for v in verdicts if v.failed]


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


# --- rendering ------------------------------------------------------------------------------


def formatSeconds(seconds: float) -> str:
    """A duration with a unit that keeps three significant figures readable."""
    magnitude = abs(seconds)
    if magnitude >= 1:
        return f"{seconds:.3f} s"
    if magnitude >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    if magnitude >= 1e-6:
        return f"{seconds * 1e6:.2f} us"
    return f"{seconds * 1e9:.0f} ns"


def _optional(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _columnLabels(rows: Sequence[PairResult]) -> list[str]:
    return list(dict.fromkeys(label for r in rows for v in r.variants for label in v.columns))


def _columnCell(variants: Sequence[VariantResult | None], label: str) -> str:
    return " / ".join(
        _optional(None if v is None else v.columns.get(label), ".2f") for v in variants
    )


def _table(headers: list[str], body: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("| :--- | " + " | ".join("---:" for _ in headers[1:]) + " |")
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return lines


def _pairTable(rows: Sequence[PairResult]) -> list[str]:
    """Two variants per pair: both times, the speedup, the bound and any extra columns."""
    slow, fast, stat = rows[0].slowVariant, rows[0].fastVariant, rows[0].stat
    headers = ["pair", "scale", f"{slow} {stat}", f"{fast} {stat}", "speedup"]
    withIdeal = any(r.idealSpeedup is not None for r in rows)
    if withIdeal:
        headers += ["ideal speedup", "efficiency"]
    withCalls = any(r.calls for r in rows)
    if withCalls:
        headers += ["calls", f"{slow} per call", f"{fast} per call", "overhead per call"]
    labels = _columnLabels(rows)
    headers += [f"{label} ({slow} / {fast})" for label in labels]
    body = []
    for r in rows:
        cells = [
            r.pair,
            str(r.scale),
            formatSeconds(r.slowSeconds),
            formatSeconds(r.fastSeconds),
            r.speedupText(r.fastVariant),
        ]
        if withIdeal:
            cells += [_optional(r.idealSpeedup, ".2f") + "x" * (r.idealSpeedup is not None)]
            cells += [_optional(r.efficiency, ".2f")]
        if withCalls:
            cells += ["-"] * 4
            if r.calls and r.overheadPerCall is not None:
                cells[-4:] = [
                    str(r.calls),
                    formatSeconds(r.slowSeconds / r.calls),
                    formatSeconds(r.fastSeconds / r.calls),
                    formatSeconds(r.overheadPerCall),
                ]
        cells += [_columnCell(r.variants, label) for label in labels]
        body.append(cells)
    return _table(headers, body)


def _matrixTable(rows: Sequence[PairResult]) -> list[str]:
    """More than two variants: one row per pair, one column per variant, speedup (and ideal)."""
    reference, stat = rows[0].reference.variant, rows[0].stat
    names = list(dict.fromkeys(v.variant for r in rows for v in r.others))
    headers = ["pair", "scale", f"{reference} {stat}", *names]
    withCalls = any(v.calls for r in rows for v in r.variants)
    if withCalls:
        headers.append(f"per call ({' / '.join([reference, *names])})")
    labels = _columnLabels(rows)
    headers += [f"{label} ({' / '.join([reference, *names])})" for label in labels]
    body = []
    for r in rows:
        cells = [r.pair, str(r.scale), formatSeconds(r.reference.seconds)]
        present = {v.variant for v in r.others}
        for name in names:
            if name not in present:
                cells.append("-")
                continue
            ideal = r.idealSpeedupOf(name)
            shown = r.speedupText(name)
            cells.append(shown if ideal is None else f"{shown} (ideal {ideal:.2f}x)")
        row: list[VariantResult | None] = [r.reference]
        row += [r.variant(n) if n in present else None for n in names]
        if withCalls:
            cells.append(
                " / ".join(
                    "-" if v is None or not v.calls else formatSeconds(v.seconds / v.calls)
                    for v in row
                )
            )
        cells += [_columnCell(row, label) for label in labels]
        body.append(cells)
    return _table(headers, body)


def isMatrix(rows: Sequence[PairResult]) -> bool:
    """A comparison whose pairs have more than two variants (or disagree on them)."""
    return len({tuple(v.variant for v in r.variants) for r in rows}) > 1 or any(
        len(r.others) > 1 for r in rows
    )


def renderMarkdown(results: Sequence[PairResult], *, title: str | None = None) -> str:
    """One Markdown table per comparison, rows by scale; a matrix where pairs have >2 variants."""
    lines = [f"# {title}", ""] if title else []
    for comparison in dict.fromkeys(r.comparison for r in results):
        rows = [r for r in results if r.comparison == comparison]
        lines += [f"## {comparison}", ""]
        lines += _matrixTable(rows) if isMatrix(rows) else _pairTable(rows)
        lines.append("")
    return "\n".join(lines)


def renderSummary(changes: Sequence[SpeedupChange], *, compared: str | None = None) -> list[str]:
    """Plain-text lines: each variant's speedup, and the compared run's beside it if any."""
    if not changes:
        return []
    width = max(len(f"{c.pair} {c.variant}") for c in changes)
    lines = [] if compared is None else [f"speedups now, and in {compared}:"]
    for c in changes:
        shown = f"{c.speedup:6.2f}x" if c.interval is None else f"{c.interval.point:6.2f}x"
        if c.interval is not None:
            shown += f" ({c.interval.low:.2f}-{c.interval.high:.2f})"
        line = f"{c.pair + ' ' + c.variant:<{width}}  {shown} over {c.reference}"
        if c.idealSpeedup is not None:
            line += f" (ideal {c.idealSpeedup:.2f}x)"
        if compared is not None:
            if c.comparedSpeedup is None or c.change is None:
                line += ", not in the compared run"
            else:
                line += f", was {c.comparedSpeedup:.2f}x ({c.change:+.0%})"
        lines.append(line)
    return lines


def plotSeries(results: Sequence[PairResult]) -> dict[str, dict[str, list[float]]]:
    """Two-variant comparisons measured at several scales: scales, speedups and ideal speedups."""
    series: dict[str, dict[str, list[float]]] = {}
    for comparison in dict.fromkeys(r.comparison for r in results):
        rows = [r for r in results if r.comparison == comparison]
        if isMatrix(rows) or len({r.scale for r in rows}) < 2:
            continue
        series[comparison] = {
            "scale": [float(r.scale) for r in rows],
            "speedup": [r.speedup for r in rows],
            "ideal": [math.nan if r.idealSpeedup is None else r.idealSpeedup for r in rows],
        }
    return series


@dataclass(frozen=True, slots=True)
class BarGroups:
    """One matrix comparison to draw: per variant, its speedup and ideal (nan: none) per pair."""

    pairs: list[str]
    reference: str
    speedup: dict[str, list[float]]
    ideal: dict[str, list[float]]


def plotBars(results: Sequence[PairResult]) -> dict[str, BarGroups]:
    """Matrix comparisons as grouped bars, by comparison."""
    bars: dict[str, BarGroups] = {}
    for comparison in dict.fromkeys(r.comparison for r in results):
        rows = [r for r in results if r.comparison == comparison]
        if not isMatrix(rows):
            continue
        names = list(dict.fromkeys(v.variant for r in rows for v in r.others))

        def value(row: PairResult, name: str, ideal: bool) -> float:
            if name not in {v.variant for v in row.others}:
                return math.nan
            got = row.idealSpeedupOf(name) if ideal else row.speedupOf(name)
            return math.nan if got is None else got

        bars[comparison] = BarGroups(
            pairs=[r.pair for r in rows],
            reference=rows[0].reference.variant,
            speedup={n: [value(r, n, False) for r in rows] for n in names},
            ideal={n: [value(r, n, True) for r in rows] for n in names},
        )
    return bars


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ReportError(
            "--plot needs matplotlib, which is not installed: pip install -e '.[plot]'"
        ) from exc
    return plt


def _plot(results: Sequence[PairResult], path: Path, plt) -> None:
    series, bars = plotSeries(results), plotBars(results)
    if not series and not bars:
        raise ReportError(
            "nothing to plot: no comparison was measured at more than one scale "
            "or with more than two variants"
        )
    panels = len(series) + len(bars)
    figure, axes = plt.subplots(1, panels, figsize=(5 * panels, 4), squeeze=False)
    labels = {r.comparison: r.scaleLabel for r in results}
    for ax, (comparison, data) in zip(axes[0], series.items(), strict=False):
        ax.plot(data["scale"], data["speedup"], "o-", label="measured")
        if not all(math.isnan(v) for v in data["ideal"]):
            ax.plot(data["scale"], data["ideal"], "--", color="grey", label="ideal (critical path)")
        ax.set_title(comparison)
        ax.set_xlabel(labels.get(comparison, "scale"))
        ax.set_ylabel("speedup (x)")
        ax.set_ylim(bottom=0)
        ax.legend()
    for ax, (comparison, group) in zip(axes[0][len(series) :], bars.items(), strict=True):
        width = 0.8 / len(group.speedup)
        for i, name in enumerate(group.speedup):
            offset = (i - (len(group.speedup) - 1) / 2) * width
            xs = [p + offset for p in range(len(group.pairs))]
            ax.bar(xs, group.speedup[name], width, label=name)
            if not all(math.isnan(v) for v in group.ideal[name]):
                ax.plot(xs, group.ideal[name], "_", color="black", markersize=12)
        # Pairs named after their comparison ("tiers-cpu-python") are labelled by the rest.
        tickLabels = [pair.removeprefix(f"{comparison}-") for pair in group.pairs]
        ax.set_xticks(range(len(group.pairs)), tickLabels, rotation=30, ha="right")
        ax.set_title(comparison)
        ax.set_ylabel(f"speedup over {group.reference} (x); -: ideal")
        ax.set_ylim(bottom=0)
        ax.legend()
    figure.tight_layout()
    figure.savefig(path, format=path.suffix.lstrip(".").lower())
    plt.close(figure)


# --- command line ---------------------------------------------------------------------------

_PLOT_FORMATS = (".png", ".svg", ".pdf")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lecture31.report",
        description="Speedup tables (Markdown) from a pytest-benchmark JSON run, and a "
        "regression check against a baseline run. Nothing is written unless every input is "
        "valid (and, with --check, the check passed); files are replaced atomically.",
    )
    parser.add_argument("run", nargs="?", help="run JSON (default: newest under --results)")
    parser.add_argument("--results", default="results", help="results folder (default: results)")
    parser.add_argument("--baseline", help="baseline run JSON to compare speedups against")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if a pair's speedup interval lies wholly below the baseline's "
        "speedup x (1 - tolerance)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help=f"allowed relative drop in speedup for --check (default: {DEFAULT_TOLERANCE})",
    )
    parser.add_argument(
        "--stat",
        choices=STATS,
        default="median",
        help="statistic of each variant's rounds to divide (default: median; the CI gate "
        "uses min, the least disturbed round)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PATTERN",
        help="check only pairs matching this glob (repeatable), e.g. 'pipeline-*'",
    )
    parser.add_argument(
        "--output",
        default=None,
        help="where to write the Markdown ('-' writes nothing; default: RESULTS/SPEEDUPS.md, "
        "or nothing with --check)",
    )
    parser.add_argument(
        "--plot", metavar="FILE.png", help="also draw the speedups (.png, .svg or .pdf)"
    )
    return parser


def _sameFile(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def _checkTarget(flag: str, target: Path, inputs: Sequence[Path]) -> None:
    """A file we may write: not an input, not a directory, not under a file."""
    for source in inputs:
        if _sameFile(target, source):
            raise ReportError(f"{flag} {target} is an input of this report; not overwriting it")
    if target.is_dir():
        raise ReportError(f"{flag} {target} is a directory; name a file in it")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ReportError(f"{flag} {target}: {parent} is a file, not a directory")
            if not os.access(parent, os.W_OK):
                raise ReportError(f"{flag} {target}: cannot write in {parent}")
            break


def _writeAll(writes: Sequence[tuple[Path, Callable[[Path], object]]]) -> None:
    """Write every file to a temporary name beside it, then rename them all into place.

    A failure while writing leaves every target as it was; the renames come last.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for target, write in writes:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent
            )
            os.close(fd)
            staged.append((temp, target))
            try:
                write(Path(temp))
            except OSError as exc:
                raise ReportError(f"cannot write {target}: {exc.strerror or exc}") from exc
        for temp, target in staged:
            os.replace(temp, target)
    finally:
        for temp, _ in staged:
            Path(temp).unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    """0: fine; 1: a regression (with --check); 2: unusable input. Writes only on 0."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.check and not args.baseline:
        parser.error("--check needs --baseline BASE.json")
    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    try:
        if not 0 <= tolerance < 1:
            raise ReportError(f"--tolerance must be in [0, 1), got {args.tolerance!r}")
        if args.tolerance is not None and not args.baseline:
            print(
                f"{parser.prog}: note: --tolerance has no effect without --baseline",
                file=sys.stderr,
            )
        if args.only and not args.baseline:
            print(f"{parser.prog}: note: --only has no effect without --baseline", file=sys.stderr)
        runPath = Path(args.run) if args.run else newestRun(args.results)
        inputs = [runPath] + ([Path(args.baseline)] if args.baseline else [])
        if args.output is None:
            output = None if args.check else Path(args.results) / "SPEEDUPS.md"
        else:
            output = None if args.output == "-" else Path(args.output)
        plotPath = Path(args.plot) if args.plot else None
        if output is not None:
            _checkTarget("--output", output, inputs)
        if plotPath is not None:
            if plotPath.suffix.lower() not in _PLOT_FORMATS:
                raise ReportError(
                    f"--plot {plotPath}: name the image with its format, e.g. {plotPath}.png "
                    f"({', '.join(_PLOT_FORMATS)})"
                )
            _checkTarget("--plot", plotPath, inputs)
            if output is not None and _sameFile(plotPath, output):
                raise ReportError("--plot and --output name the same file")
        plt = _pyplot() if plotPath is not None else None

        run = loadRun(runPath)
        results = pairResults(run, args.stat)
        if not results:
            raise ReportError(f"{runPath} has no benchmarks with extra_info 'pair'")
        markdown = renderMarkdown(results, title=f"Speedups ({runPath.name})")
        if plotPath is not None and not (plotSeries(results) or plotBars(results)):
            raise ReportError(
                "nothing to plot: no comparison was measured at more than one scale "
                "or with more than two variants"
            )
        verdicts: list[Verdict] = []
        if args.baseline:
            baselinePath = Path(args.baseline)
            baselineRun = loadRun(baselinePath)
            if _sameFile(baselinePath, runPath) or baselineRun == run:
                print(
                    f"{parser.prog}: note: the baseline is the run itself; the check cannot fail",
                    file=sys.stderr,
                )
            baseline = pairResults(baselineRun, args.stat)
            verdicts = gateDecisions(results, baseline, tolerance, only=args.only)
        regressions = [v.regression() for v in verdicts if v.failed]

        print(markdown)
        if args.check:
            print(f"gate: speedups by {args.stat} with 95% intervals against {args.baseline}")
            for verdict in verdicts:
                print(f"gate: {verdict}")
        for regression in regressions:
            print(f"REGRESSION {regression}", file=sys.stderr)
        if args.check and regressions:
            return 1
        writes: list[tuple[Path, Callable[[Path], object]]] = []
        if plotPath is not None:
            writes.append((plotPath, lambda temp: _plot(results, temp, plt)))
        if output is not None:
            writes.append((output, lambda temp: temp.write_text(markdown, encoding="utf-8")))
        _writeAll(writes)
        if args.check:
            print(
                f"check passed against {args.baseline} "
                f"(speedups by {args.stat}, tolerance {tolerance:.0%})"
            )
    except ReportError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
