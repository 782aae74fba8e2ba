"""The speedup plots: what to draw is pure (``plotSeries``, ``plotBars``); drawing needs the
``plot`` extra (matplotlib), imported only when a plot is asked for.

Every speedup is drawn with its 95% interval as an error bar (``PairResult.intervalOf``), in
every comparison, where the run kept its rounds; nan where it did not (no bar is drawn).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .pairs import PairResult
from .parse import ReportError
from .render import isMatrix

__all__ = ("BarGroups", "drawPlot", "loadPyplot", "plotBars", "plotSeries")


def _bounds(row: PairResult, name: str) -> tuple[float, float]:
    """The 95% interval of ``name``'s speedup, (nan, nan) without rounds."""
    interval = row.intervalOf(name)
    return (math.nan, math.nan) if interval is None else (interval.low, interval.high)


def plotSeries(results: Sequence[PairResult]) -> dict[str, dict[str, list[float]]]:
    """Two-variant comparisons measured at several scales: scales, speedups with their 95%
    intervals (low, high) and ideal speedups."""
    series: dict[str, dict[str, list[float]]] = {}
    for comparison in dict.fromkeys(r.comparison for r in results):
        rows = [r for r in results if r.comparison == comparison]
        if isMatrix(rows) or len({r.scale for r in rows}) < 2:
            continue
        bounds = [_bounds(r, r.variantName) for r in rows]
        series[comparison] = {
            "scale": [float(r.scale) for r in rows],
            "speedup": [r.speedup for r in rows],
            "low": [low for low, _ in bounds],
            "high": [high for _, high in bounds],
            "ideal": [math.nan if r.idealSpeedup is None else r.idealSpeedup for r in rows],
        }
    return series


@dataclass(frozen=True, slots=True)
class BarGroups:
    """One matrix comparison to draw: per variant, its speedup, the speedup's 95% interval
    (low, high) and the ideal, per pair (nan: none)."""

    pairs: list[str]
    reference: str
    speedup: dict[str, list[float]]
    ideal: dict[str, list[float]]
    low: dict[str, list[float]]
    high: dict[str, list[float]]
    # Pairs timed per call (the breaker against a bare call): the bars are each variant's time
    # over the reference's, an overhead, not a speedup.
    overhead: bool = False


def _inverted(values: dict[str, list[float]]) -> dict[str, list[float]]:
    return {name: [1.0 / v for v in row] for name, row in values.items()}


def _barValues(rows: Sequence[PairResult], names: list[str], what: str) -> dict[str, list[float]]:
    """Per variant, one value per pair: its speedup, ideal, or interval's low or high end."""

    def value(row: PairResult, name: str) -> float:
        if name not in {v.variant for v in row.others}:
            return math.nan
        if what in ("low", "high"):
            return _bounds(row, name)[what == "high"]
        got = row.idealSpeedupOf(name) if what == "ideal" else row.speedupOf(name)
        return math.nan if got is None else got

    return {name: [value(row, name) for row in rows] for name in names}


def plotBars(results: Sequence[PairResult]) -> dict[str, BarGroups]:
    """Every comparison that is not a series (``plotSeries``) as grouped bars: a matrix (more
    than two variants), or two variants at one scale (one bar per pair), by comparison."""
    bars: dict[str, BarGroups] = {}
    series = plotSeries(results)
    for comparison in dict.fromkeys(r.comparison for r in results):
        rows = [r for r in results if r.comparison == comparison]
        if comparison in series:
            continue
        names = list(dict.fromkeys(v.variant for r in rows for v in r.others))
        speedup, low, high = (_barValues(rows, names, what) for what in ("speedup", "low", "high"))
        overhead = any(r.calls for r in rows)
        if overhead:  # time over the reference's: the speedup turned round, its interval too
            speedup, low, high = _inverted(speedup), _inverted(high), _inverted(low)
        bars[comparison] = BarGroups(
            pairs=[r.pair for r in rows],
            reference=rows[0].reference.variant,
            speedup=speedup,
            ideal=_barValues(rows, names, "ideal"),
            low=low,
            high=high,
            overhead=overhead,
        )
    return bars


def _errors(speedup: list[float], low: list[float], high: list[float]) -> list[list[float]]:
    """matplotlib's ``yerr``: distances below and above each speedup (0 where none is known)."""

    def distance(a: float, b: float) -> float:
        return 0.0 if math.isnan(a) or math.isnan(b) else max(0.0, b - a)

    return [
        [distance(lo, s) for s, lo in zip(speedup, low, strict=True)],
        [distance(s, hi) for s, hi in zip(speedup, high, strict=True)],
    ]


def loadPyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ReportError(
            "--plot needs matplotlib, which is not installed: pip install -e '.[plot]'"
        ) from exc
    return plt


# Panels per row of the figure: beyond three, a wide figure is hard to read on a page.
PANELS_PER_ROW = 3


def drawPlot(results: Sequence[PairResult], path: Path, plt) -> None:
    series, bars = plotSeries(results), plotBars(results)
    if not series and not bars:
        raise ReportError("nothing to plot: the run has no pairs")
    panels = len(series) + len(bars)
    columns = min(panels, PANELS_PER_ROW)
    rows = math.ceil(panels / columns)
    figure, grid = plt.subplots(rows, columns, figsize=(5 * columns, 4 * rows), squeeze=False)
    axes = [ax for row in grid for ax in row]
    for unused in axes[panels:]:
        unused.set_visible(False)
    labels = {r.comparison: r.scaleLabel for r in results}
    for ax, (comparison, data) in zip(axes, series.items(), strict=False):
        ax.errorbar(
            data["scale"],
            data["speedup"],
            yerr=_errors(data["speedup"], data["low"], data["high"]),
            fmt="o-",
            capsize=3,
            label="measured (95% interval)",
        )
        if not all(math.isnan(v) for v in data["ideal"]):
            ax.plot(data["scale"], data["ideal"], "--", color="grey", label="ideal (critical path)")
        ax.set_title(comparison)
        ax.set_xlabel(labels.get(comparison, "scale"))
        ax.set_ylabel("speedup (x)")
        ax.set_ylim(bottom=0)
        ax.legend()
    for ax, (comparison, group) in zip(axes[len(series) : panels], bars.items(), strict=True):
        width = 0.8 / len(group.speedup)
        for i, name in enumerate(group.speedup):
            offset = (i - (len(group.speedup) - 1) / 2) * width
            xs = [p + offset for p in range(len(group.pairs))]
            errors = _errors(group.speedup[name], group.low[name], group.high[name])
            ax.bar(xs, group.speedup[name], width, yerr=errors, capsize=2, label=name)
            if not all(math.isnan(v) for v in group.ideal[name]):
                ax.plot(xs, group.ideal[name], "_", color="black", markersize=12)
        # Pairs named after their comparison ("tiers-cpu-python") are labelled by the rest.
        tickLabels = [pair.removeprefix(f"{comparison}-") for pair in group.pairs]
        ax.set_xticks(range(len(group.pairs)), tickLabels, rotation=30, ha="right")
        ax.set_title(comparison)
        if group.overhead:
            ax.set_ylabel(f"time over {group.reference} (x): an overhead; 95% interval")
        else:
            ax.set_ylabel(f"speedup over {group.reference} (x), 95% interval; -: ideal")
        ax.set_ylim(bottom=0)
        ax.legend()
    figure.tight_layout()
    figure.savefig(path, format=path.suffix.lstrip(".").lower())
    plt.close(figure)
