"""Gathers that never orphan: gatherWindowed's window, its laziness, its failures."""

import asyncio
import gc

import pytest

from lecture31._runtime.gathering import gatherWindowed


class Counted:
    """Coroutines made from a generator: how many were made, how many are alive at most."""

    def __init__(self):
        self.made = self.alive = self.peak = 0

    async def one(self, value, *, fail=None, hold=None):
        try:
            if hold is not None and not (fail and value in fail):
                await hold.wait()
            await asyncio.sleep(0)
            if fail is not None and value in fail:
                raise LookupError(f"item {value}")
            return 2 * value
        finally:
            self.alive -= 1

    def items(self, count, **options):
        for value in range(count):
            self.made += 1
            self.alive += 1
            self.peak = max(self.peak, self.alive)
            yield self.one(value, **options)


async def test_results_come_back_in_order_with_at_most_the_window_alive():
    counted = Counted()
    assert await gatherWindowed(counted.items(50), 7) == [2 * v for v in range(50)]
    assert counted.peak == 7
    assert counted.alive == 0


async def test_a_hundred_thousand_items_never_have_more_than_the_window_alive():
    counted = Counted()
    results = await gatherWindowed(counted.items(100_000), 1000)
    assert len(results) == 100_000 and results[-1] == 2 * 99_999
    assert counted.peak == 1000


async def test_the_first_failure_cancels_what_is_in_flight_and_takes_nothing_more(caplog):
    counted = Counted()
    hold = asyncio.Event()  # never set: the others are still in flight when item 3 fails
    with pytest.raises(LookupError, match="item 3"):
        await gatherWindowed(counted.items(100, fail={3}, hold=hold), 5)
    assert counted.made == 5  # the window's worth, then nothing more
    assert counted.alive == 0  # every one of them cancelled and awaited
    gc.collect()
    assert "never retrieved" not in caplog.text


async def test_two_failures_at_once_raise_one_and_retrieve_the_other(caplog):
    with pytest.raises(LookupError):
        await gatherWindowed(Counted().items(10, fail={2, 3}), 10)
    gc.collect()
    assert "never retrieved" not in caplog.text


async def test_cancelling_the_gather_cancels_and_awaits_everything_in_flight():
    counted = Counted()
    hold = asyncio.Event()
    gather = asyncio.ensure_future(gatherWindowed(counted.items(20, hold=hold), 4))
    await asyncio.sleep(0.01)
    assert counted.alive == 4
    gather.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gather
    assert counted.alive == 0
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_nothing_to_gather_gives_an_empty_list():
    assert await gatherWindowed(iter(()), 3) == []


@pytest.mark.parametrize(("window", "error"), [(0, ValueError), (1.5, TypeError)])
async def test_the_window_must_be_a_positive_count(window, error):
    with pytest.raises(error, match="window must be"):
        await gatherWindowed(iter(()), window)
