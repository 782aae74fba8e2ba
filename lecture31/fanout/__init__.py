"""Exercise 2: fan-out query with an adaptive timeout.

One query goes to every shard at once; whatever has answered by the deadline is the result, and
the deadline itself is learnt from how fast shards answered before::

    tracker.suggestedTimeout()  (read once: the deadline)
        |                         +-> shard 0 -+
        v                         +-> shard 1 -+   asyncio.wait(tasks, timeout=deadline)
    fanOutWithAdaptiveTimeout ----+-> ...      +-> done:    task.result() in try/except
        ^                         +-> shard N -+   pending: cancel(), then await them
        |                                                     |
        +---- tracker.update(latencies of shards that responded)

A shard's latency runs from the fan-out's start to that shard's own completion; it is stamped
inside the shard's task, so a fast shard is not charged for the slow ones the collector waited on.

The learnt timeout settles below its target (2 x the true p90, ``IDEAL_TIMEOUT_SECONDS``): the
homework learns only from shards that answered, i.e. those faster than the deadline, so the
window is right-censored, and a p90 from 20 samples is itself biased low for a skewed
distribution. ``LatencyTracker(recordTimeouts=True)`` removes the censoring share by recording a
cut-off shard at the deadline (capped). ``lecture31/demos/fanoutcensoring.py`` explains and
measures both: ``python -m lecture31.demos.fanoutcensoring``.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import numpy

from .._runtime.checks import checkCount, checkSeconds, checkSeed
from .._runtime.seeding import derivedRng
from .hedged import hedgedFanOut

__all__ = (
    "LatencyTracker",
    "fanOutWithAdaptiveTimeout",
    "hedgedFanOut",  # beyond the homework: hedged.py (and the study: hedging.py)
    "queryShard",
    "runQueries",
)

# The simulated shard, as the homework gives it: 100 ms floor plus an exponential spike.
BASE_LATENCY_SECONDS = 0.1
SPIKE_RATE = 5.0  # expovariate(5): mean spike 0.2 s, so a mean latency of 0.3 s
FAILURE_PROBABILITY = 0.1
RECORDS_PER_SHARD = (3, 8)  # randint bounds, both inclusive

# The tracker. A 20-latency window forgets a shift in the distribution within ~4 queries of 6
# shards, at the price of a p90 that rests on the window's top 2-3 values (noisy, biased low).
WINDOW_SIZE = 20
# Below 5 latencies a "90th percentile" is just the maximum of a handful: use a fixed default.
MIN_OBSERVATIONS = 5
DEFAULT_TIMEOUT_SECONDS = 0.5
PERCENTILE = 90.0
# p90 alone would cut one healthy shard in ten; 2 x p90 cuts about 0.6% of this distribution
# (P(latency > 1.121 s) = e^-5.1), at the price of waiting twice the p90 for a stuck shard.
TIMEOUT_MULTIPLIER = 2.0
# Opt-in recording of timed-out shards: one counts as this at most, so the deadline can grow
# to 2 x 5 s when shards die but never without bound.
TIMEOUT_RECORD_CAP_SECONDS = 5.0
# The largest latency the tracker accepts. A shard that took an hour did not answer a query, it
# had an outage; a bigger number is almost surely a unit mistake (ms or ns passed as seconds)
# or garbage such as 1e308, whose 2 x p90 overflows to inf and would only blow up in the next
# fan-out, after the window had already been changed. An hour keeps every deadline finite.
MAX_LATENCY_SECONDS = 3600.0

# What the adaptive timeout aims at for this distribution: 2 x (0.1 + ln(10)/5) = 1.121 s.
IDEAL_TIMEOUT_SECONDS = TIMEOUT_MULTIPLIER * (BASE_LATENCY_SECONDS + math.log(10) / SPIKE_RATE)

_RESULT_KEYS = (
    "query",
    "shardsResponded",
    "shardsTimedOut",
    "shardsFailed",
    "totalRecords",
    "usedTimeout",
)


def _checkLatency(latency: object, what: str) -> float:
    """``latency`` as a float in [0, MAX_LATENCY_SECONDS], or an error that names ``what``."""
    return checkSeconds(latency, what, maximum=MAX_LATENCY_SECONDS)


class LatencyTracker:
    """A sliding window of the last 20 shard latencies and the timeout they suggest."""

    def __init__(
        self,
        *,
        recordTimeouts: bool = False,
        timeoutCapSeconds: float = TIMEOUT_RECORD_CAP_SECONDS,
    ) -> None:
        cap = checkSeconds(
            timeoutCapSeconds, "timeoutCapSeconds", positive=True, maximum=MAX_LATENCY_SECONDS
        )
        self.latencies: deque[float] = deque(maxlen=WINDOW_SIZE)
        self.recordTimeouts = bool(recordTimeouts)
        self.timeoutCapSeconds = cap

    def __repr__(self) -> str:
        mode = " recordTimeouts" if self.recordTimeouts else ""
        return (
            f"<LatencyTracker{mode} {len(self.latencies)} latencies"
            f" suggestedTimeout={self.suggestedTimeout():.3f}s>"
        )

    def record(self, latency: float) -> None:
        """Add one observed latency (seconds, at most ``MAX_LATENCY_SECONDS``)."""
        self.latencies.append(_checkLatency(latency, "latency"))

    def update(self, latencies: Iterable[float]) -> None:
        """Add several latencies; all or none (a bad one is named by its index)."""
        checked = [_checkLatency(x, f"latencies[{i}]") for i, x in enumerate(latencies)]
        self.latencies.extend(checked)

    def recordTimedOut(self, deadline: float, count: int = 1) -> None:
        """``count`` shards cut off at ``deadline``: ignored unless ``recordTimeouts``.

        Off (the homework's rule) the tracker learns only from shards that answered. On, each
        is recorded at ``min(deadline, timeoutCapSeconds)``: its true latency was at least the
        deadline, and the cap keeps a dead shard from running the timeout away.
        """
        value = checkSeconds(deadline, "deadline")
        checkCount(count, "count", minimum=0)
        if self.recordTimeouts:
            self.latencies.extend([min(value, self.timeoutCapSeconds)] * count)

    def suggestedTimeout(self) -> float:
        """2.0 x the window's 90th percentile (numpy, linear); 0.5 s below 5 latencies."""
        if len(self.latencies) < MIN_OBSERVATIONS:
            return DEFAULT_TIMEOUT_SECONDS
        p90 = numpy.percentile(numpy.fromiter(self.latencies, float), PERCENTILE, method="linear")
        return TIMEOUT_MULTIPLIER * float(p90)


def _drawShard(rng: random.Random | None) -> tuple[float, bool, int]:
    """One shard's (latency, fails, record count), always three draws in this order."""
    source: Any = random if rng is None else rng
    latency = BASE_LATENCY_SECONDS + source.expovariate(SPIKE_RATE)
    fails = source.random() < FAILURE_PROBABILITY
    numRecords = source.randint(*RECORDS_PER_SHARD)
    return latency, fails, numRecords


async def queryShard(shardId: int, query: object, *, rng: random.Random | None = None) -> dict:
    """Simulate one shard: 0.1 s + Exp(5) latency, then 10% ``RuntimeError("shard error")``.

    Everything random is drawn before the sleep, so a seeded shard's fate does not depend on
    when it is scheduled or cancelled. A failing shard still takes its latency.
    """
    latency, fails, numRecords = _drawShard(rng)
    await asyncio.sleep(latency)
    if fails:
        raise RuntimeError("shard error")
    return {"shardId": shardId, "records": [f"r_{shardId}_{i}" for i in range(numRecords)]}


_QueryFn = Callable[..., Awaitable[dict]]


async def _timedShard(
    queryFn: _QueryFn, shardId: int, query: object, rng: random.Random | None, startedAt: float
) -> tuple[dict, float]:
    """Run one shard and stamp its latency the moment it answers, inside its own task."""
    result = await queryFn(shardId, query, rng=rng)
    return result, time.perf_counter() - startedAt


async def _cancelAndDrain(tasks: Sequence[asyncio.Task]) -> None:
    """Cancel the unfinished tasks, wait until every one is done, retrieve every exception.

    A cancellation of the caller while draining is held back until the shards are gone, so no
    shard task ever outlives the fan-out, then re-raised.
    """
    unfinished = [task for task in tasks if not task.done()]
    for task in unfinished:
        task.cancel()
    interrupted: asyncio.CancelledError | None = None
    while unfinished:
        try:
            await asyncio.wait(unfinished)
        except asyncio.CancelledError as exc:
            interrupted = exc
        unfinished = [task for task in unfinished if not task.done()]
    for task in tasks:
        if not task.cancelled():
            task.exception()  # marks it retrieved: no "Task exception was never retrieved"
    if interrupted is not None:
        raise interrupted


async def fanOutWithAdaptiveTimeout(
    query: object,
    numShards: int,
    tracker: LatencyTracker,
    *,
    rng: random.Random | None = None,
    _queryFn: _QueryFn | None = None,
) -> dict:
    """Query ``numShards`` shards at once and keep what answers before the adaptive deadline.

    Returns ``query, shardsResponded, shardsTimedOut, shardsFailed, totalRecords, usedTimeout``.
    ``rng`` seeds one independent generator per shard, drawn in shard order before any task
    starts, so the sampled latencies and failures do not depend on scheduling.
    """
    numShards = checkCount(numShards, "numShards")
    if not isinstance(tracker, LatencyTracker):
        raise TypeError(f"tracker must be a LatencyTracker, got {tracker!r}")
    queryFn = queryShard if _queryFn is None else _queryFn
    # Read once (the deadline does not move mid-query) and checked before any shard starts, so
    # a subclass suggesting nonsense fails here, not after the window has been updated.
    usedTimeout = checkSeconds(tracker.suggestedTimeout(), "tracker.suggestedTimeout()")
    shardRngs = [
        None if rng is None else derivedRng(rng.getrandbits(64), "shard", shardId)
        for shardId in range(numShards)
    ]

    startedAt = time.perf_counter()
    tasks = [
        asyncio.create_task(
            _timedShard(queryFn, shardId, query, shardRngs[shardId], startedAt),
            name=f"fanout {query!r} shard {shardId}",
        )
        for shardId in range(numShards)
    ]
    try:
        _, pending = await asyncio.wait(tasks, timeout=usedTimeout)
    finally:
        # Also on our own cancellation: stragglers are cancelled and awaited, never orphaned.
        await _cancelAndDrain(tasks)

    latencies: list[float] = []
    failed = totalRecords = 0
    for task in tasks:
        if task in pending:
            continue  # missed the deadline; whatever it did after being cancelled is ignored
        if task.cancelled():  # cancelled by someone else: it did not answer
            failed += 1
            continue
        try:
            result, latency = task.result()
            numRecords = len(result["records"])
        except Exception:  # homework 3d: a failed shard is counted, not fatal
            failed += 1
            continue
        latencies.append(latency)
        totalRecords += numRecords

    tracker.update(latencies)
    tracker.recordTimedOut(usedTimeout, count=len(pending))
    return dict(
        zip(
            _RESULT_KEYS,
            (query, len(latencies), len(pending), failed, totalRecords, usedTimeout),
            strict=True,
        )
    )


async def runQueries(
    numQueries: int = 15,
    numShards: int = 6,
    *,
    seed: int | None = None,
    tracker: LatencyTracker | None = None,
    _queryFn: _QueryFn | None = None,
    _onRow: Callable[[dict, int], None] | None = None,
) -> list[dict]:
    """Run ``numQueries`` consecutive fan-outs sharing one tracker; one result dict per query.

    Queries are named ``"query-1"``, ``"query-2"``, ... ``_onRow(row, latenciesBefore)`` is
    called after each, with how many latencies the tracker held when that query began.
    """
    numQueries = checkCount(numQueries, "numQueries")
    numShards = checkCount(numShards, "numShards")
    checkSeed(seed)
    tracker = LatencyTracker() if tracker is None else tracker
    if not isinstance(tracker, LatencyTracker):
        raise TypeError(f"tracker must be a LatencyTracker or None, got {tracker!r}")
    rows = []
    for index in range(1, numQueries + 1):
        latenciesBefore = len(tracker.latencies)
        row = await fanOutWithAdaptiveTimeout(
            f"query-{index}",
            numShards,
            tracker,
            rng=derivedRng(seed, "query", index),
            _queryFn=_queryFn,
        )
        rows.append(row)
        if _onRow is not None:
            _onRow(row, latenciesBefore)
    return rows


# --- requirements 4 and 5: main prints every query and the summary ---------------------------

NUM_QUERIES, NUM_SHARDS = 15, 6  # the homework's requirement 4


async def main(seed: int | None = None) -> None:
    """Requirements 4 and 5: 15 fan-outs to 6 shards, each printed, then the summary."""
    checkSeed(seed)
    tracker = LatencyTracker()
    print(
        f"{NUM_QUERIES} fan-out queries to {NUM_SHARDS} shards"
        + ("" if seed is None else f" (seed {seed})")
    )
    print(
        f"shard latency 0.1 s + Exp(5): true p90 {IDEAL_TIMEOUT_SECONDS / 2:.3f} s,"
        f" so the ideal timeout 2 x p90 = {IDEAL_TIMEOUT_SECONDS:.3f} s"
    )
    print()
    print(_ROW_FORMAT.format("query", "timeout", "responded", "timed out", "failed", "records"))
    rows = await runQueries(
        NUM_QUERIES,
        NUM_SHARDS,
        seed=seed,
        tracker=tracker,
        _onRow=lambda row, before: print(_formatRow(row, before), flush=True),
    )
    print(_formatSummary(rows, tracker))


_ROW_FORMAT = "{:<10} {:>9} {:>10} {:>10} {:>7} {:>8}"


def _formatRow(row: dict, latenciesBefore: int) -> str:
    mark = "*" if latenciesBefore < MIN_OBSERVATIONS else " "
    return _ROW_FORMAT.format(
        row["query"],
        f"{row['usedTimeout']:.3f} s{mark}",
        row["shardsResponded"],
        row["shardsTimedOut"],
        row["shardsFailed"],
        row["totalRecords"],
    )


def _formatSummary(rows: Sequence[dict], tracker: LatencyTracker) -> str:
    responded = [row["shardsResponded"] for row in rows]
    timeouts = [row["usedTimeout"] for row in rows]
    final = tracker.suggestedTimeout()
    return "\n".join(
        [
            f"* default {DEFAULT_TIMEOUT_SECONDS} s: the tracker held fewer than"
            f" {MIN_OBSERVATIONS} latencies",
            "",
            "timeout by query: " + " ".join(f"{t:.2f}" for t in timeouts),
            f"summary over {len(rows)} queries:",
            f"  shards responded   min {min(responded)}  max {max(responded)}"
            f"  mean {sum(responded) / len(rows):.2f}",
            f"  total records      {sum(row['totalRecords'] for row in rows)}",
            f"  final suggested timeout  {final:.3f} s"
            f" ({final / IDEAL_TIMEOUT_SECONDS - 1:+.0%} against the ideal"
            f" {IDEAL_TIMEOUT_SECONDS:.3f} s)",
        ]
    )
