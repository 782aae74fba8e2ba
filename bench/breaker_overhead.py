"""Exercise 3: what a breaker costs per call, ours against the peers. Run it as a script:

    python bench/breaker_overhead.py [--calls 200000] [--repeat 5] [--peers]

It prints, per breaker, the closed-state overhead (``call(fn)`` minus ``fn()``) and the
open-state rejection time (one rejected call, caught), sync and async (one event loop,
``await breaker.call(fn)`` minus ``await fn()``), best of ``--repeat`` loops of ``--calls``.
``--peers`` adds pybreaker, aiobreaker and purgatory when they are installed (they are not
project dependencies: install them into a scratch venv to compare). ``pytest bench -k breaker``
times our breakers alone, inside the benchmark suite and its report; the unit tests load
``measureOurs`` from here for an order-of-magnitude check.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import time
from collections.abc import Awaitable, Callable

from lecture31.breaker import AsyncCircuitBreaker, CircuitBreaker, CircuitOpenError

# Timing loops: each builds its loop once and returns seconds per iteration. gc is off while
# timing, as timeit does, so a collection does not land in one variant's loop only.


def _best(loop: Callable[[int], float], calls: int, repeat: int) -> float:
    enabled = gc.isenabled()
    gc.disable()
    try:
        return min(loop(calls) for _ in range(repeat)) / calls
    finally:
        if enabled:
            gc.enable()


def _syncLoop(call: Callable[[Callable[[], None]], object]) -> Callable[[int], float]:
    def fn():
        return None

    def loop(n):
        started = time.perf_counter()
        for _ in range(n):
            call(fn)
        return time.perf_counter() - started

    return loop


def _syncBareLoop(n: int) -> float:
    def fn():
        return None

    started = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - started


def _syncRejectLoop(call, rejection: type[BaseException]) -> Callable[[int], float]:
    def fn():
        raise AssertionError("an open breaker called the service")

    def loop(n):
        started = time.perf_counter()
        for _ in range(n):
            try:  # noqa: SIM105 - contextlib.suppress would add its own cost to the loop
                call(fn)
            except rejection:
                pass
        return time.perf_counter() - started

    return loop


async def _asyncFn():
    return None


async def _asyncBest(loop: Callable[[int], Awaitable[float]], calls: int, repeat: int) -> float:
    enabled = gc.isenabled()
    gc.disable()
    try:
        return min([await loop(calls) for _ in range(repeat)]) / calls
    finally:
        if enabled:
            gc.enable()


def _asyncLoop(call):
    async def loop(n):
        fn = _asyncFn
        started = time.perf_counter()
        for _ in range(n):
            await call(fn)
        return time.perf_counter() - started

    return loop


async def _asyncBareLoop(n):
    fn = _asyncFn
    started = time.perf_counter()
    for _ in range(n):
        await fn()
    return time.perf_counter() - started


def _asyncRejectLoop(call, rejection):
    async def fn():
        raise AssertionError("an open breaker called the service")

    async def loop(n):
        started = time.perf_counter()
        for _ in range(n):
            try:  # noqa: SIM105 - contextlib.suppress would add its own cost to the loop
                await call(fn)
            except rejection:
                pass
        return time.perf_counter() - started

    return loop


# -- the breakers under test ---------------------------------------------------------------------


def _fail() -> None:
    raise RuntimeError("down")


async def _failAsync() -> None:
    raise RuntimeError("down")


def measureOurs(calls: int, repeat: int) -> dict[str, float]:
    """Seconds per call: closed overhead and open rejection, sync and async."""
    bare = _best(_syncBareLoop, calls, repeat)
    closed = _best(_syncLoop(CircuitBreaker(resetTimeoutSeconds=3600).call), calls, repeat)
    rejecting = CircuitBreaker(failureThreshold=1, resetTimeoutSeconds=3600)
    with contextlib.suppress(RuntimeError):
        rejecting.call(_fail)  # opens it for the hour
    reject = _best(_syncRejectLoop(rejecting.call, CircuitOpenError), calls, repeat)

    async def inLoop():
        bareA = await _asyncBest(_asyncBareLoop, calls, repeat)
        closedA = await _asyncBest(
            _asyncLoop(AsyncCircuitBreaker(resetTimeoutSeconds=3600).call), calls, repeat
        )
        openA = AsyncCircuitBreaker(failureThreshold=1, resetTimeoutSeconds=3600)
        with contextlib.suppress(RuntimeError):
            await openA.call(_failAsync)
        rejectA = await _asyncBest(_asyncRejectLoop(openA.call, CircuitOpenError), calls, repeat)
        return bareA, closedA, rejectA

    bareA, closedA, rejectA = asyncio.run(inLoop())
    return {
        "syncClosedOverhead": closed - bare,
        "syncReject": reject,
        "asyncClosedOverhead": closedA - bareA,
        "asyncReject": rejectA,
    }


def measurePeers(calls: int, repeat: int) -> dict[str, dict[str, float]]:
    """The same loops over whichever peer libraries are importable."""
    rows: dict[str, dict[str, float]] = {}
    bare = _best(_syncBareLoop, calls, repeat)
    try:
        import pybreaker
    except ImportError:
        pass
    else:
        closed = pybreaker.CircuitBreaker(fail_max=3, reset_timeout=3600)
        opened = pybreaker.CircuitBreaker(fail_max=3, reset_timeout=3600)
        opened.open()
        rows["pybreaker"] = {
            "syncClosedOverhead": _best(_syncLoop(closed.call), calls, repeat) - bare,
            "syncReject": _best(
                _syncRejectLoop(opened.call, pybreaker.CircuitBreakerError), calls, repeat
            ),
        }
    try:
        import aiobreaker
    except ImportError:
        pass
    else:
        from datetime import timedelta

        async def aio():
            closed = aiobreaker.CircuitBreaker(fail_max=3, timeout_duration=timedelta(hours=1))
            opened = aiobreaker.CircuitBreaker(fail_max=3, timeout_duration=timedelta(hours=1))
            opened.open()
            bareA = await _asyncBest(_asyncBareLoop, calls, repeat)
            return {
                "syncClosedOverhead": _best(_syncLoop(closed.call), calls, repeat) - bare,
                "asyncClosedOverhead": await _asyncBest(
                    _asyncLoop(closed.call_async), calls, repeat
                )
                - bareA,
                "asyncReject": await _asyncBest(
                    _asyncRejectLoop(opened.call_async, aiobreaker.CircuitBreakerError),
                    calls,
                    repeat,
                ),
            }

        rows["aiobreaker"] = asyncio.run(aio())
    try:
        import purgatory
        from purgatory.domain.model import OpenedState
    except ImportError:
        pass
    else:
        rows["purgatory"] = _measurePurgatory(purgatory, OpenedState, bare, calls, repeat)
    return rows


def _measurePurgatory(purgatory, opened, bare, calls, repeat):
    factory = purgatory.SyncCircuitBreakerFactory(default_threshold=3, default_ttl=3600)
    closed = factory.get_breaker("closed")  # looked up once, in advance: its fastest use

    def closedCall(fn):
        with closed:
            return fn()

    tripped = factory.get_breaker("open")
    for _ in range(3):
        try:
            with tripped:
                raise RuntimeError("down")
        except (RuntimeError, opened):
            pass

    def openCall(fn):
        with tripped:
            return fn()

    row = {
        "syncClosedOverhead": _best(_syncLoop(closedCall), calls, repeat) - bare,
        "syncReject": _best(_syncRejectLoop(openCall, opened), calls, repeat),
    }

    async def inLoop():
        factoryA = purgatory.AsyncCircuitBreakerFactory(default_threshold=3, default_ttl=3600)
        closedA = await factoryA.get_breaker("closed")
        trippedA = await factoryA.get_breaker("open")
        for _ in range(3):
            try:
                async with trippedA:
                    raise RuntimeError("down")
            except (RuntimeError, opened):
                pass

        async def closedCallA(fn):
            async with closedA:
                return await fn()

        async def openCallA(fn):
            async with trippedA:
                return await fn()

        bareA = await _asyncBest(_asyncBareLoop, calls, repeat)
        return {
            "asyncClosedOverhead": await _asyncBest(_asyncLoop(closedCallA), calls, repeat) - bareA,
            "asyncReject": await _asyncBest(_asyncRejectLoop(openCallA, opened), calls, repeat),
        }

    row.update(asyncio.run(inLoop()))
    return row


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--peers", action="store_true")
    args = parser.parse_args()
    rows = {"lecture31": measureOurs(args.calls, args.repeat)}
    if args.peers:
        rows.update(measurePeers(args.calls, args.repeat))
    columns = ("syncClosedOverhead", "asyncClosedOverhead", "syncReject", "asyncReject")
    print(f"{'us per call':<12}" + "".join(f"{c:>21}" for c in columns))
    for name, row in rows.items():
        cells = "".join(f"{row[c] * 1e6:>21.3f}" if c in row else f"{'-':>21}" for c in columns)
        print(f"{name:<12}{cells}")


if __name__ == "__main__":
    _main()
