"""A user's own workload module, as ``python -m lecture31 tiers --workload userworkload:square``
would import it: the tests put this directory on the path of the processes that need it."""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
import threading
import time


def square(x: int) -> int:
    """Pure and tiny: the same result on every tier."""
    return x * x


def sleepThenEcho(*, seconds: float = 0.005, value: str = "ok") -> str:
    """Called with keyword arguments only (``--args '{"seconds": ..., "value": ...}'``)."""
    time.sleep(seconds)
    return value


def boom() -> None:
    """A workload that raises, as a buggy user function would."""
    raise ValueError("the user's function failed")


def whichThread() -> int:
    """Not pure: the answer depends on where it runs."""
    return threading.get_ident()


async def asyncEcho(value: str) -> str:
    """A coroutine function: it can only run on the event loop."""
    await asyncio.sleep(0.001)
    return value


# Module level but nameless: pickle looks it up as userworkload.<lambda> and fails.
unpicklable = lambda: 1  # noqa: E731

NOT_CALLABLE = 42


def exits() -> None:
    """Calls sys.exit, as a script's main might: reported like any error, not obeyed."""
    sys.exit(5)


def interrupts() -> None:
    """Raises KeyboardInterrupt itself (no Ctrl-C was pressed)."""
    raise KeyboardInterrupt


async def asyncExits() -> None:
    """A coroutine function that calls sys.exit."""
    await asyncio.sleep(0)
    sys.exit("bye")


def hangs() -> None:
    """Never returns (well, not for an hour)."""
    time.sleep(3600)


def hangsInAWorkerProcess() -> int:
    """Returns at once everywhere but in a process-pool worker, where it never returns."""
    if multiprocessing.parent_process() is not None:
        time.sleep(3600)
    return 1


def hangsOnAPoolThread() -> int:
    """Returns at once everywhere but on the thread pool's threads, where it never returns."""
    name = threading.current_thread().name
    if name.startswith("lecture31-tiers") and not name.startswith("lecture31-tiers-inline"):
        time.sleep(3600)
    return 1
