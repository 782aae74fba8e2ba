"""The CPU tier as one Executor, on this machine's processes or on a dask.distributed cluster.

executor.py   cpuExecutor(kind, address=, workers=): a context manager (with / async with)
              yielding the Executor; whatever it started it closes on exit
__main__.py   python -m lecture31.cluster --overhead | --pipeline | --model
"""

from .executor import (
    CONNECT_TIMEOUT_SECONDS as CONNECT_TIMEOUT_SECONDS,
    DASK_SCHEDULER_ENV,
    EXTRA_HINT,
    KINDS,
    cpuExecutor,
)

__all__ = ("DASK_SCHEDULER_ENV", "EXTRA_HINT", "KINDS", "cpuExecutor")
