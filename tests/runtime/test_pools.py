"""The pool factories: start method, preload, thread names, warm-up."""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import types
from concurrent.futures.process import BrokenProcessPool

import pytest

from lecture31._runtime import pools as _pools


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
    # have put lecture31 into the worker (the package; its exercises come lazily, with a task).
    probe = "'lecture31' in __import__('sys').modules"
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


async def test_a_cancelled_shutdown_stops_waiting_at_once_and_the_pool_still_winds_down():
    # A thread cannot be killed: the canceller must not be held hostage by its blocking call.
    before = set(threading.enumerate())
    release = threading.Event()
    pool = _pools.makeThreadPool(1, "test-shutdown")
    pool.submit(release.wait, 20)
    task = asyncio.create_task(_pools.shutDownPools(pool))
    await asyncio.sleep(0.02)
    task.cancel()
    start = time.perf_counter()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.perf_counter() - start < 0.5
    assert set(threading.enumerate()) != before  # the stuck worker is still there...
    release.set()
    assert await _threadsSettle(before) == before  # ...until its call returns


async def _threadsSettle(before, seconds=10.0):
    for _ in range(int(seconds / 0.02)):
        if set(threading.enumerate()) == before:
            break
        await asyncio.sleep(0.02)
    return set(threading.enumerate())


# --- ownedPools: the one way runners, demos and benchmarks hold their pools ----------------


async def test_owned_pools_are_made_at_the_asked_sizes_and_shut_down_on_the_way_out():
    async with _pools.ownedPools() as pools:
        threadPool = pools.threads(3, "test-owned")
        processPool = pools.processes(2)
        assert pools.owned == (threadPool, processPool)
        assert threadPool._max_workers == 3
        assert processPool._max_workers == 2
        assert processPool._mp_context.get_start_method() == _pools.START_METHOD
    for pool in (threadPool, processPool):
        with pytest.raises(RuntimeError, match="shutdown"):
            pool.submit(int)


async def test_given_pools_are_used_and_left_open(threadPool):
    async with _pools.ownedPools() as pools:
        assert pools.threads(10, "unused", given=threadPool) is threadPool
        assert pools.processes(4, given=threadPool) is threadPool
        assert pools.owned == ()
    assert threadPool.submit(sum, [1, 2]).result(timeout=30) == 3


async def test_a_given_pool_is_used_as_it_is_and_not_owned(threadPool):
    # Whoever was given the pool checked it at its own boundary; ownedPools does not again.
    async with _pools.ownedPools() as pools:
        assert pools.threads(1, "x", given=threadPool) is threadPool
        assert pools.processes(1, given=threadPool) is threadPool
        assert pools.owned == ()


async def test_warm_starts_every_worker_of_every_owned_pool_and_none_of_the_given(threadPool):
    async with _pools.ownedPools() as pools:
        owned = pools.threads(4, "test-warm")
        processPool = pools.processes(2)
        pools.threads(1, "unused", given=threadPool)
        await pools.warm(settleSeconds=0.02)
        assert len(owned._threads) == 4
        assert len(processPool._processes) == 2
        assert len(threadPool._threads) == 0


async def test_an_error_inside_returns_at_once_without_joining_a_stuck_thread():
    before = set(threading.enumerate())
    release = threading.Event()
    start = time.perf_counter()
    with pytest.raises(LookupError):
        async with _pools.ownedPools() as pools:
            pool = pools.threads(1, "test-stuck")
            stuck = pool.submit(release.wait, 20)
            queued = pool.submit(int)
            await asyncio.sleep(0.02)
            raise LookupError("the run failed")
    assert time.perf_counter() - start < 0.5
    assert queued.cancelled()
    assert not stuck.done()
    release.set()
    assert await _threadsSettle(before) == before


async def test_a_cancelled_body_returns_at_once_without_joining_a_stuck_thread():
    before = set(threading.enumerate())
    release = threading.Event()

    async def run():
        async with _pools.ownedPools() as pools:
            pool = pools.threads(1, "test-stuck")
            await asyncio.wrap_future(pool.submit(release.wait, 20))

    task = asyncio.create_task(run())
    await asyncio.sleep(0.05)
    start = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.perf_counter() - start < 0.5
    release.set()
    assert await _threadsSettle(before) == before


async def test_awaiting_detached_leaves_the_pool_future_alone_when_cancelled():
    pool = _pools.makeThreadPool(1, "test-detached")
    try:
        blocker = pool.submit(time.sleep, 0.2)
        loop = asyncio.get_running_loop()
        queued = loop.run_in_executor(pool, int, "7")
        task = _pools.detached(queued)
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not queued.cancelled()  # so the pool's own future was not cancelled either
        assert await queued == 7
        blocker.result(timeout=30)
    finally:
        pool.shutdown(wait=True)


def test_abandoning_a_broken_process_pool_ends_its_workers_and_hands_back_its_tidying():
    pool = _pools.makeProcessPool(2)
    assert _pools.warmPool(pool, 2) == 2
    workers = list(pool._processes.values())
    os.kill(workers[0].pid, signal.SIGKILL)
    for _ in range(500):
        if pool._broken:
            break
        time.sleep(0.01)
    assert pool._broken
    tidying = _pools.abandonPools(pool)
    assert len(tidying) == 1
    tidying[0].join(10)
    assert not tidying[0].is_alive()
    assert not any(worker.is_alive() for worker in workers)


def test_terminating_a_pool_ends_a_worker_stuck_in_a_call_that_never_returns():
    pool = _pools.makeProcessPool(2)
    try:
        stuck = pool.submit(time.sleep, 3600)
        for _ in range(500):  # until a worker has taken the call
            if stuck.running():
                break
            time.sleep(0.01)
        workers = list(pool._processes.values())
        _pools.terminatePool(pool)
        assert not any(worker.is_alive() for worker in workers)
        with pytest.raises(BrokenProcessPool):
            stuck.result(timeout=30)
    finally:
        for thread in _pools.abandonPools(pool):
            thread.join(10)


def test_terminating_a_thread_pool_is_a_no_op(threadPool):
    _pools.terminatePool(threadPool)
    assert threadPool.submit(int, "3").result(timeout=10) == 3


STDIN_SCRIPT = """
import asyncio, multiprocessing, __main__
import lecture31

assert __main__.__file__ == "<stdin>", __main__.__file__
result = asyncio.run(lecture31.runTiered(2, seed=1))
rows = asyncio.run(lecture31.runTierMatrix(["cpu-python"], ["processes"], tasks=2, seed=1))
assert __main__.__file__ == "<stdin>"  # put back after every worker's launch
assert not multiprocessing.active_children()
print(len(result.results), [(row["tier"], row["sameResult"]) for row in rows])
"""


@pytest.mark.slow
def test_runners_start_their_process_pools_from_a_script_read_on_standard_input(tmp_path):
    """``python - <<EOF``: __main__'s path is "<stdin>", which no worker can run as a file."""
    done = subprocess.run(
        [sys.executable, "-"],
        input=STDIN_SCRIPT,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "2 [('inline', True), ('processes', True)]\n"
    assert "Traceback" not in done.stderr


def test_the_fork_server_preloads_main_only_when_it_is_a_file(monkeypatch, tmp_path):
    script = tmp_path / "script.py"
    script.write_text("")
    main = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", main)
    main.__file__ = str(script)
    assert _pools.forkserverPreload() == ("__main__", "lecture31")
    main.__file__ = "<stdin>"
    assert _pools.forkserverPreload() == ("lecture31",)
    with _pools._mainWithoutUnrealPath():
        assert not hasattr(main, "__file__")
    assert main.__file__ == "<stdin>"
