"""``main``: the tier matrix printed as it fills (heading, rows, measured scaling), then verdicts.

The wording is pure functions of the rows; ``matrix`` measures, ``verdict`` decides, this module
only words the answer.
"""

from __future__ import annotations

import platform
import random
from collections.abc import Sequence
from concurrent.futures import Executor

from .._runtime.checks import checkExecutor, checkSeconds, checkSeed
from .._runtime.machine import gilEnabled, gilLabel, usableCores
from ..report.stats import Interval
from .matrix import TIERS, WORKLOADS, TierRow, defaultWorkers, runMatrix
from .rounds import MAX_ROUNDS, PRECISION, ROUNDS, SAMPLE_SECONDS, WORKLOAD_SECONDS
from .userworkload import userWorkload
from .verdict import RESOLUTION, verdicts
from .workloads import Kind, Workload

__all__ = (
    "BUSY_LIMIT",
    "DEFAULT_TIME_LIMIT",
    "formatRow",
    "heading",
    "main",
    "renderVerdicts",
    "scalingLine",
    "verdict",
)

# Measured CPU scaling below this for 2+ tasks means the cores are busy with other work.
BUSY_LIMIT = 1.2

# A user's function gets this long per sample (a batch of its tasks) before the run gives up on
# it: a minute is far beyond any workload worth a matrix, and short enough to wait for.
DEFAULT_TIME_LIMIT = 60.0

_PLACES = {"loop": "the event loop (loop: all at once, no executor)"}

_COLUMNS = (
    f"{'workload':<16} {'tier':<10} {'tasks':>5} {'workers':>7} {'seconds':>9} "
    f"{'per task':>9} {'speedup':>8} {'95% interval':>13} {'ideal':>7} {'rounds':>8}"
)


def heading(workloads: Sequence[Workload], *, tasks: int, workers: int, seed: int):
    """What runs, on what interpreter and machine, how it is timed, and how to repeat it."""
    lines = [
        f"Which tier? {tasks} tasks per batch on each tier, pools of {workers} workers, "
        f"seed {seed} (python -m lecture31 tiers --seed {seed} repeats the inputs)",
        f"Python {platform.python_version()} ({platform.python_implementation()}, "
        f"{gilLabel()}), {usableCores()} usable cores",
        f"{ROUNDS} interleaved rounds a workload, up to {MAX_ROUNDS} while an interval is wider "
        f"than {PRECISION - 1:.0%} (within {WORKLOAD_SECONDS:g} s a workload): each round times "
        "every tier once, in a shuffled order; a sample is one batch (or several back to back, "
        f"when one is under {SAMPLE_SECONDS * 1e3:.0f} ms), timed from the event loop",
        "speedup: the median of the rounds' speedups (inline's batch over the tier's, moments "
        "apart), with its 95% interval; ideal: the most the tier can give (a bound)",
    ]
    if not gilEnabled():
        lines.append("no GIL: Python CPU work on threads can scale here, up to the cores")
    lines.extend(f"  {w.name}: {w.description}" for w in workloads)
    lines.append(_COLUMNS)
    return "\n".join(lines)


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _interval(row: TierRow) -> str:
    return f"({row['low']:.2f}-{row['high']:.2f})"


def _speedupText(row: TierRow) -> str:
    return f"{row['speedup']:.2f}x {_interval(row)}"


def formatRow(row: TierRow) -> str:
    """One row of the matrix."""
    line = (
        f"{row['workload']:<16} {row['tier']:<10} {row['tasks']:>5} {row['workers']:>7} "
        f"{row['seconds']:>7.3f} s {row['seconds'] / row['tasks'] * 1e3:>6.1f} ms "
        f"{_times(row['speedup']):>8} {_interval(row):>13} {_times(row['idealSpeedup']):>7} "
        f"{row['rounds']:>3} x {row['batches']:<2}"
    ).rstrip()
    if not row.get("sameResult", True):
        line += "  (results differ from inline)"
    return line


def scalingLine(scaling: Interval | None, parallel: int) -> str:
    """What the cores delivered to CPU work, measured beside the CPU rows: not a bound."""
    if parallel < 2:
        return "measured CPU scaling: none to measure (only one task can run at a time here)"
    if scaling is None:
        return ""
    busy = ""
    if scaling.point < BUSY_LIMIT:
        busy = (
            f"; under {BUSY_LIMIT}x means other jobs hold the cores, so CPU rows cannot show "
            "a parallel gain now"
        )
    return (
        f"measured CPU scaling: {scaling} for {parallel} CPU tasks at once on processes against "
        f"one after another, in rounds beside the CPU rows; a measurement, not a bound (the "
        f"bound is {parallel}: vCPUs that share a host deliver less){busy}"
    )


def _listed(tiers: Sequence[str]) -> str:
    return tiers[0] if len(tiers) == 1 else f"{', '.join(tiers[:-1])} or {tiers[-1]}"


def verdict(workload: Workload, rows: Sequence[TierRow], scaling: Interval | None) -> str:
    """Where this workload belongs (``verdicts``), with the numbers that say so."""
    chosen = verdicts(rows)[workload.name]
    others = "; ".join(
        f"{row['tier']} {_speedupText(row)}"
        for row in rows
        if row["tier"] not in chosen and row["tier"] != "inline"
    )
    if chosen == ("inline",):
        return (
            f"{workload.name} stays inline: no tier beats it beyond noise ({others})"
            + _noiseNote(rows)
        )
    byTier = {row["tier"]: row for row in rows}
    first = byTier[chosen[0]]
    if len(chosen) == 1:
        text = (
            f"{workload.name} belongs on {_PLACES.get(chosen[0], chosen[0])}: "
            f"{_speedupText(first)}{_bound(workload, first, scaling)}"
        )
    else:
        lighter = "is lighter" if len(chosen) == 2 else "is the lightest"
        each = ", ".join(f"{tier} {_speedupText(byTier[tier])}" for tier in chosen)
        text = (
            f"{workload.name} belongs on {_listed(chosen)} (within noise; {chosen[0]} {lighter}):"
            f" {each}{_bound(workload, first, scaling)}"
        )
    return text + (f"; {others}" if others else "") + _noiseNote(rows)


def _bound(workload: Workload, row: TierRow, scaling: Interval | None) -> str:
    ideal = row["idealSpeedup"]
    if ideal is not None:
        return f" of an ideal {ideal:.2f}x"
    if workload.kind is Kind.UNKNOWN and scaling is not None and row["low"] > scaling.high:
        return (
            f", beyond the machine's measured CPU scaling of {scaling.point:.2f}x: it waits more "
            "than it computes"
        )
    return ""


def _noiseNote(rows: Sequence[TierRow]) -> str:
    """Say so when a row's whole interval is above its ideal: no tier can do that, so rounds
    were disturbed unevenly (a burst of load within rounds, not across them)."""
    beyond = [
        row["tier"]
        for row in rows
        if row["idealSpeedup"] is not None and row["low"] > row["idealSpeedup"]
    ]
    if not beyond:
        return ""
    return (
        f" (noisy: {', '.join(beyond)} beat the ideal over the whole interval, so other jobs "
        "disturbed some rounds; re-run on a quiet machine)"
    )


def renderVerdicts(
    workloads: Sequence[Workload], rows: Sequence[TierRow], scaling: Interval | None
) -> str:
    """One verdict line per workload, in the order they ran."""
    lines = [
        f"verdicts (a tier beats inline when its whole interval is above {1 + RESOLUTION:.2f}x; "
        f"tiers whose intervals overlap the best one's, give or take {RESOLUTION:.0%}, are as "
        "fast within noise, the lightest named first):"
    ]
    for workload in workloads:
        own = [row for row in rows if row["workload"] == workload.name]
        if own:
            lines.append("  " + verdict(workload, own, scaling))
    return "\n".join(lines)


async def main(
    seed: int | None = None,
    *,
    workload: str | None = None,
    args: object = None,
    processPool: Executor | None = None,
    timeLimit: float = DEFAULT_TIME_LIMIT,
) -> None:
    """Print the matrix as it fills, the measured CPU scaling, then a verdict per workload.

    ``workload`` (``"package.module:function"``) measures a user's function instead of the
    built-in workloads, called with ``args`` (a list: positional; a dict: keywords; None: no
    arguments); anything that keeps it from running on every tier, a batch that takes over
    ``timeLimit`` seconds included, raises ``WorkloadError``. ``processPool``, when given, is
    the processes tier (and left open).
    """
    checkSeed(seed)
    checkExecutor(processPool, "processPool")
    timeLimit = checkSeconds(timeLimit, "timeLimit", positive=True)
    chosen = (
        list(WORKLOADS.values())
        if workload is None
        else [userWorkload(workload, args, timeLimit=timeLimit)]
    )
    if seed is None:
        seed = random.SystemRandom().randrange(2**32)
    tasks, workers = 8, defaultWorkers()
    print(heading(chosen, tasks=tasks, workers=workers, seed=seed))
    matrix = await runMatrix(
        chosen,
        list(TIERS),
        tasks=tasks,
        workers=workers,
        seed=seed,
        processPool=processPool,
        timeLimit=timeLimit,
        onRow=lambda row: print(formatRow(row), flush=True),
    )
    line = scalingLine(matrix.scaling, matrix.parallel)
    if line:
        print(line)
    print(renderVerdicts(chosen, matrix.rows, matrix.scaling))
