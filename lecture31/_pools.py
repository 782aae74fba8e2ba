"""How this package makes its executors: one place for the process start method and pool sizes.

Owned by Exercise 1 (``tiered``); other modules call these instead of constructing pools.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

__all__ = ("START_METHOD", "makeProcessPool", "makeThreadPool")

# Provisional: "forkserver" never forks a process that already runs threads (the thread pool,
# the executor's manager thread), which can deadlock and warns from Python 3.12 on. Exercise 1
# measures the cold start of the candidates and records the trade-off here.
START_METHOD = "forkserver"


def makeProcessPool(maxWorkers: int) -> ProcessPoolExecutor:
    """A process pool using ``START_METHOD``."""
    return ProcessPoolExecutor(
        max_workers=maxWorkers, mp_context=multiprocessing.get_context(START_METHOD)
    )


def makeThreadPool(maxWorkers: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose threads are named after the tier that owns them."""
    return ThreadPoolExecutor(max_workers=maxWorkers, thread_name_prefix=name)
