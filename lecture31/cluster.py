"""The CPU tier as one Executor, on this machine's processes or on a dask.distributed cluster.

    event loop --run_in_executor / mapInBatches--> cpuExecutor(kind)
                                                     |
        "process"  lecture31 process pool (forkserver, warm) --> worker processes, this host
        "dask"     Client --> scheduler --> dask workers: a LocalCluster (spawned processes,
                   1 thread each, loopback only) or the scheduler at `address`, any hosts

Whatever ``cpuExecutor`` starts it closes on exit, also on error and on cancellation: the
executor (queued work cancelled), then the client, then the local cluster. ``async with`` does
the blocking opening and closing in a helper thread, so the event loop keeps running.

``python -m lecture31.cluster --overhead`` measures the per-task round trip of each executor;
``--pipeline`` times the correct pipeline on each, per reading and batched; ``--model`` prints
the scale-out model and draws ``results/cluster-model.png``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

from lecture31._checks import checkCount, checkSeconds
from lecture31._pools import makeProcessPool, warmPool

T = TypeVar("T")

__all__ = ("DASK_SCHEDULER_ENV", "EXTRA_HINT", "KINDS", "cpuExecutor")

KINDS = ("process", "dask")
DASK_SCHEDULER_ENV = "LECTURE31_DASK_SCHEDULER"
EXTRA_HINT = "pip install 'lecture31[distributed]'"

# Waiting for a remote scheduler or its workers: long enough for a cluster that is still coming
# up, short enough that a wrong address is an error within a minute, not a hang.
CONNECT_TIMEOUT_SECONDS = 30.0

# Local dask workers start as fresh interpreters ("spawn", dask's own default), never forked
# from this process, which runs threads (see lecture31._pools). Pinned for the cluster's whole
# life because a nanny re-reads it when it restarts a killed worker.
DASK_START_METHOD = "spawn"

# In force while a local cluster lives. The statistical profiler samples each server's event
# loop from a "Profile" thread (on Python other than 3.11) for the dashboard, which is off here;
# that thread outlives the cluster's close by a sampling interval, so it is left off.
_LOCAL_DASK_CONFIG = {
    "distributed.worker.multiprocessing-method": DASK_START_METHOD,
    "distributed.worker.profile.enabled": False,
}


def cpuExecutor(
    kind: str = "process", *, address: str | None = None, workers: int | None = None
) -> _CpuExecutor:
    """A context manager (``with`` or ``async with``) yielding the CPU tier's Executor.

    ``kind="process"``: the project's process pool, ``workers`` processes (default: the core
    count), started and warm. ``kind="dask"``: an executor on a dask cluster; ``address`` (or
    the environment variable ``LECTURE31_DASK_SCHEDULER``) names a running scheduler such as
    ``tcp://host:8786`` (then ``workers`` is how many workers to wait for, default 1), else a
    local cluster of ``workers`` single-threaded worker processes (default: the core count).
    """
    return _CpuExecutor(kind, address=address, workers=workers)


class _CpuExecutor:
    """One use: opens on enter, closes everything it opened on exit."""

    def __init__(self, kind: object, *, address: object, workers: object) -> None:
        if not isinstance(kind, str):
            raise TypeError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if address is not None and not isinstance(address, str):
            raise TypeError(f"address must be a scheduler address string or None, got {address!r}")
        if address is not None and kind != "dask":
            raise ValueError(f"address applies to kind='dask' only, got kind={kind!r}")
        if address == "":
            raise ValueError("address must be a scheduler address such as tcp://host:8786, got ''")
        self.kind: str = kind
        self.address: str | None = address
        self.workers: int | None = None if workers is None else checkCount(workers, "workers")
        self._stack: contextlib.ExitStack | None = None

    def __repr__(self) -> str:
        where = f" address={self.address!r}" if self.address else ""
        return f"<cpuExecutor {self.kind}{where} workers={self.workers}>"

    # --- sync ---------------------------------------------------------------------------

    def __enter__(self) -> Executor:
        if self._stack is not None:
            raise RuntimeError(f"{self!r} is already open; use a new cpuExecutor(...)")
        stack = contextlib.ExitStack()
        self._stack = stack
        try:
            if self.kind == "process":
                return _openProcessPool(stack, self.workers)
            return _openDask(stack, self.address, self.workers)
        except BaseException:
            stack.close()
            raise

    def __exit__(self, *excInfo: object) -> None:
        if self._stack is not None:
            self._stack.close()

    # --- async: the same, with the blocking parts in a helper thread ---------------------

    async def __aenter__(self) -> Executor:
        executor, cancelled = await _offThread(self.__enter__, "lecture31-cpu-open")
        if cancelled is not None:
            # Cancelled while opening: what was opened is closed before the cancellation goes on.
            await _offThread(self.__exit__, "lecture31-cpu-close", None, None, None)
            raise cancelled
        return executor

    async def __aexit__(self, *excInfo: object) -> None:
        _, cancelled = await _offThread(self.__exit__, "lecture31-cpu-close", *excInfo)
        if cancelled is not None:
            raise cancelled


async def _offThread(
    fn: Callable[..., T], name: str, *args: object
) -> tuple[T, asyncio.CancelledError | None]:
    """Run blocking ``fn`` in a helper thread without blocking the loop; always join it.

    A thread cannot be interrupted, and what it opens must not leak, so a cancellation
    arriving meanwhile is held, not acted on: returns ``(result, cancellation or None)`` once
    the thread is done; ``fn``'s own exception is raised.
    """
    loop = asyncio.get_running_loop()
    finished = loop.create_future()
    results: list[T] = []  # fn's result, or its exception in errors, once the thread is done
    errors: list[BaseException] = []

    def settle() -> None:
        if not finished.done():
            finished.set_result(None)

    def run() -> None:
        try:
            results.append(fn(*args))
        except BaseException as exc:  # handed to the awaiting coroutine below
            errors.append(exc)
        finally:
            loop.call_soon_threadsafe(settle)

    helper = threading.Thread(target=run, name=name)
    helper.start()
    cancelled: asyncio.CancelledError | None = None
    while not finished.done():
        try:
            await asyncio.shield(finished)
        except asyncio.CancelledError as exc:
            cancelled = exc
    helper.join()
    if errors:
        raise errors[0]
    return results[0], cancelled


def _openProcessPool(stack: contextlib.ExitStack, workers: int | None) -> Executor:
    size = workers or os.cpu_count() or 1
    pool = makeProcessPool(size)
    stack.callback(pool.shutdown, wait=True, cancel_futures=True)
    warmPool(pool, size)
    return pool


def _importDistributed():
    try:
        import dask
        import distributed
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"cpuExecutor(kind='dask') needs the 'distributed' extra: {EXTRA_HINT}"
        ) from exc
    return dask, distributed


def _openDask(stack: contextlib.ExitStack, address: str | None, workers: int | None) -> Executor:
    dask, distributed = _importDistributed()
    address = address or os.environ.get(DASK_SCHEDULER_ENV) or None
    if address is None:
        stack.enter_context(dask.config.set(_LOCAL_DASK_CONFIG))
        cluster = distributed.LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",  # loopback only: nothing here listens on the network
            scheduler_port=0,
            dashboard_address=None,
            worker_dashboard_address=None,
            # The scheduler serves HTTP even without a dashboard, on port 8787 unless told
            # otherwise, and warns when that port is taken: a free loopback port instead.
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        )
        stack.callback(cluster.close)
        client = distributed.Client(cluster, set_as_default=False)
    else:
        _awaitScheduler(address)
        try:
            client = distributed.Client(
                address, set_as_default=False, timeout=CONNECT_TIMEOUT_SECONDS
            )
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(
                f"no dask scheduler answered at {address!r} within"
                f" {CONNECT_TIMEOUT_SECONDS:g} s ({exc})"
            ) from exc
    stack.callback(client.close)
    if address is not None:
        wanted = workers or 1
        try:
            client.wait_for_workers(wanted, timeout=CONNECT_TIMEOUT_SECONDS)
        except TimeoutError as exc:
            raise ConnectionError(
                f"dask scheduler {address!r} has fewer than {wanted} worker(s) after"
                f" {CONNECT_TIMEOUT_SECONDS:g} s; start them with `dask worker {address}`"
            ) from exc
    # pure=False: dask's default pure=True gives identical calls one key, so a repeated round
    # would be served from the first one's result instead of computed (dask/distributed#2022).
    executor: Executor = client.get_executor(pure=False)
    # Closed before the client: queued tasks are released, none is waited for.
    stack.callback(executor.shutdown, wait=False)
    _warmDask(executor, client)
    return executor


def _awaitScheduler(address: str) -> None:
    """Return once the scheduler's port accepts a connection; ConnectionError at the deadline.

    Checked before any Client exists because a Client that fails to connect leaves its IO-loop
    thread running (distributed 2026.8), where nothing can stop it.
    """
    from distributed.comm.addressing import get_address_host_port, parse_address

    try:
        protocol, _ = parse_address(address)
        host, port = get_address_host_port(address)
    except ValueError as exc:
        raise ValueError(
            f"address must be a scheduler address such as tcp://host:8786, got {address!r}"
        ) from exc
    if protocol not in ("tcp", "tls"):
        return  # other transports: left to the Client's own timeout
    deadline = time.monotonic() + CONNECT_TIMEOUT_SECONDS
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise ConnectionError(
                    f"no dask scheduler answered at {address!r} within"
                    f" {CONNECT_TIMEOUT_SECONDS:g} s ({exc})"
                ) from exc
            time.sleep(0.2)


def _warmDask(executor: Executor, client) -> None:
    """One no-op per worker thread, so the first timed task does not pay for the first import."""
    from lecture31._batching import _noop

    threads = max(1, sum(client.nthreads().values()))
    for future in [executor.submit(_noop) for _ in range(threads)]:
        future.result(timeout=CONNECT_TIMEOUT_SECONDS)


# --- measuring: python -m lecture31.cluster --overhead | --pipeline | --model ---------------

PIPELINE_SENSORS = 480  # the scale: ~1 ms of work per reading, 480 tasks
MEASURE_REPEATS = 3  # least disturbed of 3 (a neighbour's burst only adds time)


def _normalizeSeconds(rounds: int = 20) -> float:
    """One ``normalizeReading``, in this process, median of ``rounds``."""
    import statistics

    from lecture31.pipeline import normalizeReading

    reading = {"sensorId": -1, "rawValue": 50.0}
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        normalizeReading(reading)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


async def _overheads(kinds: list[str], address: str | None, workers: int) -> dict[str, dict]:
    """Per-task overhead of each executor, warm: the least disturbed of MEASURE_REPEATS."""
    from concurrent.futures import ThreadPoolExecutor

    from lecture31._batching import measureOverhead

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


async def _pipelineTimes(address: str | None, workers: int, seed: int) -> list[dict]:
    """runCorrectPipeline(480) on each kind, one task per reading and batched (the batched
    stage swapped in for this measurement only)."""
    from unittest import mock

    from lecture31 import pipeline
    from lecture31._batching import mapInBatches

    async def batchedNormalize(pool: Executor, readings: list[dict]) -> list[dict]:
        return await mapInBatches(pool, pipeline.normalizeReading, readings)

    rows = []
    for kind in KINDS:
        async with cpuExecutor(
            kind, address=address if kind == "dask" else None, workers=workers
        ) as executor:
            for mode in ("per reading", "batched"):
                patch = (
                    mock.patch.object(pipeline, "_normalizeAll", batchedNormalize)
                    if mode == "batched"
                    else contextlib.nullcontext()
                )
                times = []
                with patch:
                    for _ in range(MEASURE_REPEATS + 1):  # the first round warms caches
                        start = time.perf_counter()
                        await pipeline.runCorrectPipeline(
                            PIPELINE_SENSORS, processPool=executor, seed=seed
                        )
                        times.append(time.perf_counter() - start)
                rows.append({"kind": kind, "mode": mode, "seconds": min(times[1:])})
    return rows


def _writeAtomically(path, text: str | None = None, draw=None) -> None:
    """Write ``text`` (or let ``draw(tmpPath)`` write) beside ``path``, then rename over it."""
    import tempfile
    from pathlib import Path

    path = Path(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(handle)
    try:
        if text is not None:
            Path(tmp).write_text(text)
        else:
            draw(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _main(argv: list[str] | None = None) -> int:
    import argparse

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
        found = asyncio.run(_overheads(["thread", "process", "dask"], args.scheduler, args.workers))
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
        rows = asyncio.run(_pipelineTimes(args.scheduler, args.workers, args.seed))
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
    from lecture31 import _scaleout

    overhead = (
        args.overhead_ms / 1e3
        if args.overhead_ms is not None
        else asyncio.run(_overheads(["dask"], args.scheduler, args.workers))["dask"][
            "perTaskSeconds"
        ]
    )
    cost = args.task_ms / 1e3 if args.task_ms is not None else _normalizeSeconds()
    rows = _scaleout.modelRows(overheadSeconds=overhead, taskSeconds=cost)
    table = _scaleout.renderModel(rows, overheadSeconds=overhead, taskSeconds=cost)
    print(table)
    if args.write:
        from pathlib import Path

        directory = Path(args.write)
        _writeAtomically(directory / "cluster-model.md", table + "\n")
        _writeAtomically(
            directory / "cluster-model.png",
            draw=lambda tmp: _scaleout.plotModel(
                rows, tmp, overheadSeconds=overhead, taskSeconds=cost
            ),
        )
        print(f"wrote {directory / 'cluster-model.md'} and {directory / 'cluster-model.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
