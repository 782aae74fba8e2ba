"""What a hedged request may do: the policy, the budget of extra requests, the hedge delay.

Pure objects (no I/O, no clock, never await): the asyncio fan-out and the virtual-time study
ask them the same questions, so both run one set of rules::

    HedgePolicy          which mode, which percentile, how many attempts, how big a budget
    HedgeBudget          a token bucket: each primary deposits ``ratio`` tokens, a hedge takes 1
    DelayEstimator       the delay: a percentile of single attempts' latencies (never winners')
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from .._runtime.checks import checkCount, checkProbability, checkSeconds

__all__ = ("DelayEstimator", "HedgeBudget", "HedgeMode", "HedgePolicy")


class HedgeMode(enum.StrEnum):
    """How a shard request is copied; the values are the study's ``policy`` column."""

    NONE = "none"  # one attempt; a fast error is the answer
    FIXED = "fixed"  # a copy after a fixed delay, no budget (what hurts under load)
    BUDGETED = "budgeted"  # a copy after the percentile delay, within the budget
    TIED = "tied"  # both copies queued at once; the first to start service cancels its twin
    DUPLICATE_ALL = "duplicate-all"  # both copies at once, none cancelled (the theory check)


# Dean and Barroso hedge after the 95th-percentile expected latency, which limits the extra
# load to about 5%: the same figure for the delay and the budget.
DEFAULT_PERCENTILE = 95.0
DEFAULT_BUDGET_RATIO = 0.05
# The bucket starts full and holds at most this many tokens: the "one burst" the budget allows
# above its ratio, so the first hedges of a run are not refused while nothing was deposited.
# Finagle's RetryBudget keeps a floor of 10 retries a second for the same reason.
DEFAULT_BUDGET_BURST = 10.0
# No shard may spend more than this share of its own primaries (plus a smaller burst) on
# hedges. A fan-out's budget is pooled over its shards, and when one shard's replicas are all
# slow at once (correlated slowness) every hedge of the fan-out goes there, where a copy is
# just as slow and only adds load: with the pooled budget alone the slow shard received about
# as many hedges as primaries and the p99 of the correlated model rose 13% at load 0.1. A cap
# of 30% (six fair shares) keeps it within 10% (results/HEDGING.md) and leaves the hiccup
# model's p99.9 gain (random shards, a few hedges each) as it was. Measured: docs/hedging.md.
DEFAULT_SHARD_BUDGET_RATIO = 0.30
DEFAULT_SHARD_BUDGET_BURST = 5.0
# gRPC's hedging policy (gRFC A6) caps attempts at 5; a third copy already buys little.
MAX_ATTEMPTS_LIMIT = 5
# The delay before the estimator has seen enough single attempts to name a percentile.
DEFAULT_DELAY_SECONDS = 0.05
# A p95 from fewer than 20 latencies is the maximum of a handful.
MIN_DELAY_OBSERVATIONS = 20
# 1,000 latencies: p95 rests on its top 50, and a shift in load is forgotten quickly.
DELAY_WINDOW = 1000
# Recomputing the percentile on every observation would sort the window each time: every
# REFRESH observations is plenty for a quantity that moves slowly.
DELAY_REFRESH = 100


@dataclass(frozen=True)
class HedgePolicy:
    """A hedging policy; ``fixedDelay`` is the delay of ``fixed`` mode (and, if given, of
    ``budgeted`` mode instead of the percentile)."""

    mode: HedgeMode = HedgeMode.BUDGETED
    percentile: float = DEFAULT_PERCENTILE
    fixedDelay: float | None = None
    budgetRatio: float = DEFAULT_BUDGET_RATIO
    budgetBurst: float = DEFAULT_BUDGET_BURST
    maxAttempts: int = 2
    shardBudgetRatio: float | None = DEFAULT_SHARD_BUDGET_RATIO  # None: no per-shard cap
    shardBudgetBurst: float = DEFAULT_SHARD_BUDGET_BURST

    def __post_init__(self) -> None:
        try:
            mode = HedgeMode(self.mode)
        except ValueError:
            choices = ", ".join(m.value for m in HedgeMode)
            raise ValueError(f"mode must be one of {choices}, got {self.mode!r}") from None
        object.__setattr__(self, "mode", mode)
        if not 0.0 < float(self.percentile) < 100.0:
            raise ValueError(f"percentile must be in (0, 100), got {self.percentile!r}")
        if self.fixedDelay is not None:
            checkSeconds(self.fixedDelay, "fixedDelay")
        elif mode is HedgeMode.FIXED:
            raise ValueError("fixedDelay is required in fixed mode")
        checkProbability(self.budgetRatio, "budgetRatio")
        checkSeconds(self.budgetBurst, "budgetBurst")  # a count of tokens, >= 0, finite
        checkCount(self.maxAttempts, "maxAttempts", minimum=1, maximum=MAX_ATTEMPTS_LIMIT)
        if self.shardBudgetRatio is not None:
            checkProbability(self.shardBudgetRatio, "shardBudgetRatio")
        checkSeconds(self.shardBudgetBurst, "shardBudgetBurst")

    @property
    def hedges(self) -> bool:
        """Whether a copy is sent after a delay (fixed and budgeted modes)."""
        return self.mode in (HedgeMode.FIXED, HedgeMode.BUDGETED)

    @property
    def budgeted(self) -> bool:
        return self.mode is HedgeMode.BUDGETED

    @property
    def abortsLosers(self) -> bool:
        """Duplicate-all models copies that cannot be aborted; every other mode cancels."""
        return self.mode is not HedgeMode.DUPLICATE_ALL


class HedgeBudget:
    """A token bucket bounding extra attempts to ``ratio`` x primaries plus ``burst``, and,
    with ``shardRatio``, a bucket per shard bounding each shard's to ``shardRatio`` x its own
    primaries plus ``shardBurst``.

    Each primary deposits ``ratio`` tokens (the bucket holds at most ``burst``), and
    ``shardRatio`` into its shard's; an extra attempt is sent only if a whole token can be
    withdrawn from both. So at every moment ``extra <= burst + ratio x primaries``: the bucket
    starts with at most ``burst`` and gains only deposits (Finagle's BackupRequestFilter,
    gRPC's retry throttling, which is per server: the shard buckets).
    """

    __slots__ = (
        "balance",
        "burst",
        "extra",
        "primaries",
        "ratio",
        "refused",
        "shardBalances",
        "shardBurst",
        "shardRatio",
    )

    def __init__(
        self,
        ratio: float = DEFAULT_BUDGET_RATIO,
        burst: float = DEFAULT_BUDGET_BURST,
        *,
        shardRatio: float | None = None,
        shardBurst: float = DEFAULT_SHARD_BUDGET_BURST,
    ) -> None:
        self.ratio = checkProbability(ratio, "ratio")
        self.burst = max(1.0, checkSeconds(burst, "burst"))
        self.shardRatio = None if shardRatio is None else checkProbability(shardRatio, "shardRatio")
        self.shardBurst = max(1.0, checkSeconds(shardBurst, "shardBurst"))
        self.balance = self.burst
        self.shardBalances: dict[int, float] = {}
        self.primaries = 0
        self.extra = 0
        self.refused = 0

    @classmethod
    def forPolicy(cls, policy: HedgePolicy) -> HedgeBudget:
        return cls(
            policy.budgetRatio,
            policy.budgetBurst,
            shardRatio=policy.shardBudgetRatio,
            shardBurst=policy.shardBudgetBurst,
        )

    def __repr__(self) -> str:
        return (
            f"<HedgeBudget {self.extra} extra / {self.primaries} primaries"
            f" balance={self.balance:.2f}>"
        )

    def deposit(self, shard: int = 0) -> None:
        """One primary was sent (to ``shard``)."""
        self.primaries += 1
        balance = self.balance + self.ratio
        self.balance = balance if balance < self.burst else self.burst
        if self.shardRatio is not None:
            balance = self.shardBalances.get(shard, self.shardBurst) + self.shardRatio
            self.shardBalances[shard] = balance if balance < self.shardBurst else self.shardBurst

    def tryWithdraw(self, shard: int = 0) -> bool:
        """Take a token for one extra attempt; False (and nothing sent) when there is none."""
        if self.balance >= 1.0:
            if self.shardRatio is None:
                self.balance -= 1.0
                self.extra += 1
                return True
            shardBalance = self.shardBalances.get(shard, self.shardBurst)
            if shardBalance >= 1.0:
                self.balance -= 1.0
                self.shardBalances[shard] = shardBalance - 1.0
                self.extra += 1
                return True
        self.refused += 1
        return False


class DelayEstimator:
    """The hedge delay: a percentile of the latencies of single attempts.

    It is fed every primary attempt: those that answered, those that failed, and those
    cancelled because a copy won, at the latency they had reached when cancelled. That value is
    a lower bound of the true latency, and it is above the delay (a copy is only sent after
    it), so it ranks above the percentile as the true value would: unlike learning from
    winners only, which drops exactly the slow attempts and drags the percentile down.
    """

    __slots__ = ("_count", "_delay", "_next", "_window", "fixed", "percentile")

    def __init__(
        self,
        percentile: float = DEFAULT_PERCENTILE,
        *,
        fixedDelay: float | None = None,
        initialDelay: float = DEFAULT_DELAY_SECONDS,
    ) -> None:
        self.percentile = float(percentile)
        self.fixed = fixedDelay is not None
        self._delay = float(fixedDelay if fixedDelay is not None else initialDelay)
        self._window: list[float] = []
        self._next = 0
        self._count = 0

    def __repr__(self) -> str:
        return f"<DelayEstimator p{self.percentile:g} delay={self._delay:.4f}s>"

    @property
    def delay(self) -> float:
        return self._delay

    def record(self, latency: float) -> None:
        """One primary attempt's latency (a lower bound if it was cancelled as a loser)."""
        if self.fixed:
            return
        window = self._window
        if len(window) < DELAY_WINDOW:
            window.append(latency)
        else:
            window[self._next] = latency
            self._next = (self._next + 1) % DELAY_WINDOW
        self._count += 1
        if self._count % DELAY_REFRESH == 0 or len(window) == MIN_DELAY_OBSERVATIONS:
            ordered = sorted(window)
            rank = min(len(ordered) - 1, math.ceil(self.percentile / 100.0 * len(ordered)) - 1)
            self._delay = ordered[max(0, rank)]
