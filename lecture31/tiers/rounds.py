"""Interleaved rounds: every tier of a workload timed moments apart, in a seeded shuffled order.

    round 0, untimed   inline, then each tier once, lightest first: results checked against
                       inline's; each tier's first time sizes its samples
    round 1 .. R       the tiers in a shuffled order (seeded), e.g. processes, inline, threads;
                       each tier one sample: `repeats` batches back to back, timed from the loop
                       (beside CPU workloads a scaling-probe round joins the shuffle);
                       ROUNDS rounds, then more while a tier's interval is wider than
                       PRECISION (up to MAX_ROUNDS); none once WORKLOAD_SECONDS are spent
                       (MIN_ROUNDS at least)
      v
    per tier: R seconds per batch, round i of every tier taken within a second or so

Why: a shared host's load comes and goes over seconds. Timed tier after tier, a busy second lands
on one tier and moves its ratio to inline; interleaved, it lands on every tier of one round and
cancels in that round's own ratio (``roundRatioInterval`` resamples those ratios whole). The
shuffle (Abedi and Brecht's randomized multiple interleaved trials; asv's ABBA order) keeps a
tier from always following the same other one (whose pool just went idle, or whose data is
still in the caches).

Why more rounds and not longer samples: on a 2-vCPU VM the rounds' own speedups spread widely
(cpu-python on processes: 1.07x-2.02x over 30 rounds; homework-parse on threads 1.27x-1.87x), and
samples three times as long left that spread as it was (the load moves over seconds, not within
a sample). The interval narrows with the count of rounds, so a workload whose interval is still
wide gets more of them, within its time. Stopping on the interval's width, never on its value,
is the fixed-width sequential rule (Chow and Robbins): it decides how precise, not what.

A sample lasts at least SAMPLE_SECONDS (several batches in a row when one is shorter), so the
timer and the dispatch of a batch's first and last task (~0.1-0.5 ms) are a percent of it or less.
A user's function runs under a time limit per sample (``timeLimit``): one that hangs ends the
run with a ``WorkloadError``, and a process worker stuck in it is ended.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass

from .._runtime.pools import terminatePool
from .._runtime.seeding import derivedRng
from ..report.stats import roundRatioInterval
from .userworkload import WorkloadError, WorkloadTimedOut
from .workloads import Escaped, Kind, Workload, runBatch

__all__ = (
    "MAX_REPEATS",
    "MAX_ROUNDS",
    "MIN_ROUNDS",
    "PRECISION",
    "ROUNDS",
    "SAMPLE_SECONDS",
    "WORKLOAD_SECONDS",
    "Timed",
    "repeatsFor",
    "timeInterleaved",
)


# Timed rounds per workload: ROUNDS, then more while any tier's 95% interval is wider than
# PRECISION (high / low), up to MAX_ROUNDS; none once WORKLOAD_SECONDS have gone on its rounds,
# but at least MIN_ROUNDS (a bootstrap of fewer says little). On a quiet 2-core VM: blocking-io
# and async-io are within 1.02 at 15 rounds and stop there; homework-parse (~0.3 s a round) goes
# on to ~30; the CPU workloads (~0.9 s a round with dask) fill their 11 s; the whole matrix
# takes ~50 s. A slow user function gets what fits, at least 5.
ROUNDS = 15
MAX_ROUNDS = 40
PRECISION = 1.08
WORKLOAD_SECONDS = 11.0
MIN_ROUNDS = 5

# A sample is at least this long: batches shorter than this are repeated back to back, up to
# MAX_REPEATS times (a tiny user function would otherwise repeat without end).
SAMPLE_SECONDS = 0.05
MAX_REPEATS = 100


@dataclass(frozen=True)
class Timed:
    """One workload's interleaved rounds."""

    seconds: Mapping[str, list[float]]  # tier -> seconds per batch, round by round
    sameResult: Mapping[str, bool]  # tier -> whether its results equal inline's
    repeats: Mapping[str, int]  # tier -> batches per sample
    rounds: int


def repeatsFor(batchSeconds: float) -> int:
    """Batches per sample, so that a sample lasts at least SAMPLE_SECONDS (1..MAX_REPEATS)."""
    if batchSeconds <= 0:
        return MAX_REPEATS
    return max(1, min(MAX_REPEATS, math.ceil(SAMPLE_SECONDS / batchSeconds)))


async def timeInterleaved(
    workload: Workload,
    tierList: Sequence[str],
    inputs: list[tuple],
    executors: Mapping[str, Executor],
    *,
    seed: int | None,
    rounds: int = MAX_ROUNDS,
    timeLimit: float | None = None,
    alongside: Callable[[], Awaitable[None]] | None = None,
) -> Timed:
    """Time ``workload`` on every tier of ``tierList`` (inline first) in interleaved rounds.

    ``rounds`` is the most timed rounds (see ROUNDS and PRECISION); ``timeLimit`` bounds every
    sample; ``alongside`` (a scaling-probe round) joins each round's shuffle. The order of each
    round comes from ``seed`` and the workload's name: the same seed, the same orders.
    """
    first: dict[str, float] = {}
    same: dict[str, bool] = {}
    reference: list | None = None
    for tier in tierList:
        results, first[tier] = await _sample(workload, tier, inputs, executors, 1, timeLimit)
        if tier == "inline":
            reference = results
        same[tier] = results == reference
        if not same[tier] and workload.deterministic:
            raise RuntimeError(
                f"workload {workload.name!r} gave different results on tier {tier!r} "
                "than inline: the rows would not compare the same work"
            )
    repeats = {tier: repeatsFor(seconds) for tier, seconds in first.items()}
    order = derivedRng(seed, "tiers", "order", workload.name) or random.Random()
    perBatch: dict[str, list[float]] = {tier: [] for tier in tierList}
    entries: list[str | None] = [*tierList, *([None] if alongside is not None else [])]
    count = 0
    began = time.perf_counter()
    while count < rounds and (
        count < MIN_ROUNDS
        or (
            time.perf_counter() - began < WORKLOAD_SECONDS
            and (count < ROUNDS or not _precise(perBatch))
        )
    ):
        count += 1
        order.shuffle(entries)
        for entry in entries:
            if entry is None:
                assert alongside is not None
                await alongside()
                continue
            times = repeats[entry]
            _, seconds = await _sample(workload, entry, inputs, executors, times, timeLimit)
            perBatch[entry].append(seconds / times)
    return Timed(perBatch, same, repeats, count)


def _precise(perBatch: Mapping[str, list[float]]) -> bool:
    """Every tier's interval of its speedup over inline is within PRECISION (high / low)."""
    inline = perBatch["inline"]
    for tier, seconds in perBatch.items():
        if tier == "inline" or min(seconds, default=0.0) <= 0.0:
            continue
        interval = roundRatioInterval(inline, seconds, resamples=_CHECK_RESAMPLES)
        if interval.high > interval.low * PRECISION:
            return False
    return True


# Enough for a stopping rule (the printed interval uses the full DEFAULT_RESAMPLES), and ~1 ms.
_CHECK_RESAMPLES = 2_000


async def _sample(
    workload: Workload,
    tier: str,
    inputs: list[tuple],
    executors: Mapping[str, Executor],
    repeats: int,
    timeLimit: float | None,
) -> tuple[list, float]:
    """One sample: ``repeats`` batches on ``tier``; the last one's results and the seconds."""
    executor = executors.get(tier)
    limit = asyncio.timeout(timeLimit)
    start = time.perf_counter()
    try:
        async with limit:
            results = await runBatch(workload, tier, inputs, executor, repeats=repeats)
    except Exception as exc:
        if isinstance(exc, TimeoutError) and limit.expired():
            raise _timedOut(workload, tier, len(inputs), timeLimit, executor) from exc
        if workload.kind is not Kind.UNKNOWN:
            raise  # a built-in workload failing is a bug here, not the user's
        raise _raised(workload, tier, exc) from exc
    return results, time.perf_counter() - start


def _raised(workload: Workload, tier: str, exc: Exception) -> WorkloadError:
    name, text = (
        (exc.typeName, exc.text) if isinstance(exc, Escaped) else (type(exc).__name__, str(exc))
    )
    what = f"{name}: {text}" if text else name
    return WorkloadError("raised", f"workload {workload.name!r} raised {what} (on tier {tier!r})")


def _timedOut(
    workload: Workload, tier: str, tasks: int, timeLimit: float | None, executor: Executor | None
) -> WorkloadError:
    """The error for a sample that overran: a process worker stuck in the call is ended (its
    pool could never shut down); a thread cannot be, and is handed to whoever exits."""
    ended = ""
    if isinstance(executor, ProcessPoolExecutor):
        terminatePool(executor)
        ended = "; its process workers were ended"
    stuck = tuple(executor._threads) if isinstance(executor, ThreadPoolExecutor) else ()
    return WorkloadTimedOut(
        "timed out",
        f"workload {workload.name!r} did not finish {tasks} tasks on tier {tier!r} within "
        f"{timeLimit:g} s (the time limit of a batch: --timeout){ended}",
        stuckThreads=stuck,
    )
