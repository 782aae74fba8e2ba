"""Exercise 3's printed report: what ``python -m lecture31 breaker`` shows, apart from the library.

runHarness(...) -> records --> _renderHarness --> one line per call, the breakdown,
                                                  the state path, the fast-fail evidence
"""

from __future__ import annotations

from collections import Counter

from .breaker import (
    CALL_INTERVAL_SECONDS,
    OUTCOMES,
    OUTER_TIMEOUT_SECONDS,
    AsyncCircuitBreaker,
    runHarness,
)

__all__ = ("showHarness",)


async def showHarness(seed: int | None) -> None:
    """The homework's harness (30 calls, 1 s outer timeout), printed."""
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
