"""An asyncio event loop on a virtual clock: when nothing is ready, time jumps to the next timer.

    loop._run_once: timeout = next timer - loop.time()  -->  selector.select(timeout)
                                                              |  real select(0): I/O, wake-ups
                                                              '  then clock += timeout (no sleep)

The same coroutines run unchanged (``asyncio.sleep``, ``asyncio.wait(timeout=)``,
``asyncio.timeout``, task cancellation): only ``loop.time()`` is virtual, so a run of
simulated seconds takes milliseconds and a seeded run gives the same virtual times.

Why not the ``looptime`` package: it is a pytest plugin first, patches loops it is handed,
and would be a dependency for the ~30 lines below; the library itself (the hedging study's
cross-check) needs the loop, not only the tests. Code that waits on threads or processes
(``run_in_executor``) still works: with no timer pending, ``select`` blocks for real until the
executor's wake-up arrives.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ("VirtualClockLoop", "runVirtual")

T = TypeVar("T")


class _JumpingSelector(selectors.DefaultSelector):
    """Polls real I/O without waiting, and moves the loop's clock by the wait instead."""

    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualClockLoop | None = None

    def select(self, timeout: float | None = None) -> list:
        if timeout is None:  # nothing scheduled: only real I/O can make progress
            return list(super().select(None))
        ready = list(super().select(0))
        if not ready and timeout > 0 and self.loop is not None:
            self.loop.advance(timeout)
        return ready


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose ``time()`` is virtual, starting at 0."""

    def __init__(self) -> None:
        selector = _JumpingSelector()
        super().__init__(selector)
        selector.loop = self
        self._virtualNow = 0.0
        # Timers due within this much of now run together: exact virtual times need none.
        self._clock_resolution = 1e-12

    def time(self) -> float:
        return self._virtualNow

    def advance(self, seconds: float) -> None:
        self._virtualNow += seconds


def runVirtual(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on a fresh ``VirtualClockLoop``."""
    with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        return runner.run(main)
