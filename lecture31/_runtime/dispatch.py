"""Where work goes: one executor, and how a runner's tasks reach it, decided in one place.

    runner (checked its executor once, at its own boundary)
      |  Dispatch(executor)
      |    .call(fn, *args)  one task        --> loop.run_in_executor(executor, fn, *args)
      |    .map(fn, items)   many, in order  --> one task each on a thread or process pool
      |                                      --> batches on anything else (a dask cluster)
      v
    thread pool | process pool | dask (any concurrent.futures.Executor)

Why batching depends on what the executor is: a task costs its executor a fixed overhead to
send and return. The standard pools pay ~0.05-0.3 ms, under every task here (a reading's
normalization is ~1 ms), so one task per item keeps every worker busy with no tail. A dask
cluster pays ~7 ms through its scheduler, more than the work: there ``mapInBatches`` sends
batches sized from that overhead, measured once per executor (``lecture31._runtime.batching``).

Why process-pool futures are awaited detached: cancelling one on CPython 3.11 can wedge the
pool if a worker dies meanwhile (``lecture31._runtime.pools.detached``); the pool's owner
cancels what is still queued when it shuts the pool down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import TypeVar

from .batching import executorWorkers, mapInBatches
from .gathering import gatherAll
from .pools import detached

__all__ = ("Dispatch",)

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


class Dispatch:
    """Send work to one executor. Made per run; holds no pool of its own and closes nothing."""

    __slots__ = ("_detach", "batches", "executor")

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        # The standard pools' per-task overhead is below a task's cost; anything else (a
        # cluster) is assumed not to be until measured, and gets batches sized from it.
        self.batches = not isinstance(executor, ThreadPoolExecutor | ProcessPoolExecutor)
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
