"""Exercise 4, requirement 4: naive against correct at 12, 24 and 48 sensors, with the bound;
and beyond it, correct against streamed.

compareScales:    for each scale, time runNaivePipeline, then the correct pipeline on warm
                  pools, and the critical path of the draws that very run slept
                  (``bounds.pipelineCriticalPath``)
compareStreamed:  for each scale, correct then streamed on the same warm pools, and the
                  streamed design's critical path (``bounds.streamedCriticalPath``)
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Executor
from contextlib import AbstractAsyncContextManager

from .._runtime.checks import checkCount, checkExecutor, checkSeed
from .._runtime.pools import WARM_UP_SETTLE_SECONDS
from .bounds import normalizeSeconds, pipelineCriticalPath, streamedCriticalPath
from .staged import (
    STORE_THREADS,
    _pipelinePools,
    _Pools,
    _runCorrect,
    runNaivePipeline,
)
from .stages import SENSOR_MEAN, normalizeReading
from .streamed import _runStreamed

__all__ = ("DEFAULT_SCALES", "compareScales", "compareStreamed")

DEFAULT_SCALES = (12, 24, 48)  # requirement 4's table

# --- requirement 4: the comparison table ---------------------------------------------------
#
# Why the speedup grows with the number of sensors: more parallelism to harvest at each tier.
# - Naive time grows linearly. Fetches overlap, but each sensor's normalize + store then holds
#   the event loop for ~21 ms, so N sensors cost about 0.08 s + N x 21 ms (0.33 / 0.6 / 1.1 s).
# - Correct time is nearly flat. The fetches overlap (the slowest of N, under 0.12 s whatever
#   N), all stores of the gather overlap in one 20 ms wave while N <= STORE_THREADS, and the
#   normalizations (~1 ms each) spread over the cores. So about 0.15 s at 12, 24 and 48.
# - A linear cost over a flat one: the ratio climbs with N (limits ~2.4 / 4 / 7x). It stops
#   climbing once a tier saturates: past STORE_THREADS sensors each extra STORE_THREADS add a
#   store wave, and the CPU stage grows as N / cores, so the ratio levels off (near 21 ms per
#   sensor over 20 ms / STORE_THREADS + 1 ms / cores per sensor, reached only in the thousands).


async def compareScales(
    scales: Iterable[int] = DEFAULT_SCALES,
    *,
    seed: int | None = None,
    processPool: Executor | None = None,
) -> list[dict]:
    """Naive vs correct at each scale, with the ideal time and the efficiency reached.

    Rows: ``sensors, naiveSeconds, correctSeconds, speedup, idealSeconds, efficiency``. The
    pools are made and warmed once, before any timing, so no row pays for process start-up.
    ``idealSeconds`` is the staged design's critical path (``bounds.pipelineCriticalPath``) of
    the fetch latencies this very run slept, with one normalization's cost calibrated here;
    ``efficiency`` is ``idealSeconds / correctSeconds``.
    """
    scales = _checkArguments(scales, seed, processPool)
    normalize = normalizeSeconds()
    rows = []
    async with _warmPools(processPool) as pools:
        if pools.processes.batches:
            # A cluster's batch size comes from its measured overhead and a reading's cost:
            # measure both now, so the first timed row does not pay for it.
            await pools.processes.map(normalizeReading, [{"sensorId": -1, "rawValue": 50.0}])
        for sensors in scales:
            naiveSeconds = await _seconds(runNaivePipeline(sensors, seed=seed))
            correctSeconds, idealSeconds = await _againstBound(
                _runCorrect, pipelineCriticalPath, sensors, pools, seed, normalize
            )
            rows.append(
                _row(sensors, ("naive", naiveSeconds), ("correct", correctSeconds), idealSeconds)
            )
    return rows


async def compareStreamed(
    scales: Iterable[int] = DEFAULT_SCALES,
    *,
    seed: int | None = None,
    processPool: Executor | None = None,
) -> list[dict]:
    """Correct (staged) vs streamed at each scale, on the same warm pools, one after the other.

    Rows: ``sensors, correctSeconds, streamedSeconds, speedup`` (correct / streamed),
    ``idealSeconds`` (the streamed design's critical path of the draws it slept) and
    ``efficiency`` (``idealSeconds / streamedSeconds``). The per-task overhead and a reading's
    cost, which size the streamed pipeline's batches, are measured before any timing.
    """
    scales = _checkArguments(scales, seed, processPool)
    normalize = normalizeSeconds()
    rows = []
    async with _warmPools(processPool) as pools:
        await pools.processes.measure(normalizeReading, {"sensorId": -1, "rawValue": SENSOR_MEAN})
        for sensors in scales:
            correctSeconds = await _seconds(_runCorrect(sensors, pools, seed))
            streamedSeconds, idealSeconds = await _againstBound(
                _runStreamed, streamedCriticalPath, sensors, pools, seed, normalize
            )
            rows.append(
                _row(
                    sensors,
                    ("correct", correctSeconds),
                    ("streamed", streamedSeconds),
                    idealSeconds,
                )
            )
    return rows


async def _seconds(run: Awaitable[object]) -> float:
    """How long awaiting ``run`` took, by the wall clock."""
    start = time.perf_counter()
    await run
    return time.perf_counter() - start


def _row(
    sensors: int, slow: tuple[str, float], fast: tuple[str, float], idealSeconds: float
) -> dict:
    """A table row: both designs' seconds, ``speedup`` slow / fast, and the fast one's
    ``efficiency`` against ``idealSeconds``, its bound."""
    (slowName, slowSeconds), (fastName, fastSeconds) = slow, fast
    return {
        "sensors": sensors,
        f"{slowName}Seconds": slowSeconds,
        f"{fastName}Seconds": fastSeconds,
        "speedup": slowSeconds / fastSeconds,
        "idealSeconds": idealSeconds,
        "efficiency": idealSeconds / fastSeconds,
    }


def _warmPools(
    processPool: Executor | None,
) -> AbstractAsyncContextManager[_Pools]:
    """The runners' pools, made and warmed (settled) before any timing."""
    return _pipelinePools(processPool, None, settleSeconds=WARM_UP_SETTLE_SECONDS)


async def _againstBound(
    run: Callable[..., Awaitable[object]],
    bound: Callable[..., float],
    sensors: int,
    pools: _Pools,
    seed: int | None,
    normalize: float,
) -> tuple[float, float]:
    """The seconds one ``run`` took, and its design's ``bound`` of the fetches it slept."""
    fetchSeconds: list[float] = []
    seconds = await _seconds(run(sensors, pools, seed, fetchSeconds=fetchSeconds))
    ideal = bound(
        fetchSeconds,
        normalizeSeconds=normalize,
        processes=pools.processes.workers,
        threads=STORE_THREADS,
    )
    return seconds, ideal


def _checkArguments(scales: object, seed: object, processPool: object) -> tuple[int, ...]:
    checkSeed(seed)
    checkExecutor(processPool, "processPool")  # before the scales run, not when pools are made
    return _checkScales(scales)


def _checkScales(scales: object) -> tuple[int, ...]:
    if isinstance(scales, str | bytes) or not isinstance(scales, Iterable):
        raise TypeError(f"scales must be an iterable of sensor counts, got {scales!r}")
    checked = tuple(scales)
    if not checked:
        raise ValueError("scales must hold at least one scale, got none")
    for scale in checked:
        checkCount(scale, "scale")
    return checked
