"""The pool factories: start method, preload, thread names, warm-up."""

import os
import threading

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
