"""Beyond the homework: the streamed pipeline, each reading on to its next stage once it is ready.

    sensor 0:  fetch ........ --> normalize --> store ~~~~~~~ --> value 0
    sensor 1:  fetch ... --> normalize --> store ~~~~~~~ --> value 1
    sensor 2:  fetch ............. --> normalize --> store ~~~~~~~ --> value 2
      ...      (event loop)         (process pool)  (thread pool)
    aggregate (inline) once every chain has finished

One chain per sensor, and no barrier between stages: a reading is normalized as soon as its own
fetch lands (not after the slowest of all fetches), and stored as soon as its own normalization
is done (not after the last one). The CPU works while fetches are still landing and the threads
store while the CPU still normalizes; the staged pipeline runs those one after the other.

At most ``SENSORS_IN_FLIGHT`` chains are alive at once; a finished chain admits the next sensor
(a sliding window, not the staged pipeline's windows with a barrier between them), so memory
stays flat at 10^5 sensors.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Coroutine, Iterator
from concurrent.futures import Executor

from .._runtime.checks import checkCount, checkSeed
from .._runtime.coalescing import Coalescer
from .._runtime.dispatch import Dispatch
from .._runtime.gathering import gatherWindowed
from .staged import (
    SENSORS_IN_FLIGHT,
    _pipelinePools,
    _Pools,
    _stage,
    sensorRngs,
)
from .stages import _fetch, aggregateResults, normalizeReading, storeReading

__all__ = ("runStreamedPipeline",)


async def _chain(
    sensorId: int, rng: random.Random | None, normalize: Coalescer, threads: Dispatch
) -> tuple[float, float]:
    """One sensor through every stage: its normalized value, and the fetch latency it slept."""
    reading, delay = await _fetch(sensorId, rng)
    normalized = await _stage("normalize", normalize.submit(reading))
    # The failure draw comes from the sensor's own generator, as in the other two runners.
    await _stage("store", threads.call(functools.partial(storeReading, normalized, rng=rng)))
    return normalized["normalized"], delay


def _chains(
    numSensors: int, normalize: Coalescer, threads: Dispatch, seed: int | None
) -> Iterator[Coroutine[None, None, tuple[float, float]]]:
    """Each sensor's chain, made only when the window admits it (with its generator)."""
    for sensorId in range(numSensors):
        (rng,) = sensorRngs(range(sensorId, sensorId + 1), seed)
        yield _chain(sensorId, rng, normalize, threads)


async def _runStreamed(
    numSensors: int, pools: _Pools, seed: int | None, *, fetchSeconds: list[float] | None = None
) -> dict:
    """The streamed pipeline's aggregate; appends the fetch latencies slept, in sensor order."""
    processes, threads = pools
    # Normalizations go one task each while a worker has room, and coalesce into batches
    # only while every worker is busy, as big as pays at this scale (Dispatch.stream).
    async with processes.stream(normalizeReading, numItems=numSensors) as normalize:
        done = await gatherWindowed(
            _chains(numSensors, normalize, threads, seed), SENSORS_IN_FLIGHT
        )
    if fetchSeconds is not None:
        fetchSeconds += [delay for _, delay in done]
    # Stage d, inline: the same floats in the same (sensor) order as the other runners.
    return aggregateResults({"normalized": value} for value, _ in done)


async def runStreamedPipeline(
    numSensors: int,
    *,
    processPool: Executor | None = None,
    threadPool: Executor | None = None,
    seed: int | None = None,
) -> dict:
    """Each sensor fetched, normalized (processes) and stored (threads) on its own, then the
    aggregate: no barrier between stages. Same seed, same aggregate as the other two runners.

    Pools, faults and cancellation as in ``runCorrectPipeline``: pools passed in are used and
    left open, missing ones are made and shut down; a broken pool raises its
    ``BrokenExecutor`` naming the stage; cancelled, it cancels every chain and returns at once
    (a store already blocking its thread finishes in the background).
    """
    checkCount(numSensors, "numSensors")
    checkSeed(seed)
    async with _pipelinePools(processPool, threadPool) as pools:
        return await _runStreamed(numSensors, pools, seed)
