"""The CPU tier measured: ``python -m lecture31.cluster --overhead | --pipeline | --model``.

overheads(kinds)     a warm no-op's round trip, alone and in a burst of 64, per executor
pipelineTimes()      runCorrectPipeline(480) on the process pool and on dask, one task per
                     reading and batched (the batched stage swapped in for this only)
--model              the scale-out model (``scaleout``) from a measured or given o and c;
                     ``--write DIR`` writes DIR/cluster-model.md and .png, atomically (each a
                     regular file or a symlink to one; its mode is kept)

Exit status (every failure one line on stderr, never a traceback):
    0    measured (and written)
    1    a fault: no dask scheduler at the address (a refused port is known at once), a worker
         died, or stdout lost: closed early (``| head -1``, quietly) or not writable
    2    bad input: an option (--overhead-ms / --task-ms beyond a day), a malformed --scheduler
         or $LECTURE31_DASK_SCHEDULER, a --write file that is not a writable regular file
  130    Ctrl-C          143  SIGTERM
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from concurrent.futures import BrokenExecutor, Executor, ThreadPoolExecutor
from pathlib import Path
from typing import NoReturn
from unittest import mock

from .._runtime.atomicwrite import checkTarget, writeAtomically
from .._runtime.batching import mapInBatches, measureOverhead
from .._runtime.checks import checkCount, checkSeconds
from .._runtime.dispatch import Dispatch
from .._runtime.lifecycle import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, runMain
from .._runtime.stdout import StdoutLost, flushStdout, guardedStdout
from ..cluster import DASK_SCHEDULER_ENV, KINDS, cpuExecutor
from ..pipeline import normalizeReading, runCorrectPipeline, staged
from ..pipeline.bounds import normalizeSeconds
from . import scaleout

__all__ = ("MEASURE_REPEATS", "PIPELINE_SENSORS", "main", "overheads", "pipelineTimes")

PIPELINE_SENSORS = 480  # the scale: ~1 ms of work per reading, 480 tasks
MEASURE_REPEATS = 3  # least disturbed of 3 (a neighbour's burst only adds time)
PROG = "python -m lecture31.cluster"


async def overheads(kinds: list[str], address: str | None, workers: int) -> dict[str, dict]:
    """Per-task overhead of each executor, warm: the least disturbed of MEASURE_REPEATS."""
    found = {}
    for kind in kinds:
        async with contextlib.AsyncExitStack() as stack:
            executor: Executor
            if kind == "thread":
                executor = stack.enter_context(
                    ThreadPoolExecutor(workers, thread_name_prefix="overhead")
                )
            else:
                where = address if kind == "dask" else None
                executor = await stack.enter_async_context(
                    cpuExecutor(kind, address=where, workers=workers)
                )
            runs = [await measureOverhead(executor) for _ in range(MEASURE_REPEATS)]
        found[kind] = {key: min(run[key] for run in runs) for key in runs[0]}
    return found


async def pipelineTimes(address: str | None, workers: int, seed: int) -> list[dict]:
    """runCorrectPipeline(480) on each kind, one task per reading and batched (the batched
    stage swapped in for this measurement only)."""

    async def batchedNormalize(processes: Dispatch, readings: list[dict]) -> list[dict]:
        return await mapInBatches(processes.executor, normalizeReading, readings)

    rows = []
    for kind in KINDS:
        async with cpuExecutor(
            kind, address=address if kind == "dask" else None, workers=workers
        ) as executor:
            for mode in ("per reading", "batched"):
                patch = (
                    mock.patch.object(staged, "_normalizeAll", batchedNormalize)
                    if mode == "batched"
                    else contextlib.nullcontext()
                )
                times = []
                with patch:
                    for _ in range(MEASURE_REPEATS + 1):  # the first round warms caches
                        start = time.perf_counter()
                        await runCorrectPipeline(PIPELINE_SENSORS, processPool=executor, seed=seed)
                        times.append(time.perf_counter() - start)
                rows.append({"kind": kind, "mode": mode, "seconds": min(times[1:])})
    return rows


# Given o and c beyond this are no model of anything, and their ratio overflows a float.
_MAX_MS = 86_400_000.0  # a day

EXIT_FAULT = 1  # no scheduler at the address, a worker died, or stdout lost
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Measure the CPU tier's per-task overhead and print the scale-out model.",
        epilog="exit status: 0 measured (and written); 1 a fault: no dask scheduler at the "
        "address (a refused port at once), a worker died, stdout closed early (quietly) or "
        "not writable; 2 bad input (an option, a scheduler address, a --write target that is "
        "not a writable regular file), one line each; 130 Ctrl-C; 143 SIGTERM",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--overhead", action="store_true", help="no-op round trip per executor")
    what.add_argument(
        "--pipeline", action="store_true", help="runCorrectPipeline(480): process vs dask"
    )
    what.add_argument("--model", action="store_true", help="the scale-out model (a MODEL)")
    parser.add_argument(
        "--scheduler",
        default=None,
        help=f"dask scheduler address (tcp://HOST:PORT; default: ${DASK_SCHEDULER_ENV}, "
        "else a local cluster)",
    )
    parser.add_argument("--workers", type=int, default=2, help="workers per executor (2)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--overhead-ms", type=float, help="model: use this o, do not measure")
    parser.add_argument("--task-ms", type=float, help="model: use this c, do not measure")
    parser.add_argument(
        "--write", metavar="DIR", help="model: also write DIR/cluster-model.md and .png"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """0: measured (and written); 1: a fault; 2: bad input; 130 / 143: Ctrl-C / SIGTERM."""
    parser = _parser()
    args = parser.parse_args(argv)
    # Bad input, checked before anything is measured or started: one line, SystemExit(2).
    try:
        checkCount(args.workers, "--workers")
        for name, value in (("--overhead-ms", args.overhead_ms), ("--task-ms", args.task_ms)):
            if value is not None:
                checkSeconds(value, name)
                if value > _MAX_MS:
                    raise ValueError(
                        f"{name} must be at most {_MAX_MS:,.0f} (a day), got {value!r}"
                    )
    except ValueError as exc:
        _badInput(parser, str(exc))
    if args.write is not None:
        if not os.path.isdir(args.write):
            _badInput(parser, f"--write: {args.write} is not a directory")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            _badInput(
                parser, "--write draws a plot and needs matplotlib: pip install 'lecture31[plot]'"
            )
    try:
        if args.overhead or args.pipeline or args.overhead_ms is None:
            cpuExecutor("dask", address=args.scheduler)  # checks the address, opens nothing
    except ValueError as exc:  # from --scheduler, or from the environment (the message says)
        _badInput(parser, f"--scheduler: {exc}" if args.scheduler is not None else str(exc))
    try:
        for target in _modelFiles(args.write):
            checkTarget(target)
    except OSError as exc:
        _badInput(parser, f"--write: cannot write {exc.filename}: {exc.strerror or exc}")
    try:
        with guardedStdout():
            runMain(_measure(args))
    except OverflowError as exc:
        return _fail(f"the model overflows with these --overhead-ms and --task-ms ({exc})")
    except _WriteFailed as exc:
        return _fail(str(exc))
    except (ConnectionError, BrokenExecutor) as exc:
        return _fail(f"{type(exc).__name__}: {exc}", EXIT_FAULT)
    except StdoutLost as lost:
        return EXIT_FAULT if lost.closed else _fail(str(lost), EXIT_FAULT)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)
    except Terminated:
        return _fail("terminated (SIGTERM); child processes shut down", EXIT_TERMINATED)
    return 0


class _WriteFailed(Exception):
    """--write could not write its files (none was changed): the message names the file."""


def _badInput(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    """One line (not argparse's usage block too) and SystemExit(2), as argparse's own errors."""
    parser.exit(EXIT_USAGE, f"{PROG}: error: {message}\n")


def _fail(message: str, status: int = EXIT_USAGE) -> int:
    print(f"{PROG}: {'error: ' if status == EXIT_USAGE else ''}{message}", file=sys.stderr)
    return status


def _modelFiles(directory: str | None) -> list[Path]:
    if directory is None:
        return []
    return [Path(directory) / "cluster-model.md", Path(directory) / "cluster-model.png"]


async def _measure(args: argparse.Namespace) -> None:
    """What main asked for, printed (and written), on one event loop."""
    if args.overhead:
        found = await overheads(["thread", "process", "dask"], args.scheduler, args.workers)
        print(
            f"per-task overhead, no-op, warm, {args.workers} workers (least of {MEASURE_REPEATS}):"
        )
        print("executor   round trip (1 task alone)   per task (burst of 64)")
        for kind, row in found.items():
            print(
                f"{kind:<9}  {row['roundTripSeconds'] * 1e3:>20.3f} ms"
                f"   {row['perTaskSeconds'] * 1e3:>17.3f} ms"
            )
        flushStdout()
        return
    if args.pipeline:
        rows = await pipelineTimes(args.scheduler, args.workers, args.seed)
        print(
            f"runCorrectPipeline({PIPELINE_SENSORS}), {args.workers} workers,"
            f" least of {MEASURE_REPEATS} warm runs:"
        )
        reference = rows[0]["seconds"]
        for row in rows:
            print(
                f"{row['kind']:<8} {row['mode']:<12} {row['seconds']:7.3f} s"
                f"   {reference / row['seconds']:5.2f}x of process per reading"
            )
        flushStdout()
        return
    overhead = (
        args.overhead_ms / 1e3
        if args.overhead_ms is not None
        else (await overheads(["dask"], args.scheduler, args.workers))["dask"]["perTaskSeconds"]
    )
    cost = args.task_ms / 1e3 if args.task_ms is not None else normalizeSeconds()
    rows = scaleout.modelRows(overheadSeconds=overhead, taskSeconds=cost)
    table = scaleout.renderModel(rows, overheadSeconds=overhead, taskSeconds=cost)
    print(table)
    flushStdout()
    if args.write:
        markdown, image = _modelFiles(args.write)
        try:
            writeAtomically(
                [
                    (markdown, lambda tmp: tmp.write_text(table + "\n")),
                    (
                        image,
                        lambda tmp: scaleout.plotModel(
                            rows, tmp, overheadSeconds=overhead, taskSeconds=cost
                        ),
                    ),
                ]
            )
        except OSError as exc:
            where = exc.filename or args.write
            raise _WriteFailed(f"cannot write {where}: {exc.strerror or exc}") from exc
        print(f"wrote {markdown} and {image}")
        flushStdout()
