"""Where work goes: one Dispatch per executor decides one task each or batches, in one place."""

import asyncio
import threading

import pytest
from fakes import ForeignExecutor, RecordingProcessPool, RecordingThreadPool

from lecture31._runtime.dispatch import Dispatch
from lecture31.pipeline import runCorrectPipeline
from lecture31.tiered import runTiered


def _double(x):
    return 2 * x


def test_the_standard_pools_get_one_task_per_item_and_anything_else_batches():
    with RecordingThreadPool(2) as threads, ForeignExecutor() as foreign:
        assert not Dispatch(threads).batches
        assert Dispatch(foreign).batches
        assert "batches" in repr(Dispatch(foreign))


async def test_map_keeps_the_order_of_the_items_on_a_thread_pool():
    with RecordingThreadPool(3) as threads:
        assert await Dispatch(threads).map(_double, range(20)) == [2 * x for x in range(20)]
        assert len(threads.calls) == 20  # one task per item


async def test_map_sends_fewer_tasks_than_items_to_an_executor_that_batches():
    foreign = ForeignExecutor()
    try:
        assert await Dispatch(foreign).map(_double, range(200)) == [2 * x for x in range(200)]
        assert 0 < foreign.submitted < 200
    finally:
        foreign.shutdown()


async def test_a_process_pool_future_is_awaited_detached_so_cancelling_leaves_it_to_the_pool():
    pool = RecordingProcessPool(1)
    try:
        call = asyncio.ensure_future(Dispatch(pool).call(_double, 21))
        await asyncio.sleep(0)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        [(fn, args, _)] = pool.calls
        assert fn is _double and args == (21,)
    finally:
        pool.shutdown(wait=True)


@pytest.mark.parametrize(
    ("run", "name"),
    [
        (lambda: runCorrectPipeline(1, processPool=5), "processPool"),
        (lambda: runCorrectPipeline(1, threadPool="pool"), "threadPool"),
        (lambda: runTiered(1, processPool=object()), "processPool"),
    ],
)
async def test_the_runner_checks_its_executor_at_its_boundary_and_names_it(run, name):
    before = set(threading.enumerate())
    with pytest.raises(TypeError, match=f"{name} must be a concurrent.futures.Executor or None"):
        await run()
    assert set(threading.enumerate()) == before  # refused before any pool was made
