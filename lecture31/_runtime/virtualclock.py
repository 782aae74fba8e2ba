"""An asyncio event loop on a virtual clock: when nothing is ready, time jumps to the next timer.

    loop._run_once: timeout = next timer - loop.time()  -->  selector.select(timeout)
                                                              |  real select(0): I/O, wake-ups
                                                              '  then clock += timeout (no sleep)
    waiting on I/O or a thread with no timer due --> select blocks for real, as any loop does

The same coroutines run unchanged (``asyncio.sleep``, ``asyncio.wait(timeout=)``,
``asyncio.timeout``, task cancellation): only ``loop.time()`` is virtual, so a run of
simulated seconds takes milliseconds and a seeded run gives the same virtual times. Two users:
the hedging study's cross-check (``lecture31.fanout``) and the gate's instrument for the seeded
fan-out (``virtualTimeFor``: the latencies its code measures with ``time.perf_counter`` read
the virtual clock too, so a change to the deadline rule changes virtual seconds exactly).

Why not the ``looptime`` package: it is a pytest plugin first, patches loops it is handed,
and would be a dependency for the ~30 lines below; the library itself needs the loop, not only
the tests. asyncio computes every timeout from ``self.time()`` and runs the timers due by
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

__all__ = ("VirtualClockLoop", "runVirtual", "runVirtually", "virtualTimeFor")

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
        """Move the clock forward by ``seconds`` (never back)."""
        if seconds > 0:
            self._virtualNow += seconds


def runVirtual(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on a fresh ``VirtualClockLoop``."""
    with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        return runner.run(main)


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
    main: Coroutine[Any, Any, T], *, modules: Iterable[types.ModuleType] = ()
) -> tuple[T, float]:
    """Run ``main`` on a fresh virtual-clock loop, ``modules`` reading its clock (see
    ``virtualTimeFor``): its result and the virtual seconds it took."""
    holder: list[VirtualClockLoop] = []

    def factory() -> VirtualClockLoop:
        holder.append(VirtualClockLoop())
        return holder[0]

    with asyncio.Runner(loop_factory=factory) as runner:
        runner.get_loop()
        with virtualTimeFor(modules, holder[0]):
            result = runner.run(main)
        return result, holder[0].time()
