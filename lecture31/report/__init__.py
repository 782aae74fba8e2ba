"""Speedup tables, a regression check and a speedup summary from pytest-benchmark JSON.

    RUN.json --parse--> [Measurement] --pairs--> [PairResult] --render--> SPEEDUPS.md, summary
                                                      |         --plot---> speedups.png
                                 baseline [PairResult] +--check--> [Verdict] (exit 1 on a FAIL)

    records.py  the one format bench/ writes into extra_info and the report reads
    parse.py    JSON -> Measurements; every schema error a ReportError naming the benchmark
    stats.py    seeded bootstrap intervals of speedups, and the gate's decision: pure maths
    pairs.py    Measurements -> PairResults: speedup = reference seconds / variant seconds
    check.py    each variant's interval against the baseline's speedup x (1 - tolerance)
    render.py   Markdown tables and the plain-text summary
    plot.py     what to draw (pure) and the drawing (the plot extra)
    keep.py     what replacing an existing table would lose (a quick or partial run): pure
    include.py  the pages' copies of results/*.md refreshed between markers (and checked)
    cli.py      python -m lecture31.report (exit statuses and the partial-run rule: its docstring)

All variants of one pair ran in the same session on the same machine, so their ratios carry
across machines of different speed; that is what the check compares, never raw seconds.

    python -m lecture31.report [RUN.json]                # newest run under results/
    python -m lecture31.report RUN.json --baseline BASE.json --check --tolerance 0.15 --stat min
    python -m lecture31.report --plot speedups.png       # needs the ``plot`` extra
"""

from .check import (
    BACKSTOP_TOLERANCE,
    Regression,
    Verdict,
    checkRegressions,
    gateDecisions,
    ungatedVariants,
)
from .cli import main
from .pairs import (
    PairResult,
    SpeedupChange,
    VariantResult,
    pairMeasurements,
    pairResults,
    speedupChanges,
)
from .parse import STATS, Measurement, ReportError, loadRun, newestRun, parseBenchmarks
from .plot import BarGroups, plotBars, plotSeries
from .render import formatSeconds, isMatrix, renderMarkdown, renderSummary

__all__ = (
    "BACKSTOP_TOLERANCE",
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
    "ungatedVariants",
)
