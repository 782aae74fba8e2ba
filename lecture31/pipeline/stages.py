"""Exercise 4, requirement 1: the four stages of the sensor pipeline, and what each one costs.

fetchSensorReading   async, ~0.1 s awaited        belongs on the event loop
normalizeReading     sync CPU, ~1 ms              belongs in the process pool
storeReading         sync blocking I/O, 20 ms     belongs in the thread pool
aggregateResults     sync, microseconds           inline
"""

from __future__ import annotations

import asyncio
import math
import numbers
import random
import statistics
import time
import types
from collections.abc import Iterable, Mapping
from typing import TypeGuard

from .._runtime.checks import checkProbability

__all__ = (
    "FETCH_SECONDS",
    "NORMALIZE_ITERATIONS",
    "SENSOR_MEAN",
    "SENSOR_STD",
    "STORE_SECONDS",
    "aggregateResults",
    "fetchSensorReading",
    "normalizeReading",
    "storeReading",
)

# The homework's workload, stage by stage.
FETCH_SECONDS = (0.08, 0.12)  # uniform network latency of one sensor read
SENSOR_MEAN, SENSOR_STD = 50.0, 15.0  # rawValue ~ gauss(50, 15); normalizing maps it to a z-score
NORMALIZE_ITERATIONS = 5000  # sin/cos rounds per reading: about 1 ms of pure-Python CPU
STORE_SECONDS = 0.02  # one blocking write: the thread waits, the CPU is idle


def _fetchDelay(source: random.Random | types.ModuleType) -> float:
    """A sensor's latency: the first draw of its generator (``bounds`` replays exactly this)."""
    return source.uniform(*FETCH_SECONDS)


async def _fetch(sensorId: int, rng: random.Random | None) -> tuple[dict, float]:
    """One sensor read, and the latency it slept (the ideal-time bound needs the slowest)."""
    source = random if rng is None else rng
    delay = _fetchDelay(source)
    await asyncio.sleep(delay)
    return {"sensorId": sensorId, "rawValue": source.gauss(SENSOR_MEAN, SENSOR_STD)}, delay


async def fetchSensorReading(sensorId: int, *, rng: random.Random | None = None) -> dict:
    """Read one sensor: ``uniform(0.08, 0.12)`` s of awaited latency, then ``gauss(50, 15)``."""
    reading, _ = await _fetch(sensorId, rng)
    return reading


def normalizeReading(reading: Mapping) -> dict:
    """The reading plus ``"normalized"``: its z-score, after 5000 rounds of sin/cos CPU work.

    Module level so the process pool can pickle it; a pure function of ``rawValue``, so the
    same reading normalizes to the same float in any process.
    """
    value = _realField(reading, "rawValue", "normalizeReading")
    # sin^2 + cos^2 == 1, so the rounds are real CPU work whose result is also a check: their
    # mean is 1 to within rounding, and scales the z-score by (almost exactly) nothing.
    total = 0.0
    for i in range(NORMALIZE_ITERATIONS):
        angle = value + i
        total += math.sin(angle) ** 2 + math.cos(angle) ** 2
    zScore = (value - SENSOR_MEAN) / SENSOR_STD
    return {**reading, "normalized": zScore * (total / NORMALIZE_ITERATIONS)}


def storeReading(
    reading: Mapping, *, failureProbability: float = 0.0, rng: random.Random | None = None
) -> dict:
    """Write one reading: 20 ms of blocking I/O, failing with ``failureProbability``.

    The failure draw is taken even when the probability is 0, so a sensor's random stream
    has the same shape whatever the failure rate.
    """
    sensorId = _field(reading, "sensorId", "storeReading")
    checkProbability(failureProbability, "failureProbability")
    time.sleep(STORE_SECONDS)
    source = random if rng is None else rng
    if source.random() < failureProbability:
        raise RuntimeError("store failed")
    return {"stored": True, "sensorId": sensorId}


def aggregateResults(results: Iterable[Mapping]) -> dict:
    """Count, mean and population std of the ``"normalized"`` values; at least one result."""
    # One pass, keeping only the floats: a long run may hand over a generator of many results.
    values = [
        _realField(result, "normalized", f"aggregateResults (result {index})")
        for index, result in enumerate(results)
    ]
    if not values:
        raise ValueError("aggregateResults needs at least one result, got none")
    mean, std = statistics.fmean(values), statistics.pstdev(values)
    return {"count": len(values), "mean": mean, "std": std}


def _isReal(value: object) -> TypeGuard[numbers.Real]:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _field(record: object, key: str, where: str) -> object:
    try:
        if not isinstance(record, Mapping):
            raise TypeError(f"not a mapping: {type(record).__name__}")
        return record[key]
    except (KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"{where}: expected a mapping with {key!r}, got {record!r}") from exc


def _realField(record: object, key: str, where: str) -> float:
    value = _field(record, key, where)
    if not _isReal(value) or not math.isfinite(float(value)):
        raise ValueError(f"{where}: {key!r} must be a finite number, got {value!r}")
    return float(value)
