"""Which tier? The same batch of independent tasks on each tier, timed from the event loop.

    workload (cpu-python, cpu-numpy, blocking-io, async-io, homework-parse, or yours)
      |  `tasks` seeded inputs, the same for every tier
      +--> inline     one after another on the event loop          the reference: 1.0x
      +--> loop       all at once on the event loop                coroutine functions only
      +--> threads    loop.run_in_executor(thread pool of `workers`)
      +--> processes  loop.run_in_executor(process pool of `workers`)
      '--> ...        one TIERS entry adds another Executor (dask)
      v
    one row per (workload, tier): seconds (best of rounds), speedup over inline, and the ideal
    speedup: min(tasks, workers) for waiting, the machine's measured parallel scaling limit
    for CPU work on a tier free of the GIL, 1.0 for Python CPU work on threads under the GIL.

Every tier must give the same results as inline, or the row would compare different work.
Pools are made and warmed before any timing and shut down after, also on error or cancel.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from types import MappingProxyType

from .._runtime.checks import checkCount, checkSeed
from .._runtime.machine import usableCores
from .._runtime.pools import OwnedPools, ownedPools
from .userworkload import WorkloadError
from .workloads import (
    BUILTIN_WORKLOADS,
    Kind,
    ScalingProbe,
    Workload,
    idealSpeedup,
    runBatch,
)

__all__ = ("ROUNDS", "TIERS", "WORKLOADS", "Tier", "TierContext", "defaultWorkers", "runTierMatrix")

WORKLOADS: Mapping[str, Workload] = MappingProxyType({w.name: w for w in BUILTIN_WORKLOADS})

# Each timed row is the best of this many batches: noise from other jobs only ever adds time.
ROUNDS = 3

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
# Lightest first: rows come in this order, and the verdict prefers the earliest tier within 10%
# of the fastest.
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


# Workloads whose ideal needs the measured scaling limit (a user's might compute).
_CPU_KINDS = frozenset({Kind.PYTHON_CPU, Kind.NATIVE_CPU, Kind.UNKNOWN})


@dataclass(frozen=True)
class Matrix:
    rows: list[dict]
    scalingLimit: float
    parallel: int  # how many CPU tasks at once the limit was measured at


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


async def _timeTiers(
    workload: Workload,
    tierList: Sequence[str],
    inputs: list[tuple],
    executors: dict,
    rounds: int,
    alongside: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, tuple[float, bool]]:
    """Each tier's best batch time, and whether its results equal inline's.

    Rounds go round-robin over the tiers (inline, threads, processes, inline, ...), so a burst
    of load from another job lands on every tier alike instead of on one row; ``alongside``
    (a scaling-limit round) runs once per round too, so the limit is measured in the same
    minutes as the rows it bounds.
    """
    best = dict.fromkeys(tierList, float("inf"))
    same: dict[str, bool] = {}
    for roundIndex in range(rounds):
        for tier in tierList:
            start = time.perf_counter()
            try:
                results = await runBatch(workload, tier, inputs, executors.get(tier))
            except Exception as exc:
                if workload.kind is not Kind.UNKNOWN:
                    raise  # a built-in workload failing is a bug here, not the user's
                raise WorkloadError(
                    "raised",
                    f"workload {workload.name!r} raised {type(exc).__name__}: {exc} "
                    f"(on tier {tier!r})",
                ) from exc
            best[tier] = min(best[tier], time.perf_counter() - start)
            if roundIndex == 0:
                if tier == "inline":
                    reference = results
                same[tier] = results == reference
                if not same[tier] and workload.deterministic:
                    raise RuntimeError(
                        f"workload {workload.name!r} gave different results on tier {tier!r} "
                        "than inline: the rows would not compare the same work"
                    )
        if alongside is not None:
            await alongside()
    return {tier: (best[tier], same[tier]) for tier in tierList}


async def runMatrix(
    workloads: Sequence[Workload],
    tierNames: Sequence[str],
    *,
    tasks: int,
    workers: int,
    seed: int | None,
    rounds: int = ROUNDS,
    processPool: Executor | None = None,
    onRow: Callable[[dict], None] = lambda row: None,
) -> Matrix:
    """The matrix: make and warm pools, then time every row; the scaling limit rides along."""
    plan = {workload.name: _tiersFor(workload, tierNames) for workload in workloads}
    usedTiers = list(dict.fromkeys(name for names in plan.values() for name in names))
    parallel = min(tasks, workers, usableCores())
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
        rows = []
        for workload in workloads:
            alongside = None
            if probe is not None and workload.kind in _CPU_KINDS:
                alongside = probe.measureRound
            timed = await _timeTiers(
                workload,
                plan[workload.name],
                workload.inputs(tasks, seed),
                executors,
                rounds,
                alongside,
            )
            scalingLimit = 1.0 if probe is None else probe.limit
            inlineSeconds = timed["inline"][0]
            for tier, (seconds, sameResult) in timed.items():
                row = {
                    "workload": workload.name,
                    "tier": tier,
                    "tasks": tasks,
                    "workers": {"inline": 1, "loop": tasks}.get(tier, workers),
                    "seconds": seconds,
                    "speedup": inlineSeconds / seconds,
                    "idealSpeedup": idealSpeedup(
                        workload.kind,
                        tier,
                        tasks=tasks,
                        workers=workers,
                        scalingLimit=scalingLimit,
                    ),
                    "sameResult": sameResult,
                }
                rows.append(row)
                onRow(row)
    return Matrix(rows, 1.0 if probe is None else probe.limit, parallel)


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
) -> list[dict]:
    """One row per (workload, tier): ``workload, tier, tasks, workers, seconds, speedup,
    idealSpeedup`` (and ``sameResult``).

    ``workloads`` and ``tiers`` are lists of names from ``WORKLOADS`` and ``TIERS``, None meaning
    all. ``inline`` is always run, as the reference; a workload runs on the tiers that can take
    it (``async-io`` only on ``inline`` and ``loop``, the others on every tier but ``loop``).
    ``seconds`` is the best of ``ROUNDS`` batches; ``workers`` defaults to the usable cores (at
    least 2) and sizes each pool.
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
