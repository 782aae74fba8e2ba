"""Exercise 3: what a circuit breaker costs per call (pairs ``breaker-<state>-<sync|async>``).

    bare:    CALLS x fn()                      (the reference: the call with no breaker)
    breaker: CALLS x breaker.call(fn)          closed: the overhead a healthy call pays
                                               open:   the cost of a fast-fail rejection

Each round is a loop of CALLS calls, so per-call costs (well under a microsecond) are far above
the timer's resolution; the report divides by ``calls``. The async loops run as one coroutine on
the session loop, so the loop's own per-round cost is the same for both variants and cancels out.
"""

from __future__ import annotations

import pytest

from lecture31.breaker import AsyncCircuitBreaker, CircuitBreaker, CircuitOpenError

CALLS = 2000
# Long enough that an opened breaker stays open for the whole session.
_RESET_SECONDS = 3600.0


def _ok():
    return 1


async def _okAsync():
    return 1


def _boom():
    raise RuntimeError("service degraded")


async def _boomAsync():
    raise RuntimeError("service degraded")


def _openSync() -> CircuitBreaker:
    breaker = CircuitBreaker(failureThreshold=1, resetTimeoutSeconds=_RESET_SECONDS)
    with pytest.raises(RuntimeError):
        breaker.call(_boom)
    assert breaker.state == "open"
    return breaker


async def _openAsync() -> AsyncCircuitBreaker:
    breaker = AsyncCircuitBreaker(failureThreshold=1, resetTimeoutSeconds=_RESET_SECONDS)
    with pytest.raises(RuntimeError):
        await breaker.call(_boomAsync)
    assert breaker.state == "open"
    return breaker


def _bareSync():
    for _ in range(CALLS):
        _ok()


async def _bareAsync():
    for _ in range(CALLS):
        await _okAsync()


def _closedSync(breaker):
    call = breaker.call
    for _ in range(CALLS):
        call(_ok)


async def _closedAsync(breaker):
    call = breaker.call
    for _ in range(CALLS):
        await call(_okAsync)


def _rejectedSync(breaker):
    call = breaker.call
    rejected = 0
    for _ in range(CALLS):
        try:
            call(_ok)
        except CircuitOpenError:
            rejected += 1
    return rejected


async def _rejectedAsync(breaker):
    call = breaker.call
    rejected = 0
    for _ in range(CALLS):
        try:
            await call(_okAsync)
        except CircuitOpenError:
            rejected += 1
    return rejected


@pytest.mark.parametrize("state", ["closed", "open"])
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_bare_calls(measure, state, flavour):
    _measureCalls(measure, state, flavour, "bare", _bareSync if flavour == "sync" else _bareAsync)


def _measureCalls(measure, state: str, flavour: str, variant: str, target):
    """One side of a ``breaker-{state}-{flavour}`` pair: CALLS calls per round."""
    return measure(
        pair=f"breaker-{state}-{flavour}",
        comparison="breaker",
        variant=variant,
        reference="bare",
        scale=CALLS,
        calls=CALLS,
        kind="breaker",
        target=target,
    )


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_closed_breaker_overhead(measure, flavour):
    breaker: CircuitBreaker | AsyncCircuitBreaker
    if flavour == "sync":
        breaker = CircuitBreaker()
        target = lambda: _closedSync(breaker)  # noqa: E731
    else:
        breaker = AsyncCircuitBreaker()
        target = lambda: _closedAsync(breaker)  # noqa: E731
    _measureCalls(measure, "closed", flavour, "breaker", target)
    assert breaker.state == "closed"
    assert breaker.failureCount == 0


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_open_breaker_fast_fail(measure, benchRunner, flavour):
    if flavour == "sync":
        breaker = _openSync()
        target = lambda: _rejectedSync(breaker)  # noqa: E731
    else:
        breaker = benchRunner.run(_openAsync())
        target = lambda: _rejectedAsync(breaker)  # noqa: E731
    rejected = _measureCalls(measure, "open", flavour, "breaker", target)
    assert rejected == CALLS
    assert breaker.state == "open"
