"""Items sent as they become ready: one task each while there is room, batches while there is
none (Coalescer), sized by the one rule (Dispatch.stream)."""

import asyncio
import gc
import threading

import pytest
from fakes import RecordingThreadPool

from lecture31._runtime import batching
from lecture31._runtime.coalescing import Coalescer
from lecture31._runtime.dispatch import Dispatch

RELEASE_SECONDS = 10  # a held item is released by the test long before this


class Gate:
    """A function whose items wait until the test opens the gate (module-free: threads only)."""

    def __init__(self):
        self.open = threading.Event()

    def __call__(self, x):
        if not self.open.wait(RELEASE_SECONDS):
            raise TimeoutError("the test never opened the gate")
        if x == "boom":
            raise LookupError("item boom")
        return 2 * x


def batchesSent(pool):
    """The items of each batch the pool was handed, in order."""
    return [list(args[1]) for _, args, _ in pool.calls]


async def test_items_go_one_task_each_while_the_executor_has_room():
    gate = Gate()
    gate.open.set()
    with RecordingThreadPool(2) as pool:
        coalescer = Coalescer(pool, gate, window=4)
        coalescer.batchSize = 5
        futures = [coalescer.submit(x) for x in range(3)]
        assert batchesSent(pool) == [[0], [1], [2]]  # sent at once, none waited to fill a batch
        assert await asyncio.gather(*futures) == [0, 2, 4]


async def test_items_that_wait_for_room_go_together_up_to_the_batch_size():
    gate = Gate()
    with RecordingThreadPool(1) as pool:
        coalescer = Coalescer(pool, gate, window=1)
        coalescer.batchSize = 3
        futures = [coalescer.submit(x) for x in range(8)]
        assert batchesSent(pool) == [[0]]  # the window is full: the other seven wait
        gate.open.set()
        assert await asyncio.gather(*futures) == [2 * x for x in range(8)]
        assert batchesSent(pool) == [[0], [1, 2, 3], [4, 5, 6], [7]]
        assert coalescer.batches == 4


async def test_an_item_cancelled_while_it_waits_is_never_sent():
    gate = Gate()
    with RecordingThreadPool(1) as pool:
        coalescer = Coalescer(pool, gate, window=1)
        coalescer.batchSize = 5
        first, dropped, kept = (coalescer.submit(x) for x in range(3))
        dropped.cancel()
        gate.open.set()
        assert (await first, await kept) == (0, 4)
        assert batchesSent(pool) == [[0], [2]]


async def test_a_failed_batch_fails_each_of_its_items_and_leaves_nothing_unretrieved(caplog):
    gate = Gate()
    with RecordingThreadPool(1) as pool:
        coalescer = Coalescer(pool, gate, window=1)
        coalescer.batchSize = 2
        first, boom, other = (coalescer.submit(x) for x in (0, "boom", 1))
        gate.open.set()
        assert await first == 0
        for future in (boom, other):  # one batch: both items get its error
            with pytest.raises(LookupError, match="item boom"):
                await future
        abandoned = coalescer.submit("boom")
        abandoned.cancel()  # nobody will retrieve it: neither may the batch's error be lost
        await asyncio.sleep(0.05)
    gc.collect()
    assert "never retrieved" not in caplog.text


async def test_close_cancels_every_unsettled_item_and_sends_nothing_more(caplog):
    gate = Gate()
    with RecordingThreadPool(1) as pool:
        coalescer = Coalescer(pool, gate, window=1)
        running, waiting = coalescer.submit("boom"), coalescer.submit(1)
        coalescer.close()
        assert waiting.cancelled() and running.cancelled()
        gate.open.set()
        await asyncio.sleep(0.05)  # the running batch fails meanwhile: dropped, but retrieved
        assert batchesSent(pool) == [["boom"]]
        with pytest.raises(RuntimeError, match="closed"):
            coalescer.submit(2)
    gc.collect()
    assert "never retrieved" not in caplog.text


async def test_a_pool_that_refuses_work_fails_the_items_at_once():
    pool = RecordingThreadPool(1)
    pool.shutdown()
    coalescer = Coalescer(pool, Gate(), window=2)
    with pytest.raises(RuntimeError, match="after shutdown"):
        await coalescer.submit(1)


# --- Dispatch.stream: the batch size comes from the rule, on measured numbers ------------------


@pytest.fixture
def measured(monkeypatch):
    """A per-task overhead as a cluster's (10 ms), and no cached cost of any function."""

    async def clusterOverhead(executor):
        return 0.01

    monkeypatch.setattr(batching, "_overheadOf", clusterOverhead)
    monkeypatch.setattr(batching, "_taskSecondsCache", {})


async def test_stream_sizes_its_batches_by_the_rule_once_the_first_items_are_timed(measured):
    gate = Gate()
    gate.open.set()
    with RecordingThreadPool(2) as pool:
        dispatch = Dispatch(pool)
        async with dispatch.stream(gate, numItems=1000) as coalescer:
            assert coalescer.batchSize == 1  # nothing timed yet: one task each
            await asyncio.gather(*(coalescer.submit(x) for x in range(2)))  # one per worker
            for _ in range(100):
                if coalescer.batchSize > 1:
                    break
                await asyncio.sleep(0.01)
            cost = batching._taskSecondsCache[batching._functionKey(gate)]
            assert coalescer.batchSize == dispatch.batchSize(
                1000, overheadSeconds=0.01, taskSeconds=cost
            )
            assert coalescer.batchSize > 1  # a 10 ms overhead against a microsecond of work


async def test_stream_with_batching_off_sends_one_task_per_item(measured):
    gate = Gate()
    gate.open.set()
    with RecordingThreadPool(2) as pool:
        dispatch = Dispatch(pool)
        dispatch.streamBatching = False
        async with dispatch.stream(gate, numItems=1000) as coalescer:
            await asyncio.gather(*(coalescer.submit(x) for x in range(20)))
            assert coalescer.batchSize == 1
        assert all(len(batch) == 1 for batch in batchesSent(pool))


async def test_stream_leaves_no_task_behind_when_its_body_fails(measured):
    gate = Gate()
    with RecordingThreadPool(1) as pool:
        with pytest.raises(LookupError, match="the run failed"):
            async with Dispatch(pool).stream(gate, numItems=10) as coalescer:
                # 4 batches in flight on one worker (WINDOW_PER_WORKER), 2 waiting here.
                unsettled = [coalescer.submit(x) for x in range(6)]
                raise LookupError("the run failed")
        assert all(future.cancelled() for future in unsettled)
        assert asyncio.all_tasks() == {asyncio.current_task()}
        gate.open.set()


async def test_an_error_in_the_sizing_is_raised_once_the_run_is_over(monkeypatch):
    async def broken(executor):
        raise ZeroDivisionError("sizing bug")

    monkeypatch.setattr(batching, "_overheadOf", broken)
    gate = Gate()
    gate.open.set()
    with RecordingThreadPool(1) as pool, pytest.raises(ZeroDivisionError, match="sizing bug"):
        async with Dispatch(pool).stream(gate, numItems=10) as coalescer:
            assert await coalescer.submit(1) == 2  # the items themselves still go through
