"""One shard's race between copies of a request: the rules, with no I/O and no clock.

The race decides; a driver does. The asyncio fan-out (``hedged.py``) and the virtual-time
study (``simulate.py``) are two drivers of the same ``ShardRace``::

    driver --start(now)------------> ShardRace --send(race, replica, extra)--> driver
           --onTimer(now)----------> (policy,   --arm(race, delay)-----------> driver
           --onStarted(attempt)----> budget,    --cancel(attempt)------------> driver
           --onDone(attempt, ok)---> delay)     --finish(race)---------------> driver

Rules: the primary goes to ``replicas[0]``; each extra attempt to the next replica in
``replicas`` (never one already tried). A hedge is armed ``delay`` after the latest attempt;
it is sent if the budget yields a token. A fast error starts the next attempt at once (an
extra attempt: it needs a token too). The first success wins and the others are cancelled
(duplicate-all cancels nothing: its copies cannot be aborted). Tied: both copies are queued
at once and the first to start service cancels its twin.
"""

from __future__ import annotations

from typing import Any, Protocol

from .hedgepolicy import DelayEstimator, HedgeBudget, HedgeMode, HedgePolicy

__all__ = ("Attempt", "RaceDriver", "ShardRace")


class Attempt:
    """One copy of a shard request, sent to one replica."""

    __slots__ = ("extra", "handle", "index", "race", "replica", "sentAt", "state")

    def __init__(self, race: ShardRace, index: int, replica: int, extra: bool, now: float):
        self.race = race
        self.index = index
        self.replica = replica
        self.extra = extra
        self.sentAt = now
        self.state = "sent"  # -> started -> done | cancelled
        self.handle: Any = None  # the driver's: a task, a queue entry...


class RaceDriver(Protocol):
    """What a driver does when a race tells it to."""

    def now(self) -> float: ...
    def send(self, attempt: Attempt) -> None: ...
    def arm(self, race: ShardRace, delay: float) -> None: ...
    def cancel(self, attempt: Attempt) -> None: ...
    def finish(self, race: ShardRace) -> None: ...


class ShardRace:
    """The copies of one shard's request, and which of them answers."""

    __slots__ = (
        "attempts",
        "budget",
        "context",
        "done",
        "driver",
        "estimator",
        "inFlight",
        "mode",
        "policy",
        "replicas",
        "result",
        "shardId",
        "startedAt",
        "winner",
    )

    def __init__(
        self,
        shardId: int,
        replicas: list[int],
        policy: HedgePolicy,
        budget: HedgeBudget,
        estimator: DelayEstimator,
        driver: RaceDriver,
        context: Any = None,
    ) -> None:
        self.shardId = shardId
        self.replicas = replicas
        self.policy = policy
        self.mode = policy.mode
        self.budget = budget
        self.estimator = estimator
        self.driver = driver
        self.context = context
        self.attempts: list[Attempt] = []
        self.inFlight = 0
        self.done = False
        self.winner: Attempt | None = None
        self.result: Any = None
        self.startedAt = 0.0

    # -- what the driver tells the race ---------------------------------------------------

    def start(self, now: float) -> None:
        self.startedAt = now
        self.budget.deposit(self.shardId)
        primary = self._send(now, extra=False)
        mode = self.mode
        if mode is HedgeMode.NONE:
            return
        if mode is HedgeMode.DUPLICATE_ALL:
            self._send(now, extra=True)
        elif mode is HedgeMode.TIED:
            if primary.state == "sent" and len(self.replicas) > 1:  # still queued: tie a twin
                self._send(now, extra=True)
        elif self.policy.maxAttempts > 1:
            self.driver.arm(self, self.estimator.delay)

    def onTimer(self, now: float) -> None:
        """The hedge delay has passed since the latest attempt (or a refusal).

        A hedge the budget refuses is asked for again one delay later: the attempt may still
        be stuck then, and the primaries sent meanwhile will have paid in.
        """
        if self.done or len(self.attempts) >= self._attemptLimit():
            return
        if self.policy.budgeted and not self.budget.tryWithdraw(self.shardId):
            self.driver.arm(self, self.estimator.delay)
            return
        self._send(now, extra=True)
        if len(self.attempts) < self._attemptLimit():
            self.driver.arm(self, self.estimator.delay)

    def onStarted(self, attempt: Attempt) -> None:
        """``attempt`` began service: in tied mode its twins are cancelled."""
        attempt.state = "started"
        if self.mode is HedgeMode.TIED and not self.done:
            for other in self.attempts:
                if other is not attempt and other.state == "sent":
                    self._cancel(other)

    def onDone(self, attempt: Attempt, ok: bool, result: Any = None) -> None:
        """``attempt`` answered (``ok``) or failed."""
        if attempt.state == "cancelled":
            return
        now = self.driver.now()
        attempt.state = "done"
        self.inFlight -= 1
        if not attempt.extra:
            self.estimator.record(now - attempt.sentAt)
        if self.done:
            return  # a copy that could not be aborted, finishing after the winner
        if ok:
            self.done = True
            self.winner = attempt
            self.result = result
            if self.policy.abortsLosers:
                for other in self.attempts:
                    if other.state in ("sent", "started"):
                        self._cancel(other)
            self.driver.finish(self)
            return
        # A fast error starts the next attempt at once, if the policy has one to give.
        if self.mode is not HedgeMode.NONE and self._extraAllowed():
            self._send(now, extra=True)
            return
        if self.inFlight == 0:
            self.done = True
            self.result = result
            self.driver.finish(self)

    def abandon(self) -> None:
        """The fan-out gave up (its deadline): every copy still running is cancelled."""
        self.done = True
        for other in self.attempts:
            if other.state in ("sent", "started"):
                self._cancel(other)

    # -- what the race tells the driver ---------------------------------------------------

    def _attemptLimit(self) -> int:
        return min(self.policy.maxAttempts, len(self.replicas))

    def _extraAllowed(self) -> bool:
        if len(self.attempts) >= self._attemptLimit():
            return False
        return not self.policy.budgeted or self.budget.tryWithdraw(self.shardId)

    def _send(self, now: float, *, extra: bool) -> Attempt:
        attempt = Attempt(self, len(self.attempts), self.replicas[len(self.attempts)], extra, now)
        self.attempts.append(attempt)
        self.inFlight += 1
        self.driver.send(attempt)
        return attempt

    def _cancel(self, attempt: Attempt) -> None:
        now = self.driver.now()
        if not attempt.extra and self.policy.hedges:
            self.estimator.record(now - attempt.sentAt)  # censored: a lower bound, > delay
        attempt.state = "cancelled"
        self.inFlight -= 1
        self.driver.cancel(attempt)

    @property
    def hedgesSent(self) -> int:
        return sum(1 for attempt in self.attempts if attempt.extra)

    @property
    def hedgeWon(self) -> bool:
        return self.winner is not None and self.winner.extra
