"""Root conftest: fixtures shared by tests/ and bench/ (warm pools, one event loop per session).

    session start --> benchRunner (one asyncio.Runner) ----------------+
                  --> tieredPools (10 threads, 4 processes, warmed) --+--> every benchmark round
                  --> pipelinePools (store threads, processes, warm) -+    reuses them
    session end   --> pools shut down, loop closed

Everything here is lazy: a fixture is only built when a test asks for it, so ``pytest tests``
never starts a process pool it does not use.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from lecture31._pools import makeProcessPool, makeThreadPool, warmPool
from lecture31._workloads import gilLabel

# The homework's Exercise 1 sizes: ThreadPoolExecutor(max_workers=10), ProcessPoolExecutor(4).
TIERED_THREADS = 10
TIERED_PROCESSES = 4


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lecture31 benchmarks")
    group.addoption(
        "--bench-quick",
        action="store_true",
        default=False,
        help="fewer benchmark rounds (the CI gate); medians stay robust, the run stays short",
    )
    group.addoption(
        "--bench-large",
        action="store_true",
        default=False,
        help="also run benchmarks marked 'large' (480 sensors); same as adding -m large",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (never skip) 'large' benchmarks unless asked for by option or -m expression."""
    if config.getoption("--bench-large") or "large" in (config.getoption("-m") or ""):
        return
    kept, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker("large") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Keep the host name out of committed JSON; the machine kind is all a baseline needs.

    ``gil`` labels a free-threaded run, where Python CPU work on threads can scale.
    """
    machine_info["node"] = ""
    machine_info["gil"] = gilLabel()


def pytest_benchmark_update_commit_info(config: pytest.Config, commit_info: dict) -> None:
    """Name the project, not the directory of this checkout (a clone may be called anything)."""
    commit_info["project"] = "lecture31"


@pytest.fixture(scope="session")
def benchRunner():
    """One event loop for the whole session; benchmarks call ``benchRunner.run(coro)``.

    pytest-benchmark has no asyncio support (pytest-benchmark #66), so each round is a sync
    call that runs the coroutine to completion on this loop.
    """
    with asyncio.Runner() as runner:
        yield runner


@dataclass(frozen=True)
class Pools:
    """Warm executors and their sizes (benchmarks compute bounds from the sizes)."""

    threadPool: ThreadPoolExecutor
    processPool: ProcessPoolExecutor
    threads: int
    processes: int


def _warmPools(threads: int, processes: int, name: str, warmThreads: int | None = None):
    threadPool = makeThreadPool(threads, name)
    processPool = makeProcessPool(processes)
    try:
        # Every worker started (and lecture31 imported) before the first timed round, or round
        # one measures worker start-up instead of the work and skews the median.
        warmPool(threadPool, threads if warmThreads is None else warmThreads)
        warmPool(processPool, processes)
        yield Pools(threadPool, processPool, threads, processes)
    finally:
        threadPool.shutdown(wait=True, cancel_futures=True)
        processPool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def tieredPools():
    """Exercise 1's pools at the homework's sizes, warmed, shut down at session end."""
    yield from _warmPools(TIERED_THREADS, TIERED_PROCESSES, "bench-metadata")


@pytest.fixture(scope="session")
def pipelinePools():
    """Exercise 4's pools at the pipeline module's own sizes, warmed, shut down at session end.

    The sizes are read from ``lecture31.pipeline`` so the benchmark measures the design as built
    (one store thread per concurrent store of the largest default scale).
    """
    from lecture31 import pipeline

    processes = getattr(pipeline, "NORMALIZE_PROCESSES", min(4, os.cpu_count() or 1))
    threads = getattr(pipeline, "STORE_THREADS", 48)
    yield from _warmPools(threads, processes, "bench-store")
