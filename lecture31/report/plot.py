"""The speedup plots: what to draw is pure (``plotSeries``, ``plotBars``); drawing needs the
``plot`` extra (matplotlib), imported only when a plot is asked for."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .pairs import PairResult
from .parse import ReportError
from .render import isMatrix

__all__ = ("BarGroups", "drawPlot", "loadPyplot", "plotBars", "plotSeries")


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


def drawPlot(results: Sequence[PairResult], path: Path, plt) -> None:
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
