"""Exercise 3: circuit breakers (async, and the sync one Exercise 4 uses) and a flaky service.

state.py     the one state machine: decides and records, never runs user code
                 closed --failures reach threshold--> open --reset timeout--> half_open
                 half_open --probe succeeds--> closed;  --probe fails--> open
breakers.py  AsyncCircuitBreaker and the thread-safe CircuitBreaker: thin shells around it
service.py   FlakyAsyncService: 60% ok, 30% RuntimeError, 10% hang then TimeoutError
harness.py   runHarness: 30 calls under asyncio.wait_for(..., 1.0); main prints them
"""

from .breakers import AsyncCircuitBreaker, CircuitBreaker
from .harness import (
    CALL_INTERVAL_SECONDS as CALL_INTERVAL_SECONDS,
    OUTCOMES as OUTCOMES,
    OUTER_TIMEOUT_SECONDS as OUTER_TIMEOUT_SECONDS,
    main as main,
    runHarness,
)
from .service import FlakyAsyncService
from .state import BreakerState, CircuitOpenError

# Users meet these two here, so tracebacks and pickles name them here.
BreakerState.__module__ = CircuitOpenError.__module__ = __name__

# main() is left out on purpose, as in every exercise (the CLI finds lecture31.breaker.main).
__all__ = (
    "AsyncCircuitBreaker",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpenError",
    "FlakyAsyncService",
    "runHarness",
)
