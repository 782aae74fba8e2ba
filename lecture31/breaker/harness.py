"""Exercise 3, requirements 4-5: 30 calls through the breaker to the flaky service, printed.

runHarness: for i in 0..29: wait_for(breaker.call(service.fetch, i), timeout=1.0)
    --> one record per call (outcome, state before / after, probe?, elapsed)
main: runHarness, then _renderHarness --> one line per call, the breakdown, the state
    path, the fast-fail evidence
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable
from typing import Any, Protocol, TypeVar

from .._runtime.checks import checkCount, checkSeconds, checkSeed
from .breakers import AsyncCircuitBreaker
from .service import FlakyAsyncService
from .state import BreakerState, CircuitOpenError

__all__ = (
    "CALL_INTERVAL_SECONDS",
    "OUTCOMES",
    "OUTER_TIMEOUT_SECONDS",
    "main",
    "runHarness",
)

T = TypeVar("T")

# Calls are spaced so that a run shows every state. The reset timeout is 2 s: after the circuit
# opens, calls 1-3 arrive 0.55, 1.10 and 1.65 s later and fail fast (the fast-fail evidence),
# and call 4 arrives at 2.20 s and becomes the probe. 1.65 s sits 0.35 s below the reset
# timeout, so a stall on a busy machine does not turn a fast-fail into a probe, and 2.20 s is
# past it (delays only push calls later). Spacing barely changes *whether* a run trips: with
# 40% failures, 3 in a row happen somewhere in 30 calls in about 2 runs out of 3 whatever the
# spacing (by spacing, over seeds 0-399: `python -m lecture31.demos.breakerspacing`; --seed 1,
# 2 and 3 do). Longer spacing would make `main` slower (30 x 0.55 s plus the 1 s hangs) without
# showing more.
CALL_INTERVAL_SECONDS = 0.55
OUTER_TIMEOUT_SECONDS = 1.0  # the homework's asyncio.wait_for(..., timeout=1.0)

OUTCOMES = ("success", "service_error", "circuit_open", "timeout")


class _FetchService(Protocol):
    async def fetch(self, requestId: Any) -> Any: ...


async def _waitFor(awaitable: Awaitable[T], seconds: float) -> T:
    """``asyncio.wait_for(awaitable, seconds)``, except that cancelling the caller always works.

    On Python 3.11, if the caller is cancelled in the same loop iteration in which the inner
    call finishes, ``wait_for`` returns (or raises) the inner outcome and the cancellation is
    lost (CPython gh-86296; 3.12 rebuilt ``wait_for`` on ``asyncio.timeout`` and fixed it).
    A lost cancellation is still counted in ``Task.cancelling()``, so it is raised here.
    """
    task = asyncio.current_task()
    assert task is not None, "_waitFor runs inside a task"
    requested = task.cancelling()
    try:
        result = await asyncio.wait_for(awaitable, seconds)
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        if task.cancelling() > requested:
            raise asyncio.CancelledError() from exc
        raise
    if task.cancelling() > requested:
        raise asyncio.CancelledError()
    return result


async def runHarness(
    numCalls: int = 30,
    *,
    seed: int | None = None,
    outerTimeout: float = OUTER_TIMEOUT_SECONDS,
    callIntervalSeconds: float = CALL_INTERVAL_SECONDS,
    breaker: AsyncCircuitBreaker | None = None,
    service: _FetchService | None = None,
) -> list[dict]:
    """``numCalls`` sequential ``wait_for(breaker.call(service.fetch, i), outerTimeout)`` calls.

    One dict per call: ``call``, ``outcome`` (one of OUTCOMES), ``stateBefore`` and ``state``
    (after the call), ``probe`` (the call was the half-open probe: the circuit went
    ``open -> half_open -> ...`` during it), ``failureCount``, ``elapsedSeconds`` and
    ``detail`` (the error's message; "" for a success).
    """
    checkCount(numCalls, "numCalls", minimum=0)
    checkSeed(seed)
    checkSeconds(outerTimeout, "outerTimeout")
    checkSeconds(callIntervalSeconds, "callIntervalSeconds")
    if breaker is None:
        breaker = AsyncCircuitBreaker()
    elif not isinstance(breaker, AsyncCircuitBreaker):
        raise TypeError(f"breaker must be an AsyncCircuitBreaker or None, got {breaker!r}")
    if service is None:
        service = FlakyAsyncService() if seed is None else FlakyAsyncService._seededPerRequest(seed)
    elif not callable(getattr(service, "fetch", None)):
        raise TypeError(f"service must have an async fetch(requestId) method, got {service!r}")
    records = []
    for i in range(numCalls):
        if i:
            await asyncio.sleep(callIntervalSeconds)
        stateBefore = breaker.state
        detail = ""
        started = time.perf_counter()
        try:
            await _waitFor(breaker.call(service.fetch, i), outerTimeout)
        except CircuitOpenError as exc:
            outcome, detail = "circuit_open", str(exc)
        except TimeoutError as exc:  # the outer wait_for, the probe bound, or the service's own
            outcome = "timeout"
            detail = str(exc) or f"outer wait_for timeout ({outerTimeout} s)"
        except Exception as exc:
            outcome, detail = "service_error", f"{type(exc).__name__}: {exc}"
        else:
            outcome = "success"
        elapsed = time.perf_counter() - started
        records.append(
            {
                "call": i,
                "outcome": outcome,
                "stateBefore": stateBefore,
                "state": breaker.state,
                "probe": stateBefore != BreakerState.CLOSED and outcome != "circuit_open",
                "failureCount": breaker.failureCount,
                "elapsedSeconds": elapsed,
                "detail": detail,
            }
        )
    return records


async def main(seed: int | None = None) -> None:
    """Run the homework's harness: 30 calls, 1 s outer timeout; print what happened."""
    checkSeed(seed)
    breaker = AsyncCircuitBreaker()
    print(
        f"{breaker!r}: failureThreshold {breaker.failureThreshold}, resetTimeoutSeconds "
        f"{breaker.resetTimeoutSeconds}, probeTimeoutSeconds {breaker.probeTimeoutSeconds}; "
        f"30 calls {CALL_INTERVAL_SECONDS} s apart, each under a {OUTER_TIMEOUT_SECONDS} s "
        f"outer timeout (seed {seed})"
    )
    records = await runHarness(seed=seed, breaker=breaker)
    print(_renderHarness(records, outerTimeout=OUTER_TIMEOUT_SECONDS, finalState=breaker.state))


def _statePath(records: list[dict]) -> list[str]:
    """The states a run went through, in order, with half_open shown for each probe."""
    path = [str(records[0]["stateBefore"])] if records else []
    for record in records:
        steps = ["half_open", str(record["state"])] if record["probe"] else [str(record["state"])]
        for step in steps:
            if step != path[-1]:
                path.append(step)
    return path


def _renderHarness(records: list[dict], *, outerTimeout: float, finalState: str) -> str:
    """The report ``main`` prints: one line per call, the breakdown, and fast-fail evidence."""
    lines = [f"{'call':>4}  {'outcome':<13} {'ms':>9}  {'state after':<11}  detail"]
    for record in records:
        probe = "[probe] " if record["probe"] else ""
        lines.append(
            f"{record['call']:>4}  {record['outcome']:<13} "
            f"{record['elapsedSeconds'] * 1000:>9.3f}  {record['state']:<11}  "
            f"{probe}{record.get('detail', '')}".rstrip()
        )
    counts = Counter(record["outcome"] for record in records)
    lines.append("")
    lines.append(
        "breakdown: " + ", ".join(f"{outcome} {counts.get(outcome, 0)}" for outcome in OUTCOMES)
    )
    lines.append("states:    " + " -> ".join(_statePath(records)))
    lines.append(f"final state: {finalState}")
    fastFails = [r["elapsedSeconds"] for r in records if r["outcome"] == "circuit_open"]
    if fastFails:
        lines.append(
            f"fast-fail: slowest of {len(fastFails)} circuit-open calls took "
            f"{max(fastFails) * 1000:.3f} ms, against the {outerTimeout * 1000:.0f} ms outer "
            "timeout a hung call waits out"
        )
    else:
        lines.append("fast-fail: the circuit never rejected a call in this run (it never opened)")
    return "\n".join(lines)
