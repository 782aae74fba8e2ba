"""What the hedging study found, as a page written from its rows (never typed by hand).

    python -m lecture31 hedging --seed 1 --json results/hedging.json --markdown results/HEDGING.md

``findingsMarkdown(rows)`` reads the rows ``--json`` writes and says, for each target of the
study, what the run measured and where; docs/hedging.md and the README include the page
(``python -m lecture31.report.include``), and tests/fanout/test_findings.py fails when the
committed page is not what the committed rows give.
"""

from __future__ import annotations

from collections.abc import Sequence

from .replicas import MODELS
from .study import LOADS, crossover, stopsHelping

__all__ = ("findingsMarkdown",)

# The points the issue names: The Tail at Scale's example, and the homework's own shards.
HICCUP_LOAD = 0.2
HOMEWORK_LOADS = (0.2, 0.5, 0.8)
HOMEWORK_POLICIES = ("none", "budgeted", "tied")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _interval(row: dict, quantile: str) -> str:
    return f"{_ms(row[quantile])} [{_ms(row[quantile + 'Low'])}-{_ms(row[quantile + 'High'])}]"


def _change(ratio: float) -> str:
    return f"{ratio - 1:+.1%}"


def findingsMarkdown(rows: Sequence[dict]) -> str:
    """The findings page (markdown) for the rows of one run of the study."""
    at = {(r["model"], r["policy"], r["load"]): r for r in rows}
    models = list(dict.fromkeys(r["model"] for r in rows))
    fanOuts = {r["model"]: r["fanOuts"] for r in rows}
    lines = [
        "# Hedged and tied requests: what the study measured",
        "",
        "Written by `python -m lecture31 hedging --seed 1 --markdown results/HEDGING.md` from"
        " the rows in `results/hedging.json`; fan-outs a point: "
        + ", ".join(f"{model} {fanOuts[model]:,}" for model in models)
        + ". Latencies are of whole fan-outs; p99.9 with its 95% interval.",
        "",
        "| what | measured |",
        "| --- | --- |",
    ]
    budgeted = [r for r in rows if r["policy"] == "budgeted"]
    most = max(budgeted, key=lambda r: r["extraRequests"])
    lines.append(
        f"| extra requests of the budgeted policy, the most at any point (budget 5%)"
        f" | {most['extraRequests']:.1%} ({most['model']}, load {most['load']}) |"
    )
    if ("hiccup", "none", HICCUP_LOAD) in at and ("hiccup", "budgeted", HICCUP_LOAD) in at:
        none, hedged = at["hiccup", "none", HICCUP_LOAD], at["hiccup", "budgeted", HICCUP_LOAD]
        lines += [
            f"| hiccup, {MODELS['hiccup'].shards} shards, load {HICCUP_LOAD}: p99.9 none ->"
            f" budgeted | {_interval(none, 'p999')} -> {_interval(hedged, 'p999')}"
            f" ms: {none['p999'] / hedged['p999']:.1f}x lower |",
            f"| the same, p50 | {_ms(none['p50'])} -> {_ms(hedged['p50'])} ms"
            f" ({_change(hedged['p50'] / none['p50'])}) |",
            f"| the same, extra requests | {hedged['extraRequests']:.1%} |",
        ]
    for quantile in ("p50", "p99"):
        worst = max(
            (r[quantile] / at[r["model"], "none", r["load"]][quantile], r["model"], r["load"])
            for r in budgeted
        )
        lines.append(
            f"| budgeted against none, {quantile}: the worst point"
            f" | {_change(worst[0])} ({worst[1]}, load {worst[2]}) |"
        )
    if "correlated" in models:
        ratios = [
            at["correlated", "budgeted", load]["p99"] / at["correlated", "none", load]["p99"]
            for load in LOADS
        ]
        lines.append(
            "| correlated slowness: budgeted p99 / none's over loads 0.1-0.9"
            f" | {min(ratios):.2f}-{max(ratios):.2f} |"
        )
    hurts = []
    for model in models:
        load = stopsHelping(rows, model, "fixed")
        if load is not None:
            hurts.append(f"{model} from load {load}")
    lines.append(
        "| a fixed delay without budget: p99 no longer below none's"
        f" | {'; '.join(hurts) or 'never'} |"
    )
    if "theory" in models:
        point = crossover(rows)
        lines.append(
            "| theory: duplicate-all's mean crosses none's at load (1/3 expected)"
            f" | {'none found' if point is None else f'{point:.3f}'} |"
        )
    if "homework" in models:
        lines += _homework(at)
    lines += ["", "## Where each policy stops helping (p99 no longer below none's)", ""]
    lines += ["| model | " + " | ".join(_policies(rows)) + " |"]
    lines += ["| --- |" + " --- |" * len(_policies(rows))]
    for model in models:
        cells = []
        for policy in _policies(rows):
            if (model, policy, LOADS[0]) not in at:
                cells.append("")
                continue
            load = stopsHelping(rows, model, policy)
            cells.append("never" if load is None else f"from {load}")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _policies(rows: Sequence[dict]) -> list[str]:
    return [p for p in dict.fromkeys(r["policy"] for r in rows) if p != "none"]


def _homework(at: dict) -> list[str]:
    lines = [
        "",
        f"## The homework's shards ({MODELS['homework'].shards} a fan-out, 0.1 s + Exp(5))",
        "",
        "| load | policy | p50 ms [95%] | p99 ms [95%] | p99.9 ms [95%] | extra |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for load in HOMEWORK_LOADS:
        for policy in HOMEWORK_POLICIES:
            r = at.get(("homework", policy, load))
            if r is None:
                continue
            cells = " | ".join(_interval(r, q) for q in ("p50", "p99", "p999"))
            lines.append(f"| {load} | {policy} | {cells} | {r['extraRequests']:.1%} |")
    return lines
