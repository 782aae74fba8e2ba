"""Which tier? The same batch of independent tasks on each tier, timed from the event loop.

workload (cpu-python, cpu-numpy, blocking-io, async-io, homework-parse, or yours)
  |  `tasks` seeded inputs, the same for every tier
  +--> inline     one after another on the event loop          the reference: 1.0x
  +--> loop       all at once on the event loop                coroutine functions only
  +--> threads    a thread pool of `workers`
  +--> processes  a process pool of `workers`
  '--> ...        one TIERS entry adds another Executor (dask)
  v
one row per (workload, tier): seconds, speedup over inline, and the ideal speedup

workloads.py     the built-in workloads, what kind of work each is, one batch on one tier
userworkload.py  --workload package.module:function, checked before anything runs
matrix.py        the tiers and runTierMatrix: pools made and warmed, every row timed
show.py          main(): the matrix printed as it fills, and a verdict per workload
"""

from .matrix import TIERS, WORKLOADS, runTierMatrix
from .show import main as main
from .userworkload import WorkloadError

# main() is left out on purpose, as in every exercise (the CLI finds lecture31.tiers.main).
__all__ = ("TIERS", "WORKLOADS", "WorkloadError", "runTierMatrix")
