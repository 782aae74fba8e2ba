"""List scheduling, the tool behind every critical-path bound here, and in-process calibration.

    listSchedule([(readyAt, duration), ...], workers)  FIFO jobs, each on the earliest-free worker

The exercises replay their seeded draws through it over their real pool sizes
(``lecture31.tiered.bounds``, ``lecture31.pipeline.bounds``); nothing here knows an exercise.
"""

from __future__ import annotations

import heapq
import statistics
import time
from collections.abc import Callable, Iterable

__all__ = ("CALIBRATION_ROUNDS", "listSchedule", "medianSeconds", "windows")

CALIBRATION_ROUNDS = 20  # timings per calibration; the median shrugs off a noisy round


def listSchedule(jobs: Iterable[tuple[float, float]], workers: int) -> list[float]:
    """Finish time of each ``(readyAt, duration)`` job, taken FIFO by ``workers`` workers.

    A job starts when it is ready and a worker is free (the one free earliest), as a pool's
    queue hands work out in submission order.
    """
    freeAt = [0.0] * workers
    finishes = []
    for readyAt, duration in jobs:
        start = max(readyAt, heapq.heappop(freeAt))
        heapq.heappush(freeAt, start + duration)
        finishes.append(start + duration)
    return finishes


def windows(count: int, window: int) -> list[int]:
    """The sizes of the windows a run of ``count`` items goes through, ``window`` at a time."""
    return [min(window, count - start) for start in range(0, count, window)]


def medianSeconds(fn: Callable[[], object], rounds: int = CALIBRATION_ROUNDS) -> float:
    """Median wall time of ``fn()`` over ``rounds`` calls here."""
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)
