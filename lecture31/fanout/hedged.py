"""Beyond Exercise 2: the hedged fan-out, in asyncio (the ``ShardRace`` rules, driven by tasks).

    hedgedFanOut: deadline = tracker.suggestedTimeout()   (the homework's, read once)
       per shard: ShardRace --send--> task: [breaker.call] replicaFn(shard, replica, query)
                            --arm---> loop.call_later(delay, race.onTimer)
                            --cancel-> task.cancel(CANCELLED_AS_LOSER)   (a copy that lost)
       all shards finished, or the deadline: every unfinished copy cancelled; then every task
       is awaited before the call returns (no task outlives it, no exception unretrieved)

Latencies are read from ``loop.time()``, so the same code measures virtual time on a
``VirtualClockLoop`` and real time on any other loop.

The breaker rule: each copy is recorded once, against the breaker of the replica it went to:
a success if it answered, a failure if it raised or the deadline cut it, and nothing at all if
it was cancelled because another copy won (``CANCELLED_AS_LOSER``). So a replica is never
blamed for a race it merely lost, and a request retried after an error counts one failure, at
the replica that failed. A breaker that rejects a copy (``CircuitOpenError``) is a fast error:
the next copy goes to another replica at once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .._runtime.checks import checkCount, checkSeconds
from .._runtime.seeding import derivedRng
from ..breaker.breakers import CANCELLED_AS_LOSER, AsyncCircuitBreaker
from .hedgepolicy import DelayEstimator, HedgeBudget, HedgePolicy
from .race import Attempt, ShardRace
from .replicas import HOMEWORK_BASE, HOMEWORK_RATE, LatencyModel, Replica
from .streams import CounterStream, streamKey

__all__ = ("ReplicatedShards", "hedgedFanOut", "homeworkReplica")

ReplicaFn = Callable[..., Awaitable[dict]]
_NO_START: Callable[[], None] = lambda: None  # noqa: E731


async def homeworkReplica(
    shardId: int,
    replica: int,
    query: object,
    *,
    rng: random.Random | None = None,
    onStarted: Callable[[], None] = _NO_START,
) -> dict:
    """The homework's shard on one replica: 0.1 s + Exp(5), 10% ``RuntimeError``, no queue."""
    source: Any = random if rng is None else rng
    latency = HOMEWORK_BASE + source.expovariate(HOMEWORK_RATE)
    fails = source.random() < 0.1
    numRecords = source.randint(3, 8)
    onStarted()
    await asyncio.sleep(latency)
    if fails:
        raise RuntimeError("shard error")
    return {"shardId": shardId, "records": [f"r_{shardId}_{i}" for i in range(numRecords)]}


class _Waiter:
    __slots__ = ("future", "state")

    def __init__(self, future: asyncio.Future) -> None:
        self.future = future
        self.state = "sent"


class ReplicatedShards:
    """Replicas with ``model.capacity`` slots each, FIFO, as asyncio: a ``replicaFn``.

    The same ``Replica`` queues and service-time draws as the virtual-time engine; a copy
    cancelled while queued leaves the queue, one cancelled in service frees its slot.
    """

    def __init__(self, model: LatencyModel, numShards: int, *, seed: int = 0) -> None:
        self.model = model
        self.replicas = [
            [
                Replica(model.capacity, CounterStream(streamKey(seed, "service", s, r)))
                for r in range(model.replicas)
            ]
            for s in range(numShards)
        ]

    async def __call__(
        self,
        shardId: int,
        replica: int,
        query: object,
        *,
        rng: random.Random | None = None,
        onStarted: Callable[[], None] = _NO_START,
    ) -> dict:
        server = self.replicas[shardId][replica]
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop.create_future())
        if not server.submit(waiter):  # type: ignore[arg-type]
            try:
                await waiter.future
            except asyncio.CancelledError:
                waiter.state = "cancelled"
                if waiter.future.done() and not waiter.future.cancelled():
                    self._release(server)  # handed the slot as it was cancelled: pass it on
                raise
        try:
            onStarted()
            await asyncio.sleep(server.serviceTime(self.model, loop.time()))
        finally:
            self._release(server)
        return {"shardId": shardId, "replica": replica, "records": []}

    @staticmethod
    def _release(server: Replica) -> None:
        following: Any = server.release()
        if following is not None:
            following.future.set_result(None)


class _TaskDriver:
    """What ``ShardRace`` asks of asyncio: tasks for copies, timers for hedges."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        replicaFn: ReplicaFn,
        query: object,
        breakers: Mapping[tuple[int, int], AsyncCircuitBreaker] | None,
        rngs: list[random.Random | None],
        pending: int,
    ) -> None:
        self.loop = loop
        self.replicaFn = replicaFn
        self.query = query
        self.breakers = breakers or {}
        self.rngs = rngs
        self.pending = pending
        self.allDone: asyncio.Future = loop.create_future()
        self.tasks: list[asyncio.Task] = []
        self.timers: list[asyncio.TimerHandle] = []
        self.answeredAt: dict[int, float] = {}

    def now(self) -> float:
        return self.loop.time()

    def send(self, attempt: Attempt) -> None:
        task = self.loop.create_task(
            self._run(attempt),
            name=f"hedged {self.query!r} shard {attempt.race.shardId} copy {attempt.index}",
        )
        attempt.handle = task
        self.tasks.append(task)

    def arm(self, race: ShardRace, delay: float) -> None:
        self.timers.append(self.loop.call_later(delay, lambda: race.onTimer(self.loop.time())))

    def cancel(self, attempt: Attempt) -> None:
        race = attempt.race
        # A copy that lost (or a tied twin) is cancelled as a loser; one the deadline cut (the
        # race abandoned: done without a winner), plainly, which a breaker counts a failure.
        abandoned = race.done and race.winner is None
        attempt.handle.cancel(None if abandoned else CANCELLED_AS_LOSER)

    def finish(self, race: ShardRace) -> None:
        if race.winner is not None:
            self.answeredAt[race.shardId] = self.loop.time()
        self.pending -= 1
        if self.pending == 0 and not self.allDone.done():
            self.allDone.set_result(None)

    async def _run(self, attempt: Attempt) -> None:
        race = attempt.race
        shardId, replica = race.shardId, attempt.replica
        base = self.rngs[shardId]
        rng = None if base is None else derivedRng(base.getrandbits(64), replica, attempt.index)
        breaker = self.breakers.get((shardId, replica))

        def started() -> None:
            race.onStarted(attempt)

        try:
            if breaker is None:
                result = await self.replicaFn(
                    shardId, replica, self.query, rng=rng, onStarted=started
                )
            else:
                result = await breaker.call(
                    self.replicaFn, shardId, replica, self.query, rng=rng, onStarted=started
                )
        except Exception as exc:  # a failed copy (CircuitOpenError too): the race decides
            race.onDone(attempt, False, exc)
            return
        race.onDone(attempt, True, result)


async def _drain(tasks: list[asyncio.Task]) -> None:
    """Wait until every task is done and retrieve every outcome; a cancel of the caller meanwhile
    is held back until they are, then re-raised."""
    interrupted: asyncio.CancelledError | None = None
    unfinished = [task for task in tasks if not task.done()]
    while unfinished:
        try:
            await asyncio.wait(unfinished)
        except asyncio.CancelledError as exc:
            interrupted = exc
            for task in unfinished:
                task.cancel()
        unfinished = [task for task in unfinished if not task.done()]
    for task in tasks:
        if not task.cancelled():
            task.exception()
    if interrupted is not None:
        raise interrupted


async def hedgedFanOut(
    query: object,
    numShards: int,
    tracker: Any,
    *,
    policy: HedgePolicy | None = None,
    replicas: int = 3,
    replicaFn: ReplicaFn | None = None,
    budget: HedgeBudget | None = None,
    estimator: DelayEstimator | None = None,
    breakers: Mapping[tuple[int, int], AsyncCircuitBreaker] | None = None,
    rng: random.Random | None = None,
) -> dict:
    """Query ``numShards`` shards of ``replicas`` replicas each, hedging slow copies.

    Returns the homework's keys plus ``attemptsSent``, ``hedgesSent`` and ``hedgeWins``.
    ``tracker`` is the homework's ``LatencyTracker`` (its deadline applies, and it learns from
    the shards that answered). ``budget`` and ``estimator`` may be shared between calls (they
    should be: a budget per call would allow a burst per call). ``breakers`` maps
    ``(shardId, replica)`` to the breaker in front of that replica (the rule: module docstring).
    """
    numShards = checkCount(numShards, "numShards")
    replicas = checkCount(replicas, "replicas")
    policy = HedgePolicy() if policy is None else policy
    if not isinstance(policy, HedgePolicy):
        raise TypeError(f"policy must be a HedgePolicy or None, got {policy!r}")
    usedTimeout = checkSeconds(tracker.suggestedTimeout(), "tracker.suggestedTimeout()")
    replicaFn = homeworkReplica if replicaFn is None else replicaFn
    budget = HedgeBudget.forPolicy(policy) if budget is None else budget
    if estimator is None:
        estimator = DelayEstimator(policy.percentile, fixedDelay=policy.fixedDelay)
    seeds = [None if rng is None else rng.getrandbits(64) for _ in range(numShards)]
    rngs = [None if seed is None else derivedRng(seed, "shard", s) for s, seed in enumerate(seeds)]
    routes = [random.Random(seed) if seed is not None else random for seed in seeds]

    loop = asyncio.get_running_loop()
    driver = _TaskDriver(loop, replicaFn, query, breakers, rngs, numShards)
    races = []
    for shardId in range(numShards):
        primary = routes[shardId].randrange(replicas)
        order = [(primary + k) % replicas for k in range(replicas)]
        races.append(ShardRace(shardId, order, policy, budget, estimator, driver))
    startedAt = loop.time()
    try:
        for race in races:
            race.start(startedAt)
        await asyncio.wait([driver.allDone], timeout=usedTimeout)
    finally:
        for timer in driver.timers:
            timer.cancel()
        for race in races:
            if not race.done:
                race.abandon()  # the deadline (or our own cancellation): a plain cancel
        await _drain(driver.tasks)
        driver.allDone.cancel()
    return _summary(query, races, driver, startedAt, usedTimeout, tracker)


def _summary(
    query: object,
    races: list[ShardRace],
    driver: _TaskDriver,
    startedAt: float,
    usedTimeout: float,
    tracker: Any,
) -> dict:
    latencies: list[float] = []
    failed = timedOut = totalRecords = 0
    for race in races:
        if race.winner is not None:
            latencies.append(driver.answeredAt[race.shardId] - startedAt)
            totalRecords += len(race.result.get("records", ()))
        elif race.result is not None:  # every copy failed: the last error
            failed += 1
        else:
            timedOut += 1
    tracker.update(latencies)
    if hasattr(tracker, "recordTimedOut"):
        tracker.recordTimedOut(usedTimeout, count=timedOut)
    return {
        "query": query,
        "shardsResponded": len(latencies),
        "shardsTimedOut": timedOut,
        "shardsFailed": failed,
        "totalRecords": totalRecords,
        "usedTimeout": usedTimeout,
        "attemptsSent": sum(len(race.attempts) for race in races),
        "hedgesSent": sum(race.hedgesSent for race in races),
        "hedgeWins": sum(1 for race in races if race.hedgeWon),
    }
