"""Gathers that never orphan: if one awaitable fails, the rest are cancelled and awaited.

``asyncio.gather`` alone leaves the others running after the first error, and their own errors
unretrieved ("exception was never retrieved"). The runners and the batcher use these instead.

    gatherAll(aws)               every awaitable at once
    gatherWindowed(aws, window)  at most ``window`` at once: the next one is taken from ``aws``
                                 (lazily: a generator is never run ahead) when one finishes
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Iterable
from typing import TypeVar

from .checks import checkCount

__all__ = ("gatherAll", "gatherWindowed")

T = TypeVar("T")


async def gatherAll(aws: Iterable[Awaitable]) -> list:
    """``asyncio.gather(*aws)``, but on failure or cancellation nothing is left behind.

    That holds while the futures are still being made too: a pool that breaks mid-stage makes
    the next submit raise, and the ones already made must not be left unawaited.
    """
    futures: list[asyncio.Future] = []
    try:
        futures.extend(asyncio.ensure_future(aw) for aw in aws)
        return await asyncio.gather(*futures)
    except BaseException:
        for future in futures:
            future.cancel()
        await asyncio.gather(*futures, return_exceptions=True)
        raise


async def gatherWindowed(aws: Iterable[Awaitable[T]], window: int) -> list[T]:
    """``gatherAll(aws)`` with at most ``window`` awaitables in flight; results in order.

    ``aws`` is consumed lazily, one item per finished one, so a generator of 10^5 coroutines
    never has more than ``window`` of them (or their futures) alive at once. The first failure
    (or a cancellation) cancels and awaits everything in flight, takes nothing more from
    ``aws`` and propagates. Each finish costs O(1), whatever the window.
    """
    checkCount(window, "window")
    results: list = []
    pending: dict[asyncio.Future[T], int] = {}
    finished: collections.deque[asyncio.Future] = collections.deque()
    wake = asyncio.Event()

    def onDone(future: asyncio.Future) -> None:
        finished.append(future)
        wake.set()

    items = iter(aws)
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < window:
                try:
                    aw = next(items)
                except StopIteration:
                    exhausted = True
                    break
                started = asyncio.ensure_future(aw)
                pending[started] = len(results)
                results.append(None)
                started.add_done_callback(onDone)
            if not pending:
                return results
            await wake.wait()
            wake.clear()
            while finished:
                done = finished.popleft()
                results[pending[done]] = done.result()  # raises the first failure
                del pending[done]
    except BaseException:
        for future in pending:
            future.cancel()
        # Each one's outcome is retrieved here, so none is reported as never retrieved.
        await asyncio.gather(*pending, return_exceptions=True)
        raise
