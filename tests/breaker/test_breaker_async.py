"""Exercise 3: what only the async breaker does (probe bound, cancellation), and the harness."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter

import pytest
from fakes import Boom, FakeClock, trip

from lecture31 import breaker as module
from lecture31.breaker import (
    AsyncCircuitBreaker,
    CircuitBreaker,
    CircuitOpenError,
    FlakyAsyncService,
    harness,
    runHarness,
)
from lecture31.demos import breakerspacing


class TickingClock(FakeClock):
    """Moves 0.25 s every time it is read: a breaker's decisions become a pure function of the
    sequence of calls, whatever the real event loop's timing."""

    def __call__(self) -> float:
        self.now += 0.25
        return self.now


async def boom():
    raise Boom("down")


async def ok(value="ok"):
    return value


@pytest.fixture
def clock():
    return FakeClock()


# -- the probe bound ---------------------------------------------------------------------------


async def test_a_probe_that_overruns_is_cancelled_reopens_and_raises_timeout_error(clock):
    breaker = trip(AsyncCircuitBreaker(probeTimeoutSeconds=0.02, clock=clock), clock=clock)
    cancelled = asyncio.Event()

    async def hang():
        try:
            await asyncio.sleep(10)
        finally:
            cancelled.set()

    with pytest.raises(TimeoutError, match=r"probeTimeoutSeconds=0\.02"):
        await breaker.call(hang)
    assert cancelled.is_set()  # cut off at its bound, not waited out
    assert breaker.state == "open"
    assert breaker.lastFailureTime == 102.0
    assert breaker.failureCount == 4


async def test_a_probe_that_swallows_its_cancellation_still_counts_as_an_overrun(clock):
    breaker = trip(AsyncCircuitBreaker(probeTimeoutSeconds=0.01, clock=clock), clock=clock)

    async def stubborn():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "late"
        return "never"

    with pytest.raises(TimeoutError, match="overran"):
        await breaker.call(stubborn)
    assert breaker.state == "open"


async def test_a_timeout_error_raised_by_the_service_itself_propagates_as_itself(clock):
    breaker = trip(AsyncCircuitBreaker(clock=clock), clock=clock)
    own = TimeoutError("the service's own timeout")

    async def timesOut():
        raise own

    with pytest.raises(TimeoutError) as caught:
        await breaker.call(timesOut)
    assert caught.value is own
    assert breaker.state == "open"


async def test_closed_calls_are_not_bounded_by_the_probe_timeout(clock):
    breaker = AsyncCircuitBreaker(probeTimeoutSeconds=0.001, clock=clock)

    async def slowish():
        await asyncio.sleep(0.02)
        return "done"

    assert await breaker.call(slowish) == "done"


# -- cancellation from outside -----------------------------------------------------------------


async def test_an_outside_cancellation_counts_as_a_failure_and_propagates_unchanged(clock):
    breaker = AsyncCircuitBreaker(clock=clock)
    task = asyncio.create_task(breaker.call(asyncio.sleep, 10))
    await asyncio.sleep(0)
    task.cancel("caller gave up")
    with pytest.raises(asyncio.CancelledError) as caught:
        await task
    assert caught.value.args == ("caller gave up",)
    assert breaker.failureCount == 1
    assert breaker.lastFailureTime == 100.0


async def test_hangs_cut_by_an_outer_wait_for_trip_the_breaker(clock):
    breaker = AsyncCircuitBreaker(clock=clock)
    for _ in range(3):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(breaker.call(asyncio.sleep, 10), timeout=0.01)
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError):
        await asyncio.wait_for(breaker.call(asyncio.sleep, 10), timeout=0.01)


async def test_a_cancelled_probe_reopens_the_circuit_instead_of_sticking_or_closing(clock):
    breaker = trip(AsyncCircuitBreaker(probeTimeoutSeconds=5.0, clock=clock), clock=clock)
    probe = asyncio.create_task(breaker.call(asyncio.sleep, 10))
    await asyncio.sleep(0)
    assert breaker.state == "half_open"
    assert repr(breaker) == "<AsyncCircuitBreaker half_open failures=3>"
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert breaker.state == "open"
    assert breaker.lastFailureTime == 102.0
    clock.advance(2.0)
    assert await breaker.call(ok) == "ok"
    assert breaker.state == "closed"


# -- exactly one probe -------------------------------------------------------------------------


async def test_a_hundred_tasks_entering_half_open_at_once_send_exactly_one_probe(clock):
    breaker = trip(AsyncCircuitBreaker(clock=clock), clock=clock)
    release = asyncio.Event()
    reached = []

    async def service(n):
        reached.append(n)
        await release.wait()
        return n

    tasks = [asyncio.create_task(breaker.call(service, n)) for n in range(100)]
    await asyncio.sleep(0)  # every task has run up to its decision
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    rejected = [r for r in results if isinstance(r, CircuitOpenError)]
    assert reached == [0]
    assert results[0] == 0
    assert len(rejected) == 99
    assert "decided within" in str(rejected[0])
    assert breaker.state == "closed"


# -- the caller's mistakes -----------------------------------------------------------------------


def notAsync():
    return "plain value"


async def test_a_function_that_returns_no_awaitable_is_a_type_error_not_a_failure(clock):
    breaker = AsyncCircuitBreaker(clock=clock)
    with pytest.raises(TypeError, match=r"notAsync returned str 'plain value', not an awaitable"):
        await breaker.call(notAsync)
    assert breaker.failureCount == 0


async def test_a_type_error_on_the_probe_hands_the_probe_to_the_next_caller(clock):
    breaker = trip(AsyncCircuitBreaker(clock=clock), clock=clock)
    with pytest.raises(TypeError, match="not an awaitable"):
        await breaker.call(notAsync)
    assert breaker.state == "half_open"
    assert await breaker.call(ok) == "ok"
    assert breaker.state == "closed"


async def test_a_non_callable_is_a_type_error_naming_it(clock):
    breaker = AsyncCircuitBreaker(clock=clock)
    with pytest.raises(TypeError, match="coroutineFn must be an async callable, got 42"):
        await breaker.call(42)
    assert breaker.failureCount == 0


async def test_a_type_error_raised_inside_the_service_is_a_failure(clock):
    breaker = AsyncCircuitBreaker(clock=clock)
    own = TypeError("bug inside the service")

    async def buggy():
        raise own

    with pytest.raises(TypeError) as caught:
        await breaker.call(buggy)
    assert caught.value is own
    assert breaker.failureCount == 1


async def test_any_awaitable_is_accepted_not_only_coroutines(clock):
    breaker = AsyncCircuitBreaker(clock=clock)
    loop = asyncio.get_running_loop()

    def futureReturning():
        future = loop.create_future()
        future.set_result("from a future")
        return future

    assert await breaker.call(futureReturning) == "from a future"


# -- the flaky service ---------------------------------------------------------------------------


class FixedRng:
    def __init__(self, value):
        self.value = value

    def random(self):
        return self.value


async def test_the_service_works_normally_sixty_percent_of_the_time():
    assert await FlakyAsyncService(rng=FixedRng(0.59)).fetch(7) == {"requestId": 7, "status": "ok"}


async def test_the_service_raises_service_degraded_thirty_percent_of_the_time():
    with pytest.raises(RuntimeError, match=r"^service degraded$"):
        await FlakyAsyncService(rng=FixedRng(0.6)).fetch(7)
    with pytest.raises(RuntimeError, match=r"^service degraded$"):
        await FlakyAsyncService(rng=FixedRng(0.89)).fetch(7)


async def test_the_service_hangs_then_raises_asyncio_timeout_error_ten_percent_of_the_time():
    service = FlakyAsyncService(rng=FixedRng(0.9), hangSeconds=0.05)
    started = time.perf_counter()
    with pytest.raises(asyncio.TimeoutError):
        await service.fetch(7)
    assert time.perf_counter() - started >= 0.05


async def test_a_seeded_service_draws_the_homework_mix():
    import random

    service = FlakyAsyncService(rng=random.Random(31), hangSeconds=0)
    fates = Counter()
    for i in range(4000):
        try:
            await service.fetch(i)
            fates["success"] += 1
        except RuntimeError:
            fates["error"] += 1
        except TimeoutError:
            fates["hang"] += 1
    assert abs(fates["success"] / 4000 - 0.6) < 0.03
    assert abs(fates["error"] / 4000 - 0.3) < 0.03
    assert abs(fates["hang"] / 4000 - 0.1) < 0.02
    assert service.calls == 4000


@pytest.mark.parametrize("hangSeconds", [-1, float("nan")])
def test_a_bad_hang_duration_is_rejected_naming_it(hangSeconds):
    with pytest.raises(ValueError, match="hangSeconds"):
        FlakyAsyncService(hangSeconds=hangSeconds)


# -- the harness -------------------------------------------------------------------------------


class ScriptedService:
    """Plays a fixed script of fates: 'ok', 'err' or 'hang'."""

    def __init__(self, script):
        self.script = list(script)
        self.calls = []

    async def fetch(self, requestId):
        self.calls.append(requestId)
        fate = self.script.pop(0)
        if fate == "err":
            raise RuntimeError("service degraded")
        if fate == "hang":
            await asyncio.sleep(10)
        return {"requestId": requestId}


async def scriptedRun():
    # TickingClock + resetTimeoutSeconds=1.0: the trip is read at t, the three rejections at
    # t+0.25..t+0.75, and the fourth call at t+1.0 is the probe.
    service = ScriptedService(["ok", "err", "err", "hang", "ok", "ok"])
    breaker = AsyncCircuitBreaker(resetTimeoutSeconds=1.0, clock=TickingClock())
    records = await runHarness(
        9, outerTimeout=0.05, callIntervalSeconds=0, breaker=breaker, service=service
    )
    return records, service, breaker


async def test_the_harness_classifies_each_call_and_the_state_after_it():
    records, service, breaker = await scriptedRun()
    assert [r["outcome"] for r in records] == [
        "success",
        "service_error",
        "service_error",
        "timeout",
        "circuit_open",
        "circuit_open",
        "circuit_open",
        "success",
        "success",
    ]
    assert [r["state"] for r in records] == ["closed"] * 3 + ["open"] * 4 + ["closed"] * 2
    assert [r["probe"] for r in records] == [False] * 7 + [True, False]
    assert [r["call"] for r in records] == list(range(9))
    assert service.calls == [0, 1, 2, 3, 7, 8]
    assert breaker.state == "closed"


async def test_the_harness_shows_circuit_open_calls_failing_fast():
    records, _, _ = await scriptedRun()
    fastFails = [r["elapsedSeconds"] for r in records if r["outcome"] == "circuit_open"]
    (hang,) = [r["elapsedSeconds"] for r in records if r["outcome"] == "timeout"]
    assert hang >= 0.05
    # Order-of-magnitude only: a rejection is microseconds, the hang waits out the timeout.
    assert max(fastFails) < hang / 5


async def test_the_report_prints_every_call_the_breakdown_the_path_and_the_evidence():
    records, _, breaker = await scriptedRun()
    text = harness._renderHarness(records, outerTimeout=0.05, finalState=breaker.state)
    lines = text.splitlines()
    assert len([line for line in lines if line.strip().split(" ")[0].isdigit()]) == 9
    assert "breakdown: success 3, service_error 2, circuit_open 3, timeout 1" in lines
    assert "states:    closed -> open -> half_open -> closed" in lines
    assert "final state: closed" in lines
    assert "service_error" in lines[2] and "RuntimeError: service degraded" in lines[2]
    assert "circuit_open" in lines[5] and "next probe allowed in" in lines[5]
    assert lines[8].endswith("closed       [probe]")
    assert any(
        line.startswith("fast-fail: slowest of 3 circuit-open calls took")
        and line.endswith("against the 50 ms outer timeout a hung call waits out")
        for line in lines
    )


async def test_a_failed_probe_shows_in_the_state_path():
    service = ScriptedService(["err", "err", "err", "err"])
    breaker = AsyncCircuitBreaker(resetTimeoutSeconds=0.5, clock=TickingClock())
    records = await runHarness(6, callIntervalSeconds=0, breaker=breaker, service=service)
    assert harness._statePath(records) == ["closed", "open", "half_open", "open"]
    assert [r["outcome"] for r in records][3:] == [
        "circuit_open",
        "service_error",
        "circuit_open",
    ]


async def test_the_same_seed_gives_the_same_trace():
    async def trace(seed):
        breaker = AsyncCircuitBreaker(resetTimeoutSeconds=1.0, clock=TickingClock())
        records = await runHarness(
            30, seed=seed, outerTimeout=0.02, callIntervalSeconds=0, breaker=breaker
        )
        return [(r["outcome"], r["state"]) for r in records]

    first = await trace(5)
    assert await trace(5) == first
    assert await trace(6) != first


async def test_a_seeded_requests_fate_does_not_depend_on_what_the_breaker_did_before_it():
    async def outcomes(breaker):
        records = await runHarness(
            30, seed=11, outerTimeout=0.02, callIntervalSeconds=0, breaker=breaker
        )
        return [r["outcome"] for r in records]

    tripping = await outcomes(AsyncCircuitBreaker(resetTimeoutSeconds=1.0, clock=TickingClock()))
    neverOpens = await outcomes(AsyncCircuitBreaker(failureThreshold=1000))
    assert "circuit_open" in tripping
    reachedBoth = [i for i, outcome in enumerate(tripping) if outcome != "circuit_open"]
    assert [tripping[i] for i in reachedBoth] == [neverOpens[i] for i in reachedBoth]


@pytest.mark.parametrize(
    ("kwargs", "error", "culprit"),
    [
        ({"numCalls": -1}, ValueError, "numCalls must be >= 0"),
        ({"numCalls": 2.0}, TypeError, "numCalls must be an int"),
        ({"outerTimeout": -1}, ValueError, "outerTimeout"),
        ({"callIntervalSeconds": float("nan")}, ValueError, "callIntervalSeconds"),
        ({"seed": 1.5}, TypeError, "seed must be an int or None"),
        ({"seed": "7"}, TypeError, "seed must be an int or None"),
        ({"service": 5}, TypeError, r"service must have an async fetch\(requestId\) method"),
        ({"breaker": CircuitBreaker()}, TypeError, "breaker must be an AsyncCircuitBreaker"),
    ],
)
async def test_bad_harness_arguments_are_one_error_up_front_naming_them(kwargs, error, culprit):
    # callIntervalSeconds=60 unless given: had the harness started calling, it would hang.
    kwargs = {"numCalls": 3, "callIntervalSeconds": 60, **kwargs}
    with pytest.raises(error, match=culprit):
        await runHarness(**kwargs)


class InstantService:
    async def fetch(self, requestId):
        return {"requestId": requestId}


async def test_cancelling_the_harness_always_propagates_even_as_a_call_completes():
    # Python 3.11's wait_for loses a cancel that lands as the inner call finishes (gh-86296);
    # an instant service makes that the common case. Each trial cancels after a different
    # number of loop iterations, so every phase of a call is hit.
    outcomes = []
    for trial in range(40):
        task = asyncio.create_task(runHarness(50, callIntervalSeconds=0, service=InstantService()))
        for _ in range(trial + 1):
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            outcomes.append("cancelled")
        else:
            outcomes.append("ran to the end")
    assert outcomes == ["cancelled"] * 40


async def test_a_probe_holding_off_its_cancellation_is_not_said_to_be_decided_within_zero(clock):
    breaker = trip(AsyncCircuitBreaker(probeTimeoutSeconds=0.01, clock=clock), clock=clock)
    heldOff, release = asyncio.Event(), asyncio.Event()

    async def stubborn():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            heldOff.set()
            await release.wait()  # carries on past its bound
        return "late"

    probe = asyncio.create_task(breaker.call(stubborn))
    await heldOff.wait()
    clock.advance(0.75)
    with pytest.raises(CircuitOpenError) as caught:
        await breaker.call(ok)
    message = str(caught.value)
    assert "decided within" not in message
    assert "in flight for 0.750 s, past its probeTimeoutSeconds=0.01" in message
    assert caught.value.retryAfterSeconds is None
    release.set()
    with pytest.raises(TimeoutError, match="overran"):
        await probe
    assert breaker.state == "open"


async def test_main_prints_thirty_calls_and_the_summary(monkeypatch, capsys):
    fast = functools.partial(
        runHarness,
        outerTimeout=0.02,
        callIntervalSeconds=0,
        service=FlakyAsyncService(rng=__import__("random").Random(3), hangSeconds=0.5),
    )
    monkeypatch.setattr(harness, "runHarness", fast)
    await module.main(seed=3)
    out = capsys.readouterr().out
    callLines = [line.split() for line in out.splitlines() if line.split()[:1] != []]
    counts = Counter(words[1] for words in callLines if words[0].isdigit())
    assert out.startswith("<AsyncCircuitBreaker closed failures=0>: failureThreshold 3")
    assert set(counts) <= set(module.OUTCOMES)
    assert sum(counts.values()) == 30
    assert "final state: " in out
    assert "breakdown: success" in out


# -- the spacing analysis --------------------------------------------------------------------


def test_with_no_fast_fails_a_seed_reaches_half_open_iff_three_failures_in_a_row_come_early():
    # Spaced wider than reset + hang, every opening is followed at once by the probe: the
    # replay must then agree with a plain search of the seed's fates for a run of three.
    for seed in range(50):
        fates = FlakyAsyncService._seededPerRequest(seed)
        failed = [fates._draw(i) != "success" for i in range(29)]  # a trip at call 28 probes at 29
        expected = any(all(failed[i : i + 3]) for i in range(27))
        assert breakerspacing.reachesHalfOpen(seed, 10.0) is expected, seed


def test_the_harness_spacing_shows_three_fast_fails_per_opening():
    assert breakerspacing.fastFailsPerOpening(module.CALL_INTERVAL_SECONDS) == 3
    assert breakerspacing.fastFailsPerOpening(0.25) == 7
