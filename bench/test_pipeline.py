"""Exercise 4: naive vs correct sensor pipeline at 12, 24, 48 (and 480) sensors (``pipeline-N``).

    naive:   gather(N x [fetch -> normalize inline -> store inline])   the loop is blocked
    correct: gather(fetch) -> gather(normalize in processes) -> gather(store in threads)

idealSeconds is the staged design's critical path for this seed: the slowest sampled fetch, plus
the normalizations spread over the processes, plus the store waves spread over the threads (the
per-normalization cost calibrated here, in-process, once per scale).
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from unittest import mock

import pytest

from lecture31 import pipeline

SEED = 31
SCALES = (12, 24, 48)
LARGE_SCALE = 480
_STORE_SECONDS = 0.02


def _fetchDelays(numSensors: int) -> list[float]:
    """Each sensor's sampled fetch latency under SEED, read off a naive run that does not sleep."""
    delays: list[float] = []

    async def recordSleep(delay, result=None):
        delays.append(delay)
        return result

    with (
        mock.patch.object(asyncio, "sleep", recordSleep),
        mock.patch.object(time, "sleep", lambda seconds: None),
    ):
        asyncio.run(pipeline.runNaivePipeline(numSensors, seed=SEED))
    assert len(delays) == numSensors, "expected one fetch sleep per sensor"
    return delays


def _normalizeSeconds(rounds: int = 20) -> float:
    reading = {"sensorId": -1, "rawValue": 50.0}
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        pipeline.normalizeReading(reading)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def idealCorrectSeconds(numSensors: int, pools) -> float:
    return (
        max(_fetchDelays(numSensors))
        + math.ceil(numSensors / pools.processes) * _normalizeSeconds()
        + math.ceil(numSensors / pools.threads) * _STORE_SECONDS
    )


def _naive(measure, scale, kind):
    result = measure(
        pair=f"pipeline-{scale}",
        variant="naive",
        reference="naive",
        scaleLabel="sensors",
        scale=scale,
        kind=kind,
        target=lambda: pipeline.runNaivePipeline(scale, seed=SEED),
    )
    assert result["count"] == scale


def _correct(measure, pools, scale, kind):
    result = measure(
        pair=f"pipeline-{scale}",
        variant="correct",
        reference="naive",
        scaleLabel="sensors",
        scale=scale,
        kind=kind,
        target=lambda: pipeline.runCorrectPipeline(
            scale, processPool=pools.processPool, threadPool=pools.threadPool, seed=SEED
        ),
        idealSeconds=idealCorrectSeconds(scale, pools),
        processes=pools.processes,
        threads=pools.threads,
    )
    assert result["count"] == scale


@pytest.mark.parametrize("scale", SCALES)
def test_naive_pipeline(measure, scale):
    _naive(measure, scale, "pipeline")


@pytest.mark.parametrize("scale", SCALES)
def test_correct_pipeline(measure, pipelinePools, scale):
    _correct(measure, pipelinePools, scale, "pipeline")


@pytest.mark.large
@pytest.mark.timeout(900)
def test_naive_pipeline_large(measure):
    _naive(measure, LARGE_SCALE, "large")


@pytest.mark.large
@pytest.mark.timeout(900)
def test_correct_pipeline_large(measure, pipelinePools):
    _correct(measure, pipelinePools, LARGE_SCALE, "large")
