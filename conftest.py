"""Root conftest: fixtures shared by tests/ and bench/ (warm pools, one event loop per session).

    session start --> benchRunner (one asyncio.Runner) ----------------+
                  --> tieredPools (ownedPools at tiered's sizes, warm) -+--> every benchmark round
                  --> pipelinePools (ownedPools at pipeline's sizes) ---+    reuses them
    session end   --> pools shut down, loop closed

Everything here is lazy: a fixture is only built when a test asks for it, so ``pytest tests``
never starts a process pool it does not use.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from dataclasses import dataclass

import pytest

from lecture31 import pipeline, tiered
from lecture31._runtime.machine import gilLabel
from lecture31._runtime.pools import ownedPools


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lecture31 benchmarks")
    group.addoption(
        "--bench-quick",
        action="store_true",
        default=False,
        help="fewer benchmark rounds (CI); medians stay robust, the run stays short",
    )
    group.addoption(
        "--bench-gate-groups",
        action="store_true",
        default=False,
        help="the A/B gate's runs (python -m lecture31.gate): each benchmark measured as its"
        " group in lecture31/gate/groups.py says (rounds, instrument), and the positive control",
    )
    group.addoption(
        "--bench-large",
        action="store_true",
        default=False,
        help="also run the benchmarks marked 'large' (480 sensors, batching, cluster), beside "
        "the others (-m large runs the large ones only)",
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

    threadPool: Executor
    processPool: Executor | None  # None: a threads-only set (processes=0)
    threads: int
    processes: int


@pytest.fixture(scope="session")
def sessionPools(benchRunner):
    """``sessionPools(threads, processes, name)``: warm pools held by the library's own
    ``ownedPools`` on the session's loop, shut down at session end (``processes=0``: threads
    only). Every benchmark pool comes from here.

    Every worker is started (and lecture31 imported) before the first timed round, or round one
    measures worker start-up instead of the work and skews the median.
    """
    contexts = []

    def make(threads: int, processes: int, name: str) -> Pools:
        context = ownedPools()
        pools = benchRunner.run(context.__aenter__())
        contexts.append(context)
        threadPool = pools.threads(threads, name)
        processPool = pools.processes(processes) if processes else None
        benchRunner.run(pools.warm())
        return Pools(threadPool, processPool, threads, processes)

    try:
        yield make
    finally:
        for context in reversed(contexts):
            benchRunner.run(context.__aexit__(None, None, None))


@pytest.fixture(scope="session")
def tieredPools(sessionPools):
    """Exercise 1's pools at the library's sizes (the homework's 10 threads, 4 processes)."""
    return sessionPools(tiered.THREAD_POOL_WORKERS, tiered.PROCESS_POOL_WORKERS, "bench-metadata")


@pytest.fixture(scope="session")
def pipelinePools(sessionPools):
    """Exercise 4's pools at the library's sizes, so the benchmark measures the design as built."""
    return sessionPools(pipeline.STORE_THREADS, pipeline.NORMALIZE_PROCESSES, "bench-store")
