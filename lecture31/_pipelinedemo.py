"""Exercise 4's demonstration: the naive-vs-correct table and the breaker batches, explained.

``pipeline.main`` and ``pipeline.compareScales`` delegate here; this module builds on
``pipeline`` (never the other way round).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

from . import _bounds
from ._batching import executorWorkers, mapInBatches
from ._checks import checkCount
from ._pools import ownedPools
from .pipeline import (
    BATCHES,
    BREAKER_FAILURE_THRESHOLD,
    BREAKER_RESET_SECONDS,
    DEFAULT_SCALES,
    DEMO_FAILURE_PROBABILITY,
    NORMALIZE_PROCESSES,
    SENSORS_PER_BATCH,
    STORE_FAILURE_PROBABILITY,
    STORE_SECONDS,
    STORE_THREAD_NAME,
    STORE_THREADS,
    _runCorrect,
    normalizeReading,
    runNaivePipeline,
    runStorageBreakerBatches,
)

# --- requirement 4: the comparison table ---------------------------------------------------
#
# Why the speedup grows with the number of sensors: more parallelism to harvest at each tier.
# - Naive time grows linearly. Fetches overlap, but each sensor's normalize + store then holds
#   the event loop for ~21 ms, so N sensors cost about 0.08 s + N x 21 ms (0.33 / 0.6 / 1.1 s).
# - Correct time is nearly flat. The fetches overlap (the slowest of N, under 0.12 s whatever
#   N), all stores of the gather overlap in one 20 ms wave while N <= STORE_THREADS, and the
#   normalizations (~1 ms each) spread over the cores. So about 0.15 s at 12, 24 and 48.
# - A linear cost over a flat one: the ratio climbs with N (limits ~2.4 / 4 / 7x). It stops
#   climbing once a tier saturates: past STORE_THREADS sensors each extra 48 add a store wave,
#   and the CPU stage grows as N / cores, so the ratio levels off (here near 21 ms per sensor
#   over 20 ms / 48 + 1 ms / 2 per sensor, about 20x, reached only in the thousands).


async def compareScales(
    scales: Iterable[int] = DEFAULT_SCALES,
    *,
    seed: int | None = None,
    processPool: Executor | None = None,
) -> list[dict]:
    """Naive vs correct at each scale, with the ideal time and the efficiency reached.

    See ``pipeline.compareScales``. The bound is ``_bounds.pipelineCriticalPath`` of the fetch
    latencies this very run slept, with one normalization's cost calibrated here.
    """
    scales = tuple(scales)
    if not scales:
        raise ValueError("scales must hold at least one scale, got none")
    for scale in scales:
        checkCount(scale, "scale")
    normalizeSeconds = _bounds.normalizeSeconds()
    rows = []
    async with ownedPools() as pools:
        processes = pools.processes(NORMALIZE_PROCESSES, given=processPool)
        threads = pools.threads(STORE_THREADS, STORE_THREAD_NAME)
        await pools.warm()
        if processPool is not None and not isinstance(
            processPool, ProcessPoolExecutor | ThreadPoolExecutor
        ):
            # A cluster's batch size comes from its measured overhead and a reading's cost:
            # measure both now, so the first timed row does not pay for it.
            await mapInBatches(processPool, normalizeReading, [{"sensorId": -1, "rawValue": 50.0}])
        for sensors in scales:
            start = time.perf_counter()
            await runNaivePipeline(sensors, seed=seed)
            naiveSeconds = time.perf_counter() - start
            fetchSeconds: list[float] = []
            start = time.perf_counter()
            await _runCorrect(sensors, processes, threads, seed, fetchSeconds=fetchSeconds)
            correctSeconds = time.perf_counter() - start
            idealSeconds = _bounds.pipelineCriticalPath(
                fetchSeconds,
                normalizeSeconds=normalizeSeconds,
                processes=NORMALIZE_PROCESSES if processPool is None else _workers(processPool),
                threads=STORE_THREADS,
            )
            rows.append(
                {
                    "sensors": sensors,
                    "naiveSeconds": naiveSeconds,
                    "correctSeconds": correctSeconds,
                    "speedup": naiveSeconds / correctSeconds,
                    "idealSeconds": idealSeconds,
                    "efficiency": idealSeconds / correctSeconds,
                }
            )
    return rows


def _workers(pool: Executor) -> int:
    """How many workers a given executor runs (a dask client: its workers' threads)."""
    return executorWorkers(pool)


def renderScales(rows: list[dict]) -> str:
    """The comparison table; ``limit`` is the speedup the ideal time would give."""
    lines = [
        "sensors   naive s  correct s  speedup   ideal s  efficiency  limit",
    ]
    for row in rows:
        lines.append(
            f"{row['sensors']:>7}  {row['naiveSeconds']:>8.3f}  {row['correctSeconds']:>9.3f}"
            f"  {row['speedup']:>6.2f}x  {row['idealSeconds']:>8.3f}"
            f"  {row['efficiency']:>10.0%}  {row['naiveSeconds'] / row['idealSeconds']:>4.1f}x"
        )
    return "\n".join(lines)


def chanceOfRun(trials: int, probability: float, runLength: int) -> float:
    """Chance that ``trials`` independent events, each failing with ``probability``, contain
    ``runLength`` failures in a row somewhere (what it takes to open the breaker)."""
    # noRun[k]: chance of no full run so far with the current streak of failures at length k.
    noRun = [1.0] + [0.0] * (runLength - 1)
    for _ in range(trials):
        noRun = [(1 - probability) * sum(noRun)] + [
            probability * noRun[k - 1] for k in range(1, runLength)
        ]
    return 1.0 - sum(noRun)


def renderBatches(rows: list[dict]) -> str:
    lines = ["batch  successes  failures  fastFails  state after"]
    for row in rows:
        lines.append(
            f"{row['batch']:>5}  {row['successes']:>9}  {row['failures']:>8}"
            f"  {row['fastFails']:>9}  {row['state']}"
        )
    totals = {key: sum(row[key] for row in rows) for key in ("successes", "failures", "fastFails")}
    lines.append(
        f"total  {totals['successes']:>9}  {totals['failures']:>8}  {totals['fastFails']:>9}"
    )
    return "\n".join(lines)


def breakerVerdict(rows: list[dict], failureProbability: float) -> str:
    """What the batches show, said plainly, with the odds that make it unsurprising."""
    stores = sum(row["successes"] + row["failures"] + row["fastFails"] for row in rows)
    threshold = BREAKER_FAILURE_THRESHOLD
    anyThree = failureProbability**threshold
    anywhere = chanceOfRun(stores, failureProbability, threshold)
    how = "rare" if anywhere < 0.5 else "to be expected"
    odds = (
        f"At p = {failureProbability:g}, {threshold} store failures in a row are {how}:"
        f" {anyThree:.1%} for any {threshold} consecutive stores,\n{anywhere:.0%} for a run"
        f" anywhere in these {stores}."
    )
    fastFails = sum(row["fastFails"] for row in rows)
    if fastFails:
        return (
            f"{odds}\nThis run opened the breaker: {fastFails} stores failed fast, each"
            f" without calling storeReading or blocking a thread for {STORE_SECONDS * 1000:.0f}"
            " ms."
        )
    return f"{odds}\nThis run never opened the breaker, so no store failed fast."


async def runDemo(seed: int | None = None, *, processPool: Executor | None = None) -> None:
    """Requirement 4's table, then requirement 5's breaker batches at p = 0.15 and p = 0.5."""
    print("Naive (all stages inline on the event loop) vs correct (each stage on its tier):")
    print(renderScales(await compareScales(seed=seed, processPool=processPool)))
    print(
        "ideal = slowest fetch + normalizations over the processes + store waves over the"
        " threads;\nefficiency = ideal / correct; limit = naive / ideal. Naive grows ~21 ms per"
        " sensor while\nthe staged time stays near 0.15 s, so the speedup grows with the scale."
    )
    intros = {
        STORE_FAILURE_PROBABILITY: "Stores through one shared CircuitBreaker",
        DEMO_FAILURE_PROBABILITY: "Since that is rare at p = 0.15, the same again at p = 0.5,"
        " where the breaker\nshould open and fail fast",
    }
    async with ownedPools() as pools:
        processes = pools.processes(NORMALIZE_PROCESSES, given=processPool)
        threads = pools.threads(STORE_THREADS, STORE_THREAD_NAME)
        for probability, intro in intros.items():
            print(
                f"\n{intro} (threshold {BREAKER_FAILURE_THRESHOLD}, reset"
                f" {BREAKER_RESET_SECONDS} s),\n{BATCHES} batches of {SENSORS_PER_BATCH}"
                f" sensors, each store failing with p = {probability:g}:"
            )
            rows = await runStorageBreakerBatches(
                failureProbability=probability,
                seed=seed,
                processPool=processes,
                threadPool=threads,
            )
            print(renderBatches(rows))
            print(breakerVerdict(rows, probability))
