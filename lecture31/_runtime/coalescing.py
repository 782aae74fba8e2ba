"""Items that become ready one at a time, each sent as soon as the executor has room, and
coalesced into batches only while it has none.

    loop                                          executor (a process pool, ...)
    submit(x) --> queue --+-- a slot is free? --> [fn(x) for x in batch], timed there
                          |   send up to            |
                          |   batchSize queued      |
                          '-- a batch returns: <----'
                              its items' results, its slot freed, send again

At most ``window`` batches are queued or running in the executor at once (``WINDOW_PER_WORKER``
per worker: each worker finds its next batch waiting). An item waits here only while all of
them are taken, that is, when sending it alone would only have queued it in the pool instead;
so coalescing never delays an item that a free worker could have taken. With ``batchSize`` 1
this is one task per item. How big a batch may grow is decided elsewhere
(``lecture31._runtime.dispatch.Dispatch.stream``), from the per-item seconds the batches report.

No task is made here: batches are sent from ``submit`` and from the callback of the batch that
returns. Each item's future is the caller's to await (cancelling it drops the item, or its
result); a failed batch fails each of its items' futures; ``close`` cancels every future not
yet settled, so no error can be left in one that nobody awaits; every batch's own outcome is
retrieved, even after ``close``. Batch futures are never cancelled from here (CPython 3.11 can
wedge a process pool whose cancelled future a dying worker then touches: ``pools.detached``);
what is still queued in the pool is its owner's to cancel when shutting it down.
"""

from __future__ import annotations

import asyncio
import collections
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Generic, TypeVar

from .batching import _timedBatch
from .checks import checkCount

__all__ = ("Coalescer",)

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


class Coalescer(Generic[ItemT, ResultT]):
    """``fn(item)`` on ``executor`` for items submitted one at a time, from the loop's thread.

    Made per run, and closed by its owner (``Dispatch.stream`` does both).
    """

    __slots__ = (
        "_executor",
        "_fn",
        "_inFlight",
        "_loop",
        "_queue",
        "_sent",
        "_window",
        "batchSize",
        "batches",
        "closed",
        "onTimed",
    )

    def __init__(self, executor: Executor, fn: Callable[[ItemT], ResultT], *, window: int) -> None:
        self._executor = executor
        self._fn = fn
        self._window = checkCount(window, "window")
        self._loop = asyncio.get_running_loop()
        self._queue: collections.deque[tuple[ItemT, asyncio.Future[ResultT]]] = collections.deque()
        self._inFlight = 0
        self._sent: set[asyncio.Future[ResultT]] = set()  # the waiters of the batches in flight
        self.batchSize = 1  # items per batch at most; 1 until its owner decides otherwise
        self.batches = 0  # batches sent so far
        self.closed = False
        # Told each returned batch's seconds per item, timed in the worker (its owner sizes
        # batches from the first few).
        self.onTimed: Callable[[float], None] | None = None

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self._inFlight}/{self._window} in flight"
        return (
            f"<Coalescer of {getattr(self._fn, '__name__', self._fn)!s}: batches of up to"
            f" {self.batchSize}, {state}, {len(self._queue)} waiting>"
        )

    def submit(self, item: ItemT) -> asyncio.Future[ResultT]:
        """A future for ``fn(item)``; the item goes now if a slot is free, else with the next."""
        if self.closed:
            raise RuntimeError("this Coalescer is closed: its owner's run is over")
        waiter: asyncio.Future[ResultT] = self._loop.create_future()
        self._queue.append((item, waiter))
        self._send()
        return waiter

    def close(self) -> None:
        """Send nothing more; cancel the futures of every item not yet back (waiting here, or
        in a batch the executor still has: its result or error is then dropped)."""
        self.closed = True
        while self._queue:
            _, waiter = self._queue.popleft()
            waiter.cancel()
        for waiter in self._sent:
            waiter.cancel()

    def _send(self) -> None:
        while not self.closed and self._inFlight < self._window and self._queue:
            batch: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
            while self._queue and len(batch) < self.batchSize:
                item, waiter = self._queue.popleft()
                if not waiter.done():  # its caller gave up on it (cancelled) while it waited
                    batch.append((item, waiter))
            if not batch:
                continue
            waiters = [waiter for _, waiter in batch]
            try:
                future = self._loop.run_in_executor(
                    self._executor, _timedBatch, self._fn, [item for item, _ in batch]
                )
            except Exception as exc:  # a broken or shut-down pool refuses the batch at once
                _fail(waiters, exc)
                continue
            self._inFlight += 1
            self.batches += 1
            self._sent.update(waiters)
            future.add_done_callback(functools.partial(self._returned, waiters))

    def _returned(self, waiters: list[asyncio.Future[ResultT]], future: asyncio.Future) -> None:
        self._inFlight -= 1
        self._sent.difference_update(waiters)
        if future.cancelled():  # the pool's owner cancelled it, shutting the pool down
            for waiter in waiters:
                waiter.cancel()
        elif (error := future.exception()) is not None:  # retrieved even if nobody waits
            _fail(waiters, error)
        else:
            results, seconds = future.result()
            for waiter, result in zip(waiters, results, strict=True):
                if not waiter.done():
                    waiter.set_result(result)
            if self.onTimed is not None:
                self.onTimed(seconds / len(results))
        self._send()


def _fail(waiters: list[asyncio.Future], error: BaseException) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_exception(error)
