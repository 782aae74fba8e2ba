"""``main``: the tier matrix printed as it fills (heading, rows, calibration), then the verdicts.

The wording is pure functions of the rows; ``matrix`` measures, this module only words the answer.
"""

from __future__ import annotations

import platform
import random
from collections.abc import Sequence
from concurrent.futures import Executor

from .._runtime.checks import checkExecutor, checkSeed
from .._runtime.machine import gilEnabled, gilLabel, usableCores
from .matrix import ROUNDS, TIERS, WORKLOADS, defaultWorkers, runMatrix
from .userworkload import userWorkload
from .workloads import Kind, Workload

__all__ = (
    "BUSY_LIMIT",
    "NOISE_FACTOR",
    "VERDICT_MARGIN",
    "calibration",
    "formatRow",
    "heading",
    "main",
    "verdict",
    "verdicts",
)

# A lighter tier (earlier in TIERS: inline, loop, threads, processes, others) within this
# fraction of the fastest one wins the verdict: a few percent are noise on a shared machine,
# and the lighter tier costs no processes, pickling or memory.
VERDICT_MARGIN = 0.9

# A measured scaling limit below this for 2+ tasks means the cores are busy with other work.
BUSY_LIMIT = 1.2

# A speedup this far above its ideal cannot be the tier's doing: the reference was slowed.
NOISE_FACTOR = 1.25

_PLACES = {"loop": "the event loop (loop: all at once, no executor)"}

_COLUMNS = (
    f"{'workload':<16} {'tier':<10} {'tasks':>5} {'workers':>7} {'seconds':>9} "
    f"{'per task':>9} {'speedup':>8} {'ideal':>7}"
)


def heading(workloads: Sequence[Workload], *, tasks: int, workers: int, seed: int, rounds: int):
    """What runs, on what interpreter and machine, and how to repeat it."""
    lines = [
        f"Which tier? {tasks} tasks per batch on each tier, pools of {workers} workers, "
        f"seed {seed} (python -m lecture31 tiers --seed {seed} repeats the inputs)",
        f"Python {platform.python_version()} ({platform.python_implementation()}, "
        f"{gilLabel()}), {usableCores()} usable cores; each row is the best of {rounds} "
        "batches, timed from the event loop",
    ]
    if not gilEnabled():
        lines.append("no GIL: Python CPU work on threads can scale here, up to the machine's limit")
    lines.extend(f"  {w.name}: {w.description}" for w in workloads)
    lines.append(_COLUMNS)
    return "\n".join(lines)


def calibration(scalingLimit: float, parallel: int) -> str:
    """The measured limit CPU work is held to, and how it was measured."""
    if parallel < 2:
        return "parallel scaling limit: 1.00x (only one task can run at a time here)"
    busy = ""
    if scalingLimit < BUSY_LIMIT:
        busy = (
            f"; under {BUSY_LIMIT}x means other jobs hold the cores, so CPU rows cannot show "
            "a parallel gain now"
        )
    return (
        f"parallel scaling limit: {scalingLimit:.2f}x for {parallel} CPU tasks at once "
        f"(measured alongside the CPU rows: {parallel} processes at once against one after "
        f"another{busy})"
    )


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def formatRow(row: dict) -> str:
    """One row of the matrix, as soon as it is measured."""
    line = (
        f"{row['workload']:<16} {row['tier']:<10} {row['tasks']:>5} {row['workers']:>7} "
        f"{row['seconds']:>7.3f} s {row['seconds'] / row['tasks'] * 1e3:>6.1f} ms "
        f"{_times(row['speedup']):>8} {_times(row['idealSpeedup']):>7}"
    )
    if not row.get("sameResult", True):
        line += "  (results differ from inline)"
    return line


def verdict(workload: Workload, rows: Sequence[dict], scalingLimit: float) -> str:
    """Where this workload belongs: the lightest tier within VERDICT_MARGIN of the fastest.

    ``rows`` come lightest tier first (inline, loop, threads, processes, then any others).
    """
    fastest = max(row["speedup"] for row in rows)
    choice = next(row for row in rows if row["speedup"] >= VERDICT_MARGIN * fastest)
    others = "; ".join(f"{row['tier']} {row['speedup']:.2f}x" for row in rows if row is not choice)
    if choice["tier"] == "inline":
        return (
            f"{workload.name} stays inline: no tier is more than "
            f"{1 / VERDICT_MARGIN:.2f}x faster ({others})" + _noiseNote(rows)
        )
    ideal = choice["idealSpeedup"]
    if ideal is None:
        bound = ""
        if choice["speedup"] > scalingLimit / VERDICT_MARGIN:
            bound = (
                f", beyond the machine's {scalingLimit:.2f}x CPU limit: it waits more than it "
                "computes"
            )
    elif workload.kind is Kind.PYTHON_CPU and choice["tier"] == "threads" and gilEnabled():
        bound = f" of an ideal {ideal:.2f}x (threads take turns holding the GIL)"
    elif workload.kind in (Kind.PYTHON_CPU, Kind.NATIVE_CPU):
        bound = f" of a measured {ideal:.2f}x limit"
    else:
        bound = f" of an ideal {ideal:.2f}x"
    place = _PLACES.get(choice["tier"], choice["tier"])
    text = f"{workload.name} belongs on {place}: {choice['speedup']:.2f}x{bound}; {others}"
    return text + _noiseNote(rows)


def _noiseNote(rows: Sequence[dict]) -> str:
    """Say so when a row beat its ideal: load from other jobs, not the tier, made that ratio."""
    beyond = [
        row["tier"]
        for row in rows
        if row["idealSpeedup"] is not None and row["speedup"] > NOISE_FACTOR * row["idealSpeedup"]
    ]
    if not beyond:
        return ""
    return (
        f" (noisy: {', '.join(beyond)} beat the ideal, so other jobs were slowing some rounds; "
        "re-run on a quiet machine)"
    )


def verdicts(workloads: Sequence[Workload], rows: Sequence[dict], scalingLimit: float) -> str:
    """One verdict line per workload, in the order they ran."""
    lines = ["verdicts:"]
    for workload in workloads:
        own = [row for row in rows if row["workload"] == workload.name]
        if own:
            lines.append("  " + verdict(workload, own, scalingLimit))
    return "\n".join(lines)


async def main(
    seed: int | None = None,
    *,
    workload: str | None = None,
    args: object = None,
    processPool: Executor | None = None,
) -> None:
    """Print the matrix as it fills, then a verdict per workload.

    ``workload`` (``"package.module:function"``) measures a user's function instead of the
    built-in workloads, called with ``args`` (a list: positional; a dict: keywords; None: no
    arguments); anything that keeps it from running on every tier raises ``WorkloadError``.
    ``processPool``, when given, is the processes tier (and left open).
    """
    checkSeed(seed)
    checkExecutor(processPool, "processPool")
    chosen = list(WORKLOADS.values()) if workload is None else [userWorkload(workload, args)]
    if seed is None:
        seed = random.SystemRandom().randrange(2**32)
    tasks, workers = 8, defaultWorkers()
    print(heading(chosen, tasks=tasks, workers=workers, seed=seed, rounds=ROUNDS))
    matrix = await runMatrix(
        chosen,
        list(TIERS),
        tasks=tasks,
        workers=workers,
        seed=seed,
        processPool=processPool,
        onRow=lambda row: print(formatRow(row), flush=True),
    )
    print(calibration(matrix.scalingLimit, matrix.parallel))
    print(verdicts(chosen, matrix.rows, matrix.scalingLimit))
