"""Exercise 3: both breakers, driven by hypothesis, agree with a small model of the homework.

The model is the homework's requirement 2 written out as plainly as possible (elapsed time since
the last failure, not a stored deadline), plus the one-probe rule. Times are multiples of
0.25 s from 100.0, so both formulations see exactly the same floats.
"""

from __future__ import annotations

import asyncio

from fakes import Boom, FakeClock
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from lecture31.breaker import AsyncCircuitBreaker, CircuitBreaker, CircuitOpenError


class Interrupted(BaseException):
    """What an outside cancellation looks like to the sync breaker (a KeyboardInterrupt)."""


class HomeworkModel:
    """Requirement 2, literally; 'cancel' is a failure; a probe turns nested callers away."""

    def __init__(self, threshold: int, reset: float) -> None:
        self.threshold, self.reset = threshold, reset
        self.state = "closed"
        self.failureCount = 0
        self.lastFailureTime = None
        self.successCountInHalfOpen = 0

    def admit(self, now: float) -> str | None:
        """'probe', 'closed', or None for a rejection."""
        if self.state == "open":
            if now - self.lastFailureTime >= self.reset:
                self.state = "half_open"
                self.successCountInHalfOpen = 0
            else:
                return None
        return "probe" if self.state == "half_open" else "closed"

    def finish(self, admitted: str, succeeded: bool, now: float) -> None:
        if admitted == "probe":
            if succeeded:
                self.state, self.failureCount = "closed", 0
                self.successCountInHalfOpen += 1
            else:
                self.state = "open"
                self.failureCount += 1
                self.lastFailureTime = now
        elif succeeded:
            self.failureCount = 0
        else:
            self.failureCount += 1
            self.lastFailureTime = now
            if self.failureCount >= self.threshold:
                self.state = "open"


OUTCOMES = st.sampled_from(["ok", "fail", "cancel"])


class BothBreakersFollowTheHomework(RuleBasedStateMachine):
    @initialize(threshold=st.integers(1, 4), resetQuarters=st.integers(0, 12))
    def build(self, threshold, resetQuarters):
        self.clock = FakeClock()
        reset = resetQuarters * 0.25
        self.model = HomeworkModel(threshold, reset)
        self.sync = CircuitBreaker(threshold, reset, clock=self.clock)
        self.async_ = AsyncCircuitBreaker(threshold, reset, 5.0, clock=self.clock)
        self.loop = asyncio.new_event_loop()

    def teardown(self):
        if hasattr(self, "loop"):
            self.loop.close()

    @rule(quarters=st.integers(0, 12))
    def timePasses(self, quarters):
        self.clock.now += quarters * 0.25

    @rule(outcome=OUTCOMES)
    def call(self, outcome):
        admitted = self.model.admit(self.clock.now)
        self.checkSync(admitted, outcome, nested=False)
        self.checkAsync(admitted, outcome, nested=False)
        if admitted:
            self.model.finish(admitted, outcome == "ok", self.clock.now)

    @rule(outcome=OUTCOMES)
    def callThatCallsAgainWhileInFlight(self, outcome):
        # The inner call (which succeeds if admitted) is a second caller arriving while the
        # outer one is in flight: turned away if the outer is the probe, let through if closed.
        admitted = self.model.admit(self.clock.now)
        self.checkSync(admitted, outcome, nested=True)
        self.checkAsync(admitted, outcome, nested=True)
        if admitted == "closed":
            self.model.finish("closed", True, self.clock.now)
        if admitted:
            self.model.finish(admitted, outcome == "ok", self.clock.now)

    # -- driving each breaker ------------------------------------------------------------------

    def checkSync(self, admitted, outcome, nested):
        breaker = self.sync
        inner = []

        def service():
            if nested:
                inner.append(_syncInner(breaker))
            if outcome == "fail":
                raise Boom("down")
            if outcome == "cancel":
                raise Interrupted
            return "ok"

        result = _capture(lambda: breaker.call(service))
        self.checkResult(admitted, outcome, result, inner, nested)

    def checkAsync(self, admitted, outcome, nested):
        breaker = self.async_
        inner = []

        async def service():
            if nested:
                inner.append(await _asyncInner(breaker))
            if outcome == "fail":
                raise Boom("down")
            if outcome == "cancel":
                await asyncio.sleep(10)
            return "ok"

        async def drive():
            task = asyncio.ensure_future(breaker.call(service))
            if outcome == "cancel":
                await asyncio.sleep(0)
                task.cancel()
            try:
                return await task
            except BaseException as exc:  # the result is what we compare
                return exc

        result = self.loop.run_until_complete(drive())
        self.checkResult(admitted, outcome, result, inner, nested)

    def checkResult(self, admitted, outcome, result, inner, nested):
        if admitted is None:
            assert isinstance(result, CircuitOpenError), result
            assert inner == []
            return
        expected = {"ok": str, "fail": Boom, "cancel": (Interrupted, asyncio.CancelledError)}
        assert isinstance(result, expected[outcome]), (outcome, result)
        if nested:
            assert inner == (["rejected"] if admitted == "probe" else ["ok"])

    @invariant()
    def breakersMatchTheModel(self):
        if not hasattr(self, "model"):
            return
        model = self.model
        for breaker in (self.sync, self.async_):
            seen = (
                breaker.state,
                breaker.failureCount,
                breaker.lastFailureTime,
                breaker.successCountInHalfOpen,
            )
            wanted = (
                model.state,
                model.failureCount,
                model.lastFailureTime,
                model.successCountInHalfOpen,
            )
            assert seen == wanted, (type(breaker).__name__, seen, wanted)


def _capture(thunk):
    try:
        return thunk()
    except BaseException as exc:  # the result is what we compare
        return exc


def _syncInner(breaker):
    try:
        return breaker.call(lambda: "ok")
    except CircuitOpenError:
        return "rejected"


async def _asyncInner(breaker):
    async def ok():
        return "ok"

    try:
        return await breaker.call(ok)
    except CircuitOpenError:
        return "rejected"


BothBreakersFollowTheHomework.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None
)
test_both_breakers_follow_the_homework_rules = BothBreakersFollowTheHomework.TestCase
