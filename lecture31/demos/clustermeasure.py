"""The CPU tier measured: ``python -m lecture31.cluster --overhead | --pipeline | --model``.

overheads(kinds)     a warm no-op's round trip, alone and in a burst of 64, per executor
pipelineTimes()      runCorrectPipeline(480) on the process pool and on dask, one task per
                     reading and batched (the batched stage swapped in for this only)
--model              the scale-out model (``scaleout``) from a measured or given o and c;
                     ``--write DIR`` writes DIR/cluster-model.md and .png, atomically
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from unittest import mock

from .._runtime.atomicwrite import writeAtomically
from .._runtime.batching import mapInBatches, measureOverhead
from .._runtime.checks import checkCount, checkSeconds
from .._runtime.dispatch import Dispatch
from ..cluster import KINDS, cpuExecutor
from ..pipeline import normalizeReading, runCorrectPipeline, staged
from ..pipeline.bounds import normalizeSeconds
from . import scaleout

__all__ = ("MEASURE_REPEATS", "PIPELINE_SENSORS", "main", "overheads", "pipelineTimes")

PIPELINE_SENSORS = 480  # the scale: ~1 ms of work per reading, 480 tasks
MEASURE_REPEATS = 3  # least disturbed of 3 (a neighbour's burst only adds time)


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


def main(argv: list[str] | None = None) -> int:
    """0: measured (and written); 2: a usage error."""
    parser = argparse.ArgumentParser(
        prog="python -m lecture31.cluster",
        description="Measure the CPU tier's per-task overhead and print the scale-out model.",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--overhead", action="store_true", help="no-op round trip per executor")
    what.add_argument(
        "--pipeline", action="store_true", help="runCorrectPipeline(480): process vs dask"
    )
    what.add_argument("--model", action="store_true", help="the scale-out model (a MODEL)")
    parser.add_argument("--scheduler", default=None, help="dask scheduler address (tcp://...)")
    parser.add_argument("--workers", type=int, default=2, help="workers per executor (2)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--overhead-ms", type=float, help="model: use this o, do not measure")
    parser.add_argument("--task-ms", type=float, help="model: use this c, do not measure")
    parser.add_argument(
        "--write", metavar="DIR", help="model: also write DIR/cluster-model.md and .png"
    )
    args = parser.parse_args(argv)
    try:
        checkCount(args.workers, "--workers")
        for name, value in (("--overhead-ms", args.overhead_ms), ("--task-ms", args.task_ms)):
            if value is not None:
                checkSeconds(value, name)
    except ValueError as exc:
        parser.error(str(exc))
    if args.write is not None:
        # Checked before measuring, so a bad --write fails at once and writes nothing.
        if not os.path.isdir(args.write):
            parser.error(f"--write: {args.write} is not a directory")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error("--write draws a plot and needs matplotlib: pip install 'lecture31[plot]'")
    if args.overhead:
        found = asyncio.run(overheads(["thread", "process", "dask"], args.scheduler, args.workers))
        print(
            f"per-task overhead, no-op, warm, {args.workers} workers (least of {MEASURE_REPEATS}):"
        )
        print("executor   round trip (1 task alone)   per task (burst of 64)")
        for kind, row in found.items():
            print(
                f"{kind:<9}  {row['roundTripSeconds'] * 1e3:>20.3f} ms"
                f"   {row['perTaskSeconds'] * 1e3:>17.3f} ms"
            )
        return 0
    if args.pipeline:
        rows = asyncio.run(pipelineTimes(args.scheduler, args.workers, args.seed))
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
        return 0
    overhead = (
        args.overhead_ms / 1e3
        if args.overhead_ms is not None
        else asyncio.run(overheads(["dask"], args.scheduler, args.workers))["dask"][
            "perTaskSeconds"
        ]
    )
    cost = args.task_ms / 1e3 if args.task_ms is not None else normalizeSeconds()
    rows = scaleout.modelRows(overheadSeconds=overhead, taskSeconds=cost)
    table = scaleout.renderModel(rows, overheadSeconds=overhead, taskSeconds=cost)
    print(table)
    if args.write:
        directory = Path(args.write)
        writeAtomically(
            [
                (directory / "cluster-model.md", lambda tmp: tmp.write_text(table + "\n")),
                (
                    directory / "cluster-model.png",
                    lambda tmp: scaleout.plotModel(
                        rows, tmp, overheadSeconds=overhead, taskSeconds=cost
                    ),
                ),
            ]
        )
        print(f"wrote {directory / 'cluster-model.md'} and {directory / 'cluster-model.png'}")
    return 0
