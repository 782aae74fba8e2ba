"""What this machine's cores deliver to CPU work: a measurement with its interval, not a bound.

    round i:  cpuPythonRepeated(parallel tasks) in one worker      serial[i]
              parallel x cpuPython at once, one per worker          together[i]
    scaling = median over rounds of serial[i] / together[i], with its 95% interval

Why it is no longer the rows' ideal: measured a round at a time, it moved with the host's other
tenants (1.51x, 1.65x and 2.23x in three tries on one 2-vCPU VM), so CPU rows "beat" it whenever
their own rounds caught a quieter moment than its rounds did. The ideal is now the count of
cores (``idealSpeedup``), which nothing can beat; this says how far below it the machine ran
while the CPU rows were measured (its rounds are interleaved with theirs,
``lecture31.tiers.rounds``).
"""

from __future__ import annotations

import time
from concurrent.futures import Executor

from .._runtime.dispatch import Dispatch
from .._runtime.gathering import gatherAll
from ..report.stats import Interval, roundRatioInterval
from .workloads import cpuPython, cpuPythonRepeated

__all__ = ("ScalingProbe", "measureScaling")

# The probe's task input: any int does (the work does not depend on it).
_START = 12345


class ScalingProbe:
    """How much faster ``parallel`` CPU tasks run at once on a process pool than one by one.

    The same pure task (``cpuPython``), ``parallel`` at once (one per worker: the pool needs at
    least that many) against ``parallel`` in a row in one worker, so both go through the pool
    once per task and the ratio is the machine's, not the dispatch's. Each ``measureRound``
    adds one of each, so rounds can be spread over a run, next to the rows they describe.
    """

    def __init__(self, processPool: Executor, parallel: int) -> None:
        self.processPool = processPool
        self.parallel = parallel
        self.serialSeconds: list[float] = []
        self.togetherSeconds: list[float] = []

    async def measureRound(self) -> None:
        if self.parallel < 2:
            return
        dispatch = Dispatch(self.processPool)
        began = time.perf_counter()
        await dispatch.call(cpuPythonRepeated, _START, self.parallel)
        serial = time.perf_counter() - began
        began = time.perf_counter()
        await gatherAll(dispatch.call(cpuPython, _START) for _ in range(self.parallel))
        self.togetherSeconds.append(time.perf_counter() - began)
        self.serialSeconds.append(serial)

    def interval(self) -> Interval | None:
        """The measured scaling and its 95% interval; None before any round, or for one task."""
        if not self.serialSeconds:
            return None
        return roundRatioInterval(self.serialSeconds, self.togetherSeconds)


async def measureScaling(
    processPool: Executor, parallel: int, *, rounds: int = 5
) -> Interval | None:
    """``ScalingProbe``'s interval after ``rounds`` rounds in a row (None for one task)."""
    probe = ScalingProbe(processPool, parallel)
    for _ in range(rounds):
        await probe.measureRound()
    return probe.interval()
