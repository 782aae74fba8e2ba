"""Exercise 3: the breaker state machine, the sync and async breakers, on a fake clock."""

from __future__ import annotations

import asyncio
import functools
import gc
import pickle
import threading
import traceback

import pytest
from fakes import Boom, FakeClock, trip

from lecture31.breaker import (
    AsyncCircuitBreaker,
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
)

# -- one adapter, so shared behaviours run against both breakers ------------------------------


class SyncVariant:
    name = "sync"

    def make(self, clock, **kwargs):
        kwargs.pop("probeTimeoutSeconds", None)
        return CircuitBreaker(clock=clock, **kwargs)

    async def succeed(self, breaker, value="ok"):
        return breaker.call(lambda: value)

    async def fail(self, breaker, exc=None):
        exc = exc or Boom("down")

        def raising():
            raise exc

        return breaker.call(raising)


class AsyncVariant:
    name = "async"

    def make(self, clock, **kwargs):
        return AsyncCircuitBreaker(clock=clock, **kwargs)

    async def succeed(self, breaker, value="ok"):
        async def returning():
            return value

        return await breaker.call(returning)

    async def fail(self, breaker, exc=None):
        exc = exc or Boom("down")

        async def raising():
            raise exc

        return await breaker.call(raising)


@pytest.fixture(params=[SyncVariant(), AsyncVariant()], ids=lambda v: v.name)
def variant(request):
    return request.param


@pytest.fixture
def clock():
    return FakeClock()


# -- states and shape --------------------------------------------------------------------------


def test_states_compare_equal_to_the_homework_words():
    assert BreakerState.CLOSED == "closed"
    assert BreakerState.OPEN == "open"
    assert BreakerState.HALF_OPEN == "half_open"
    assert f"{BreakerState.HALF_OPEN}" == "half_open"


async def test_a_new_breaker_is_closed_with_no_failures(variant, clock):
    breaker = variant.make(clock)
    assert breaker.state == "closed"
    assert breaker.failureCount == 0
    assert breaker.lastFailureTime is None
    assert breaker.successCountInHalfOpen == 0


async def test_repr_shows_class_state_and_failures(variant, clock):
    breaker = variant.make(clock)
    trip(breaker, 2)
    name = type(breaker).__name__
    assert repr(breaker) == f"<{name} closed failures=2>"
    trip(breaker, 1)
    assert repr(breaker) == f"<{name} open failures=3>"


# -- closed ------------------------------------------------------------------------------------


async def test_success_returns_the_value_and_resets_the_failure_count(variant, clock):
    breaker = variant.make(clock)
    trip(breaker, 2)
    assert await variant.succeed(breaker, value=42) == 42
    assert breaker.failureCount == 0
    assert breaker.state == "closed"


async def test_the_original_exception_propagates_as_itself(variant, clock):
    breaker = variant.make(clock)
    original = Boom("the very one")
    with pytest.raises(Boom) as caught:
        await variant.fail(breaker, original)
    assert caught.value is original


async def test_failures_are_counted_with_the_clock_time_of_the_latest(variant, clock):
    breaker = variant.make(clock)
    trip(breaker, 1)
    clock.advance(0.25)
    trip(breaker, 1)
    assert breaker.failureCount == 2
    assert breaker.lastFailureTime == 100.25
    assert breaker.state == "closed"


async def test_threshold_consecutive_failures_open_the_circuit(variant, clock):
    breaker = variant.make(clock, failureThreshold=5)
    trip(breaker, 4)
    assert breaker.state == "closed"
    trip(breaker, 1)
    assert breaker.state == "open"
    assert breaker.failureCount == 5


async def test_a_success_between_failures_starts_the_count_again(variant, clock):
    breaker = variant.make(clock)
    trip(breaker, 2)
    await variant.succeed(breaker)
    trip(breaker, 2)
    assert breaker.state == "closed"


# -- open --------------------------------------------------------------------------------------


async def test_open_circuit_fails_fast_without_calling_the_service(variant, clock):
    breaker = variant.make(clock)
    trip(breaker)
    calls = []

    def sync():
        calls.append(1)

    async def coro():
        calls.append(1)

    fn = sync if variant.name == "sync" else coro
    with pytest.raises(CircuitOpenError):
        result = breaker.call(fn)
        if variant.name == "async":
            await result
    assert calls == []


async def test_open_circuit_says_how_long_until_the_next_probe(variant, clock):
    breaker = variant.make(clock)
    trip(breaker)
    clock.advance(0.5)
    with pytest.raises(CircuitOpenError, match=r"next probe allowed in 1\.500 s") as caught:
        await variant.succeed(breaker)
    assert caught.value.retryAfterSeconds == 1.5


async def test_open_circuit_rejects_until_exactly_the_reset_timeout(variant, clock):
    breaker = variant.make(clock, resetTimeoutSeconds=2.0)
    trip(breaker)
    clock.advance(1.875)
    with pytest.raises(CircuitOpenError):
        await variant.succeed(breaker)
    clock.advance(0.125)  # now exactly lastFailureTime + 2.0
    assert await variant.succeed(breaker) == "ok"
    assert breaker.state == "closed"


async def test_each_rejection_is_a_fresh_error_whose_traceback_does_not_grow(variant, clock):
    breaker = variant.make(clock)
    trip(breaker)
    errors = []
    for _ in range(3):
        with pytest.raises(CircuitOpenError) as caught:
            await variant.succeed(breaker)
        errors.append(caught.value)
    assert len({id(error) for error in errors}) == 3
    depths = {len(list(traceback.walk_tb(error.__traceback__))) for error in errors}
    assert len(depths) == 1


async def test_a_zero_reset_timeout_probes_on_the_very_next_call(variant, clock):
    breaker = variant.make(clock, resetTimeoutSeconds=0)
    trip(breaker)
    assert await variant.succeed(breaker) == "ok"
    assert breaker.state == "closed"


# -- half-open ---------------------------------------------------------------------------------


async def test_a_successful_probe_closes_the_circuit_and_resets_the_count(variant, clock):
    breaker = variant.make(clock)
    trip(breaker)
    clock.advance(2.0)
    assert await variant.succeed(breaker) == "ok"
    assert breaker.state == "closed"
    assert breaker.failureCount == 0
    assert breaker.successCountInHalfOpen == 1


async def test_a_failed_probe_reopens_for_a_full_reset_timeout_from_its_failure(variant, clock):
    breaker = variant.make(clock)
    trip(breaker)
    clock.advance(2.5)
    with pytest.raises(Boom):
        await variant.fail(breaker)
    assert breaker.state == "open"
    assert breaker.lastFailureTime == 102.5
    assert breaker.failureCount == 4
    assert breaker.successCountInHalfOpen == 0
    clock.advance(1.75)
    with pytest.raises(CircuitOpenError, match=r"in 0\.250 s"):
        await variant.succeed(breaker)
    clock.advance(0.25)
    assert await variant.succeed(breaker) == "ok"


async def test_a_recovered_circuit_needs_a_full_threshold_to_trip_again(variant, clock):
    breaker = variant.make(clock)
    trip(breaker)
    clock.advance(2.0)
    await variant.succeed(breaker)
    trip(breaker, 2)
    assert breaker.state == "closed"
    trip(breaker, 1)
    assert breaker.state == "open"


def test_a_probe_in_flight_turns_other_threads_away_while_the_lock_is_free(clock):
    # Re-entrant call from inside the probe: if the lock were held across fn this would
    # deadlock (the 120 s pytest-timeout would catch it); instead it is rejected at once.
    breaker = trip(CircuitBreaker(clock=clock), clock=clock)
    seen = {}

    def probe():
        seen["state"] = breaker.state
        with pytest.raises(CircuitOpenError, match=r"probe has been in flight for 0\.500 s"):
            clock.advance(0.5)
            breaker.call(lambda: "inner")
        return "probed"

    assert breaker.call(probe) == "probed"
    assert seen["state"] == "half_open"
    assert breaker.state == "closed"


def _raise(exc):
    raise exc


def test_eight_threads_entering_half_open_at_once_send_exactly_one_probe(clock):
    breaker = trip(CircuitBreaker(clock=clock), clock=clock)
    start = threading.Barrier(8)
    othersDone = threading.Event()
    reached, rejected, results = [], [], []
    lock = threading.Lock()

    def service(name):
        with lock:
            reached.append(name)
        # Hold the probe open until every other thread has been answered.
        assert othersDone.wait(timeout=10), "other threads were blocked by the probe"
        return name

    def worker(name):
        start.wait(timeout=10)
        try:
            results.append(breaker.call(service, name))
        except CircuitOpenError:
            with lock:
                rejected.append(name)
                if len(rejected) == 7:
                    othersDone.set()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not any(thread.is_alive() for thread in threads)
    assert len(reached) == 1
    assert len(rejected) == 7
    assert results == reached
    assert breaker.state == "closed"


def test_a_keyboard_interrupt_in_the_probe_reopens_instead_of_sticking(clock):
    breaker = trip(CircuitBreaker(clock=clock), clock=clock)
    with pytest.raises(KeyboardInterrupt):
        breaker.call(_raise, KeyboardInterrupt())
    assert breaker.state == "open"
    assert breaker.lastFailureTime == 102.0


def test_a_late_success_from_before_the_trip_does_not_close_the_circuit(clock):
    breaker = CircuitBreaker(clock=clock)

    def slowSuccess():
        # While this call runs, three others fail and open the circuit.
        for _ in range(3):
            with pytest.raises(Boom):
                breaker.call(_raise, Boom("down"))
        assert breaker.state == "open"
        return "late"

    assert breaker.call(slowSuccess) == "late"
    assert breaker.state == "open"
    assert breaker.failureCount == 3


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "culprit"),
    [
        ({"failureThreshold": 0}, ValueError, "failureThreshold"),
        ({"failureThreshold": -3}, ValueError, "failureThreshold"),
        ({"failureThreshold": 2.5}, TypeError, "failureThreshold"),
        ({"failureThreshold": True}, TypeError, "failureThreshold"),
        ({"resetTimeoutSeconds": -0.1}, ValueError, "resetTimeoutSeconds"),
        ({"resetTimeoutSeconds": float("nan")}, ValueError, "resetTimeoutSeconds"),
        ({"resetTimeoutSeconds": float("inf")}, ValueError, "resetTimeoutSeconds"),
        ({"resetTimeoutSeconds": "2"}, TypeError, "resetTimeoutSeconds"),
        ({"clock": 5.0}, TypeError, "clock"),
    ],
)
@pytest.mark.parametrize("cls", [CircuitBreaker, AsyncCircuitBreaker])
def test_bad_parameters_are_rejected_naming_the_parameter(cls, kwargs, error, culprit):
    with pytest.raises(error, match=culprit):
        cls(**kwargs)


@pytest.mark.parametrize("value", [-1, float("nan"), None])
def test_a_bad_probe_timeout_is_rejected_naming_it(value):
    with pytest.raises((ValueError, TypeError), match="probeTimeoutSeconds"):
        AsyncCircuitBreaker(probeTimeoutSeconds=value)


def test_a_non_callable_is_a_type_error_for_the_sync_breaker_not_a_failure(clock):
    breaker = CircuitBreaker(clock=clock)
    with pytest.raises(TypeError, match="fn must be callable, got 'storeReading'"):
        breaker.call("storeReading")
    assert breaker.failureCount == 0


class _Client:
    async def fetch(self):
        raise AssertionError("the sync breaker called an async function")


async def _asyncFetch():
    raise AssertionError("the sync breaker called an async function")


@pytest.mark.parametrize(
    "fn",
    [_asyncFetch, functools.partial(_asyncFetch), _Client().fetch],
    ids=["coroutine-function", "partial", "bound-method"],
)
def test_the_sync_breaker_rejects_an_async_function_before_calling_it_and_counts_nothing(clock, fn):
    breaker = CircuitBreaker(clock=clock)
    for _ in range(10):  # ten "calls" that used to count as ten successes
        with pytest.raises(TypeError, match=r"is an async function.*use AsyncCircuitBreaker"):
            breaker.call(fn)
    assert (breaker.state, breaker.failureCount, breaker.lastFailureTime) == ("closed", 0, None)


def test_an_async_function_leaves_an_open_breaker_open_and_its_probe_unspent(clock):
    breaker = trip(CircuitBreaker(clock=clock), clock=clock)
    with pytest.raises(TypeError, match="async function"):
        breaker.call(_asyncFetch)
    assert breaker.state == "open"  # not even moved to half_open
    assert breaker.call(lambda: "probe") == "probe"
    assert breaker.state == "closed"


class _Awaitable:
    def __await__(self):
        yield


@pytest.mark.parametrize("make", [_asyncFetch, _Awaitable], ids=["coroutine", "custom"])
def test_a_function_returning_an_awaitable_is_a_type_error_and_the_coroutine_is_closed(clock, make):
    # Warnings are errors here: a coroutine left unclosed would warn "never awaited" at gc.
    breaker = CircuitBreaker(clock=clock)
    assert breaker.call(lambda: 1) == 1  # a plain result type first, then an awaitable one
    with pytest.raises(TypeError, match=r"returned an awaitable .*use AsyncCircuitBreaker"):
        breaker.call(lambda: make())
    gc.collect()
    assert (breaker.state, breaker.failureCount) == ("closed", 0)


def test_an_awaitable_result_from_the_probe_hands_the_probe_to_the_next_caller(clock):
    breaker = trip(CircuitBreaker(clock=clock), clock=clock)
    with pytest.raises(TypeError, match="returned an awaitable"):
        breaker.call(lambda: _asyncFetch())
    assert (breaker.state, breaker.failureCount) == ("half_open", 3)
    assert breaker.call(lambda: "probe") == "probe"
    assert breaker.state == "closed"


def test_circuit_open_error_survives_pickling_with_its_retry_hint():
    error = CircuitOpenError("circuit open")
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == "circuit open"
    assert copy.retryAfterSeconds is None


async def test_a_real_rejection_survives_pickling_with_its_message_and_hint(variant, clock):
    breaker = variant.make(clock)
    trip(breaker)
    with pytest.raises(CircuitOpenError) as caught:
        await variant.succeed(breaker)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy).__module__ == "lecture31.breaker"
    assert (
        str(copy)
        == str(caught.value)
        == ("circuit open after 3 consecutive failures; next probe allowed in 2.000 s")
    )
    assert copy.retryAfterSeconds == 2.0


def test_an_event_loop_is_not_needed_by_the_sync_breaker(clock):
    breaker = CircuitBreaker(clock=clock)
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    assert breaker.call(sum, [1, 2, 3]) == 6


@pytest.mark.slow
def test_eight_threads_on_a_flapping_breaker_only_ever_see_a_result_their_error_or_open():
    # A smoke test: a real clock and a tiny reset timeout make the breaker flap through every
    # state while 8 threads call it, so the lock-free fast paths meet every transition.
    import random
    import sys

    breaker = CircuitBreaker(failureThreshold=2, resetTimeoutSeconds=0.0005)
    unexpected, seen = [], set()
    start = threading.Barrier(8)

    def worker(seed):
        rng = random.Random(seed)
        start.wait(timeout=10)
        for _ in range(3000):
            try:
                breaker.call(_raise, Boom("down")) if rng.random() < 0.5 else breaker.call(int)
            except (Boom, CircuitOpenError):
                pass
            except BaseException as exc:
                unexpected.append(exc)
            seen.add(breaker.state)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as CPython allows
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sys.setswitchinterval(interval)
    assert not any(thread.is_alive() for thread in threads)
    assert unexpected == []
    assert seen >= {"closed", "open"}
    assert breaker.state in {"closed", "open", "half_open"}
