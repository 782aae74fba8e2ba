"""Beyond the homework: the streamed pipeline (no barrier between stages), its bound, its faults."""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

import pytest
from fakes import RecordingProcessPool, RecordingThreadPool, sessionMembers

from lecture31 import pipeline
from lecture31._runtime import batching, pools as _pools
from lecture31._runtime.pools import makeProcessPool, makeThreadPool
from lecture31.pipeline import (
    bounds,
    normalizeReading,
    runCorrectPipeline,
    runNaivePipeline,
    runStreamedPipeline,
    show,
    storeReading,
    streamed,
)
from lecture31.pipeline.compare import compareStreamed

SENSORS = 12


@pytest.fixture(scope="module")
def processPool():
    with makeProcessPool(2) as pool:
        yield pool


@pytest.fixture(scope="module")
def threadPool():
    with makeThreadPool(48, "test-store") as pool:
        yield pool


def isShutDown(pool) -> bool:
    try:
        pool.submit(int).result()
    except RuntimeError:
        return True
    return False


# --- the same readings as the other two ------------------------------------------------------


@pytest.mark.parametrize("sensors", [SENSORS, 48])
async def test_same_seed_gives_the_same_aggregate_as_naive_and_correct(
    processPool, threadPool, sensors
):
    pools = {"processPool": processPool, "threadPool": threadPool}
    streamedResult = await runStreamedPipeline(sensors, seed=1, **pools)
    assert streamedResult["count"] == sensors
    assert streamedResult == await runCorrectPipeline(sensors, seed=1, **pools)
    assert streamedResult == await runNaivePipeline(sensors, seed=1)


async def test_different_seeds_give_different_aggregates(processPool, threadPool):
    pools = {"processPool": processPool, "threadPool": threadPool}
    first = await runStreamedPipeline(4, seed=1, **pools)
    assert first["mean"] != (await runStreamedPipeline(4, seed=2, **pools))["mean"]


@pytest.mark.parametrize(
    ("arguments", "error", "culprit"),
    [
        ({"numSensors": 0}, ValueError, "numSensors must be >= 1, got 0"),
        ({"numSensors": 2.0}, TypeError, "numSensors must be an int"),
        ({"numSensors": 1, "seed": "7"}, TypeError, "seed must be an int or None"),
        ({"numSensors": 1, "processPool": 5}, TypeError, "processPool must be a concurrent"),
        ({"numSensors": 1, "threadPool": "x"}, TypeError, "threadPool must be a concurrent"),
    ],
)
async def test_bad_arguments_are_rejected_by_name_before_any_pool_is_made(
    arguments, error, culprit, monkeypatch
):
    def noPools(*args):
        raise AssertionError("a pool was made for a run that cannot start")

    monkeypatch.setattr(_pools, "makeProcessPool", noPools)
    monkeypatch.setattr(_pools, "makeThreadPool", noPools)
    with pytest.raises(error, match=culprit):
        await runStreamedPipeline(**arguments)


# --- each stage on its tier, and no barrier between them -------------------------------------


async def test_each_reading_is_normalized_in_processes_and_stored_in_threads_once():
    processes, threads = RecordingProcessPool(), RecordingThreadPool(48)
    loopDefault = RecordingThreadPool()
    asyncio.get_running_loop().set_default_executor(loopDefault)
    try:
        await runStreamedPipeline(SENSORS, processPool=processes, threadPool=threads, seed=4)
    finally:
        processes.shutdown()
        threads.shutdown()
    # Normalizations went to the processes (alone or in batches), each reading exactly once,
    # carrying only the reading; nothing else but the overhead measurement's no-ops.
    batches = [args for fn, args, _ in processes.calls if fn is not batching.noop]
    assert all(fn is normalizeReading for fn, _ in batches)
    readings = [reading for _, chunk in batches for reading in chunk]
    assert sorted(reading["sensorId"] for reading in readings) == list(range(SENSORS))
    assert all(set(reading) == {"sensorId", "rawValue"} for reading in readings)
    # One store per sensor in the threads, each with that sensor's own generator.
    stores = [fn for fn, _, _ in threads.calls]
    assert all(isinstance(fn, functools.partial) and fn.func is storeReading for fn in stores)
    assert sorted(fn.args[0]["sensorId"] for fn in stores) == list(range(SENSORS))
    assert len({id(fn.keywords["rng"]) for fn in stores}) == SENSORS
    assert loopDefault.calls == []


async def test_the_other_readings_are_stored_while_one_fetch_is_still_outstanding(
    processPool, threadPool, monkeypatch
):
    # With a barrier between stages this cannot finish: sensor 0's fetch only lands once every
    # other sensor has been stored.
    loop = asyncio.get_running_loop()
    othersStored = asyncio.Event()
    stored = []
    realFetch, realStore = streamed._fetch, streamed.storeReading

    async def fetch(sensorId, rng):
        if sensorId == 0:
            await othersStored.wait()
        return await realFetch(sensorId, rng)

    def store(reading, **kwargs):
        result = realStore(reading, **kwargs)
        stored.append(reading["sensorId"])
        if len(stored) == SENSORS - 1:
            loop.call_soon_threadsafe(othersStored.set)
        return result

    monkeypatch.setattr(streamed, "_fetch", fetch)
    monkeypatch.setattr(streamed, "storeReading", store)
    run = runStreamedPipeline(SENSORS, processPool=processPool, threadPool=threadPool, seed=3)
    result = await asyncio.wait_for(run, timeout=30)
    assert result == await runNaivePipeline(SENSORS, seed=3)
    assert stored[-1] == 0 and sorted(stored[:-1]) == list(range(1, SENSORS))


@pytest.fixture
def chainsAlive(monkeypatch):
    """Count the sensor chains alive; ``["peak"]`` is the most at once."""
    alive = {"now": 0, "peak": 0}
    realChain = streamed._chain

    async def counted(*args):
        alive["now"] += 1
        alive["peak"] = max(alive["peak"], alive["now"])
        try:
            return await realChain(*args)
        finally:
            alive["now"] -= 1

    monkeypatch.setattr(streamed, "_chain", counted)
    return alive


async def test_at_most_the_window_of_chains_is_alive_and_the_result_does_not_change(
    processPool, threadPool, monkeypatch, chainsAlive
):
    pools = {"processPool": processPool, "threadPool": threadPool}
    whole = await runStreamedPipeline(SENSORS, seed=6, **pools)
    assert chainsAlive["peak"] == SENSORS
    chainsAlive["peak"] = 0
    monkeypatch.setattr(streamed, "SENSORS_IN_FLIGHT", 5)
    assert await runStreamedPipeline(SENSORS, seed=6, **pools) == whole
    assert chainsAlive["peak"] == 5


async def test_ten_thousand_sensors_never_have_more_chains_than_the_window(
    monkeypatch, chainsAlive
):
    # The stages made instant, and the CPU stage on threads, so only the windowing is tested.
    async def instantFetch(sensorId, rng):
        return {"sensorId": sensorId, "rawValue": rng.gauss(50, 15)}, 0.0

    monkeypatch.setattr(streamed, "_fetch", instantFetch)
    monkeypatch.setattr(streamed, "normalizeReading", lambda r: {**r, "normalized": r["rawValue"]})
    monkeypatch.setattr(streamed, "storeReading", lambda reading, rng: None)
    with makeThreadPool(2, "cpu") as cpu, makeThreadPool(4, "store") as store:
        result = await runStreamedPipeline(10_000, processPool=cpu, threadPool=store, seed=1)
    assert result["count"] == 10_000
    assert chainsAlive["peak"] == streamed.SENSORS_IN_FLIGHT


# --- faults: a broken pool, a failed store, cancellation, a stuck store ----------------------


class BrokenPool(RecordingThreadPool):
    """Every submit fails the way a process pool whose worker was killed fails it."""

    def submit(self, fn, /, *args, **kwargs):
        super().submit(int)
        future = Future()
        future.set_exception(BrokenProcessPool("A child process terminated abruptly"))
        return future


async def test_a_broken_process_pool_is_one_error_naming_the_normalize_stage(threadPool, caplog):
    broken = BrokenPool()
    try:
        with pytest.raises(BrokenProcessPool, match="pipeline stage 'normalize' failed") as info:
            await runStreamedPipeline(SENSORS, processPool=broken, threadPool=threadPool)
    finally:
        broken.shutdown()
    assert "a worker of its pool died" in str(info.value)
    assert isinstance(info.value.__cause__, BrokenProcessPool)
    assert asyncio.all_tasks() == {asyncio.current_task()}
    gc.collect()
    assert "never retrieved" not in caplog.text


async def test_a_failed_store_ends_the_run_and_leaves_no_chain_behind(
    processPool, threadPool, monkeypatch, caplog
):
    realStore = streamed.storeReading

    def failingForSensor3(reading, **kwargs):
        if reading["sensorId"] == 3:
            raise RuntimeError("store failed")
        return realStore(reading, **kwargs)

    monkeypatch.setattr(streamed, "storeReading", failingForSensor3)
    with pytest.raises(RuntimeError, match="store failed"):
        await runStreamedPipeline(48, processPool=processPool, threadPool=threadPool, seed=2)
    assert asyncio.all_tasks() == {asyncio.current_task()}
    gc.collect()
    assert "never retrieved" not in caplog.text


async def test_cancelling_a_run_cancels_every_chain_and_shuts_its_own_pools(monkeypatch):
    made = []
    realProcesses, realThreads = _pools.makeProcessPool, _pools.makeThreadPool
    monkeypatch.setattr(
        _pools, "makeProcessPool", lambda n: made.append(realProcesses(n)) or made[-1]
    )
    monkeypatch.setattr(
        _pools, "makeThreadPool", lambda n, name: made.append(realThreads(n, name)) or made[-1]
    )
    # 4800 sensors: several seconds, where 480 can end in under half a second on a quick host.
    run = asyncio.ensure_future(runStreamedPipeline(4800, seed=1))
    await asyncio.sleep(0.5)  # the pools are up and readings are on their way
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert len(made) == 2 and all(isShutDown(pool) for pool in made)
    workers = list(made[0]._processes.values()) if made[0]._processes else []
    for _ in range(500):
        if not any(worker.is_alive() for worker in workers):
            break
        await asyncio.sleep(0.02)
    assert not any(worker.is_alive() for worker in workers)


@pytest.mark.slow
async def test_an_outer_timeout_cuts_a_run_short_even_with_a_store_stuck(monkeypatch):
    release = threading.Event()
    realStore = streamed.storeReading

    def stuckForSensorZero(reading, **kwargs):
        if reading["sensorId"] == 0:
            release.wait(20)
        return realStore(reading, **kwargs)

    monkeypatch.setattr(streamed, "storeReading", stuckForSensorZero)
    before = set(threading.enumerate())
    start = time.perf_counter()
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(runStreamedPipeline(SENSORS), timeout=1.0)
        assert time.perf_counter() - start < 1.5
    finally:
        release.set()
    # Every thread the run started (its pools', the stuck store's) ends once the store returns.
    for _ in range(500):
        if set(threading.enumerate()) <= before:
            break
        await asyncio.sleep(0.02)
    assert set(threading.enumerate()) <= before


_STREAM_UNTIL_SIGTERM = """
import asyncio, os, sys
from lecture31._runtime.lifecycle import Terminated, runMain
from lecture31.pipeline import runStreamedPipeline

try:
    print("running", flush=True)
    runMain(runStreamedPipeline(4800, seed=1))
    print("finished", flush=True)
except Terminated:
    print("terminated", flush=True)
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals and sessions")
def test_sigterm_mid_stream_ends_the_run_and_every_child_process():
    child = subprocess.Popen(
        [sys.executable, "-c", _STREAM_UNTIL_SIGTERM],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert child.stdout.readline() == "running\n"
        deadline = time.monotonic() + 60
        while len(sessionMembers(child.pid)) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)  # parent, fork server, tracker, a worker at least: streaming
        time.sleep(0.3)
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        out, err = child.communicate()
        pytest.fail(f"the run hung after SIGTERM:\n{out}\n{err}")
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    assert out.splitlines()[-1] == "terminated", (out, err)
    assert "never retrieved" not in err and "Traceback" not in err, err
    deadline = time.monotonic() + 10
    while (left := sessionMembers(child.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == [], "a worker, the fork server or the tracker was left"


# --- the bound -------------------------------------------------------------------------------


def test_the_streamed_bound_schedules_each_stage_from_each_readings_own_readiness():
    fetches = [0.08] * 4 + [0.1]
    # Four normalizations ready at 0.08 on 2 processes end at 0.081, 0.081, 0.082, 0.082; the
    # fifth starts when its fetch lands; each store follows its own normalization.
    wide = bounds.streamedCriticalPath(fetches, normalizeSeconds=0.001, processes=2, threads=48)
    assert wide == pytest.approx(0.1 + 0.001 + 0.02)
    # One thread: the stores queue, 20 ms each, from the first normalization's end.
    narrow = bounds.streamedCriticalPath(fetches, normalizeSeconds=0.001, processes=2, threads=1)
    assert narrow == pytest.approx(0.081 + 5 * 0.02)


def test_a_single_sensor_has_the_same_bound_either_way():
    args = {"normalizeSeconds": 0.002, "processes": 2, "threads": 48}
    staged = bounds.pipelineCriticalPath([0.09], **args)
    assert staged == pytest.approx(0.09 + 0.002 + 0.02)
    assert bounds.streamedCriticalPath([0.09], **args) == pytest.approx(staged)


@pytest.mark.parametrize("sensors", [1, 12, 48, 480, 2500])
@pytest.mark.parametrize("normalize", [0.0005, 0.002, 0.01])
def test_the_streamed_bound_never_exceeds_the_staged_one(sensors, normalize):
    rng = random.Random(sensors)
    fetches = [rng.uniform(0.08, 0.12) for _ in range(sensors)]
    args = {"normalizeSeconds": normalize, "processes": 2, "threads": 48}
    streamedBound = bounds.streamedCriticalPath(fetches, **args)
    assert streamedBound <= bounds.pipelineCriticalPath(fetches, **args) + 1e-12
    # Nothing ends before the slowest fetch plus its own reading's two stages, nor before the
    # CPU has done all the work from the first landing.
    assert streamedBound >= max(fetches) + normalize + 0.02 - 1e-12
    assert streamedBound >= min(fetches) + sensors * normalize / 2 - 1e-12


def test_the_benchmark_bound_replays_the_runners_draws():
    fetches = bounds.pipelineFetchSeconds(48, 31)
    expected = bounds.streamedCriticalPath(fetches, normalizeSeconds=0.002, processes=2, threads=48)
    assert bounds.streamedBoundSeconds(48, 31, processes=2, threads=48, normalize=0.002) == (
        expected
    )


# --- the comparison and its table ------------------------------------------------------------


def test_the_streamed_table_renders_each_row():
    row = {
        "sensors": 48,
        "correctSeconds": 0.2,
        "streamedSeconds": 0.16,
        "speedup": 1.25,
        "idealSeconds": 0.15,
        "efficiency": 0.9375,
    }
    assert show.renderStreamed([row]).splitlines() == [
        "sensors  correct s  streamed s  over correct   ideal s  efficiency",
        "     48      0.200       0.160         1.25x     0.150         94%",
    ]


async def test_compare_streamed_gives_one_consistent_row_per_scale():
    (row,) = await compareStreamed((SENSORS,), seed=1)
    assert set(row) == {
        "sensors",
        "correctSeconds",
        "streamedSeconds",
        "speedup",
        "idealSeconds",
        "efficiency",
    }
    assert row["sensors"] == SENSORS
    assert row["speedup"] == row["correctSeconds"] / row["streamedSeconds"]
    assert row["efficiency"] == row["idealSeconds"] / row["streamedSeconds"]
    # One fetch (0.08-0.12 s), one reading's CPU, one store: orders of magnitude only.
    assert 0.08 + 0.02 < row["idealSeconds"] < 0.12 + 0.02 + 0.5
    assert row["streamedSeconds"] > row["idealSeconds"] * 0.99


async def test_compare_streamed_rejects_bad_scales_before_running_anything(monkeypatch):
    def noPools(*args):
        raise AssertionError("a pool was made for a comparison that cannot start")

    monkeypatch.setattr(_pools, "makeProcessPool", noPools)
    with pytest.raises(ValueError, match="at least one scale"):
        await compareStreamed(())


def test_runStreamedPipeline_is_part_of_the_public_api():
    assert pipeline.runStreamedPipeline is runStreamedPipeline
    assert "runStreamedPipeline" in pipeline.__all__
