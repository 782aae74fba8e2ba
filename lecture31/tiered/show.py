"""Exercise 1, requirements 4-5: ``main`` runs and prints both versions, the speedup, the bound."""

from __future__ import annotations

import random
import time
from concurrent.futures import Executor

from .._runtime.checks import checkExecutor, checkSeed
from .._runtime.pools import START_METHOD, WARM_UP_SETTLE_SECONDS, ownedPools
from .bounds import tieredBoundSeconds
from .handler import (
    PROCESS_POOL_WORKERS,
    THREAD_POOL_WORKERS,
    RunResult,
    runSequential,
    runTiered,
)

__all__ = ("NUM_REQUESTS", "describe", "main")

NUM_REQUESTS = 10  # the homework's "10 simultaneous requests"


def describe(run: RunResult, timeLabel: str) -> list[str]:
    """One line per request: what it produced, or why it failed."""
    lines = []
    byId = {result["requestId"]: result for result in run.results}
    for requestId in sorted([*byId, *run.failures]):
        if requestId in run.failures:
            lines.append(f"  request {requestId}: FAILED: {run.failures[requestId]}")
        else:
            result = byId[requestId]
            lines.append(
                f"  request {requestId}: parsed {result['parseCount']} records, "
                f"metadata {result['metadata']}  "
                f"({timeLabel} {run.requestSeconds[requestId]:.3f} s)"
            )
    return lines


async def main(seed: int | None = None, *, processPool: Executor | None = None) -> None:
    """Run the tiered version on warm pools, then the sequential one, and print the speedup.

    Without a seed one is drawn and printed, so both versions handle the same work (same
    values, same metadata latencies) and the run can be repeated. ``processPool``: an executor
    for the CPU tier (the command line may pass one), used as is.
    """
    checkSeed(seed)
    checkExecutor(processPool, "processPool")
    if seed is None:
        seed = random.SystemRandom().randrange(2**32)
    print(
        f"Exercise 1: {NUM_REQUESTS} requests, seed {seed} "
        f"(python -m lecture31 tiered --seed {seed} repeats this run)"
    )
    async with ownedPools() as pools:
        threads = pools.threads(THREAD_POOL_WORKERS, "tiered-metadata")
        processes = pools.processes(PROCESS_POOL_WORKERS, given=processPool)
        # Start every worker before timing: the homework measures the tiers, not pool start-up.
        warmStart = time.perf_counter()
        await pools.warm()
        startSeconds = time.perf_counter() - warmStart - WARM_UP_SETTLE_SECONDS
        tiered = await runTiered(NUM_REQUESTS, threadPool=threads, processPool=processes, seed=seed)
    cpuTier = (
        f"{PROCESS_POOL_WORKERS} processes ({START_METHOD})"
        if processPool is None
        else f"the given {type(processPool).__name__}"
    )
    print(
        f"pools: {THREAD_POOL_WORKERS} threads, {cpuTier}; "
        f"their workers started in {max(startSeconds, 0.0):.3f} s, before timing"
    )
    print("tiered (asyncio loop + process pool + thread pool, warm pools):")
    print("\n".join(describe(tiered, "done at")))
    # Deliberately on the loop's own thread and blocking: this is the no-executor baseline.
    sequential = runSequential(NUM_REQUESTS, seed=seed)
    print("sequential (one thread, no executor):")
    print("\n".join(describe(sequential, "took")))
    print(f"tiered time (warm pools):  {tiered.elapsedSeconds:.3f} s")
    print(f"sequential time:           {sequential.elapsedSeconds:.3f} s")
    speedup = sequential.elapsedSeconds / tiered.elapsedSeconds
    print(f"speedup = synchronous_time / async_time = {speedup:.1f}x")
    bound = tieredBoundSeconds(NUM_REQUESTS, seed)
    print(
        f"critical path {bound:.3f} s: this seed's parses in waves on {PROCESS_POOL_WORKERS}"
        f" processes, then each metadata call on {THREAD_POOL_WORKERS} threads; the tiered run"
        f" cannot beat it (efficiency {bound / tiered.elapsedSeconds:.0%})"
    )
    for label, run in (("tiered", tiered), ("sequential", sequential)):
        if run.failures:
            print(f"{label}: {len(run.failures)} request(s) failed: {run.failedRequestIds}")
