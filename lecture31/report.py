"""Speedup tables and a regression check from pytest-benchmark JSON.

    RUN.json --load--> run dict --pairResults--> [PairResult] --renderMarkdown--> SPEEDUPS.md
    (pytest bench          |                          |
     --benchmark-json /    |                          +--checkRegressions(baseline)--> exit 1
     --benchmark-save)     +-- (pure maths from here on; only load/main touch files)

Each benchmark in ``bench/`` carries ``extra_info`` with ``pair`` (``"pipeline-48"``),
``variant`` (``"naive"`` / ``"correct"``, ...), ``scale`` and, where a critical-path bound exists,
``idealSeconds``; one table per comparison (``extra_info['comparison']``, else the pair name
without its ``-scale`` suffix). The two variants of one pair ran in the same session on the
same machine, so their ratio (the speedup) is comparable across machines of different speed;
that is what the check compares against a baseline, never raw seconds.

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = (
    "DEFAULT_TOLERANCE",
    "STATS",
    "PairResult",
    "Regression",
    "ReportError",
    "checkRegressions",
    "formatSeconds",
    "loadRun",
    "main",
    "newestRun",
    "pairResults",
    "plotSeries",
    "renderMarkdown",
)

# How far a pair's speedup may fall below the baseline's before --check fails. 0.25 tolerates
# a noisy shared machine but misses small regressions: a 30% slowdown of the fast variant lowers
# the speedup by only 1 - 1/1.3 = 23%. The CI gate therefore passes a tighter value (see .ci/run).
DEFAULT_TOLERANCE = 0.25

# Which per-variant statistic a speedup divides. The median is what a reader expects in a table.
# The minimum is what a regression gate wants on a shared machine: a neighbour's burst only ever
# adds time, so the fastest round is the least disturbed one. Measured over 10 reruns of
# unchanged code on the shared 2-core machine, the pipeline-48 speedup spread 4.67-5.93x by
# median but 5.65-6.00x by minimum, while an injected 30% slowdown moves both by the same ~23%.
STATS = ("median", "min", "mean")

# The reference ("slow") variant of each comparison, and the variant measured against it.
# Speedup = slow time / fast time, each the chosen statistic of its rounds (median by default).
VARIANT_PAIRS = {
    "sequential": "tiered",
    "naive": "correct",
    "fixed": "adaptive",
    "bare": "breaker",
}


class ReportError(Exception):
    """Raised by the report for unreadable runs, malformed benchmarks or missing pairs."""


@dataclass(frozen=True, slots=True)
class PairResult:
    """One comparison at one scale: both times (one statistic of the rounds) and their ratios."""

    comparison: str
    pair: str
    scale: int
    slowVariant: str
    fastVariant: str
    slowSeconds: float
    fastSeconds: float
    stat: str = "median"
    idealSeconds: float | None = None
    calls: int | None = None
    slowShards: float | None = None
    fastShards: float | None = None

    @property
    def speedup(self) -> float:
        return self.slowSeconds / self.fastSeconds

    @property
    def idealSpeedup(self) -> float | None:
        """The speedup the fast variant would show if it ran at its critical-path bound."""
        return None if self.idealSeconds is None else self.slowSeconds / self.idealSeconds

    @property
    def efficiency(self) -> float | None:
        """Bound / measured: 1.0 means the fast variant runs at its critical path."""
        return None if self.idealSeconds is None else self.idealSeconds / self.fastSeconds

    @property
    def overheadPerCall(self) -> float | None:
        """Seconds the fast variant adds per call (breaker pairs, which time ``calls`` calls)."""
        if not self.calls:
            return None
        return (self.fastSeconds - self.slowSeconds) / self.calls


@dataclass(frozen=True, slots=True)
class Regression:
    """A pair whose speedup fell more than the tolerance below the baseline's."""

    pair: str
    baselineSpeedup: float
    runSpeedup: float
    tolerance: float

    def __str__(self) -> str:
        floor = self.baselineSpeedup * (1 - self.tolerance)
        drop = 1 - self.runSpeedup / self.baselineSpeedup
        return (
            f"{self.pair}: speedup {self.runSpeedup:.2f}x is {drop:.0%} below the baseline's "
            f"{self.baselineSpeedup:.2f}x (tolerance {self.tolerance:.0%}, floor {floor:.2f}x)"
        )


# --- I/O ------------------------------------------------------------------------------------


def loadRun(path: str | os.PathLike) -> dict:
    """Read one pytest-benchmark JSON file; ReportError if it is missing or not such a file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        run = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path} is not valid JSON: {exc}") from exc
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


# --- maths ----------------------------------------------------------------------------------


def _number(bench: dict, where: str, key: str, *, positive: bool = True) -> float:
    value = bench
    for part in where.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, dict):
        value = value.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ReportError(
            f"benchmark {bench.get('fullname') or bench.get('name')!r}: "
            f"{where}.{key} is {value!r}, expected a finite number"
        )
    if positive and value <= 0:
        raise ReportError(
            f"benchmark {bench.get('fullname') or bench.get('name')!r}: "
            f"{where}.{key} is {value!r}, expected a positive number"
        )
    return float(value)


def _comparisonName(pair: str, scale: int, info: dict) -> str:
    if isinstance(info.get("comparison"), str):
        return info["comparison"]
    suffix = f"-{scale}"
    return pair[: -len(suffix)] if pair.endswith(suffix) else pair


def pairResults(run: dict, stat: str = "median") -> list[PairResult]:
    """Group a run's benchmarks by ``extra_info['pair']`` into one PairResult per pair.

    ``stat`` is the statistic of each variant's rounds to compare (one of ``STATS``).
    Benchmarks without a ``pair`` are ignored. A pair must hold exactly one of the known
    reference variants (``VARIANT_PAIRS``) and its partner. Sorted by comparison, then scale.
    """
    if stat not in STATS:
        raise ReportError(f"stat must be one of {', '.join(STATS)}, got {stat!r}")
    byPair: dict[str, dict[str, dict]] = {}
    for bench in run.get("benchmarks", []):
        if not isinstance(bench, dict):
            raise ReportError(f"a benchmark entry is {type(bench).__name__}, expected an object")
        info = bench.get("extra_info") or {}
        pair = info.get("pair")
        if pair is None:
            continue
        variant = info.get("variant")
        if not isinstance(variant, str):
            raise ReportError(f"benchmark {bench.get('fullname')!r}: extra_info.variant missing")
        variants = byPair.setdefault(str(pair), {})
        if variant in variants:
            raise ReportError(f"pair {pair!r} has two benchmarks for variant {variant!r}")
        variants[variant] = bench

    results = []
    for pair, variants in byPair.items():
        slow = [v for v in variants if v in VARIANT_PAIRS]
        if len(variants) != 2 or len(slow) != 1 or VARIANT_PAIRS[slow[0]] not in variants:
            known = ", ".join(f"{s}/{f}" for s, f in VARIANT_PAIRS.items())
            raise ReportError(
                f"pair {pair!r} has variants {sorted(variants)}; expected one of: {known}"
            )
        slowBench, fastBench = variants[slow[0]], variants[VARIANT_PAIRS[slow[0]]]
        fastInfo = fastBench["extra_info"]
        scale = fastInfo.get("scale")
        if isinstance(scale, bool) or not isinstance(scale, int):
            raise ReportError(f"pair {pair!r}: extra_info.scale is {scale!r}, expected an int")
        ideal = fastInfo.get("idealSeconds")
        calls = fastInfo.get("calls")
        results.append(
            PairResult(
                comparison=_comparisonName(pair, scale, fastInfo),
                pair=pair,
                scale=scale,
                slowVariant=slow[0],
                fastVariant=VARIANT_PAIRS[slow[0]],
                slowSeconds=_number(slowBench, "stats", stat),
                fastSeconds=_number(fastBench, "stats", stat),
                stat=stat,
                idealSeconds=None
                if ideal is None
                else _number(fastBench, "extra_info", "idealSeconds"),
                calls=None if calls is None else int(_number(fastBench, "extra_info", "calls")),
                slowShards=slowBench["extra_info"].get("meanShardsResponded"),
                fastShards=fastInfo.get("meanShardsResponded"),
            )
        )
    return sorted(results, key=lambda r: (_comparisonRank(r.comparison), r.comparison, r.scale))


# The exercises' order, speedup comparisons first; anything else follows alphabetically.
_COMPARISON_ORDER = ("tiered", "pipeline", "fanout", "breaker")


def _comparisonRank(comparison: str) -> int:
    try:
        return _COMPARISON_ORDER.index(comparison)
    except ValueError:
        return len(_COMPARISON_ORDER)


def checkRegressions(
    run: Sequence[PairResult],
    baseline: Sequence[PairResult],
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    only: Iterable[str] = (),
) -> list[Regression]:
    """Pairs whose speedup fell more than ``tolerance`` (a fraction) below the baseline's.

    Every baseline pair matching ``only`` (fnmatch patterns; all when empty) must be in the run:
    a benchmark that silently disappeared is an error, not a pass.
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
    return [
        Regression(b.pair, b.speedup, current[b.pair].speedup, tolerance)
        for b in checked
        if current[b.pair].speedup < b.speedup * (1 - tolerance)
    ]


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


def renderMarkdown(results: Sequence[PairResult], *, title: str | None = None) -> str:
    """One Markdown table per comparison, rows by scale."""
    lines = [f"# {title}", ""] if title else []
    for comparison in dict.fromkeys(r.comparison for r in results):
        rows = [r for r in results if r.comparison == comparison]
        slow, fast = rows[0].slowVariant, rows[0].fastVariant
        stat = rows[0].stat
        headers = ["pair", "scale", f"{slow} {stat}", f"{fast} {stat}", "speedup"]
        withIdeal = any(r.idealSeconds is not None for r in rows)
        if withIdeal:
            headers += ["ideal speedup", "efficiency"]
        withCalls = any(r.calls for r in rows)
        withShards = any(r.fastShards is not None for r in rows)
        if withCalls:
            headers += ["calls", f"{slow} per call", f"{fast} per call", "overhead per call"]
        if withShards:
            headers += [f"shards responded ({slow} / {fast})"]
        lines += [f"## {comparison}", "", "| " + " | ".join(headers) + " |"]
        lines.append("| :--- | " + " | ".join("---:" for _ in headers[1:]) + " |")
        for r in rows:
            cells = [
                r.pair,
                str(r.scale),
                formatSeconds(r.slowSeconds),
                formatSeconds(r.fastSeconds),
                f"{r.speedup:.2f}x",
            ]
            if withIdeal:
                cells += [
                    "-" if r.idealSpeedup is None else f"{r.idealSpeedup:.2f}x",
                    _optional(r.efficiency, ".2f"),
                ]
            if withCalls:
                cells += ["-"] * 4
                if r.calls:
                    cells[-4:] = [
                        str(r.calls),
                        formatSeconds(r.slowSeconds / r.calls),
                        formatSeconds(r.fastSeconds / r.calls),
                        formatSeconds(r.overheadPerCall),
                    ]
            if withShards:
                cells.append(f"{_optional(r.slowShards, '.2f')} / {_optional(r.fastShards, '.2f')}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plotSeries(results: Sequence[PairResult]) -> dict[str, dict[str, list[float]]]:
    """Per comparison measured at several scales: scales, speedups and ideal speedups to draw."""
    series: dict[str, dict[str, list[float]]] = {}
    for comparison in dict.fromkeys(r.comparison for r in results):
        rows = [r for r in results if r.comparison == comparison]
        if len({r.scale for r in rows}) < 2:
            continue
        series[comparison] = {
            "scale": [float(r.scale) for r in rows],
            "speedup": [r.speedup for r in rows],
            "ideal": [math.nan if r.idealSpeedup is None else r.idealSpeedup for r in rows],
        }
    return series


_SCALE_LABELS = {"tiered": "concurrent requests", "pipeline": "sensors"}


def _plot(results: Sequence[PairResult], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ReportError(
            "--plot needs matplotlib, which is not installed: pip install -e '.[plot]'"
        ) from exc
    series = plotSeries(results)
    if not series:
        raise ReportError("nothing to plot: no comparison was measured at more than one scale")
    figure, axes = plt.subplots(1, len(series), figsize=(5 * len(series), 4), squeeze=False)
    for ax, (comparison, data) in zip(axes[0], series.items(), strict=True):
        ax.plot(data["scale"], data["speedup"], "o-", label="measured")
        if not all(math.isnan(v) for v in data["ideal"]):
            ax.plot(data["scale"], data["ideal"], "--", color="grey", label="ideal (critical path)")
        ax.set_title(comparison)
        ax.set_xlabel(_SCALE_LABELS.get(comparison, "scale"))
        ax.set_ylabel("speedup (x)")
        ax.set_ylim(bottom=0)
        ax.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


# --- command line ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lecture31.report",
        description="Speedup tables (Markdown) from a pytest-benchmark JSON run, and a "
        "regression check against a baseline run.",
    )
    parser.add_argument("run", nargs="?", help="run JSON (default: newest under --results)")
    parser.add_argument("--results", default="results", help="results folder (default: results)")
    parser.add_argument("--baseline", help="baseline run JSON to compare speedups against")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a pair's speedup fell below the baseline's"
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
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
        help="where to write the Markdown (default: RESULTS/SPEEDUPS.md; '-' writes nothing)",
    )
    parser.add_argument("--plot", metavar="FILE.png", help="also draw speedup against scale")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """0: fine; 1: a regression (with --check); 2: unusable input."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.check and not args.baseline:
        parser.error("--check needs --baseline BASE.json")
    try:
        runPath = Path(args.run) if args.run else newestRun(args.results)
        results = pairResults(loadRun(runPath), args.stat)
        if not results:
            raise ReportError(f"{runPath} has no benchmarks with extra_info 'pair'")
        markdown = renderMarkdown(results, title=f"Speedups ({runPath.name})")
        print(markdown)
        output = args.output or str(Path(args.results) / "SPEEDUPS.md")
        if output != "-":
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            Path(output).write_text(markdown, encoding="utf-8")
        if args.plot:
            _plot(results, Path(args.plot))
        if args.baseline:
            baseline = pairResults(loadRun(args.baseline), args.stat)
            regressions = checkRegressions(results, baseline, args.tolerance, only=args.only)
            for regression in regressions:
                print(f"REGRESSION {regression}", file=sys.stderr)
            if args.check:
                if regressions:
                    return 1
                print(
                    f"check passed against {args.baseline} "
                    f"(speedups by {args.stat}, tolerance {args.tolerance:.0%})"
                )
    except ReportError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
