"""lecture31: Lecture 31's concurrency architecture patterns, implemented and measured.

One module per exercise (see API.md):

    tiered    Exercise 1  asyncio loop + thread pool + process pool request handler
    fanout    Exercise 2  fan-out query with an adaptive timeout
    breaker   Exercise 3  circuit breakers (async, and the sync one Exercise 4 uses)
    pipeline  Exercise 4  mixed-architecture sensor pipeline
    tiers     which tier? a workload x tier matrix measured with real work
    cluster   the CPU tier on a process pool or a dask.distributed cluster (extra)
    report    speedup tables and regression check from pytest-benchmark JSON
"""

from . import breaker, fanout, pipeline, tiered, tiers
from .breaker import *  # noqa: F403
from .cluster import cpuExecutor
from .fanout import *  # noqa: F403
from .pipeline import *  # noqa: F403
from .tiered import *  # noqa: F403
from .tiers import *  # noqa: F403

__all__ = (
    *tiered.__all__,
    *fanout.__all__,
    *breaker.__all__,
    *pipeline.__all__,
    *tiers.__all__,
    "cpuExecutor",  # the rest of lecture31.cluster is its own business
)
