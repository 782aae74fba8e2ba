"""An event loop whose clock jumps to the next timer instead of waiting for it.

    loop.time()          virtual seconds since the loop was made (starts at 0.0)
    nothing is ready --> the loop would block in select(timeout) until the next timer:
                         here it polls (select(0)) and moves the clock forward by timeout
    waiting on I/O or a thread with no timer due --> it blocks for real, as any loop does

Why: code made of ``asyncio.sleep`` and deadlines (``asyncio.wait(timeout=...)``) spends its time
waiting, and what it waits for is decided by its own rules; on this loop the same code runs in
microseconds, and the time it reports is exactly the time those rules add up to, with no
scheduler noise. That is the instrument the gate uses for the seeded fan-out (a change to the
deadline rule changes virtual seconds exactly) and the clock of the hedging study.

asyncio's own loop computes every timeout from ``self.time()`` and runs the timers due by
``self.time()`` after select returns, so overriding those two places is the whole mechanism
(aiotools' VirtualClock and looptime patch the same two).
"""

from __future__ import annotations

import asyncio
import selectors
import time
import types
from collections.abc import Coroutine, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar
from unittest import mock

__all__ = ("VirtualClockLoop", "runVirtually", "virtualTimeFor")

T = TypeVar("T")


class _JumpingSelector(selectors.DefaultSelector):
    """select(timeout) polls, then tells the loop how far to move its clock."""

    def __init__(self, loop: VirtualClockLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list:
        if timeout is None:  # no timer at all: only I/O or a thread can wake the loop
            return super().select(None)
        ready = super().select(0)
        if not ready and timeout > 0:
            self._loop.advance(timeout)
        return ready


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """A selector event loop on a virtual clock (see the module docstring)."""

    def __init__(self) -> None:
        self._virtualNow = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self._virtualNow

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (never back)."""
        if seconds > 0:
            self._virtualNow += seconds


@contextmanager
def virtualTimeFor(modules: Iterable[types.ModuleType], loop: VirtualClockLoop) -> Iterator[None]:
    """Inside: ``time.perf_counter()`` and ``time.monotonic()`` as seen from ``modules`` (their
    module-level ``time``) read ``loop``'s clock, so latencies they measure are virtual too."""
    clock = types.SimpleNamespace(
        **{name: getattr(time, name) for name in dir(time) if not name.startswith("__")}
    )
    clock.perf_counter = clock.monotonic = loop.time
    with ExitStack() as stack:
        for module in modules:
            stack.enter_context(mock.patch.object(module, "time", clock))
        yield


def runVirtually(
    coroutine: Coroutine[Any, Any, T], *, modules: Iterable[types.ModuleType] = ()
) -> tuple[T, float]:
    """Run ``coroutine`` on a fresh virtual-clock loop: its result and the virtual seconds."""
    loop = VirtualClockLoop()
    try:
        with virtualTimeFor(modules, loop):
            result = loop.run_until_complete(coroutine)
        return result, loop.time()
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
