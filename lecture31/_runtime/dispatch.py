"""Where work goes: one executor, and how a runner's tasks reach it, decided in one place.

    runner (checked its executor once, at its own boundary)
      |  Dispatch(executor)
      |    .call(fn, *args)   one task         --> loop.run_in_executor(executor, fn, *args)
      |    .map(fn, items)    many, in order   --> one task each on a thread or process pool
      |                                        --> batches on anything else (a dask cluster)
      |    .stream(fn, n)     n items, each    --> one task each while the executor has room;
      |                       ready on its own     the items that wait meanwhile go together,
      |                                            in batches of up to batchSize(n, o, c)
      v
    thread pool | process pool | dask (any concurrent.futures.Executor)

Why batching depends on what the executor is and how many items there are: a task costs its
executor a fixed overhead ``o`` to send and return. The standard pools pay ~0.05-0.3 ms, under
one task here (a reading's normalization is ~1-2 ms): a gather of one task per item keeps every
worker busy with no tail, and ``map`` on them is the homework's design (one task per reading).
A dask cluster pays ~7 ms through its scheduler, more than the work: there ``mapInBatches``
sends batches sized from that overhead, measured once per executor
(``lecture31._runtime.batching``).

``stream`` decides from measurement for every executor: past a few hundred items the parent's
share of each task (pickling, the pool's queue and manager thread, waking the loop) adds up,
and on a machine whose cores the workers already fill that CPU is taken from them. Measured on
a shared 2-core machine, the streamed pipeline at 480 readings: ~0.2-0.3 s of parent CPU with
one task per reading, ~0.1 s batched, against ~0.5 s of normalizing per worker.

``batchSize`` is the one rule: ``batchSizeFor``'s balance of the overhead of ``n`` tasks
against the tail of one batch, from ``o`` (measured once per executor) and the item's cost
``c`` (timed in the workers, once per function). It is 1 (one task per item) until
``n o / (W c)`` exceeds 1: on 2 workers at o = 0.15 ms, c = 2 ms that is 1 up to ~26 items,
2 at 48, 5 at 480. ``pytest bench -m large -k batching`` measures what it buys (the streamed
pipeline with ``streamBatching`` off against on, at 480 and 4,800 sensors).

Why process-pool futures are awaited detached: cancelling one on CPython 3.11 can wedge the
pool if a worker dies meanwhile (``lecture31._runtime.pools.detached``); the pool's owner
cancels what is still queued when it shuts the pool down.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import TypeVar

from . import batching
from .batching import WINDOW_PER_WORKER, batchSizeFor, executorWorkers, mapInBatches
from .checks import checkCount
from .coalescing import Coalescer
from .gathering import gatherAll
from .pools import detached

__all__ = ("Dispatch",)

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


class Dispatch:
    """Send work to one executor. Made per run; holds no pool of its own and closes nothing."""

    __slots__ = ("_detach", "batches", "executor", "streamBatching")

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        # The standard pools' per-task overhead is below a task's cost; anything else (a
        # cluster) is assumed not to be until measured, and gets batches sized from it.
        self.batches = not isinstance(executor, ThreadPoolExecutor | ProcessPoolExecutor)
        # False: ``stream`` sends one task per item whatever it measures (to measure the rule).
        self.streamBatching = True
        self._detach = isinstance(executor, ProcessPoolExecutor)

    def __repr__(self) -> str:
        how = "batches" if self.batches else "one task per item"
        return f"<Dispatch to {type(self.executor).__name__}, {how}>"

    @property
    def workers(self) -> int:
        """How many tasks the executor runs at once (a dask client: its workers' threads)."""
        return executorWorkers(self.executor)

    def call(self, fn: Callable[..., ResultT], /, *args: object) -> Awaitable[ResultT]:
        """``fn(*args)`` on the executor, as something to await (call it on the loop's thread)."""
        future = asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        return detached(future) if self._detach else future

    async def map(self, fn: Callable[[ItemT], ResultT], items: Iterable[ItemT]) -> list[ResultT]:
        """``[fn(x) for x in items]`` on the executor, in order.

        If one task fails, the others are cancelled and awaited and its error propagates; so
        does cancellation. ``fn`` must be picklable for a process pool or a cluster.
        """
        if self.batches:
            return await mapInBatches(self.executor, fn, items)
        return await gatherAll(self.call(fn, item) for item in items)

    def batchSize(self, numItems: int, *, overheadSeconds: float, taskSeconds: float) -> int:
        """Items per task for ``numItems`` items on this executor: the rule (module docstring)."""
        return batchSizeFor(
            numItems, self.workers, overheadSeconds=overheadSeconds, taskSeconds=taskSeconds
        )

    async def measure(self, fn: Callable[[ItemT], object], sample: ItemT) -> None:
        """Measure (once) what sizing needs: this executor's per-task overhead and ``fn``'s
        cost per item, on ``sample``, so that no timed run pays for it later."""
        await mapInBatches(self.executor, fn, [sample] * self.workers)

    @contextlib.asynccontextmanager
    async def stream(
        self, fn: Callable[[ItemT], ResultT], *, numItems: int
    ) -> AsyncIterator[Coalescer[ItemT, ResultT]]:
        """A ``Coalescer``: ``submit(item)`` gives a future of ``fn(item)``, for ``numItems``
        items that become ready one at a time.

        Each item goes as soon as the executor has room (``WINDOW_PER_WORKER`` batches per
        worker); the items that wait meanwhile go together, up to ``batchSize`` per batch, one
        task each until the overhead and ``fn``'s cost are known (both measured while the first
        items are on their way, unless already known). On the way out nothing more is sent and
        the items still waiting are cancelled; nothing it started is left running.
        """
        checkCount(numItems, "numItems")
        coalescer: Coalescer[ItemT, ResultT] = Coalescer(
            self.executor, fn, window=WINDOW_PER_WORKER * self.workers
        )
        sizing = asyncio.ensure_future(self._sizeStream(coalescer, fn, numItems))

        async def stop() -> None:
            coalescer.close()
            sizing.cancel()
            await asyncio.gather(sizing, return_exceptions=True)

        try:
            yield coalescer
        except BaseException:
            await stop()
            raise
        await stop()
        if not sizing.cancelled() and (error := sizing.exception()) is not None:
            raise error  # a bug in the sizing, not hidden by the run having gone well

    async def _sizeStream(self, coalescer: Coalescer, fn: Callable, numItems: int) -> None:
        """Set the coalescer's batch size by the rule, once ``o`` and ``c`` are known."""
        if not self.streamBatching:
            return
        timings: list[float] = []
        timed = asyncio.Event()

        def onTimed(seconds: float) -> None:
            if len(timings) < self.workers:
                timings.append(seconds)
            if len(timings) >= self.workers:
                timed.set()

        coalescer.onTimed = onTimed
        try:
            overhead = await batching._overheadOf(self.executor)
        except (BrokenExecutor, RuntimeError):
            return  # a broken or shut-down pool: the items' own futures say so
        key = batching._functionKey(fn)
        taskSeconds = batching._taskSecondsCache.get(key)
        if taskSeconds is None:
            await timed.wait()  # the first batches, one per worker, timed where they ran
            taskSeconds = batching._taskSecondsCache[key] = statistics.median(timings)
        coalescer.batchSize = self.batchSize(
            numItems, overheadSeconds=overhead, taskSeconds=taskSeconds
        )
