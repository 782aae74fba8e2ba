"""``python -m lecture31 hedging``: the virtual-time study, printed, and as JSON and a plot.

studyPoints() --runPoint in a process pool (one worker a core)--> rows
    --> print one table a model (percentiles, 95% intervals, extra requests and work)
    --> the load above which each policy stops helping; the theory crossover
    --> --json PATH: {"rows": [...]} (atomic)     --plot PATH: percentiles against load
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from .._runtime.atomicwrite import writeAtomically
from .._runtime.checks import UserInputError, checkCount, checkSeed
from .._runtime.gathering import gatherAll
from .._runtime.pools import ownedPools
from .findings import findingsMarkdown
from .replicas import MODELS
from .study import (
    ROW_FIELDS,
    crossover,
    runPoint,
    stopsHelping,
    studyPoints,
)

__all__ = ("DEFAULT_FAN_OUTS", "main", "plotRows", "runStudy")

# The 100,000 a point: the compiled engine (kernel.py) runs the whole sweep in about a
# minute on 2 cores. The theory rows are 1-shard and cheap, and their crossover rests on means
# of a light-tailed queue near saturation, so they get THEORY_FACTOR times more.
DEFAULT_FAN_OUTS = 100_000
THEORY_FACTOR = 10
WORKERS = max(1, min(2, os.cpu_count() or 1))


async def runStudy(
    *, seed: int | None = None, fanOuts: int = DEFAULT_FAN_OUTS, models: Sequence[str] | None = None
) -> list[dict]:
    """Every point of the study, spread over a process pool; rows in ``studyPoints`` order."""
    checkSeed(seed)
    checkCount(fanOuts, "fanOuts")
    points = studyPoints(models)
    # The 100-shard points first, so the two workers end together.
    order = sorted(range(len(points)), key=lambda i: -MODELS[points[i][0]].shards)
    async with ownedPools() as pools:
        pool = pools.processes(WORKERS)
        loop = asyncio.get_running_loop()
        futures = {
            i: loop.run_in_executor(
                pool,
                runPoint,
                points[i],
                fanOuts * (THEORY_FACTOR if points[i][0] == "theory" else 1),
                seed,
            )
            for i in order
        }
        done = await gatherAll([futures[i] for i in order])
    byIndex = dict(zip(order, done, strict=True))
    return [byIndex[i] for i in range(len(points))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def formatRows(rows: Sequence[dict]) -> list[str]:
    lines = []
    header = (
        f"{'policy':<13} {'load':>4} {'p50 ms':>16} {'p90 ms':>16} {'p99 ms':>18}"
        f" {'p99.9 ms [95%]':>22} {'extra':>6} {'work':>6} {'wins':>5}"
    )
    for model in dict.fromkeys(r["model"] for r in rows):
        spec = MODELS[model]
        modelRows = [r for r in rows if r["model"] == model]
        lines += [
            "",
            f"== {model}: {spec.description}; {spec.shards} shards a fan-out, {spec.replicas}"
            f" replicas x {spec.capacity} slots; {modelRows[0]['fanOuts']} fan-outs a point",
            header,
        ]
        for r in modelRows:
            cells = [
                f"{_ms(r[q])} [{_ms(r[q + 'Low'])}-{_ms(r[q + 'High'])}]"
                for q in ("p50", "p90", "p99", "p999")
            ]
            lines.append(
                f"{r['policy']:<13} {r['load']:>4.1f} {cells[0]:>16} {cells[1]:>16}"
                f" {cells[2]:>18} {cells[3]:>22} {r['extraRequests']:>6.1%}"
                f" {r['extraWork']:>6.1%} {r['hedgeWins']:>5.0%}"
            )
        policies = dict.fromkeys(r["policy"] for r in modelRows if r["policy"] != "none")
        stops = []
        for policy in policies:
            load = stopsHelping(rows, model, policy)
            stops.append(f"{policy} {'never' if load is None else f'from load {load:.1f}'}")
        lines.append("stops helping (p99 no longer below none's): " + "; ".join(stops))
        if model == "theory":
            point = crossover(rows)
            lines.append(
                "duplicate-all's mean crosses none's at load "
                + ("(none found)" if point is None else f"{point:.3f} (theory: 1/3)")
            )
    return lines


def _writeJson(rows: Sequence[dict], target: Path) -> None:
    body = {"rows": [{field: r[field] for field in ROW_FIELDS} for r in rows]}

    def write(path: Path) -> None:
        path.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")

    writeAtomically([(target, write)])


def plotRows(rows: Sequence[dict], target: Path) -> None:
    """p50, p99 and p99.9 against load, one line a policy, one panel row a model (PNG)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise UserInputError(
            f"--plot needs matplotlib: pip install 'lecture31[plot]' ({exc})"
        ) from exc
    models = list(dict.fromkeys(r["model"] for r in rows))
    quantiles = ("p50", "p99", "p999")
    figure, axes = plt.subplots(
        len(models), len(quantiles), figsize=(12, 3 * len(models)), squeeze=False
    )
    for i, model in enumerate(models):
        for j, q in enumerate(quantiles):
            axis = axes[i][j]
            for policy in dict.fromkeys(r["policy"] for r in rows if r["model"] == model):
                points = [r for r in rows if r["model"] == model and r["policy"] == policy]
                axis.plot([r["load"] for r in points], [r[q] * 1000 for r in points], label=policy)
            axis.set_yscale("log")
            axis.set_title(f"{model} {q}", fontsize=9)
            axis.set_xlabel("load")
            axis.set_ylabel("ms")
        axes[i][0].legend(fontsize=7)
    figure.tight_layout()

    def write(path: Path) -> None:
        figure.savefig(path, format="png", dpi=80)

    try:
        writeAtomically([(target, write)])
    finally:
        plt.close(figure)


async def main(
    seed: int | None = None,
    *,
    fanOuts: int = DEFAULT_FAN_OUTS,
    jsonPath: str | None = None,
    plotPath: str | None = None,
    markdownPath: str | None = None,
) -> None:
    """Run the study and print it; ``jsonPath`` / ``plotPath`` / ``markdownPath`` also write
    the rows / a plot / the findings page (``findings.py``)."""
    started = time.perf_counter()
    rows = await runStudy(seed=seed, fanOuts=fanOuts)
    elapsed = time.perf_counter() - started
    print(
        f"hedged and tied requests in virtual time: {len(rows)} points,"
        f" {WORKERS} worker processes, {elapsed:.1f} s"
        + ("" if seed is None else f" (seed {seed})")
    )
    print(
        "latencies of whole fan-outs; extra = copies sent / primaries; work = service time"
        " executed by copies that did not answer / that of the answers; wins = copies that won"
    )
    for line in formatRows(rows):
        print(line)
    if jsonPath is not None:
        _writeJson(rows, Path(jsonPath))
        print(f"\nrows written to {jsonPath}")
    if plotPath is not None:
        plotRows(rows, Path(plotPath))
        print(f"plot written to {plotPath}")
    if markdownPath is not None:
        page = findingsMarkdown(rows)

        def write(path: Path) -> None:
            path.write_text(page, encoding="utf-8")

        writeAtomically([(Path(markdownPath), write)])
        print(f"findings written to {markdownPath}")
