"""The pool factories: start method, preload, thread names, warm-up."""

import asyncio
import os
import threading
import time

import pytest

from lecture31 import _pools


@pytest.fixture
def processPool():
    pool = _pools.makeProcessPool(2)
    yield pool
    pool.shutdown(wait=True)


@pytest.fixture
def threadPool():
    pool = _pools.makeThreadPool(3, "test-tier")
    yield pool
    pool.shutdown(wait=True)


def test_process_pools_use_the_chosen_start_method(processPool):
    assert processPool._mp_context.get_start_method() == _pools.START_METHOD == "forkserver"


def test_workers_are_not_forked_from_this_process_which_runs_threads(processPool, threadPool):
    # The thread pool's threads are running; a worker forked from here could inherit a lock one
    # of them held. Forkserver workers are children of the single-threaded server instead.
    assert _pools.warmPool(threadPool, 3) == 3
    workerParent = processPool.submit(os.getppid).result(timeout=30)
    assert workerParent != os.getpid()


def test_a_fresh_worker_already_has_the_package_imported(processPool):
    # eval is a builtin, so sending it imports nothing: only the fork server's preload can
    # have put lecture31.tiered into the worker.
    probe = "'lecture31.tiered' in __import__('sys').modules"
    assert processPool.submit(eval, probe).result(timeout=30) is True


def test_warm_pool_starts_every_worker_of_a_process_pool(processPool):
    assert _pools.warmPool(processPool, 2) == 2


def test_warm_pool_starts_every_thread_of_a_thread_pool(threadPool):
    assert _pools.warmPool(threadPool, 3, settleSeconds=0.02) == 3


def test_thread_pool_threads_are_named_after_their_tier(threadPool):
    name = threadPool.submit(lambda: threading.current_thread().name).result(timeout=30)
    assert name.startswith("test-tier")


def test_start_workers_rejects_fewer_than_one_worker(threadPool):
    with pytest.raises(ValueError, match="numWorkers must be >= 1, got 0"):
        _pools.startWorkers(threadPool, 0)


async def test_shutting_pools_down_keeps_the_event_loop_responsive(threadPool):
    running = threadPool.submit(time.sleep, 0.3)
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        await _pools.shutDownPools(threadPool)
    finally:
        ticker.cancel()
    assert running.done()
    assert ticks >= 5  # a blocking shutdown would have let the ticker run 0 times


async def test_shutting_down_cancels_queued_work_and_finishes_running_work():
    pool = _pools.makeThreadPool(1, "test-shutdown")
    running = pool.submit(time.sleep, 0.1)
    queued = pool.submit(time.sleep, 10)
    await _pools.shutDownPools(pool)
    assert running.done()
    assert running.exception() is None
    assert queued.cancelled()


async def test_a_cancelled_shutdown_still_waits_for_the_workers_to_exit():
    before = set(threading.enumerate())
    pool = _pools.makeThreadPool(1, "test-shutdown")
    pool.submit(time.sleep, 0.2)
    task = asyncio.create_task(_pools.shutDownPools(pool))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert set(threading.enumerate()) == before


async def test_shutting_down_no_pools_is_a_no_op():
    await _pools.shutDownPools()
