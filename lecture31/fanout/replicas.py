"""Replicated shards with finite capacity, and the latency models the hedging study runs.

Shards of bare ``asyncio.sleep`` have unlimited capacity, so a copy there is free; here it is
not: each replica serves at most ``capacity`` requests at once, in FIFO order, and a copy
waits behind real work::

    shard s: replica 0  [capacity slots] <- FIFO queue <- attempts
             replica 1  [capacity slots] <- FIFO queue <- attempts
             (the correlated model: one slow period hits both replicas of the shard)

A service time is drawn when an attempt starts service, from that replica's own stream
(one ``CounterStream`` per shard and replica, keyed by the seed), so a seeded run is the same
whichever driver runs it: asyncio, the reference heap or the compiled kernel.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass

from .race import Attempt
from .streams import Draws

__all__ = ("MODELS", "LatencyModel", "Replica", "ShardWeather")


@dataclass(frozen=True)
class LatencyModel:
    """One of the study's shard models; ``meanService`` defines the offered load."""

    name: str
    meanService: float
    replicas: int = 3
    capacity: int = 1
    abortable: bool = True  # can a cancelled copy stop mid-service and free its slot?
    correlated: bool = False
    shards: int = 100
    description: str = ""

    def draw(self, rng: Draws) -> float:
        """One service time (the correlated model's slow factor is applied by the caller)."""
        name = self.name
        if name == "homework":
            return HOMEWORK_BASE + rng.expovariate(HOMEWORK_RATE)
        if name in ("hiccup", "correlated"):
            base = HICCUP_BASE * rng.uniform(0.9, 1.1)
            if name == "hiccup" and rng.random() < HICCUP_PROBABILITY:
                base += rng.uniform(*HICCUP_PAUSE)
            return base
        if name == "pareto":
            return PARETO_SCALE * rng.paretovariate(PARETO_ALPHA)
        return rng.expovariate(1.0 / THEORY_MEAN)


# The homework's shard: 0.1 s + Exp(5), mean 0.3 s.
HOMEWORK_BASE, HOMEWORK_RATE = 0.1, 5.0
# The Tail at Scale's shape: 10 ms, and 1% of requests pause 0.2-1 s (mean 0.6 s).
HICCUP_BASE, HICCUP_PROBABILITY, HICCUP_PAUSE = 0.010, 0.01, (0.2, 1.0)
# Pareto with alpha 2.5: a heavy tail with a finite variance (queues stay stable).
PARETO_SCALE, PARETO_ALPHA = 0.006, 2.5
# Correlated slowness: the shard is slow 2% of the time (periods of mean 0.5 s), and a
# slow period makes every service there SLOW_FACTOR times longer, on both replicas at once.
SLOW_FACTOR, SLOW_MEAN_SECONDS, SLOW_FRACTION = 20.0, 0.5, 0.02
THEORY_MEAN = 0.010

# The Tail at Scale's fan-out is 100 shards (hiccup); pareto and correlated run 20, which shows
# the same effect at a fifth of the cost of a sweep.
NARROW_SHARDS = 20
# Capacity 4 keeps a hiccup from stalling its replica's queue (Dean and Barroso's servers
# serve many requests at once); capacity 1 is the homework's one-at-a-time shard and the
# one-server queue the theory assumes. Ten replicas make the theory's two copies land on
# nearly independent queues, as its M/M/1 analysis assumes; two replicas would receive the
# very same arrivals.
MODELS = {
    model.name: model
    for model in (
        LatencyModel(
            "homework",
            HOMEWORK_BASE + 1 / HOMEWORK_RATE,
            capacity=4,
            shards=6,
            description="0.1 s + Exp(5), the exercise's shards",
        ),
        LatencyModel(
            "hiccup",
            HICCUP_BASE + HICCUP_PROBABILITY * sum(HICCUP_PAUSE) / 2,
            capacity=4,
            description="10 ms x U(0.9, 1.1); 1% add U(0.2, 1.0) s",
        ),
        LatencyModel(
            "pareto",
            PARETO_SCALE * PARETO_ALPHA / (PARETO_ALPHA - 1),
            capacity=4,
            shards=NARROW_SHARDS,
            description=f"Pareto(alpha {PARETO_ALPHA}) x {PARETO_SCALE * 1000:g} ms",
        ),
        LatencyModel(
            "correlated",
            HICCUP_BASE * (1 + SLOW_FRACTION * (SLOW_FACTOR - 1)),
            capacity=4,
            correlated=True,
            shards=NARROW_SHARDS,
            description=f"10 ms; {SLOW_FRACTION:.0%} of the time both replicas"
            f" {SLOW_FACTOR:g}x slower",
        ),
        LatencyModel(
            "theory",
            THEORY_MEAN,
            replicas=10,
            capacity=1,
            abortable=False,
            shards=1,
            description="Exp service, one server a replica, copies never aborted",
        ),
    )
}


class ShardWeather:
    """When a shard is slow: alternating normal and slow periods, drawn lazily, shared by
    every replica of the shard (so a copy to another replica is just as slow)."""

    __slots__ = ("_ends", "_rng", "_slow")

    def __init__(self, rng: Draws) -> None:
        self._rng = rng
        self._ends: list[float] = []  # where each period ends
        self._slow: list[bool] = []

    def factor(self, now: float) -> float:
        ends = self._ends
        while not ends or ends[-1] <= now:
            slow = bool(self._slow) and not self._slow[-1]
            mean = SLOW_MEAN_SECONDS
            if not slow:
                mean *= (1 - SLOW_FRACTION) / SLOW_FRACTION
            ends.append((ends[-1] if ends else 0.0) + self._rng.expovariate(1.0 / mean))
            self._slow.append(slow)
        return SLOW_FACTOR if self._slow[bisect.bisect_right(ends, now)] else 1.0


class Replica:
    """One replica's slots and FIFO queue; the jobs are ``Attempt``s.

    ``submit`` says whether the attempt starts now; ``release`` frees a slot and hands it to
    the next attempt still waiting (cancelled ones are skipped where they lie).
    """

    __slots__ = ("busy", "capacity", "rng", "waiting", "weather")

    def __init__(self, capacity: int, rng: Draws, weather: ShardWeather | None = None) -> None:
        self.capacity = capacity
        self.rng = rng
        self.weather = weather
        self.busy = 0
        self.waiting: deque[Attempt] = deque()

    def submit(self, attempt: Attempt) -> bool:
        if self.busy < self.capacity:
            self.busy += 1
            return True
        self.waiting.append(attempt)
        return False

    def release(self) -> Attempt | None:
        waiting = self.waiting
        while waiting:
            attempt = waiting.popleft()
            if attempt.state != "cancelled":
                return attempt  # the slot passes to it
        self.busy -= 1
        return None

    def serviceTime(self, model: LatencyModel, now: float) -> float:
        seconds = model.draw(self.rng)
        if self.weather is not None:
            seconds *= self.weather.factor(now)
        return seconds
