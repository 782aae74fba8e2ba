"""The command line: ``python -m lecture31 [tiered|fanout|breaker|pipeline|tiers|hedging|all]``.

Exit statuses: ``EXIT_STATUSES`` (every failure is one line on stderr, never a traceback;
never 0 after lost output); ``--help`` and docs/reliability.md print that table.
On Ctrl-C and SIGTERM the run is cancelled, so every pool (and a local dask cluster) is shut
down and every worker has exited before the one-line message (``lecture31._runtime.lifecycle``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import sys
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import BrokenExecutor, Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import breaker, fanout, pipeline, tiered, tiers
from ._runtime.atomicwrite import checkTarget
from ._runtime.checks import MAX_NESTING, UserInputError, checkNesting
from ._runtime.exits import exitEpilog
from ._runtime.lifecycle import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, runMain
from ._runtime.stdout import StdoutLost, flushStdout, guardedStdout, silenceStdout
from .fanout import hedging
from .tiers import WorkloadError
from .tiers.show import DEFAULT_TIME_LIMIT
from .tiers.userworkload import WorkloadTimedOut


@dataclass(frozen=True)
class Exercise:
    """One command of the command line: its title, its ``main`` and what that main takes."""

    title: str
    main: Callable[..., Awaitable[None]]
    takesProcessPool: bool = False  # main(processPool=): --cpu applies
    homework: bool = True  # run by ``all``


# Every exercise, registered by name (in the order ``all`` runs them).
EXERCISES: dict[str, Exercise] = {
    "tiered": Exercise(
        "Exercise 1: three-tier request handler (asyncio + threads + processes)",
        tiered.main,
        takesProcessPool=True,
    ),
    "fanout": Exercise("Exercise 2: fan-out query with adaptive timeout", fanout.main),
    "breaker": Exercise("Exercise 3: circuit breaker against a flaky async service", breaker.main),
    "pipeline": Exercise(
        "Exercise 4: mixed-architecture sensor pipeline benchmark",
        pipeline.main,
        takesProcessPool=True,
    ),
    "tiers": Exercise(
        "Beyond the homework: the same tasks on every tier (run it by name; not in all)",
        tiers.main,
        takesProcessPool=True,
        homework=False,
    ),
    "hedging": Exercise(
        "Beyond Exercise 2: hedged and tied requests, a virtual-time study (by name)",
        hedging.main,
        homework=False,
    ),
}
HOMEWORK = tuple(name for name, exercise in EXERCISES.items() if exercise.homework)
CPU_EXERCISES = tuple(name for name, exercise in EXERCISES.items() if exercise.takesProcessPool)
# The options only the hedging study takes, and its keyword for each.
HEDGING_OPTIONS = {
    "fanOuts": "--fan-outs",
    "jsonPath": "--json",
    "plotPath": "--plot",
    "markdownPath": "--markdown",
}
CPU_KINDS = ("process", "dask")

EXIT_BROKEN_PIPE = 1  # what the Python docs' SIGPIPE note does
EXIT_OUTPUT_LOST = 1  # stdout could not be written (a full disk): said in one line
EXIT_USAGE = 2  # argparse's own
EXIT_FAULT = 1  # a worker died, a cluster could not be reached, a workload hung: one line

# How long a run that timed out waits for the threads still running the user's function before
# it exits without them (a thread cannot be ended, and the interpreter would wait forever).
STUCK_THREAD_GRACE_SECONDS = 1.0


# What each status means, once: the --help epilog and docs/reliability.md's row are this table.
EXIT_STATUSES = {
    0: "done",
    EXIT_FAULT: "a fault: a worker died, a --workload batch (or its module's import) overran "
    "--timeout, no dask scheduler at the address (a refused port or unknown host is known at "
    "once; silence is waited for up to 30 s), or the output was lost (stdout closed early: "
    "quiet; not writable, say a full disk: one line)",
    EXIT_USAGE: "usage error: a bad option, a malformed --scheduler or $LECTURE31_DASK_SCHEDULER "
    "address, a --workload that cannot run on every tier or that raised, at import too (SystemExit "
    f"and KeyboardInterrupt included), --args nested over {MAX_NESTING} levels",
    EXIT_INTERRUPTED: "Ctrl-C (one line)",
    EXIT_TERMINATED: "SIGTERM",
}


class _CommandError(Exception):
    """A problem the user can fix, reported as one line and exit status 2."""


class _TimedOut(Exception):
    """A ``--workload`` batch overran ``--timeout``: one line and exit status 1."""

    def __init__(self, message: str, stuckThreads: tuple[threading.Thread, ...]) -> None:
        super().__init__(message)
        self.stuckThreads = stuckThreads


@dataclass(frozen=True)
class _Plan:
    names: tuple[str, ...]
    seed: int | None
    cpu: str | None = None
    scheduler: str | None = None
    workload: str | None = None
    workloadArgs: Any = None
    hasArgs: bool = False
    timeLimit: float | None = None
    hedging: tuple[tuple[str, Any], ...] = ()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lecture31",
        description="Run Lecture 31's exercises and print what they measure.",
        epilog="\n".join(f"  {name:<9} {ex.title}" for name, ex in EXERCISES.items())
        + "\n\n"
        + exitEpilog(EXIT_STATUSES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "exercise",
        nargs="?",
        default="all",
        choices=[*EXERCISES, "all"],
        help="which exercise to run (default: all four homework exercises, in order)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed every random draw, so a run can be repeated exactly",
    )
    parser.add_argument(
        "--cpu",
        choices=CPU_KINDS,
        default=None,
        help="executor for the CPU tier (tiered, pipeline, tiers): a process pool, or dask",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="with --cpu dask: the scheduler, e.g. tcp://HOST:8786"
        " (default: $LECTURE31_DASK_SCHEDULER, else a local cluster)",
    )
    parser.add_argument(
        "--workload",
        metavar="MODULE:FUNCTION",
        default=None,
        help="tiers only: your own picklable function, e.g. package.module:function",
    )
    parser.add_argument(
        "--args",
        dest="workloadArgs",
        metavar="JSON",
        default=None,
        help="tiers only, with --workload: the function's arguments as JSON",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_seconds,
        default=None,
        help="tiers only: give up (exit 1) when one batch of a workload takes longer "
        f"(default: {DEFAULT_TIME_LIMIT:g})",
    )
    parser.add_argument(
        "--fan-outs",
        dest="fanOuts",
        metavar="N",
        type=_count,
        default=None,
        help="hedging only: fan-outs measured at each (model, policy, load) point",
    )
    parser.add_argument(
        "--json",
        dest="jsonPath",
        metavar="PATH",
        default=None,
        help='hedging only: also write the rows as {"rows": [...]} to PATH (atomically)',
    )
    parser.add_argument(
        "--plot",
        dest="plotPath",
        metavar="PATH",
        default=None,
        help="hedging only: also plot the percentiles against load to PATH (PNG; the plot extra)",
    )
    parser.add_argument(
        "--markdown",
        dest="markdownPath",
        metavar="PATH",
        default=None,
        help="hedging only: also write what the study found, a markdown page, to PATH",
    )
    return parser


def _count(text: str) -> int:
    """``--fan-outs``'s value: a whole number >= 1 (argparse reports it in one line)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def _seconds(text: str) -> float:
    """``--timeout``'s value: a finite number of seconds > 0 (argparse reports it in one line)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def _plan(parser: argparse.ArgumentParser, args: argparse.Namespace) -> _Plan:
    """Check the options against each other; usage errors exit 2 through ``parser.error``."""
    names = tuple(HOMEWORK) if args.exercise == "all" else (args.exercise,)
    if args.cpu is not None and not set(names) & set(CPU_EXERCISES):
        parser.error(
            f"--cpu applies to the exercises with a process pool ({', '.join(CPU_EXERCISES)}),"
            f" not {args.exercise!r}"
        )
    if args.scheduler is not None and args.cpu != "dask":
        parser.error("--scheduler needs --cpu dask")
    usesWorkload = args.workload is not None or args.workloadArgs is not None
    if usesWorkload and args.exercise != "tiers":
        parser.error(f"--workload and --args apply to tiers only, not {args.exercise!r}")
    if args.workloadArgs is not None and args.workload is None:
        parser.error("--args needs --workload")
    if args.timeout is not None and args.exercise != "tiers":
        parser.error(f"--timeout applies to tiers only, not {args.exercise!r}")
    hedging = tuple(
        (keyword, getattr(args, keyword))
        for keyword in HEDGING_OPTIONS
        if getattr(args, keyword) is not None
    )
    if hedging and args.exercise != "hedging":
        named = ", ".join(HEDGING_OPTIONS[keyword] for keyword, _ in hedging)
        parser.error(f"{named} apply to hedging only, not {args.exercise!r}")
    for keyword in ("jsonPath", "plotPath", "markdownPath"):
        target = getattr(args, keyword)
        if target is not None:
            try:
                checkTarget(Path(target))
            except OSError as exc:
                raise _CommandError(
                    f"{HEDGING_OPTIONS[keyword]} {target}: {exc.strerror or exc}"
                ) from exc
    workloadArgs = None
    if args.workloadArgs is not None:
        try:
            workloadArgs = checkNesting(json.loads(args.workloadArgs), "--args")
        except json.JSONDecodeError as exc:
            raise _CommandError(f"--args is not valid JSON ({exc}): {args.workloadArgs!r}") from exc
        except RecursionError as exc:  # deeper than the JSON decoder goes
            raise _CommandError(
                f"--args must be nested at most {MAX_NESTING} levels deep, got deeper"
            ) from exc
    return _Plan(
        names=names,
        seed=args.seed,
        cpu=args.cpu,
        scheduler=args.scheduler,
        workload=args.workload,
        workloadArgs=workloadArgs,
        hasArgs=args.workloadArgs is not None,
        timeLimit=args.timeout,
        hedging=hedging,
    )


async def _openCpuExecutor(
    stack: contextlib.AsyncExitStack, cpu: str, scheduler: str | None
) -> Executor:
    """``lecture31.cluster.cpuExecutor``, entered on ``stack`` (sync or async context manager)."""
    try:
        from .cluster import cpuExecutor

        manager = cpuExecutor(cpu, address=scheduler)
    except ImportError as exc:
        raise _CommandError(f"--cpu {cpu}: {exc}") from exc
    except ValueError as exc:  # a malformed address, before anything is started
        raise _CommandError(f"--scheduler: {exc}" if scheduler is not None else str(exc)) from exc
    try:
        if hasattr(manager, "__aenter__"):
            return await stack.enter_async_context(manager)
        return stack.enter_context(manager)
    except ImportError as exc:
        raise _CommandError(f"--cpu {cpu}: {exc}") from exc


async def _runExercises(plan: _Plan) -> None:
    task = asyncio.current_task()
    assert task is not None, "_runExercises runs inside a task"
    async with contextlib.AsyncExitStack() as stack:
        processPool = (
            await _openCpuExecutor(stack, plan.cpu, plan.scheduler)
            if plan.cpu is not None
            else None
        )
        for name in plan.names:
            if task.cancelling():
                # An exercise swallowed the cancel (3.11's wait_for race): stop here all the same.
                raise asyncio.CancelledError
            exercise = EXERCISES[name]
            keywords: dict[str, Any] = {"seed": plan.seed}
            if processPool is not None and exercise.takesProcessPool:
                keywords["processPool"] = processPool
            if plan.workload is not None:
                keywords["workload"] = plan.workload
            if plan.hasArgs:
                keywords["args"] = plan.workloadArgs
            if plan.timeLimit is not None:
                keywords["timeLimit"] = plan.timeLimit
            keywords.update(plan.hedging)
            if len(plan.names) > 1:
                print(f"\n=== {exercise.title} ===")
            try:
                await exercise.main(**keywords)
            except WorkloadTimedOut as exc:
                raise _TimedOut(str(exc), exc.stuckThreads) from exc
            except WorkloadError as exc:
                raise _CommandError(str(exc)) from exc
    # Inside the run, so a closed pipe is found while the pools are still shut in order.
    flushStdout()


def _exitPastStuckThreads(threads: tuple[threading.Thread, ...]) -> None:
    """Threads still in the user's function after a time-out cannot be ended, and the
    interpreter would wait for them at exit: give them a moment, then exit without them (the
    run's pools are already shut down and its process workers ended)."""
    for thread in threads:
        thread.join(STUCK_THREAD_GRACE_SECONDS / max(1, len(threads)))
    if any(thread.is_alive() and not thread.daemon for thread in threads):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_FAULT)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen exercises; return the exit status (see the module docstring)."""
    parser = _parser()
    try:
        plan = _plan(parser, parser.parse_args(argv))
        with guardedStdout():
            runMain(_runExercises(plan))
    except (_CommandError, UserInputError) as exc:
        print(f"lecture31: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except _TimedOut as exc:
        print(f"lecture31: {exc}", file=sys.stderr)
        _exitPastStuckThreads(exc.stuckThreads)
        return EXIT_FAULT
    except KeyboardInterrupt:
        print("lecture31: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("lecture31: terminated (SIGTERM); child processes shut down", file=sys.stderr)
        return EXIT_TERMINATED
    except StdoutLost as lost:
        if lost.closed:
            return EXIT_BROKEN_PIPE
        print(f"lecture31: {lost}", file=sys.stderr)
        return EXIT_OUTPUT_LOST
    except BrokenPipeError:
        silenceStdout()
        return EXIT_BROKEN_PIPE
    except (BrokenExecutor, ConnectionError) as exc:
        # A fault, not a bug: the message already names the stage or the address.
        print(f"lecture31: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAULT
    return 0


if __name__ == "__main__":
    sys.exit(main())
