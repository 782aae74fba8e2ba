"""Which tier? The same batch of independent tasks on each tier, timed from the event loop.

    workload (one of WORKLOADS, or yours)
      |  `tasks` seeded inputs, the same for every tier
      +--> inline     one after another on the event loop          the reference: 1.0x
      +--> loop       all at once on the event loop                coroutine functions only
      +--> threads    loop.run_in_executor(thread pool of `workers`)
      +--> processes  loop.run_in_executor(process pool of `workers`)
      '--> ...        one TIERS entry adds another Executor (dask)
      |  interleaved rounds: every tier once a round, in a shuffled order (rounds.py)
      v
    one row per (workload, tier): seconds (median per batch), speedup over inline (median of the
    rounds' own) with its 95% interval (low, high), and the ideal speedup, a bound:
    min(tasks, workers) for waiting, min(tasks, workers, cores) for CPU work on a tier free of
    the GIL, 1.0 for Python CPU work on threads under the GIL. What the cores delivered is
    measured beside the CPU rows (scaling.py) and reported apart: a measurement, not a bound.

Every tier must give the same results as inline, or the row would compare different work.
Pools are made and warmed before any timing and shut down after, also on error or cancel.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import statistics
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypedDict

from .._runtime.checks import checkCount, checkSeed
from .._runtime.machine import usableCores
from .._runtime.pools import OwnedPools, ownedPools
from ..report.stats import Interval, roundRatioInterval
from .rounds import MAX_ROUNDS, Timed, timeInterleaved
from .scaling import ScalingProbe
from .workloads import BUILTIN_WORKLOADS, Kind, Workload, idealSpeedup

__all__ = (
    "TIERS",
    "WORKLOADS",
    "Tier",
    "TierContext",
    "TierRow",
    "defaultWorkers",
    "runTierMatrix",
)

WORKLOADS: Mapping[str, Workload] = MappingProxyType({w.name: w for w in BUILTIN_WORKLOADS})


class TierRow(TypedDict):
    """One (workload, tier) of the matrix: still a plain dict, as the API promises, with its
    keys and types declared once for the modules that read it (``runTierMatrix`` says what
    each means)."""

    workload: str
    tier: str
    tasks: int
    workers: int
    seconds: float
    speedup: float
    low: float
    high: float
    idealSpeedup: float | None
    sameResult: bool
    rounds: int
    batches: int


# Bounds that keep a typo from starting 10^7 threads or running for a week.
MAX_TASKS = 10_000
MAX_WORKERS = 256


@dataclass(frozen=True)
class TierContext:
    """What a tier's executor factory gets: the run's pools, sizes and cleanup stack."""

    pools: OwnedPools
    workers: int
    stack: contextlib.AsyncExitStack
    processPool: Executor | None  # given by the caller (e.g. --cpu dask): the processes tier


@dataclass(frozen=True)
class Tier:
    """A place work can run. ``executor`` is None for the two that run on the event loop."""

    name: str
    description: str
    # Sync, or async for executors that take a while to open (a dask cluster).
    executor: Callable[[TierContext], Executor | Awaitable[Executor]] | None = None
    # Runs coroutine functions (loop), plain functions (executors) or both (inline).
    takesAsync: bool = False
    takesSync: bool = True


async def _daskExecutor(context: TierContext) -> Executor:
    """A local dask cluster of ``workers`` (or the scheduler in LECTURE31_DASK_SCHEDULER),
    closed with the run; tasks go in batches sized from its overhead (``runBatch``)."""
    from ..cluster import cpuExecutor

    return await context.stack.enter_async_context(cpuExecutor("dask", workers=context.workers))


def _hasDask() -> bool:
    """The ``distributed`` extra is installed (checked without importing it)."""
    return importlib.util.find_spec("distributed") is not None


# Open on purpose: a tier is one more entry (dask is added when its extra is installed).
# Lightest first: rows come in this order (the verdicts order tiers the same way).
TIERS: Mapping[str, Tier] = MappingProxyType(
    {
        tier.name: tier
        for tier in (
            Tier("inline", "one after another on the event loop", takesAsync=True),
            Tier("loop", "all at once on the event loop", takesAsync=True, takesSync=False),
            Tier(
                "threads",
                "a thread pool",
                lambda c: c.pools.threads(c.workers, "lecture31-tiers"),
            ),
            Tier(
                "processes",
                "a process pool (forkserver)",
                lambda c: c.pools.processes(c.workers, given=c.processPool),
            ),
            *([Tier("dask", "a dask.distributed cluster", _daskExecutor)] if _hasDask() else []),
        )
    }
)


# Workloads beside which the machine's CPU scaling is measured (a user's might compute).
_CPU_KINDS = frozenset({Kind.PYTHON_CPU, Kind.NATIVE_CPU, Kind.UNKNOWN})


@dataclass(frozen=True)
class Matrix:
    rows: list[TierRow]
    scaling: Interval | None  # the measured CPU scaling; None where it was not measured
    parallel: int  # how many CPU tasks at once it was measured at


def _tiersFor(workload: Workload, tierNames: Sequence[str]) -> list[str]:
    """``inline`` (the reference, always run), then each requested tier that fits; TIERS order."""
    wanted = {"inline", *tierNames}
    return [
        name
        for name, tier in TIERS.items()
        if name in wanted and (tier.takesAsync if workload.isAsync else tier.takesSync)
    ]


def _checkNames(given: object, known: Mapping, what: str) -> list[str]:
    if given is None:
        return list(known)
    if isinstance(given, str) or not isinstance(given, Sequence | set | frozenset):
        raise TypeError(f"{what} must be a list of names or None, got {given!r}")
    names = list(given)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"{what} has unknown name(s) {unknown!r}; known: {', '.join(known)}")
    if not names:
        raise ValueError(f"{what} must name at least one, got {given!r}")
    return list(dict.fromkeys(names))


async def runMatrix(
    workloads: Sequence[Workload],
    tierNames: Sequence[str],
    *,
    tasks: int,
    workers: int,
    seed: int | None,
    rounds: int = MAX_ROUNDS,
    processPool: Executor | None = None,
    timeLimit: float | None = None,
    onRow: Callable[[TierRow], None] = lambda row: None,
) -> Matrix:
    """The matrix: make and warm pools, then time every workload's tiers in interleaved rounds;
    the scaling probe rides along with the CPU workloads. ``timeLimit`` bounds every sample."""
    plan = {workload.name: _tiersFor(workload, tierNames) for workload in workloads}
    usedTiers = list(dict.fromkeys(name for names in plan.values() for name in names))
    cores = usableCores()
    parallel = min(tasks, workers, cores)
    calibrate = parallel >= 2 and any(
        w.kind in _CPU_KINDS and len(plan[w.name]) > 1 for w in workloads
    )
    async with ownedPools() as pools, contextlib.AsyncExitStack() as stack:
        context = TierContext(pools, workers, stack, processPool)
        executors = {}
        for name in usedTiers:
            makeExecutor = TIERS[name].executor
            if makeExecutor is not None:
                executor = makeExecutor(context)
                executors[name] = await executor if inspect.isawaitable(executor) else executor
        probe = None
        if calibrate:
            ours = "processes" in executors and processPool is None
            probe = ScalingProbe(
                executors["processes"] if ours else pools.processes(parallel), parallel
            )
        await pools.warm()
        rows: list[TierRow] = []
        for workload in workloads:
            alongside = None
            if probe is not None and workload.kind in _CPU_KINDS:
                alongside = probe.measureRound
            timed = await timeInterleaved(
                workload,
                plan[workload.name],
                workload.inputs(tasks, seed),
                executors,
                seed=seed,
                rounds=rounds,
                timeLimit=timeLimit,
                alongside=alongside,
            )
            for row in _rows(workload, timed, tasks=tasks, workers=workers, cores=cores):
                rows.append(row)
                onRow(row)
    return Matrix(rows, None if probe is None else probe.interval(), parallel)


def _rows(
    workload: Workload, timed: Timed, *, tasks: int, workers: int, cores: int
) -> list[TierRow]:
    """One row per tier: median seconds per batch, and the speedup over inline: the median of
    the rounds' own speedups (round i of inline over round i of the tier), with its 95%
    bootstrap interval over rounds."""
    rows = []
    for tier, seconds in timed.seconds.items():
        interval = roundRatioInterval(timed.seconds["inline"], seconds)
        rows.append(
            TierRow(
                workload=workload.name,
                tier=tier,
                tasks=tasks,
                workers={"inline": 1, "loop": tasks}.get(tier, workers),
                seconds=statistics.median(seconds),
                speedup=interval.point,
                low=interval.low,
                high=interval.high,
                idealSpeedup=idealSpeedup(
                    workload.kind, tier, tasks=tasks, workers=workers, cores=cores
                ),
                sameResult=timed.sameResult[tier],
                rounds=timed.rounds,
                batches=timed.repeats[tier],
            )
        )
    return rows


def defaultWorkers() -> int:
    """One worker per usable core, and at least 2, so waiting work can overlap anywhere."""
    return max(2, usableCores())


async def runTierMatrix(
    workloads: Sequence[str] | None = None,
    tiers: Sequence[str] | None = None,
    *,
    tasks: int = 8,
    workers: int | None = None,
    seed: int | None = None,
) -> list[TierRow]:
    """One row per (workload, tier), a dict (``TierRow``): ``workload, tier, tasks, workers,
    seconds, speedup, low, high, idealSpeedup`` (and ``sameResult``, ``rounds``, ``batches``).

    ``workloads`` and ``tiers`` are lists of names from ``WORKLOADS`` and ``TIERS``, None meaning
    all. ``inline`` is always run, as the reference; a workload runs on the tiers that can take
    it (``async-io`` only on ``inline`` and ``loop``, the others on every tier but ``loop``).
    Every tier of a workload is timed once a round, in a shuffled order (from ``seed``), for
    ``ROUNDS`` rounds, and more while an interval is wide (``lecture31.tiers.rounds``):
    ``seconds`` is the median per batch, ``speedup`` the median of the rounds' speedups
    (inline's batch over the tier's in the same round), ``low``-``high`` its 95% bootstrap
    interval over rounds. ``idealSpeedup`` is a bound no row's whole interval exceeds (None
    where none is known). ``workers`` defaults to the usable cores (at least 2) and sizes each
    pool.
    """
    workloadNames = _checkNames(workloads, WORKLOADS, "workloads")
    tierNames = _checkNames(tiers, TIERS, "tiers")
    checkCount(tasks, "tasks", maximum=MAX_TASKS)
    workers = (
        defaultWorkers() if workers is None else checkCount(workers, "workers", maximum=MAX_WORKERS)
    )
    checkSeed(seed)
    matrix = await runMatrix(
        [WORKLOADS[name] for name in workloadNames],
        tierNames,
        tasks=tasks,
        workers=workers,
        seed=seed,
    )
    return matrix.rows
