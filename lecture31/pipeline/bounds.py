"""What each pipeline design cannot beat: its critical path, from a run's seeded draws and pools.

    staged:    slowest fetch  +  N normalizations on P processes  +  N stores on T threads
               (each stage is one gather: a barrier), summed over the windows of a long run
    streamed:  each normalization ready when its own fetch lands, each store when its own
               normalization is done; both list-scheduled in the order they become ready

The fetch latencies are replayed exactly as the runners draw them (same seed, same per-sensor
generator: its first draw); only the cost of one normalization is measured, here, in-process.

What a barrier costs, by scale. With c the cost of one normalization (~2 ms on CI's machine
kind), P = 2 processes, T = STORE_THREADS threads, s = 20 ms per store, fetches of 80-120 ms
(the bounds: an example for seed 31, c = 2 ms, a pool of T = N threads at 48 sensors; 10^5 from
uniform draws):

    sensors  staged                                 streamed                 bounds, s
    12       0.12 + N c / P + s                     ~0.12 + c + s            0.148 / 0.138  1.07x
    48       (the same)                             (the same)               0.188 / 0.151  1.25x
    480      0.12 + N c / P + ceil(N / T) s         ~0.08 + N c / P + s      0.80 / 0.58    1.38x
    10^5     100 x (0.12 + 1000 c / P + 1000 s / T) ~max(N c / P, N s / T)   154 / 100      1.54x

- 12-48 sensors: the normalizations (N c / P = 12-48 ms) fit inside the spread of the fetches
  (40 ms). Streamed, they run while later fetches are still in the air and only the last
  reading's own c is left after the slowest fetch; staged, all of them wait for that fetch.
  The barrier costs the whole CPU stage, N c / P: more, the more sensors.
- 480: the CPU stage (~0.48 s) dominates both. Streamed, it starts at the first landing (80 ms)
  instead of the last (120 ms), and the stores drain at the rate readings leave the CPU, so of
  the ceil(N / T) store waves only the last reading's 20 ms is left at the end. The barriers
  cost the fetch spread and all but one store wave: ~0.22 s.
- 10^5 (windows of 1000 staged, a sliding window of 1000 chains streamed): staged is the *sum*
  of the stages' times, per window; streamed is the *max* of their rates (the slowest stage
  sets the pace and the others hide behind it). The barrier costs every stage but the slowest.

A barrier is still the right choice when a stage needs all the readings (a median, a sort, a
batch write of the whole window), when the stages would contend for the same resource (CPU
stages on the same cores gain nothing from overlapping), or when simplicity and a stage's
all-or-nothing failure matter more than the overlap (the staged pipeline fails a stage as one).

The streamed bound ignores the sliding window (every sensor admitted at once): exact up to
``SENSORS_IN_FLIGHT`` sensors, which the benchmarks never pass, and a lower bound past it (the
window only delays admissions; at 1000 chains it holds far more sensors than the ~0.12 s x P/c
fetching ahead needed to keep the CPU busy, so it is also nearly tight there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from .._runtime.schedule import listSchedule, medianSeconds, windows
from .staged import NORMALIZE_PROCESSES, SENSORS_IN_FLIGHT, STORE_THREADS, sensorRngs
from .stages import SENSOR_MEAN, STORE_SECONDS, _fetchDelay, normalizeReading

__all__ = (
    "normalizeSeconds",
    "pipelineBoundSeconds",
    "pipelineCriticalPath",
    "pipelineFetchSeconds",
    "streamedBoundSeconds",
    "streamedCriticalPath",
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


def streamedCriticalPath(
    fetchSeconds: Sequence[float],
    *,
    normalizeSeconds: float,
    processes: int,
    threads: int,
    storeSeconds: float = STORE_SECONDS,
) -> float:
    """The streamed pipeline's bound for these fetch latencies: no barrier between stages.

    Each stage takes its jobs in the order they become ready, each on the earliest-free worker
    (``listSchedule``). For jobs of equal length that order finishes every k-th job as early as
    any schedule can, stage after stage, so nothing the runner does can end sooner.
    """
    normalized = listSchedule(sorted((f, normalizeSeconds) for f in fetchSeconds), processes)
    stored = listSchedule(sorted((t, storeSeconds) for t in normalized), threads)
    return max(stored)


def normalizeSeconds() -> float:
    """What one ``normalizeReading`` costs here."""
    reading = {"sensorId": -1, "rawValue": SENSOR_MEAN}
    return medianSeconds(lambda: normalizeReading(reading))


def pipelineFetchSeconds(numSensors: int, seed: int) -> list[float]:
    """Each sensor's fetch latency under ``seed``, drawn as the runners draw it."""
    return [_fetchDelay(rng) for rng in sensorRngs(range(numSensors), seed)]


def _boundSeconds(
    criticalPath: Callable[..., float],
    numSensors: int,
    seed: int,
    *,
    processes: int = NORMALIZE_PROCESSES,
    threads: int = STORE_THREADS,
    normalize: float | None = None,
) -> float:
    """``criticalPath`` of the draws of ``seed``; a normalization is timed here if not given."""
    return criticalPath(
        pipelineFetchSeconds(numSensors, seed),
        normalizeSeconds=normalizeSeconds() if normalize is None else normalize,
        processes=processes,
        threads=threads,
    )


# The one bound of each design: runCorrectPipeline / runStreamedPipeline(numSensors, seed=seed)
# on warm pools of these sizes.
pipelineBoundSeconds = partial(_boundSeconds, pipelineCriticalPath)
streamedBoundSeconds = partial(_boundSeconds, streamedCriticalPath)
