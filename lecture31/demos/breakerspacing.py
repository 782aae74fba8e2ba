"""How often a seeded harness run shows every state, by call spacing, without sleeping.

The harness's calls are ``callIntervalSeconds`` apart; once the circuit opens, the calls that
arrive within the 2 s reset timeout fail fast and the first one after it is the probe. Spacing
sets how many fast-fails each opening shows; it barely changes *whether* a run trips, which
takes three failures in a row (40% each) somewhere in 30 calls. This replays each seed's fates
(the same per-request draws ``runHarness(seed=...)`` makes) through the real state machine on a
virtual clock, charging a hang the outer timeout::

    python -m lecture31.demos.breakerspacing       # seeds 0-399; spacings 1.0, 0.7, 0.55, 0.25 s
"""

from __future__ import annotations

import argparse

from ..breaker import CALL_INTERVAL_SECONDS, OUTER_TIMEOUT_SECONDS, FlakyAsyncService
from ..breaker.state import BreakerState, _BreakerCore

__all__ = ("reachesHalfOpen",)


def reachesHalfOpen(
    seed: int,
    callIntervalSeconds: float,
    *,
    numCalls: int = 30,
    resetTimeoutSeconds: float = 2.0,
) -> bool:
    """Would ``runHarness(numCalls, seed=seed)`` at this spacing ever send a probe?"""
    fates = FlakyAsyncService._seededPerRequest(seed)
    now = 0.0
    core = _BreakerCore(3, resetTimeoutSeconds, None, clock=lambda: now)
    for requestId in range(numCalls):
        if requestId:
            now += callIntervalSeconds
        admitted = core.admit()
        if not isinstance(admitted, int):
            continue  # failed fast
        if core.state is BreakerState.HALF_OPEN:
            return True
        fate = fates._draw(requestId)
        if fate == "hang":
            now += OUTER_TIMEOUT_SECONDS
        if fate == "success":
            core.recordSuccess(admitted)
        else:
            core.recordFailure(admitted)
    return False


def fastFailsPerOpening(callIntervalSeconds: float, resetTimeoutSeconds: float = 2.0) -> int:
    """Calls turned away after each opening: those arriving before the reset timeout."""
    calls = 0
    while (calls + 1) * callIntervalSeconds < resetTimeoutSeconds:
        calls += 1
    return calls


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=400)
    parser.add_argument(
        "--spacing", type=float, nargs="*", default=[1.0, 0.7, CALL_INTERVAL_SECONDS, 0.25]
    )
    args = parser.parse_args(argv)
    print(f"seeds 0-{args.seeds - 1}, 30 calls, reset timeout 2 s")
    print(f"{'spacing':>8} {'fast-fails per opening':>23} {'runs reaching half_open':>24}")
    for spacing in args.spacing:
        share = sum(reachesHalfOpen(seed, spacing) for seed in range(args.seeds)) / args.seeds
        print(f"{spacing:>6.2f} s {fastFailsPerOpening(spacing):>23} {share:>24.1%}")


if __name__ == "__main__":
    main()
