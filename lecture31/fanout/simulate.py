"""The virtual-time lab's engine: open-loop fan-outs through replicated shards, event by event.

A lean driver of ``ShardRace`` (the same race the asyncio ``hedgedFanOut`` drives): one heap
of (virtual time, sequence, what, object) and no event loop, because 100,000 fan-outs of 100
shards are tens of millions of attempts and an asyncio task costs ~10 us each::

    Poisson arrivals --> fan-out: one ShardRace per shard --> Replica.submit (FIFO, c slots)
         ^                   |  arm(delay) -> heap: timer       |  started -> heap: done
         |                   |  cancel(attempt) -> free the slot (if it can be aborted)
         +---- heap <--------+  finish(race) -> the fan-out's last shard: its latency

``simulateFanOuts`` is the only entry; the study (``study.py``) sweeps it over loads and
policies. The same seed gives the same trace: every random draw comes from a generator
derived from the seed for the arrivals, or for one shard (routing) or one replica (service).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from .._runtime.checks import checkCount, checkSeed
from .hedgepolicy import (
    DEFAULT_DELAY_SECONDS,
    DELAY_WINDOW,
    DelayEstimator,
    HedgeBudget,
    HedgeMode,
    HedgePolicy,
)
from .race import Attempt, ShardRace
from .replicas import (
    HICCUP_BASE,
    HICCUP_PAUSE,
    HICCUP_PROBABILITY,
    HOMEWORK_BASE,
    HOMEWORK_RATE,
    MODELS,
    PARETO_ALPHA,
    PARETO_SCALE,
    SLOW_FACTOR,
    SLOW_FRACTION,
    SLOW_MEAN_SECONDS,
    THEORY_MEAN,
    LatencyModel,
    Replica,
    ShardWeather,
)
from .streams import CounterStream, streamKey

__all__ = ("SimulationResult", "simulateFanOuts")

_ARRIVAL, _TIMER, _DONE = 0, 1, 2
# The first fan-outs see empty queues and a delay estimator that has not learnt yet.
WARMUP_FRACTION, MIN_WARMUP = 0.1, 200


@dataclass(frozen=True)
class SimulationResult:
    """What one (model, policy, load) run measured: fan-out latencies and what they cost."""

    latencies: list[float]
    primaries: int
    extraAttempts: int
    hedgeWins: int
    usefulWork: float
    totalWork: float
    maxBudgetExcess: float  # max over the run of extra - ratio x primaries (budgeted only)


def attemptSlots(model: LatencyModel, policy: HedgePolicy) -> int:
    """How many replicas a race may try (its replica order's length)."""
    if policy.mode in (HedgeMode.TIED, HedgeMode.DUPLICATE_ALL):
        return min(2, model.replicas)
    return min(policy.maxAttempts, model.replicas)


class _FanOut:
    __slots__ = ("arrivedAt", "measured", "pending")

    def __init__(self, arrivedAt: float, pending: int, measured: bool) -> None:
        self.arrivedAt = arrivedAt
        self.pending = pending
        self.measured = measured


class _Engine:
    """The heap driver: what ``ShardRace`` calls, and the loop that feeds it events."""

    def __init__(
        self, model: LatencyModel, policy: HedgePolicy, load: float, seed: int, total: int
    ) -> None:
        self.model = model
        self.policy = policy
        self.clock = 0.0
        self.heap: list[tuple[float, int, int, object]] = []
        self.seq = 0
        self.rate = load * model.replicas * model.capacity / model.meanService
        self.arrivals = CounterStream(streamKey(seed, "arrivals"))
        self.routes = [CounterStream(streamKey(seed, "route", s)) for s in range(model.shards)]
        self.replicas: list[list[Replica]] = []
        for s in range(model.shards):
            weather = (
                ShardWeather(CounterStream(streamKey(seed, "weather", s)))
                if model.correlated
                else None
            )
            self.replicas.append(
                [
                    Replica(
                        model.capacity, CounterStream(streamKey(seed, "service", s, r)), weather
                    )
                    for r in range(model.replicas)
                ]
            )
        self.budget = HedgeBudget.forPolicy(policy)
        self.estimator = DelayEstimator(policy.percentile, fixedDelay=policy.fixedDelay)
        self.total = total
        self.warmup = max(MIN_WARMUP, math.ceil(WARMUP_FRACTION * total))
        self.latencies: list[float] = []
        self.primaries = self.extra = self.wins = 0
        self.usefulWork = self.totalWork = 0.0
        self.maxExcess = -math.inf

    # -- the RaceDriver protocol ----------------------------------------------------------

    def now(self) -> float:
        return self.clock

    def send(self, attempt: Attempt) -> None:
        replica = self.replicas[attempt.race.shardId][attempt.replica]
        if replica.submit(attempt):
            self._startService(attempt, replica)

    def arm(self, race: ShardRace, delay: float) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (self.clock + delay, self.seq, _TIMER, race))

    def cancel(self, attempt: Attempt) -> None:
        handle = attempt.handle
        if handle is None or not self.model.abortable:
            return  # still queued (skipped when its turn comes), or runs on to the end
        startedAt, replica = handle
        attempt.handle = None
        if attempt.race.context.measured:
            self.totalWork += self.clock - startedAt
        self._release(replica)

    def finish(self, race: ShardRace) -> None:
        fanOut = race.context
        fanOut.pending -= 1
        if fanOut.measured:
            self.primaries += 1
            self.extra += race.hedgesSent
            if race.hedgeWon:
                self.wins += 1
        if fanOut.pending == 0 and fanOut.measured:
            self.latencies.append(self.clock - fanOut.arrivedAt)

    # -- the replicas ---------------------------------------------------------------------

    def _startService(self, attempt: Attempt, replica: Replica) -> None:
        seconds = replica.serviceTime(self.model, self.clock)
        attempt.handle = (self.clock, replica)
        self.seq += 1
        heapq.heappush(self.heap, (self.clock + seconds, self.seq, _DONE, attempt))
        attempt.race.onStarted(attempt)

    def _release(self, replica: Replica) -> None:
        following = replica.release()
        if following is not None:
            self._startService(following, replica)

    def _done(self, attempt: Attempt) -> None:
        handle = attempt.handle
        if handle is None:
            return  # aborted earlier; this event is stale
        startedAt, replica = handle
        attempt.handle = None
        work = self.clock - startedAt
        race = attempt.race
        measured = race.context.measured
        if measured:
            self.totalWork += work
        if attempt.state != "cancelled":
            race.onDone(attempt, True)
            if measured and race.winner is attempt:
                self.usefulWork += work
        self._release(replica)

    # -- the loop -------------------------------------------------------------------------

    def _arrive(self, index: int) -> None:
        model, policy = self.model, self.policy
        measured = index >= self.warmup
        fanOut = _FanOut(self.clock, model.shards, measured)
        limit = attemptSlots(model, policy)
        count = model.replicas
        for shardId in range(model.shards):
            route = self.routes[shardId]
            primary = route.randrange(count)
            if limit == 1:
                order = [primary]
            elif count == 2:
                order = [primary, 1 - primary]
            else:
                second = (primary + 1 + route.randrange(count - 1)) % count
                order = [primary, second]
                if limit > 2:
                    order += [r for r in range(count) if r != primary and r != second]
            race = ShardRace(
                shardId, order[:limit], policy, self.budget, self.estimator, self, fanOut
            )
            race.start(self.clock)
        if policy.budgeted:
            budget = self.budget
            self.maxExcess = max(self.maxExcess, budget.extra - budget.ratio * budget.primaries)

    def run(self) -> SimulationResult:
        heap = self.heap
        pop = heapq.heappop
        total = self.warmup + self.total
        arrived = 0
        expo = self.arrivals.expovariate
        rate = self.rate
        heapq.heappush(heap, (expo(rate), 0, _ARRIVAL, None))
        while heap:
            when, _, kind, thing = pop(heap)
            self.clock = when
            if kind == _DONE:
                self._done(thing)  # type: ignore[arg-type]
            elif kind == _TIMER:
                thing.onTimer(when)  # type: ignore[attr-defined]
            else:
                self._arrive(arrived)
                arrived += 1
                if arrived < total:
                    self.seq += 1
                    heapq.heappush(heap, (when + expo(rate), self.seq, _ARRIVAL, None))
        return SimulationResult(
            latencies=self.latencies,
            primaries=self.primaries,
            extraAttempts=self.extra,
            hedgeWins=self.wins,
            usefulWork=self.usefulWork,
            totalWork=self.totalWork,
            maxBudgetExcess=self.maxExcess if self.policy.budgeted else 0.0,
        )


def simulateFanOuts(
    model: str | LatencyModel,
    policy: HedgePolicy,
    load: float,
    fanOuts: int,
    *,
    seed: int | None = None,
    engine: str = "compiled",
) -> SimulationResult:
    """``fanOuts`` measured fan-outs (after a warm-up) arriving as a Poisson stream at ``load``.

    ``load`` is each server's utilization without copies: arrival rate x mean service /
    (replicas x capacity). ``engine``: "compiled" (numba, ``kernel.py``) or "reference" (this
    module's heap driving ``ShardRace``); both give the same trace for the same seed.
    """
    if isinstance(model, str):
        if model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
        model = MODELS[model]
    if isinstance(load, bool) or not isinstance(load, int | float) or not 0 < load < 1:
        raise ValueError(f"load must be a number in (0, 1), got {load!r}")
    checkCount(fanOuts, "fanOuts")
    checkSeed(seed)
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    runSeed = random.randrange(2**63) if seed is None else seed
    if engine == "reference":
        return _Engine(model, policy, float(load), runSeed, fanOuts).run()
    return _runCompiled(model, policy, float(load), runSeed, fanOuts)


ENGINES = ("compiled", "reference")
# What a compiled run is (scalars, fixed for the run) and keeps (arrays, changed in place).
KernelConfig = namedtuple(
    "KernelConfig",
    "S R C A K slotMask Q abortable correlated kind mode maxAttempts hedges learns warmup measured"
    " rate percentile ratio burst shardCapped shardRatio shardBurst",
)
KernelState = namedtuple(
    "KernelState",
    "keys counters mf fs ns window scratch latencies fArrived fPending fLive fOwner rSent"
    " rDone rOrder aState aSent aStarted aServing busy ring head tail wEnd wSlow"
    " hT hS hI shardBalance",
)
# First sizes of the compiled engine's stores; a run that outgrows one is run again with it
# doubled (the same seed gives the same trace, so only time is lost).
FIRST_SLOTS, FIRST_QUEUE, FIRST_HEAP = 4096, 1024, 1 << 16


def _runCompiled(
    model: LatencyModel, policy: HedgePolicy, load: float, seed: int, fanOuts: int
) -> SimulationResult:
    from . import kernel  # numba compiles on first use: only callers of this engine pay

    slots, queue, heap = FIRST_SLOTS, FIRST_QUEUE, FIRST_HEAP
    while True:
        config, state = _compiledRun(model, policy, load, seed, fanOuts, slots, queue, heap)
        status = kernel.runKernel(config, state)
        if status == kernel.OK:
            break
        if status == kernel.SLOTS_FULL:
            slots *= 2
        elif status == kernel.QUEUE_FULL:
            queue *= 2
        else:
            heap *= 2
    fs, ns = state.fs, state.ns
    return SimulationResult(
        latencies=state.latencies[: ns[kernel.N_LATENCIES]].tolist(),
        primaries=int(ns[kernel.N_PRIMARIES]),
        extraAttempts=int(ns[kernel.N_EXTRA]),
        hedgeWins=int(ns[kernel.N_WINS]),
        usefulWork=float(fs[kernel.F_USEFUL_WORK]),
        totalWork=float(fs[kernel.F_TOTAL_WORK]),
        maxBudgetExcess=float(fs[kernel.F_MAX_EXCESS]) if policy.budgeted else 0.0,
    )


def _compiledRun(
    model: LatencyModel,
    policy: HedgePolicy,
    load: float,
    seed: int,
    fanOuts: int,
    slots: int,
    queue: int,
    heap: int,
) -> tuple:
    """The kernel's Config and fresh State for one run (stores of the given sizes)."""
    from . import kernel

    S, R = model.shards, model.replicas
    A = attemptSlots(model, policy)
    if S > kernel.MAX_SHARDS or A > 4:
        raise ValueError(
            f"the compiled engine takes at most {kernel.MAX_SHARDS} shards and 4 attempts,"
            f" got {S} and {A}"
        )
    warmup = max(MIN_WARMUP, math.ceil(WARMUP_FRACTION * fanOuts))
    labels: list[tuple] = [("arrivals",)]
    labels += [("route", s) for s in range(S)]
    labels += [("service", s, r) for s in range(S) for r in range(R)]
    labels += [("weather", s) for s in range(S)]
    keys = np.array([streamKey(seed, *label) for label in labels], dtype=np.uint64)
    config = KernelConfig(
        S=S, R=R, C=model.capacity, A=A, K=slots, slotMask=slots - 1, Q=queue,
        abortable=model.abortable, correlated=model.correlated,
        kind=kernel.KIND_CODES[model.name], mode=kernel.MODE_CODES[policy.mode.value],
        maxAttempts=policy.maxAttempts, hedges=policy.hedges,
        learns=policy.hedges and policy.fixedDelay is None, warmup=warmup, measured=fanOuts,
        rate=load * R * model.capacity / model.meanService,
        percentile=float(policy.percentile), ratio=float(policy.budgetRatio),
        burst=max(1.0, float(policy.budgetBurst)),
        shardCapped=policy.shardBudgetRatio is not None,
        shardRatio=float(policy.shardBudgetRatio or 0.0),
        shardBurst=max(1.0, float(policy.shardBudgetBurst)),
    )  # fmt: skip
    fs = np.zeros(6)
    fs[kernel.F_BALANCE] = config.burst
    fs[kernel.F_DELAY] = (
        policy.fixedDelay if policy.fixedDelay is not None else DEFAULT_DELAY_SECONDS
    )
    fs[kernel.F_MAX_EXCESS] = -np.inf
    races, attempts = slots * S, slots * S * A
    state = KernelState(
        keys=keys, counters=np.zeros(len(keys), np.int64), mf=modelConstants(),
        fs=fs, ns=np.zeros(9, np.int64),
        window=np.zeros(DELAY_WINDOW), scratch=np.zeros(DELAY_WINDOW),
        latencies=np.zeros(fanOuts),
        fArrived=np.zeros(slots), fPending=np.zeros(slots, np.int64),
        fLive=np.zeros(slots, np.int64), fOwner=np.full(slots, -1, np.int64),
        rSent=np.zeros(races, np.int64), rDone=np.zeros(races, np.bool_),
        rOrder=np.zeros(attempts, np.int64), aState=np.zeros(attempts, np.int8),
        aSent=np.zeros(attempts), aStarted=np.zeros(attempts),
        aServing=np.zeros(attempts, np.bool_),
        busy=np.zeros(S * R, np.int64), ring=np.zeros(S * R * queue, np.int64),
        head=np.zeros(S * R, np.int64), tail=np.zeros(S * R, np.int64),
        wEnd=np.zeros(S), wSlow=np.ones(S, np.bool_),
        hT=np.zeros(heap), hS=np.zeros(heap, np.int64), hI=np.zeros(heap, np.int64),
        shardBalance=np.full(S, config.shardBurst),
    )  # fmt: skip
    return config, state


def modelConstants() -> np.ndarray:
    """The latency models' constants, in the order the kernel's draws read them."""
    return np.array(
        [
            HOMEWORK_BASE, HOMEWORK_RATE, HICCUP_BASE, HICCUP_PROBABILITY, *HICCUP_PAUSE,
            PARETO_SCALE, PARETO_ALPHA, THEORY_MEAN, SLOW_FACTOR, SLOW_MEAN_SECONDS,
            SLOW_FRACTION,
        ],
        dtype=np.float64,
    )  # fmt: skip
