"""Test doubles shared by the tests: a clock that moves only when told, a service error, the
one helper that trips a breaker, pools that record what they were handed, and a look for the
processes a child left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import psutil

from lecture31._runtime.pools import processContext
from lecture31.breaker import AsyncCircuitBreaker, CircuitBreaker

Breaker = TypeVar("Breaker", CircuitBreaker, AsyncCircuitBreaker)

# -- breakers and clocks --------------------------------------------------------------------------


class FakeClock:
    """A monotonic clock that moves only when told to; times are exact binary fractions."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Boom(Exception):
    """The service's own failure in these tests."""


def _fail() -> None:
    raise Boom("down")


async def _failAsync() -> None:
    raise Boom("down")


def trip(breaker: Breaker, times: int | None = None, *, clock: FakeClock | None = None) -> Breaker:
    """Fail ``times`` calls through ``breaker`` (default: its threshold, which opens it).

    With ``clock``, then advance it by the reset timeout, so the next call is the probe. Works
    for either breaker without an event loop: a failing async call never suspends, so one
    ``send`` runs it to its ``Boom``.
    """
    for _ in range(breaker.failureThreshold if times is None else times):
        try:
            if isinstance(breaker, AsyncCircuitBreaker):
                breaker.call(_failAsync).send(None)
            else:
                breaker.call(_fail)
        except Boom:
            continue
        raise AssertionError(f"{breaker!r} did not pass the failure through")
    if clock is not None:
        clock.advance(breaker.resetTimeoutSeconds)
    return breaker


# --- Recording pools: real executors that remember what they were handed ------------------


class RecordingProcessPool(ProcessPoolExecutor):
    """A real process pool (the package's start method) that records every (fn, args, kwargs)."""

    def __init__(self, maxWorkers: int = 2) -> None:
        super().__init__(max_workers=maxWorkers, mp_context=processContext())
        self.calls: list[tuple] = []

    def submit(self, fn, /, *args, **kwargs):
        self.calls.append((fn, args, kwargs))
        return super().submit(fn, *args, **kwargs)


class RecordingThreadPool(ThreadPoolExecutor):
    """A real thread pool that records every (fn, args, kwargs) it was handed."""

    def __init__(self, maxWorkers: int = 10, name: str = "recording") -> None:
        super().__init__(max_workers=maxWorkers, thread_name_prefix=name)
        self.calls: list[tuple] = []

    def submit(self, fn, /, *args, **kwargs):
        self.calls.append((fn, args, kwargs))
        return super().submit(fn, *args, **kwargs)


class ForeignExecutor(Executor):
    """An Executor that is neither of the standard pools (as a dask client's is): it counts the
    tasks it is handed and runs them on a thread pool."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(2)
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):
        self.submitted += 1
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait=True, *, cancel_futures=False):
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


# --- Processes left behind ------------------------------------------------------------------


def sessionMembers(sessionId: int) -> list[int]:
    """The pids of the live processes of session ``sessionId`` (a child started with
    ``start_new_session=True``), wherever they were re-parented. Zombies are dead: not counted."""
    found = []
    for pid in psutil.pids():
        try:
            if os.getsid(pid) == sessionId and psutil.Process(pid).status() != "zombie":
                found.append(pid)
        except (OSError, psutil.Error):
            continue
    return found


def sessionSurvivors(sessionId: int, settleSeconds: float = 10.0) -> list[str]:
    """``sessionMembers`` once they had ``settleSeconds`` to exit, each described as
    "pid: command line"."""
    deadline = time.monotonic() + settleSeconds
    while True:
        alive = []
        for pid in sessionMembers(sessionId):
            try:
                alive.append(f"{pid}: {' '.join(psutil.Process(pid).cmdline())[-120:]}")
            except (OSError, psutil.Error):
                continue
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def processesUnder(folder: Path, *, running: str = "") -> list[psutil.Process]:
    """The processes whose working directory is inside ``folder`` (and whose command line
    holds ``running``)."""
    found = []
    for process in psutil.process_iter(["pid"]):
        try:
            if Path(process.cwd()).is_relative_to(folder) and running in " ".join(
                process.cmdline()
            ):
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


def worktrees(repo: Path) -> list[str]:
    """The worktrees git lists for ``repo``, itself first."""
    listed = subprocess.run(
        ["git", "-C", str(repo), "worktree", "list", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in listed.splitlines() if line.startswith("worktree ")]


# --- real signals in child processes ---------------------------------------------------------


@contextlib.contextmanager
def sigintNotIgnoredAcrossExec():
    """Started as a background job (``cmd &``, some CI runners), this process ignores SIGINT and
    so would its children: the program under test would rightly keep ignoring Ctrl-C. A handled
    signal is reset to the default by exec, so handle it while the child starts."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


# --- toy repositories for the gate's --bisect and --history ---------------------------------

TOY_CONFTEST = """
def pytest_addoption(parser):
    parser.addoption("--bench-quick", action="store_true")
"""

# A pair whose fast variant sleeps lecture31.FAST_SECONDS (set per commit): sleeps of 5-20 ms
# keep their minimum within a fraction of a percent on a busy host, and a run takes about 1 s.
TOY_BENCH = """
import time

import lecture31


def measure(benchmark, variant, seconds):
    benchmark.extra_info.update(pair="fake-1", variant=variant, scale=1, reference="slow")
    benchmark.pedantic(time.sleep, args=(seconds,), rounds=3, iterations=1)


def test_slow(benchmark):
    measure(benchmark, "slow", 0.02)


def test_fast(benchmark):
    measure(benchmark, "fast", lecture31.FAST_SECONDS)
"""


def toyGit(repo: Path, *args: str) -> str:
    """git in ``repo`` as a fixed author; its stdout."""
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def toyHistory(root: Path, costs: list[float | None]) -> list[str]:
    """A repository at ``root`` with one commit per cost (the fast variant's sleep, seconds;
    None: that commit's bench fails), subject "cost N ms (i)"; the commit ids, oldest first."""
    (root / "bench").mkdir(parents=True)
    (root / "lecture31").mkdir()
    (root / "bench" / "conftest.py").write_text(TOY_CONFTEST)
    (root / "bench" / "test_fake.py").write_text(TOY_BENCH)
    toyGit(root.parent, "init", "-q", "-b", "main", str(root))
    commits = []
    for index, cost in enumerate(costs):
        (root / "lecture31" / "__init__.py").write_text(f"FAST_SECONDS = {cost!r}\n")
        toyGit(root, "add", ".")
        label = "broken" if cost is None else f"{cost * 1000:g} ms"
        toyGit(root, "commit", "-q", "--allow-empty", "-m", f"cost {label} ({index})")
        commits.append(toyGit(root, "rev-parse", "HEAD").strip())
    return commits
