"""The tier matrix's workloads, and how one batch of them runs on one tier.

    a Workload: fn (module level, picklable) + one seeded input per task + what kind of work it is
        |
        |  runBatch(workload, tier, inputs, executor)     every task's result, in task order
        +--> inline     for each input: fn(*input)                  (awaited, if fn is async)
        +--> loop       TaskGroup of fn(*input)                     (coroutine functions only)
        +--> threads    gather(loop.run_in_executor(threadPool, fn, *input) ...)
        +--> processes  gather(loop.run_in_executor(processPool, fn, *input) ...)
        '--> dask, ...  any other Executor: the same call shape

The kind says what a tier can buy (``idealSpeedup``): waiting overlaps on as many workers as
there are, CPU work only up to the machine's parallel scaling limit, which is measured, not read
off the core count (``ScalingProbe``), and GIL-bound CPU work not at all on threads.
"""

from __future__ import annotations

import asyncio
import datetime
import enum
import functools
import inspect
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._runtime.dispatch import Dispatch
from .._runtime.machine import gilEnabled
from .._runtime.seeding import derivedRng
from ..tiered import parseCsvChunk

__all__ = (
    "BUILTIN_WORKLOADS",
    "CPU_PYTHON_ROUNDS",
    "Kind",
    "ScalingProbe",
    "Workload",
    "idealSpeedup",
    "measureScalingLimit",
    "runBatch",
)


class Kind(enum.Enum):
    """What a workload spends its time on, which decides what a tier can buy it."""

    PYTHON_CPU = "Python CPU work (holds the GIL)"
    NATIVE_CPU = "native CPU work (releases the GIL)"
    WAITING = "waiting (blocking sleep or I/O; releases the GIL)"
    ASYNC = "waiting in a coroutine (asyncio)"
    UNKNOWN = "a user's function (kind not known)"


# Sizes chosen so one task costs ~10-30 ms on a 2-core VM, enough that dispatch (~0.1 ms to a
# thread, ~0.5 ms to a process) does not dominate. `python -m lecture31 tiers` prints the
# inline seconds, i.e. tasks x the per-task cost, on the machine it runs on.
CPU_PYTHON_ROUNDS = 100_000
CPU_NUMPY_SIZE = 1_000_000
WAIT_SECONDS = 0.02
# The homework's own chunk: 20 records (its parse sleeps 0.1 ms per record: ~4 ms a chunk).
PARSE_RECORDS = 20


def cpuPython(start: int, rounds: int = CPU_PYTHON_ROUNDS) -> int:
    """Pure-Python integer arithmetic (a linear congruential walk): holds the GIL throughout."""
    x = start
    total = 0
    for _ in range(rounds):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        total ^= x
    return total


def cpuPythonRepeated(start: int, times: int) -> list[int]:
    """``cpuPython`` ``times`` times in a row, in one worker: the calibration's serial run."""
    return [cpuPython(start) for _ in range(times)]


def cpuNumpy(seed: int, size: int = CPU_NUMPY_SIZE) -> tuple[float, int]:
    """Sort a seeded array of uniform floats; numpy drops the GIL inside the sort (no BLAS).

    Returns the median element and how many elements are below 0.5, as Python numbers, so
    results compare exactly across processes.
    """
    values = np.random.default_rng(seed).random(size)
    values.sort()
    return float(values[size // 2]), int(np.searchsorted(values, 0.5))


def blockingIo(token: int, seconds: float = WAIT_SECONDS) -> int:
    """A blocking call that only waits (``time.sleep`` releases the GIL); returns its input."""
    time.sleep(seconds)
    return token


async def asyncIo(token: int, seconds: float = WAIT_SECONDS) -> int:
    """The same wait as ``blockingIo``, as a coroutine: it belongs on the event loop itself."""
    await asyncio.sleep(seconds)
    return token


def _token(rng: random.Random | None) -> int:
    return (rng or random).randrange(2**31)


def _chunk(rng: random.Random | None) -> list[str]:
    """The homework's chunk: PARSE_RECORDS lines like "1,45.3,2024-01-01"."""
    draw = rng or random
    first = datetime.date(2024, 1, 1)
    return [
        f"{index + 1},{draw.uniform(0.0, 100.0):.1f},"
        f"{first + datetime.timedelta(days=draw.randrange(366))}"
        for index in range(PARSE_RECORDS)
    ]


@dataclass(frozen=True)
class Workload:
    """One kind of task: ``fn(*inputFor(rng))`` per task, where every task's rng is seeded."""

    name: str
    fn: Callable[..., object]
    kind: Kind
    description: str
    # rng -> the positional arguments of one task (module random when the run is unseeded).
    inputFor: Callable[[random.Random | None], tuple] = lambda rng: ()
    # Keyword arguments given to every task (a user's --args object).
    keywords: tuple[tuple[str, object], ...] = ()
    # A built-in workload is pure, so a different result on some tier is a bug, not noise.
    deterministic: bool = True

    @property
    def isAsync(self) -> bool:
        return inspect.iscoroutinefunction(self.fn)

    def inputs(self, tasks: int, seed: int | None) -> list[tuple]:
        """Each task's arguments, derived from ``seed`` and the task's own index."""
        return [self.inputFor(derivedRng(seed, "tiers", self.name, task)) for task in range(tasks)]

    def call(self) -> Callable[..., object]:
        """What a tier calls: ``fn`` with the keyword arguments bound (still picklable)."""
        return functools.partial(self.fn, **dict(self.keywords)) if self.keywords else self.fn


BUILTIN_WORKLOADS = (
    Workload(
        "cpu-python",
        cpuPython,
        Kind.PYTHON_CPU,
        f"pure-Python integer arithmetic, {CPU_PYTHON_ROUNDS:,} rounds a task",
        inputFor=lambda rng: (_token(rng),),
    ),
    Workload(
        "cpu-numpy",
        cpuNumpy,
        Kind.NATIVE_CPU,
        f"numpy sort of {CPU_NUMPY_SIZE:,} seeded floats a task",
        inputFor=lambda rng: (_token(rng),),
    ),
    Workload(
        "blocking-io",
        blockingIo,
        Kind.WAITING,
        f"time.sleep({WAIT_SECONDS}) a task",
        inputFor=lambda rng: (_token(rng),),
    ),
    Workload(
        "async-io",
        asyncIo,
        Kind.ASYNC,
        f"await asyncio.sleep({WAIT_SECONDS}) a task",
        inputFor=lambda rng: (_token(rng),),
    ),
    Workload(
        "homework-parse",
        parseCsvChunk,
        Kind.WAITING,
        f"the homework's parseCsvChunk of {PARSE_RECORDS} records (it sleeps 0.1 ms a record)",
        inputFor=lambda rng: (_chunk(rng),),
    ),
)


def _callWith(fn: Callable[..., Any], args: tuple) -> Any:
    """Runs in a worker: one task's call (module level, so a batch of them can be pickled)."""
    return fn(*args)


async def runBatch(workload: Workload, tier: str, inputs: Sequence[tuple], executor=None) -> list:
    """Run one task per input on ``tier``; return the results in input order.

    ``executor`` is required for every tier but ``inline`` and ``loop``. The first task error is
    raised after every task has finished (or been cancelled), so none is left running or
    unretrieved.
    """
    fn: Callable[..., Any] = workload.call()
    if tier == "inline":
        if workload.isAsync:
            return [await fn(*args) for args in inputs]
        # Deliberately blocking the loop's own thread: this is the no-concurrency reference.
        return [fn(*args) for args in inputs]
    if tier == "loop":
        if not workload.isAsync:
            raise ValueError(f"tier 'loop' runs coroutine functions only, not {workload.name!r}")
        async with asyncio.TaskGroup() as group:
            tasks: list[asyncio.Task] = [group.create_task(fn(*args)) for args in inputs]
        return [task.result() for task in tasks]
    if workload.isAsync:
        raise ValueError(f"{workload.name!r} is a coroutine function: it runs inline or on 'loop'")
    if not isinstance(executor, Executor):
        raise TypeError(f"tier {tier!r} needs an Executor, got {executor!r}")
    # One task per input on the standard pools, batches on a cluster (Dispatch decides).
    return await Dispatch(executor).map(functools.partial(_callWith, fn), inputs)


class ScalingProbe:
    """How much faster ``parallel`` CPU tasks run at once on a process pool than one by one.

    The same pure task (``cpuPython``), ``parallel`` at once (one per worker: the pool needs at
    least that many) against ``parallel`` in a row in one worker, so both go through the pool
    once per task and the ratio is the machine's, not the dispatch's. vCPUs that share a host
    give well under the core count. Each ``measureRound`` adds one of each; the limit uses the
    best of each so far (load only ever adds time), so rounds can be spread over a run, next to
    the rows they bound. Capped at ``parallel``: more is noise.
    """

    def __init__(self, processPool: Executor, parallel: int) -> None:
        self.processPool = processPool
        self.parallel = parallel
        self.serialSeconds = float("inf")
        self.togetherSeconds = float("inf")

    async def measureRound(self) -> None:
        if self.parallel < 2:
            return
        loop = asyncio.get_running_loop()
        start = 12345
        began = time.perf_counter()
        await loop.run_in_executor(self.processPool, cpuPythonRepeated, start, self.parallel)
        self.serialSeconds = min(self.serialSeconds, time.perf_counter() - began)
        began = time.perf_counter()
        await asyncio.gather(
            *(
                loop.run_in_executor(self.processPool, cpuPython, start)
                for _ in range(self.parallel)
            )
        )
        self.togetherSeconds = min(self.togetherSeconds, time.perf_counter() - began)

    @property
    def limit(self) -> float:
        """The measured limit; 1.0 for one task at a time, or before any round."""
        if self.parallel < 2 or self.togetherSeconds == float("inf"):
            return 1.0
        return min(float(self.parallel), self.serialSeconds / self.togetherSeconds)


async def measureScalingLimit(processPool: Executor, parallel: int, *, rounds: int = 5) -> float:
    """``ScalingProbe``'s limit after ``rounds`` rounds in a row."""
    probe = ScalingProbe(processPool, parallel)
    for _ in range(rounds):
        await probe.measureRound()
    return probe.limit


# Tiers whose workers run Python code without sharing one GIL.
_SEPARATE_INTERPRETER_TIERS = frozenset({"processes", "dask"})


def idealSpeedup(
    kind: Kind, tier: str, *, tasks: int, workers: int, scalingLimit: float
) -> float | None:
    """The best speedup over ``inline`` that ``tier`` can give this kind of work.

    Waiting overlaps fully: min(tasks, workers). CPU work: the measured ``scalingLimit`` (at
    min(tasks, workers, cores) tasks at once) on a tier free of the GIL, and 1.0 for Python CPU
    work on threads while the GIL is on. None when the kind is not known (a user's function).
    """
    if tier == "inline":
        return 1.0
    if kind is Kind.UNKNOWN:
        return None
    if kind is Kind.ASYNC:
        return float(tasks) if tier == "loop" else None
    if kind is Kind.WAITING:
        return float(min(tasks, workers))
    if kind is Kind.PYTHON_CPU and tier not in _SEPARATE_INTERPRETER_TIERS and gilEnabled():
        return 1.0
    return scalingLimit
