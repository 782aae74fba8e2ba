"""How this package makes its executors: one place for the process start method and pool sizes.

Owned by Exercise 1 (``tiered``); other modules call these instead of constructing pools.

    parent (event loop, thread pools: has threads)
      |  makeProcessPool(n)                      "please start a worker"
      +------------------------------------------------------------+
                                                                   v
    forkserver (started once per interpreter, single-threaded, lecture31 preloaded)
      |  os.fork()   cheap: the child inherits the imported package
      +--> worker 1 ... worker n  (run parseCsvChunk, normalizeReading, ...)

``shutDownPools`` closes pools from a coroutine without blocking its loop.
``python -m lecture31._pools`` re-measures the cold start of every start method.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor

from ._lifecycle import workerOptions

__all__ = (
    "FORKSERVER_PRELOAD",
    "START_METHOD",
    "makeProcessPool",
    "makeThreadPool",
    "processContext",
    "shutDownPools",
    "startWorkers",
    "warmPool",
)

# "forkserver": workers are forked from a small server process that runs no threads, so no
# worker is ever forked from our parent, which does run threads (the thread pools, every
# executor's manager thread) and where a fork can deadlock on a lock a thread held (Python 3.12+
# warns on exactly that). Cold start of a 4-worker pool, time until all 4 workers have answered
# once, median of 7 fresh interpreters launched as `python -m`, workers importing a package that
# imports numpy (as lecture31 does once fanout uses it), shared 2-core machine (Python 3.11.7):
#
#   method                  first pool in a process   every later pool
#   fork                       9 ms                      9 ms    unsafe once threads exist
#   forkserver + preload     137 ms                     27 ms    <- chosen
#   forkserver, no preload   261 ms                    205 ms    each worker re-imports numpy
#   spawn                    302 ms                    275 ms    fresh interpreter per worker
#
# fork is fastest and unusable here; spawn is safe but pays a whole interpreter start per
# worker, every time. forkserver pays one interpreter start (the server) per process, and with
# FORKSERVER_PRELOAD the package import too, so later pools start almost as fast as fork.
# It is also the default on Linux from Python 3.14 on.
START_METHOD = "forkserver"

# Imported once by the fork server and inherited by every worker forked from it. "__main__" keeps
# multiprocessing's own default (a script's functions can still be sent to workers). numpy's
# OpenBLAS starts a thread at import, but stops it itself around fork (pthread_atfork): measured,
# the server has 1 thread when it forks.
FORKSERVER_PRELOAD = ("__main__", "lecture31")


def processContext() -> multiprocessing.context.BaseContext:
    """The multiprocessing context every process pool here uses (preload set if forkserver).

    The preload list only matters before the fork server first starts; setting it again later
    is harmless.
    """
    context = multiprocessing.get_context(START_METHOD)
    if START_METHOD == "forkserver":
        context.set_forkserver_preload(list(FORKSERVER_PRELOAD))
    return context


def makeProcessPool(maxWorkers: int) -> ProcessPoolExecutor:
    """A process pool using ``START_METHOD``. Workers start on demand, at the first submits.

    Workers ignore Ctrl-C and exit if this process dies without shutting the pool down
    (``lecture31._lifecycle``).
    """
    context = processContext()
    return ProcessPoolExecutor(max_workers=maxWorkers, mp_context=context, **workerOptions(context))


def makeThreadPool(maxWorkers: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose threads are named after the tier that owns them."""
    return ThreadPoolExecutor(max_workers=maxWorkers, thread_name_prefix=name)


def _workerIdentity(settleSeconds: float) -> tuple[int, int]:
    """Runs in a worker: hold it for a moment, then say which process and thread it is."""
    time.sleep(settleSeconds)
    return os.getpid(), threading.get_ident()


# Long enough that no worker finishes its warm-up task before the others have started and taken
# theirs (4 forkserver workers are all up in ~30 ms), short enough not to matter to a test.
WARM_UP_SETTLE_SECONDS = 0.05


def startWorkers(
    pool: Executor, numWorkers: int, *, settleSeconds: float = WARM_UP_SETTLE_SECONDS
) -> list[Future]:
    """Submit one short task per worker, so the pool starts all its workers now.

    Both executors start a worker on ``submit`` when none is idle, so ``numWorkers`` submits in a
    row start ``numWorkers`` workers. Each future gives ``(pid, thread id)`` of the worker that
    ran it. Await them (``asyncio.wrap_future``) or use ``warmPool``.
    """
    if numWorkers < 1:
        raise ValueError(f"numWorkers must be >= 1, got {numWorkers!r}")
    return [pool.submit(_workerIdentity, settleSeconds) for _ in range(numWorkers)]


def warmPool(
    pool: Executor, numWorkers: int, *, settleSeconds: float = WARM_UP_SETTLE_SECONDS
) -> int:
    """Start ``numWorkers`` workers and wait until each has run a task; return how many answered.

    Blocking: for fixtures and synchronous code. Timed benchmarks should start from a warm pool,
    or they measure worker start-up instead of the work.
    """
    return len(
        {future.result() for future in startWorkers(pool, numWorkers, settleSeconds=settleSeconds)}
    )


async def shutDownPools(*pools: Executor) -> None:
    """Shut ``pools`` down and wait for their workers to exit, without blocking the event loop.

    Work still queued is cancelled; work already running finishes. A helper thread does the
    blocking joins and is joined before this returns, even when the caller is cancelled (then
    the loop does block until the workers are gone): no worker, process or thread is left behind.
    For the owner of the pools: never pass a pool someone else still uses.
    """
    if not pools:
        return
    loop = asyncio.get_running_loop()
    finished = loop.create_future()
    errors: list[BaseException] = []

    def resolve() -> None:
        if not finished.done():
            finished.set_result(None)

    def shutDownAll() -> None:
        for pool in pools:
            try:
                pool.shutdown(wait=True, cancel_futures=True)
            except BaseException as exc:  # reported by the awaiting coroutine, not lost here
                errors.append(exc)
        loop.call_soon_threadsafe(resolve)

    helper = threading.Thread(target=shutDownAll, name="lecture31-pool-shutdown")
    helper.start()
    try:
        await finished
    finally:
        helper.join()
    if errors:
        raise errors[0]


_COLD_START_PROBE = """
import multiprocessing, sys, time
from concurrent.futures import ProcessPoolExecutor
import lecture31
from lecture31 import _pools
method, preload = sys.argv[1], sys.argv[2] == "1"
context = multiprocessing.get_context(method)
if preload:
    context.set_forkserver_preload(list(_pools.FORKSERVER_PRELOAD))
times = []
for _ in range(2):
    start = time.perf_counter()
    with ProcessPoolExecutor(4, mp_context=context) as pool:
        futures = _pools.startWorkers(pool, 4, settleSeconds=0.05)
        assert len({future.result() for future in futures}) == 4
        times.append(time.perf_counter() - start - 0.05)
print(*times)
"""


def _measureColdStart(repeats: int = 7) -> None:
    """Print the table beside START_METHOD: each method in fresh interpreters, medians."""
    import statistics
    import subprocess
    import sys

    cases = [("fork", False), ("forkserver", True), ("forkserver", False), ("spawn", False)]
    for method, preload in cases:
        firsts, laters = [], []
        for _ in range(repeats):
            done = subprocess.run(
                [sys.executable, "-c", _COLD_START_PROBE, method, "1" if preload else "0"],
                capture_output=True,
                text=True,
                check=True,
            )
            first, later = map(float, done.stdout.split())
            firsts.append(first)
            laters.append(later)
        label = f"{method}{' + preload' if preload else ''}"
        print(
            f"{label:<22} first pool {statistics.median(firsts) * 1e3:6.0f} ms"
            f"   later pool {statistics.median(laters) * 1e3:6.0f} ms"
        )


if __name__ == "__main__":
    _measureColdStart()
