"""Exercise 1: a three-tier request handler. Each kind of work goes to the tier built for it.

event loop (asyncio): handleRequest(i) for i in 0..9, all at once via asyncio.gather
  |
  |  20 CSV lines              CPU-bound: needs its own core, so its own process
  +------------------------->  process pool (4)   parseCsvChunk(chunk) -> 20 records
  |  <-- records
  |
  |  first record's id         blocking I/O: a thread waits cheaply, the loop stays free
  +------------------------->  thread pool (10)   fetchMetadataBlocking(id) -> metadata
  |  <-- metadata
  v
{"requestId", "parseCount", "metadata"}

parsing.py   requirement 1: parseCsvChunk
handler.py   requirements 2-3 and 5: fetchMetadataBlocking, handleRequest, the two runs
bounds.py    the tiered run's critical path, from the seeded draws and the pool sizes
show.py      requirement 4: main() prints the runs, the speedup and the bound
"""

from .handler import (
    METADATA_SECONDS as METADATA_SECONDS,
    PROCESS_POOL_WORKERS as PROCESS_POOL_WORKERS,
    REQUESTS_IN_FLIGHT as REQUESTS_IN_FLIGHT,
    THREAD_POOL_WORKERS as THREAD_POOL_WORKERS,
    RequestFailedError,
    RunResult,
    fetchMetadataBlocking,
    handleRequest,
    runSequential,
    runTiered,
)
from .parsing import (
    PARSE_SLEEP_SECONDS as PARSE_SLEEP_SECONDS,
    RECORDS_PER_REQUEST as RECORDS_PER_REQUEST,
    parseCsvChunk,
)
from .show import main as main

# main() is left out on purpose: every exercise has one, and lecture31 re-exports each
# exercise's __all__ into one namespace. The command line finds it as lecture31.tiered.main.
__all__ = (
    "RequestFailedError",
    "RunResult",
    "fetchMetadataBlocking",
    "handleRequest",
    "parseCsvChunk",
    "runSequential",
    "runTiered",
)
