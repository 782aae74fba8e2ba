"""Exercise 1, requirements 2-5: the metadata call, one request through the tiers, and the runs.

``handleRequest`` parses in the process pool, then fetches metadata in the thread pool;
``runTiered`` gathers N of them on the event loop, ``runSequential`` does the same work in one
thread. A request that fails is kept, with its error, in ``RunResult.failures``: it never
cancels or hides the others.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import random
import time
from concurrent.futures import BrokenExecutor, Executor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from .._runtime.checks import checkCount, checkExecutor, checkSeed
from .._runtime.dispatch import Dispatch
from .._runtime.pools import ownedPools
from .._runtime.seeding import derivedRng
from .parsing import RECORDS_PER_REQUEST, parseCsvChunk

__all__ = (
    "METADATA_SECONDS",
    "PROCESS_POOL_WORKERS",
    "REQUESTS_IN_FLIGHT",
    "THREAD_POOL_WORKERS",
    "RequestFailedError",
    "RunResult",
    "fetchMetadataBlocking",
    "handleRequest",
    "runSequential",
    "runTiered",
)

# One thread per simultaneous request: the metadata call only sleeps, so a waiting thread costs
# a little memory and no CPU, and with fewer threads than requests the last ones would queue
# behind a 50-100 ms call and stretch the whole run by that much.
THREAD_POOL_WORKERS = 10

# The homework's number. Real CPU-bound parsing gains nothing from more processes than cores
# (they only take turns); the simulated parse sleeps instead of computing, so 4 workers overlap
# even on a 2-core machine. 10 parses on 4 workers take 3 waves: the bound in tiered/bounds.py
# schedules them so, and more workers would trim a wave at the cost of their start-up.
PROCESS_POOL_WORKERS = 4

# At most this many requests in flight: a run of N requests is gathered in windows of this many,
# so memory stays flat as N grows (10**7 requests at once would be 10**7 coroutines before the
# first one runs). Far above the homework's 10 and the benchmarks' 40, which stay one gather; a
# window this wide keeps 10 threads and 4 processes busy, so it costs no throughput.
REQUESTS_IN_FLIGHT = 1000

# The simulated legacy metadata service's latency range, in seconds.
METADATA_SECONDS = (0.05, 0.1)

# Timestamps of generated records: a random day of 2024 (the homework's example date).
_FIRST_DAY = datetime.date(2024, 1, 1)
_DAYS = 366


class RequestFailedError(Exception):
    """Raised by ``handleRequest`` when its parse or metadata step fails; the cause is chained.

    ``requestId`` and ``stage`` (``"parse"`` or ``"metadata"``) say which request failed where.
    """

    def __init__(self, requestId: int, stage: str, detail: str) -> None:
        super().__init__(f"request {requestId}: {stage} failed: {detail}")
        self.requestId = requestId
        self.stage = stage
        self.detail = detail

    def __reduce__(self):
        # Exception pickles as cls(*args); ours takes three arguments, not the message.
        return (type(self), (self.requestId, self.stage, self.detail))


@dataclass(frozen=True)
class RunResult:
    """What one run of N requests produced; each request is in ``results`` or in ``failures``."""

    # The successful requests' result dicts, in request order.
    results: list[dict]
    # Wall time of the whole run (time.perf_counter); for runTiered without pools passed in,
    # this includes starting the workers.
    elapsedSeconds: float
    # requestId -> the error that request failed with (RequestFailedError, cause chained).
    failures: dict[int, BaseException] = field(default_factory=dict)
    # requestId -> seconds from the run's start (tiered) or the request's own start (sequential)
    # until that request finished. Successful requests only.
    requestSeconds: dict[int, float] = field(default_factory=dict)

    @property
    def failedRequestIds(self) -> list[int]:
        """The ids of the requests that failed, sorted."""
        return sorted(self.failures)


def fetchMetadataBlocking(recordId: int, *, rng: random.Random | None = None) -> dict:
    """The legacy synchronous metadata service: blocks 50-100 ms; runs in the thread pool."""
    time.sleep((rng or random).uniform(*METADATA_SECONDS))
    return {"id": recordId, "label": f"item_{recordId}"}


def _makeChunk(requestId: int, rng: random.Random | None) -> list[str]:
    """Step 3a: 20 lines like "1,45.3,2024-01-01"; ids are unique across requests.

    Request r owns ids r*20+1 .. r*20+20, so distinct request ids never share a record id.
    """
    draw = rng or random
    firstId = requestId * RECORDS_PER_REQUEST + 1
    return [
        f"{firstId + offset},{draw.uniform(0.0, 100.0):.1f},"
        f"{_FIRST_DAY + datetime.timedelta(days=draw.randrange(_DAYS))}"
        for offset in range(RECORDS_PER_REQUEST)
    ]


def _combine(requestId: int, records: list[dict], metadata: dict) -> dict:
    return {"requestId": requestId, "parseCount": len(records), "metadata": metadata}


def _failure(requestId: int, stage: str, exc: Exception) -> RequestFailedError:
    if isinstance(exc, BrokenProcessPool):
        detail = (
            "a process pool worker died (killed, or crashed) so the pool is broken and cannot "
            f"finish this request's parse; start a new pool ({exc})"
        )
    elif isinstance(exc, BrokenExecutor):
        detail = f"the executor is broken ({type(exc).__name__}: {exc})"
    else:
        detail = f"{type(exc).__name__}: {exc}"
    return RequestFailedError(requestId, stage, detail)


async def handleRequest(
    requestId: int,
    threadPool: Executor,
    processPool: Executor,
    *,
    rng: random.Random | None = None,
) -> dict:
    """One request through the tiers: parse in ``processPool``, then metadata in ``threadPool``.

    Returns ``{"requestId", "parseCount", "metadata"}``. A failing step raises
    ``RequestFailedError`` naming the request and the step, chained from the cause.
    """
    checkCount(requestId, "requestId", minimum=0)
    checkExecutor(threadPool, "threadPool", optional=False)
    checkExecutor(processPool, "processPool", optional=False)
    return await _handle(requestId, Dispatch(threadPool), Dispatch(processPool), rng)


async def _handle(
    requestId: int, threads: Dispatch, processes: Dispatch, rng: random.Random | None
) -> dict:
    """``handleRequest`` once its arguments are known to be good (runTiered checked them)."""
    chunk = _makeChunk(requestId, rng)
    try:
        records = await processes.call(parseCsvChunk, chunk)  # 3b-c
    except Exception as exc:
        raise _failure(requestId, "parse", exc) from exc
    # Without an rng this is the homework's call exactly; with one, the thread draws the latency
    # from this request's own generator (nothing else uses it meanwhile).
    fetch = (
        fetchMetadataBlocking if rng is None else functools.partial(fetchMetadataBlocking, rng=rng)
    )
    try:
        metadata = await threads.call(fetch, records[0]["id"])  # 3d-e
    except Exception as exc:
        raise _failure(requestId, "metadata", exc) from exc
    return _combine(requestId, records, metadata)  # 3f


def _collect(outcomes: list, elapsedSeconds: float) -> RunResult:
    """Split (requestId, result or error, seconds) triples into a RunResult."""
    results, failures, requestSeconds = [], {}, {}
    for requestId, outcome, seconds in outcomes:
        if isinstance(outcome, BaseException):
            failures[requestId] = outcome
        else:
            results.append(outcome)
            requestSeconds[requestId] = seconds
    return RunResult(results, elapsedSeconds, failures, requestSeconds)


async def runTiered(
    numRequests: int = 10,
    *,
    threadPool: Executor | None = None,
    processPool: Executor | None = None,
    seed: int | None = None,
) -> RunResult:
    """Run ``numRequests`` requests at once with ``asyncio.gather``; see the module diagram.

    Pools passed in are used as they are and left open (pass warm pools to time the work, not
    worker start-up). Missing ones are made here (``THREAD_POOL_WORKERS`` threads,
    ``PROCESS_POOL_WORKERS`` processes) and shut down before this returns. More than
    ``REQUESTS_IN_FLIGHT`` requests are gathered that many at a time.

    Cancelled (say by an outer ``asyncio.wait_for``), it returns at once: queued work is
    cancelled, but a metadata call already blocking its thread cannot be killed; it finishes in
    the background and only then does its pool's thread exit.
    """
    checkCount(numRequests, "numRequests")
    checkExecutor(threadPool, "threadPool")
    checkExecutor(processPool, "processPool")
    checkSeed(seed)
    start = time.perf_counter()
    outcomes: list[tuple[int, object, float]] = []
    async with ownedPools() as pools:
        threads = Dispatch(pools.threads(THREAD_POOL_WORKERS, "tiered-metadata", given=threadPool))
        processes = Dispatch(pools.processes(PROCESS_POOL_WORKERS, given=processPool))
        await pools.warm(settleSeconds=0)  # start what we own off the loop (see warm)

        async def timed(requestId: int) -> tuple[int, object, float]:
            rng = derivedRng(seed, "tiered-request", requestId)
            outcome: dict | Exception
            try:
                outcome = await _handle(requestId, threads, processes, rng)
            except Exception as exc:
                # Kept, not raised: gather must not let one failure hide the other requests.
                outcome = exc
            return requestId, outcome, time.perf_counter() - start

        for first in range(0, numRequests, REQUESTS_IN_FLIGHT):
            window = range(first, min(numRequests, first + REQUESTS_IN_FLIGHT))
            outcomes += await asyncio.gather(*(timed(requestId) for requestId in window))
        elapsed = time.perf_counter() - start
    return _collect(outcomes, elapsed)


def runSequential(numRequests: int = 10, *, seed: int | None = None) -> RunResult:
    """The same requests one after another in this thread, calling the functions directly.

    With the same ``seed`` as ``runTiered`` it parses the same chunks and waits the same
    metadata latencies, so the two elapsed times compare the same work.
    """
    checkCount(numRequests, "numRequests")
    checkSeed(seed)
    outcomes = []
    start = time.perf_counter()
    for requestId in range(numRequests):
        requestStart = time.perf_counter()
        rng = derivedRng(seed, "tiered-request", requestId)
        chunk = _makeChunk(requestId, rng)
        stage = "parse"
        try:
            records = parseCsvChunk(chunk)
            stage = "metadata"
            metadata = fetchMetadataBlocking(records[0]["id"], rng=rng)
            outcome: object = _combine(requestId, records, metadata)
        except Exception as exc:
            failure = _failure(requestId, stage, exc)
            failure.__cause__ = exc
            outcome = failure
        outcomes.append((requestId, outcome, time.perf_counter() - requestStart))
    return _collect(outcomes, time.perf_counter() - start)
