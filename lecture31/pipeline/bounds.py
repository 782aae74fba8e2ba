"""What the staged pipeline cannot beat: its critical path, from a run's seeded draws and pools.

    slowest fetch  +  N normalizations on P processes  +  N stores on T threads
    (each stage is one gather: a barrier), summed over the windows of a long run

The fetch latencies are replayed exactly as the runners draw them (same seed, same per-sensor
generator: its first draw); only the cost of one normalization is measured, here, in-process.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._runtime.schedule import listSchedule, medianSeconds, windows
from .staged import NORMALIZE_PROCESSES, SENSORS_IN_FLIGHT, STORE_THREADS, sensorRngs
from .stages import SENSOR_MEAN, STORE_SECONDS, _fetchDelay, normalizeReading

__all__ = (
    "normalizeSeconds",
    "pipelineBoundSeconds",
    "pipelineCriticalPath",
    "pipelineFetchSeconds",
)


def pipelineCriticalPath(
    fetchSeconds: Sequence[float],
    *,
    normalizeSeconds: float,
    processes: int,
    threads: int,
    storeSeconds: float = STORE_SECONDS,
    window: int = SENSORS_IN_FLIGHT,
) -> float:
    """The staged pipeline's bound for these fetch latencies (one per sensor, in sensor order)."""
    total, first = 0.0, 0
    for size in windows(len(fetchSeconds), window):
        total += (
            max(fetchSeconds[first : first + size])
            + max(listSchedule([(0.0, normalizeSeconds)] * size, processes))
            + max(listSchedule([(0.0, storeSeconds)] * size, threads))
        )
        first += size
    return total


def normalizeSeconds() -> float:
    """What one ``normalizeReading`` costs here."""
    reading = {"sensorId": -1, "rawValue": SENSOR_MEAN}
    return medianSeconds(lambda: normalizeReading(reading))


def pipelineFetchSeconds(numSensors: int, seed: int) -> list[float]:
    """Each sensor's fetch latency under ``seed``, drawn as the runners draw it."""
    return [_fetchDelay(rng) for rng in sensorRngs(range(numSensors), seed)]


def pipelineBoundSeconds(
    numSensors: int,
    seed: int,
    *,
    processes: int = NORMALIZE_PROCESSES,
    threads: int = STORE_THREADS,
    normalize: float | None = None,
) -> float:
    """The one pipeline bound: ``runCorrectPipeline(numSensors, seed=seed)`` on warm pools."""
    return pipelineCriticalPath(
        pipelineFetchSeconds(numSensors, seed),
        normalizeSeconds=normalizeSeconds() if normalize is None else normalize,
        processes=processes,
        threads=threads,
    )
