"""Which tier? The same batch of independent tasks on each tier, timed from the event loop.

workload (cpu-python, cpu-numpy, blocking-io, async-io, homework-parse, or yours)
  |  `tasks` seeded inputs, the same for every tier
  +--> inline     one after another on the event loop          the reference: 1.0x
  +--> loop       all at once on the event loop                coroutine functions only
  +--> threads    a thread pool of `workers`
  +--> processes  a process pool of `workers`
  '--> ...        one TIERS entry adds another Executor (dask)
  |  interleaved rounds: every tier once a round, in a shuffled order
  v
one row per (workload, tier): seconds, speedup over inline with its 95% interval, the ideal (a
bound), and a verdict per workload: the tiers it belongs on, the lightest first within noise

workloads.py     the built-in workloads, what kind of work each is, one batch on one tier
userworkload.py  --workload package.module:function, checked before anything runs
rounds.py        interleaved rounds: shuffled order, samples sized from a first timing, time limit
scaling.py       what the cores deliver to CPU work: a measurement with its interval
matrix.py        the tiers and runTierMatrix: pools made and warmed, every row with its interval
verdict.py       verdicts(rows): which tiers each workload belongs on, knowing about noise
show.py          main(): the matrix printed as it fills, the measured scaling, the verdicts
"""

from .matrix import TIERS, WORKLOADS, TierRow, runTierMatrix
from .show import main as main
from .userworkload import WorkloadError
from .verdict import verdicts

# main() is left out on purpose, as in every exercise (the CLI finds lecture31.tiers.main).
__all__ = ("TIERS", "WORKLOADS", "TierRow", "WorkloadError", "runTierMatrix", "verdicts")
