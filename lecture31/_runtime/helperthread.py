"""Blocking calls made from the event loop in a thread of their own, in the two ways we need.

    event loop --await--> inHelperThread(fn)        cancel: stop waiting now; fn runs on
                                                    (shutting pools down: a stuck thread must
                                                    not hold the canceller hostage)
    event loop --await--> inHelperThreadToEnd(fn)   cancel: held until fn is done, then raised
                                                    (opening a cluster: what fn opens must not
                                                    leak)

Not the loop's default executor: that would leave a thread behind after the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ("inHelperThread", "inHelperThreadToEnd")

T = TypeVar("T")


async def inHelperThread(fn: Callable[[], T], name: str, *, daemon: bool = False) -> T:
    """``fn()`` in a new thread, awaited without blocking the loop.

    Cancelling this stops the waiting at once; the thread finishes ``fn`` in the background.
    ``daemon=True`` for a call that may never return (a user's function under a time limit):
    the interpreter then exits without waiting for it.
    """
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[T] = loop.create_future()

    def settleResult(value: T) -> None:
        if not finished.done():
            finished.set_result(value)

    def settleError(error: BaseException) -> None:
        if not finished.done():
            finished.set_exception(error)

    def run() -> None:
        settle: Callable[[], None]
        try:
            settle = functools.partial(settleResult, fn())
        except BaseException as exc:  # handed to the awaiting coroutine, not lost here
            settle = functools.partial(settleError, exc)
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting any more
            loop.call_soon_threadsafe(settle)

    helper = threading.Thread(target=run, name=name, daemon=daemon)
    helper.start()
    result = await finished
    helper.join()  # its work is done, only its own exit is left: no wait worth the name
    return result


async def inHelperThreadToEnd(
    fn: Callable[..., T], name: str, *args: object
) -> tuple[T, asyncio.CancelledError | None]:
    """``fn(*args)`` in a new thread, always joined: a cancellation meanwhile is held, not acted on.

    Returns ``(result, the cancellation or None)`` once the thread is done, so the caller can
    undo what ``fn`` opened before it re-raises the cancellation; ``fn``'s own error is raised.
    """
    loop = asyncio.get_running_loop()
    finished = loop.create_future()
    results: list[T] = []
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
