"""How this package makes, warms and closes its executors: one place for all of it.

    parent (event loop, thread pools: has threads)
      |  makeProcessPool(n)                      "please start a worker"
      +------------------------------------------------------------+
                                                                   v
    forkserver (started once per interpreter, single-threaded, lecture31 preloaded)
      |  os.fork()   cheap: the child inherits the imported package
      +--> worker 1 ... worker n  (run parseCsvChunk, normalizeReading, ...)

Every runner, the benchmark fixtures and the demos hold their pools the same way::

    async with ownedPools() as pools:
        threadPool = pools.threads(10, "metadata", given=threadPoolArg)  # given: used, not owned
        processPool = pools.processes(4, given=processPoolArg)
        await pools.warm()  # optional: start every owned worker now, before timing

``python -m lecture31.demos.coldstart`` re-measures the cold start of every start method.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.context
import os
import sys
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import (
    BrokenExecutor,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
from typing import TypeVar, cast

from .checks import checkCount
from .helperthread import inHelperThread
from .lifecycle import workerOptions

T = TypeVar("T")

__all__ = (
    "FORKSERVER_PRELOAD",
    "START_METHOD",
    "OwnedPools",
    "abandonPools",
    "detached",
    "forkserverPreload",
    "makeProcessPool",
    "makeThreadPool",
    "ownedPools",
    "processContext",
    "shutDownPools",
    "startWorkers",
    "terminatePool",
    "warmPool",
)

# "forkserver": workers are forked from a small server process that runs no threads, so no
# worker is ever forked from our parent, which does run threads (the thread pools, every
# executor's manager thread) and where a fork can deadlock on a lock a thread held (Python 3.12+
# warns on exactly that). Cold start of a 4-worker pool, time until all 4 workers have answered
# once, median of 7 fresh interpreters, workers importing a package that imports numpy, one
# shared 2-core machine (Python 3.11.7); `python -m lecture31.demos.coldstart` measures it again:
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
# the server has 1 thread when it forks. "__main__" is left out when the script has no file
# (``forkserverPreload``).
FORKSERVER_PRELOAD = ("__main__", "lecture31")


def _unrealMainPath() -> str | None:
    """``__main__.__file__`` when it names no file (``python - <<EOF``: "<stdin>"), else None.

    multiprocessing gives every new worker that path to run as its ``__main__`` ("spawn"'s
    ``prepare``, which forkserver workers run too) and would preload it in the fork server;
    a path that is not a file kills the worker (FileNotFoundError: the pool breaks as it starts)
    and the fork server. A script run by module name (``-m``) is found by name instead.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not isinstance(path, str) or getattr(main, "__spec__", None) is not None:
        return None
    return None if os.path.isfile(path) else path


def forkserverPreload() -> tuple[str, ...]:
    """``FORKSERVER_PRELOAD``, without "__main__" when the script has no file to import.

    Only the package: it re-exports lazily, so a worker imports an exercise's modules with its
    first task of that exercise (the benchmarks' warm-up rounds take that import). Preloading
    every exercise in the fork server was tried (2026-12-07) and made a SIGTERM to the whole
    process group mid-start hang the parent in 2 of 2 full CI runs
    (tests/runtime/test_signals.py); the cause is not found yet."""
    if _unrealMainPath() is None:
        return FORKSERVER_PRELOAD
    return tuple(name for name in FORKSERVER_PRELOAD if name != "__main__")


# Serializes hiding __main__.__file__ while a worker launches (workers start from any thread that
# submits).
_launchLock = threading.Lock()


@contextlib.contextmanager
def _mainWithoutUnrealPath():
    """While a worker launches, a ``__main__`` whose path is no file looks like ``python -c``'s
    (no ``__file__``), so the worker leaves its own ``__main__`` alone instead of dying on it."""
    with _launchLock:
        path = _unrealMainPath()
        main = sys.modules.get("__main__")
        if path is None or main is None:
            yield
            return
        del main.__file__
        try:
            yield
        finally:
            main.__file__ = path


if sys.platform != "win32":

    class _ForkServerProcess(multiprocessing.context.ForkServerProcess):
        @staticmethod
        def _Popen(process_obj):
            with _mainWithoutUnrealPath():
                return multiprocessing.context.ForkServerProcess._Popen(process_obj)

    class _ForkServerContext(multiprocessing.context.ForkServerContext):
        """The forkserver context, whose workers also start from a script read on stdin."""

        Process = _ForkServerProcess


def processContext() -> multiprocessing.context.BaseContext:
    """The multiprocessing context every process pool here uses (preload set if forkserver).

    The preload list only matters before the fork server first starts; setting it again later
    is harmless. Works from a script read on standard input too (``_mainWithoutUnrealPath``).
    """
    if START_METHOD == "forkserver" and sys.platform != "win32":
        context: multiprocessing.context.BaseContext = _ForkServerContext()
        multiprocessing.get_context("forkserver").set_forkserver_preload(list(forkserverPreload()))
        return context
    return multiprocessing.get_context(START_METHOD)


def makeProcessPool(maxWorkers: int) -> ProcessPoolExecutor:
    """A process pool using ``START_METHOD``. Workers start on demand, at the first submits.

    Workers ignore Ctrl-C and exit if this process dies without shutting the pool down
    (``lecture31._runtime.lifecycle``).
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
    checkCount(numWorkers, "numWorkers")
    return [pool.submit(_workerIdentity, settleSeconds) for _ in range(numWorkers)]


def warmPool(
    pool: Executor, numWorkers: int, *, settleSeconds: float = WARM_UP_SETTLE_SECONDS
) -> int:
    """Start ``numWorkers`` workers and wait until each has run a task; return how many answered.

    Blocking, for synchronous code; from a coroutine use ``OwnedPools.warm``.
    """
    return len(
        {future.result() for future in startWorkers(pool, numWorkers, settleSeconds=settleSeconds)}
    )


async def shutDownPools(*pools: Executor) -> None:
    """Shut ``pools`` down and wait for their workers to exit, without blocking the event loop.

    Work still queued is cancelled; work already running finishes. A helper thread does the
    blocking joins. Cancelling this stops the *waiting* at once and leaves the helper to finish
    in the background: a thread stuck in a blocking call cannot be killed, and joining it would
    hold the canceller hostage for as long as the call blocks.
    For the owner of the pools: never pass a pool someone else still uses.
    """
    if not pools:
        return

    def shutDownAll() -> None:
        errors = []
        for pool in pools:
            try:
                pool.shutdown(wait=True, cancel_futures=True)
            except Exception as exc:  # every pool gets its turn; the first error is reported
                errors.append(exc)
        if errors:
            raise errors[0]

    await inHelperThread(shutDownAll, "lecture31-pool-shutdown")


def abandonPools(*pools: Executor) -> list[threading.Thread]:
    """Cancel the queued work of ``pools`` and let them wind down in the background; never blocks.

    Running work finishes on its own (a thread cannot be killed); the workers then exit.
    Returns the management threads of *broken* process pools, which only have tidying left:
    wait for them briefly (``ownedPools`` does) or 3.11's exit hook may race their tidying
    ("OSError: Bad file descriptor" in ``_python_exit``).
    """
    tidying: list[threading.Thread] = []
    for pool in pools:
        if isinstance(pool, ProcessPoolExecutor) and pool._broken:
            # CPython 3.11 lets a submit spawn a worker after the broken pool's sweep has
            # terminated the others (3.12 locks it), and then waits for that worker forever at
            # exit. Every worker of a broken pool is doomed anyway: end them all.
            for process in list((pool._processes or {}).values()):
                process.terminate()
            # typeshed types this attribute as the wakeup pipe; CPython keeps the manager
            # thread in it (None before the first submit).
            manager = cast("threading.Thread | None", pool._executor_manager_thread)
            if manager is not None:
                tidying.append(manager)
        pool.shutdown(wait=False, cancel_futures=True)
    return tidying


def terminatePool(pool: Executor, *, joinSeconds: float = 1.0) -> None:
    """End every worker of a process pool now: for a worker stuck in a call that never returns.

    Such a pool could never shut down (its owner would wait for the call forever, and so would
    the interpreter at exit). The workers get SIGTERM and are reaped (each within
    ``joinSeconds``); the pool breaks, and its owner abandons it as usual (``ownedPools``).
    Any other executor is left alone: a thread cannot be ended from outside.
    """
    if not isinstance(pool, ProcessPoolExecutor):
        return
    workers = list((pool._processes or {}).values())
    for process in workers:
        process.terminate()
    for process in workers:
        process.join(joinSeconds)


# How long a run that failed waits for a broken pool's management thread to finish tidying up:
# it only terminates and reaps workers, which takes milliseconds.
BROKEN_POOL_TIDY_SECONDS = 1.0


def detached(future: asyncio.Future) -> asyncio.Future:
    """Await this instead of an executor's future: cancelling it leaves the pool's future alone.

    Cancelling a ``run_in_executor`` future cancels the ``concurrent.futures`` future behind it.
    On CPython 3.11 a process pool whose worker dies while such a cancelled future is still in
    its books kills its own management thread (gh-107219, fixed in 3.12): a worker survives and
    the interpreter never exits. So process-pool work is awaited through this; queued work is
    cancelled by the pool's owner with ``shutdown(cancel_futures=True)``, which the pool does
    safely in its own thread. An abandoned future's exception is retrieved and dropped, never
    logged (``asyncio.shield`` would drop its callback and let 3.11 log "never retrieved").
    """
    waiter = future.get_loop().create_future()

    def settle(done: asyncio.Future) -> None:
        if done.cancelled():
            if not waiter.done():
                waiter.cancel()
            return
        error = done.exception()  # retrieved even when nobody waits any more
        if waiter.done():
            return
        if error is None:
            waiter.set_result(done.result())
        else:
            waiter.set_exception(error)

    future.add_done_callback(settle)
    return waiter


class OwnedPools:
    """The pools of one run: the caller's are used and left open, the ones made here are owned.

    Made by ``ownedPools()``, which closes what it owns on the way out.
    """

    def __init__(self) -> None:
        self._owned: list[tuple[Executor, int]] = []

    @property
    def owned(self) -> tuple[Executor, ...]:
        """The pools this context made and will shut down, in the order they were made."""
        return tuple(pool for pool, _ in self._owned)

    def threads(self, maxWorkers: int, name: str, *, given: Executor | None = None) -> Executor:
        """``given`` if there is one (checked by the runner it was given to), else a new thread
        pool of ``maxWorkers`` named ``name``."""
        if given is not None:
            return given
        checkCount(maxWorkers, "maxWorkers")
        return self._own(makeThreadPool(maxWorkers, name), maxWorkers)

    def processes(self, maxWorkers: int, *, given: Executor | None = None) -> Executor:
        """``given`` if there is one (checked by the runner), else a new process pool."""
        if given is not None:
            return given
        checkCount(maxWorkers, "maxWorkers")
        return self._own(makeProcessPool(maxWorkers), maxWorkers)

    async def warm(self, *, settleSeconds: float = WARM_UP_SETTLE_SECONDS) -> None:
        """Start every worker of every owned pool now and wait until each has answered once.

        Pools start workers on demand; a timed run on cold pools measures their start-up. The
        submits are made from a helper thread: a cold process pool's first spawn waits for the
        fork server to start and import the package, which would block the event loop (and
        delay every timeout on it) for as long. ``settleSeconds=0`` just gets them going.
        """
        if not self._owned:
            return

        def submitAll() -> list[Future]:
            return [
                future
                for pool, workers in self._owned
                for future in startWorkers(pool, workers, settleSeconds=settleSeconds)
            ]

        futures = await inHelperThread(submitAll, "lecture31-pool-start")
        try:
            await asyncio.gather(*(detached(asyncio.wrap_future(future)) for future in futures))
        except BrokenExecutor as exc:
            raise type(exc)(
                "starting the pools' workers failed: a worker died (killed, or crashed) while"
                f" starting, so its pool is broken; start a new pool ({exc})"
            ) from exc

    def _own(self, pool: Executor, workers: int) -> Executor:
        self._owned.append((pool, workers))
        return pool


@contextlib.asynccontextmanager
async def ownedPools() -> AsyncIterator[OwnedPools]:
    """Hold a run's pools; on the way out shut down the owned ones, never blocking the loop.

    Normal exit: queued work is cancelled, running work finishes and the workers are joined
    from a helper thread while the loop keeps running. On cancellation or an error: queued work
    is cancelled and this returns at once, without joining. A thread stuck in a blocking call
    cannot be killed; it finishes in the background and its pool then exits.
    """
    pools = OwnedPools()
    try:
        yield pools
    except BaseException:
        await _abandon(pools.owned)
        raise
    try:
        await shutDownPools(*pools.owned)
    except BaseException:
        await _abandon(pools.owned)
        raise


async def _abandon(pools: tuple[Executor, ...]) -> None:
    """``abandonPools``, then a bounded wait for broken pools to finish tidying up."""
    tidying = abandonPools(*pools)
    if not tidying:
        return

    def joinAll() -> None:
        for thread in tidying:
            thread.join(BROKEN_POOL_TIDY_SECONDS)

    await inHelperThread(joinAll, "lecture31-pool-tidy")
