"""Exercise 4: a sensor pipeline whose every stage runs on the tier its kind of work needs.

fetch (event loop) --> normalize (process pool) --> store (thread pool) --> aggregate (inline)

stages.py        requirement 1: the four stages and what each one costs
staged.py        requirements 2-3: naive (all inline) and correct (one gather per stage)
compare.py       requirement 4: naive against correct at 12, 24 and 48 sensors
storebreaker.py  requirement 5: the stores through one shared CircuitBreaker, in batches
streamed.py      beyond the homework: one chain per sensor, no barrier between stages
bounds.py        each design's critical path, from the seeded draws and pool sizes
show.py          main(): the tables and the batches, printed and explained
"""

from .compare import DEFAULT_SCALES as DEFAULT_SCALES, compareScales
from .show import main as main
from .staged import (
    NORMALIZE_PROCESSES as NORMALIZE_PROCESSES,
    SENSORS_IN_FLIGHT as SENSORS_IN_FLIGHT,
    STORE_THREAD_NAME as STORE_THREAD_NAME,
    STORE_THREADS as STORE_THREADS,
    runCorrectPipeline,
    runNaivePipeline,
)
from .stages import (
    FETCH_SECONDS as FETCH_SECONDS,
    NORMALIZE_ITERATIONS as NORMALIZE_ITERATIONS,
    SENSOR_MEAN as SENSOR_MEAN,
    SENSOR_STD as SENSOR_STD,
    STORE_SECONDS as STORE_SECONDS,
    aggregateResults,
    fetchSensorReading,
    normalizeReading,
    storeReading,
)
from .storebreaker import (
    BATCHES as BATCHES,
    BREAKER_FAILURE_THRESHOLD as BREAKER_FAILURE_THRESHOLD,
    BREAKER_RESET_SECONDS as BREAKER_RESET_SECONDS,
    DEMO_FAILURE_PROBABILITY as DEMO_FAILURE_PROBABILITY,
    SENSORS_PER_BATCH as SENSORS_PER_BATCH,
    STORE_FAILURE_PROBABILITY as STORE_FAILURE_PROBABILITY,
    runStorageBreakerBatches,
)
from .streamed import runStreamedPipeline

# main() is left out on purpose, as in every exercise (the CLI finds lecture31.pipeline.main).
__all__ = (
    "aggregateResults",
    "compareScales",
    "fetchSensorReading",
    "normalizeReading",
    "runCorrectPipeline",
    "runNaivePipeline",
    "runStorageBreakerBatches",
    "runStreamedPipeline",
    "storeReading",
)
