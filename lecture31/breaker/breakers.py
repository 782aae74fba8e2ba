"""The two breakers: thin shells around one state machine (``state``), sync and async.

The shell asks the core whether a call may go ahead, runs the call itself, and reports how it
ended; the core never runs user code.

    caller --> breaker.call(fn, *args) --admit?--> core (closed / open / half_open)
                   |        ^                        |
                   |        +-- CircuitOpenError ----+  (open, or a probe already in flight)
                   v
               fn(*args)  --> success / failure / cancelled / probe overran
                   |
                   +--> core.recordSuccess / recordFailure (ignored if the state moved on)
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
import types
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .._runtime.checks import checkCallable, checkSeconds
from .state import BreakerState, CircuitOpenError, _BreakerCore

__all__ = ("AsyncCircuitBreaker", "CircuitBreaker")

T = TypeVar("T")

# The message a hedged fan-out cancels a losing copy with (``task.cancel(CANCELLED_AS_LOSER)``):
# such a call counts neither as a failure nor as a success (every other cancellation from
# outside is a failure). Not in __all__: it is a protocol between the hedging and the breaker.
CANCELLED_AS_LOSER = "lecture31: cancelled as a loser (another copy answered first)"

# Sentinel: "coroutineFn was not even called", distinct from a call that returned None.
_UNSET: Any = object()


def _notAwaitableError(coroutineFn: object, returned: object) -> TypeError | None:
    """The TypeError to raise if the caller, not the service, is at fault; else None."""
    if returned is _UNSET:
        if callable(coroutineFn):
            return None
        return TypeError(f"coroutineFn must be an async callable, got {coroutineFn!r}")
    if inspect.isawaitable(returned):
        return None
    name = getattr(coroutineFn, "__qualname__", repr(coroutineFn))
    return TypeError(
        f"coroutineFn {name} returned {type(returned).__name__} {returned!r}, not an "
        "awaitable; pass an async function (AsyncCircuitBreaker) or use CircuitBreaker"
    )


class _BreakerView:
    """The read-only attributes both breakers share, delegated to their core."""

    __slots__ = ("_core",)
    _core: _BreakerCore

    @property
    def state(self) -> BreakerState:
        """``closed``, ``open`` or ``half_open`` (an open circuit turns half-open lazily, when
        the first call after the reset timeout arrives, exactly as the homework describes)."""
        return self._core.state

    @property
    def failureCount(self) -> int:
        """Consecutive failures (a failed probe adds one); reset by a success while closed."""
        return self._core.failureCount

    @property
    def lastFailureTime(self) -> float | None:
        """``clock()`` at the latest counted failure; None before the first."""
        return self._core.lastFailureTime

    @property
    def successCountInHalfOpen(self) -> int:
        """Probe successes in the latest half-open period (one closes it, so 0 or 1)."""
        return self._core.successCountInHalfOpen

    @property
    def failureThreshold(self) -> int:
        return self._core.failureThreshold

    @property
    def resetTimeoutSeconds(self) -> float:
        return self._core.resetTimeoutSeconds

    def __repr__(self) -> str:
        return self._core.describe(type(self).__name__)


class CircuitBreaker(_BreakerView):
    """A thread-safe synchronous circuit breaker (Exercise 4 wraps ``storeReading`` in one).

    The lock guards the state machine only and is never held while ``fn`` runs, so a slow call
    never blocks other threads; in half-open exactly one thread probes and the others get
    ``CircuitOpenError`` at once.
    """

    __slots__ = ("_lock", "_vetted")

    def __init__(
        self,
        failureThreshold: int = 3,
        resetTimeoutSeconds: float = 2.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._core = _BreakerCore(failureThreshold, resetTimeoutSeconds, None, clock=clock)
        self._lock = threading.Lock()
        self._vetted: object = None  # the last fn found synchronous

    def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` through the breaker: its result, its exception, or
        ``CircuitOpenError`` without calling it.

        ``fn`` must be synchronous: a coroutine function is a ``TypeError`` before anything
        happens, and a result that is awaitable is a ``TypeError`` too (closed, so it never
        warns "never awaited"); neither counts as a success or a failure.
        """
        if fn is not self._vetted:  # one identity test while the same fn is called again
            _vetSync(fn)
            self._vetted = fn
        core = self._core
        # Fast path without the lock: one attribute read, atomic, says "closed in epoch N". A
        # racing trip makes N stale, and the core then ignores this call's result.
        ticket = core.closedTicket
        if ticket is None:
            # Most calls that get here are rejected: find that out without the lock.
            if (rejection := core.peek()) is not None:
                raise rejection
            with self._lock:
                admitted = core.admit()
            if isinstance(admitted, CircuitOpenError):
                raise admitted
            ticket = admitted
        try:
            result = fn(*args, **kwargs)
        except BaseException:
            # BaseException too: a KeyboardInterrupt in a probe must still settle the probe.
            with self._lock:
                core.recordFailure(ticket)
            raise
        if type(result) not in _PLAIN_RESULT_TYPES and _isAwaitableResult(result):
            with self._lock:
                core.release(ticket)
            raise _awaitableResultError(fn, result)
        # Nothing to record for a success while closed with no failures counted.
        if ticket != core.closedTicket or core.failureCount:
            with self._lock:
                core.recordSuccess(ticket)
        return result


# Result types already seen not to be awaitable, so a sync call pays one set lookup for the
# check. Generators are never cached: whether one is awaitable depends on its code's flags.
_PLAIN_RESULT_TYPES: set[type] = {type(None), bool, int, float, str, bytes, dict, list, tuple}
_PLAIN_RESULT_TYPES_MAX = 256  # enough for any real program's result types, still bounded


def _vetSync(fn: object) -> None:
    """TypeError unless ``fn`` is a callable the sync breaker can run to completion."""
    checkCallable(fn, "fn")
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError(
            f"fn {_nameOf(fn)} is an async function: CircuitBreaker never awaits; "
            "use AsyncCircuitBreaker"
        )


def _isAwaitableResult(result: object) -> bool:
    if inspect.isawaitable(result):
        return True
    kind = type(result)
    if kind is not types.GeneratorType and len(_PLAIN_RESULT_TYPES) < _PLAIN_RESULT_TYPES_MAX:
        _PLAIN_RESULT_TYPES.add(kind)
    return False


def _awaitableResultError(fn: object, result: object) -> TypeError:
    """The caller's mistake, after closing what ``fn`` returned so it cannot warn later."""
    close = getattr(result, "close", None)
    if isinstance(result, types.CoroutineType | types.GeneratorType) and close is not None:
        close()
    return TypeError(
        f"fn {_nameOf(fn)} returned an awaitable {type(result).__name__}: CircuitBreaker "
        "never awaits; use AsyncCircuitBreaker"
    )


def _nameOf(fn: object) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


class AsyncCircuitBreaker(_BreakerView):
    """An asyncio circuit breaker whose half-open probe is bounded by ``probeTimeoutSeconds``.

    Use it from one event loop (it has no lock: the loop runs one task at a time, and the core
    never awaits, so each decision is atomic). A call cancelled from outside counts as a failure
    and its ``CancelledError`` propagates unchanged, so a hang cut by ``asyncio.wait_for`` trips
    the breaker like any other failure.
    """

    __slots__ = ()

    def __init__(
        self,
        failureThreshold: int = 3,
        resetTimeoutSeconds: float = 2.0,
        probeTimeoutSeconds: float = 0.5,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        checkSeconds(probeTimeoutSeconds, "probeTimeoutSeconds")  # None means unbounded: not here
        self._core = _BreakerCore(
            failureThreshold, resetTimeoutSeconds, probeTimeoutSeconds, clock=clock
        )

    @property
    def probeTimeoutSeconds(self) -> float:
        bound = self._core.probeTimeoutSeconds
        assert bound is not None  # only the sync breaker's core has no bound
        return bound

    async def call(
        self, coroutineFn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any
    ) -> T:
        """``await coroutineFn(*args, **kwargs)`` through the breaker."""
        core = self._core
        ticket = core.closedTicket
        if ticket is None:
            admitted = core.admit()
            if isinstance(admitted, CircuitOpenError):
                raise admitted
            ticket = admitted
            if core.isProbe(ticket):
                return await self._probe(ticket, coroutineFn, args, kwargs)
        returned = _UNSET
        try:
            returned = coroutineFn(*args, **kwargs)
            result = await returned
        except BaseException as exc:
            self._settleFailure(ticket, exc, coroutineFn, returned)
            raise
        if ticket != core.closedTicket or core.failureCount:
            core.recordSuccess(ticket)
        return result

    async def _probe(
        self, ticket: int, coroutineFn: Callable[..., Awaitable[T]], args: tuple, kwargs: dict
    ) -> T:
        """The one half-open call, bounded by ``probeTimeoutSeconds``."""
        core = self._core
        window = asyncio.timeout(core.probeTimeoutSeconds)
        returned = _UNSET
        try:
            async with window:
                returned = coroutineFn(*args, **kwargs)
                result = await returned
        except BaseException as exc:
            self._settleFailure(ticket, exc, coroutineFn, returned)
            if window.expired() and isinstance(exc, TimeoutError):
                raise TimeoutError(self._overran()) from exc
            raise
        if window.expired():
            # The probe swallowed its cancellation and returned late: still an overrun.
            core.recordFailure(ticket)
            raise TimeoutError(self._overran())
        core.recordSuccess(ticket)
        return result

    def _settleFailure(
        self, ticket: int, exc: BaseException, coroutineFn: Callable, returned: object
    ) -> None:
        """Count a failed call, unless the caller handed us a function that is not async.

        Only this failure path asks, so the happy path pays nothing for the check. A non-async
        function raises ``TypeError`` (chained to the original) and gives its ticket back.
        """
        if isinstance(exc, TypeError) and (error := _notAwaitableError(coroutineFn, returned)):
            self._core.release(ticket)
            raise error from exc
        if isinstance(exc, asyncio.CancelledError) and exc.args[:1] == (CANCELLED_AS_LOSER,):
            # A copy cancelled because another copy won (hedged requests): the replica did
            # not fail, nor did it answer; the call counts neither way.
            self._core.release(ticket)
            return
        self._core.recordFailure(ticket)

    def _overran(self) -> str:
        return (
            f"half-open probe overran probeTimeoutSeconds={self._core.probeTimeoutSeconds}; "
            "it was cancelled and the circuit is open again"
        )
