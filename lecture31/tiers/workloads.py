"""The tier matrix's workloads, and how one batch of them runs on one tier.

    a Workload: fn (module level, picklable) + one seeded input per task + what kind of work it is
        |
        |  runBatch(workload, tier, inputs, executor)     every task's result, in task order
        +--> inline     for each input: fn(*input)                  (awaited, if fn is async)
        |               a user's plain function: the same, in one helper thread, so a time
        |               limit can stop waiting for it
        +--> loop       TaskGroup of fn(*input)                     (coroutine functions only)
        +--> threads    gather(loop.run_in_executor(threadPool, fn, *input) ...)
        +--> processes  gather(loop.run_in_executor(processPool, fn, *input) ...)
        '--> dask, ...  any other Executor: the same call shape

The kind says what a tier can buy (``idealSpeedup``), a bound from counting alone: waiting
overlaps on as many workers as there are; CPU work off the GIL also needs a core per task; Python
CPU work on threads gains nothing while there is a GIL. What this machine's cores deliver is a
measurement, not a bound (``lecture31.tiers.scaling``).
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
from .._runtime.helperthread import inHelperThread
from .._runtime.machine import gilEnabled
from .._runtime.seeding import derivedRng
from ..tiered import parseCsvChunk

__all__ = (
    "BUILTIN_WORKLOADS",
    "CPU_PYTHON_ROUNDS",
    "Escaped",
    "Kind",
    "Workload",
    "cpuPython",
    "cpuPythonRepeated",
    "idealSpeedup",
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

    def call(self) -> Callable[..., Any]:
        """What a tier calls: ``fn`` with the keyword arguments bound (still picklable).

        A user's function is contained: a ``SystemExit`` or ``KeyboardInterrupt`` it raises
        comes back as ``Escaped``, an ordinary error, on every tier (it would otherwise end the
        event loop, or the command line, with no word of what happened).
        """
        fn: Callable[..., Any] = (
            functools.partial(self.fn, **dict(self.keywords)) if self.keywords else self.fn
        )
        if self.kind is Kind.UNKNOWN:
            return functools.partial(_containedAsync if self.isAsync else _contained, fn)
        return fn


class Escaped(Exception):
    """Raised on a tier, in place of a ``BaseException`` that is not an ``Exception`` (such as
    ``SystemExit`` or ``KeyboardInterrupt``) raised by a user's function: reported, not obeyed.

    Module level with plain ``args``, so it comes back from a process worker too.
    """

    def __init__(self, typeName: str, text: str) -> None:
        super().__init__(typeName, text)
        self.typeName = typeName
        self.text = text

    def __str__(self) -> str:
        return self.text


def _contained(fn: Callable[..., Any], *args: Any) -> Any:
    """Runs where the tier runs: ``fn(*args)``, with an escaping BaseException made ordinary."""
    try:
        return fn(*args)
    except Exception:
        raise
    except BaseException as exc:
        raise Escaped(type(exc).__name__, str(exc)) from None


async def _containedAsync(fn: Callable[..., Any], *args: Any) -> Any:
    """``await fn(*args)``, the same; cancellation (ours) still propagates as itself."""
    try:
        return await fn(*args)
    except (Exception, asyncio.CancelledError):
        raise
    except BaseException as exc:
        raise Escaped(type(exc).__name__, str(exc)) from None


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


async def runBatch(
    workload: Workload, tier: str, inputs: Sequence[tuple], executor=None, *, repeats: int = 1
) -> list:
    """Run one task per input on ``tier``, ``repeats`` times in a row; return the last
    repetition's results, in input order.

    ``executor`` is required for every tier but ``inline`` and ``loop``. The first task error is
    raised after every task has finished (or been cancelled), so none is left running or
    unretrieved.
    """
    fn = workload.call()
    results: list = []
    if tier == "inline":
        if workload.isAsync:
            for _ in range(repeats):
                results = [await fn(*args) for args in inputs]
            return results
        if workload.kind is Kind.UNKNOWN:
            # A user's function may never return: one helper thread runs the tasks one after
            # another, so the loop stays free to stop waiting (a daemon: nothing waits for it).
            def inline() -> list:
                done: list = []
                for _ in range(repeats):
                    done = [fn(*args) for args in inputs]
                return done

            return await inHelperThread(inline, "lecture31-tiers-inline", daemon=True)
        # Deliberately blocking the loop's own thread: this is the no-concurrency reference.
        for _ in range(repeats):
            results = [fn(*args) for args in inputs]
        return results
    if tier == "loop":
        if not workload.isAsync:
            raise ValueError(f"tier 'loop' runs coroutine functions only, not {workload.name!r}")
        for _ in range(repeats):
            try:
                async with asyncio.TaskGroup() as group:
                    tasks: list[asyncio.Task] = [group.create_task(fn(*args)) for args in inputs]
            except ExceptionGroup as failed:
                # The first failure, as the executor tiers raise it; the rest were cancelled.
                raise failed.exceptions[0] from None
            results = [task.result() for task in tasks]
        return results
    if workload.isAsync:
        raise ValueError(f"{workload.name!r} is a coroutine function: it runs inline or on 'loop'")
    if not isinstance(executor, Executor):
        raise TypeError(f"tier {tier!r} needs an Executor, got {executor!r}")
    # One task per input on the standard pools, batches on a cluster (Dispatch decides).
    dispatch = Dispatch(executor)
    for _ in range(repeats):
        results = await dispatch.map(functools.partial(_callWith, fn), inputs)
    return results


# Tiers whose workers run Python code without sharing one GIL.
_SEPARATE_INTERPRETER_TIERS = frozenset({"processes", "dask"})
# Tiers known to run on this machine's cores (a dask scheduler may be anywhere).
_LOCAL_TIERS = frozenset({"inline", "loop", "threads", "processes"})


def idealSpeedup(kind: Kind, tier: str, *, tasks: int, workers: int, cores: int) -> float | None:
    """The most ``tier`` can speed this kind of work up over ``inline``: a bound, not a forecast.

    Waiting overlaps on every worker: min(tasks, workers) (on ``loop`` every task is a worker).
    CPU work off the GIL needs a core per task too: min(tasks, workers, cores). Python CPU work
    on threads while the GIL is on: 1.0. None when the kind is not known (a user's function) or
    the tier's cores are not (a cluster).
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
    if tier not in _LOCAL_TIERS:
        return None
    return float(min(tasks, workers, cores))
