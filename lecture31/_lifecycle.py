"""How a run ends: SIGTERM and Ctrl-C become cancellation, and workers outlive no parent.

    SIGTERM --> cancel the main task --> finally blocks shut the pools --> Terminated (exit 143)
    Ctrl-C  --> asyncio.Runner cancels the main task --> the same --> KeyboardInterrupt (130)
    parent killed outright (SIGKILL, crash), nothing cleaned up:
        each worker's lifeline pipe reads EOF --> the worker exits --> the fork server's
        "alive" pipe closes (every worker held a copy) --> it exits --> the resource tracker
        reads EOF (all its clients are gone) --> it exits

Why workers are left under PID 1 without this: a process-pool worker waits on its call queue,
and it holds a copy of that queue's write end itself, so it never reads EOF; a fork-server
worker also holds the write end of the server's "alive" pipe, and every process holds the
resource tracker's pipe. One blocked worker keeps all three alive. So the parent must shut its
pools down (SIGTERM's default action kills it before any ``finally`` runs), and a worker must
have its own way to see the parent go.

Workers ignore SIGINT from birth (``workerOptions``): Ctrl-C in a terminal goes to the whole
process group, and the parent alone decides what an interrupt means; a worker that died of it
would print a traceback and break the pool before the parent could shut it down in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing.context
import multiprocessing.forkserver
import os
import signal
import threading
from collections.abc import Coroutine
from multiprocessing.connection import Connection, Pipe
from typing import Any, TypeVar

__all__ = ("Terminated", "lifelineArgs", "runMain", "workerInitializer", "workerOptions")

T = TypeVar("T")

# 128 + the signal number: the shell's convention for "ended by this signal".
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(Exception):
    """Raised by ``runMain`` once a SIGTERM has cancelled the run and its cleanup has finished."""


class _CancelOnSigterm:
    """A SIGTERM handler that does to the main task what ``asyncio.Runner`` does on Ctrl-C."""

    def __init__(self) -> None:
        self.received = False
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __call__(self, signum: int, frame: object) -> None:
        self.received = True
        self._cancel()

    def _cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            # Wake the loop if it sits in select() with a long timeout, as Runner does.
            self._loop.call_soon_threadsafe(lambda: None)

    async def guard(self, coro: Coroutine[Any, Any, T]) -> T:
        self._task = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        if self.received:  # arrived before the task existed
            self._cancel()
        return await coro


def runMain(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)``, with SIGTERM handled the way the runner handles Ctrl-C.

    SIGTERM cancels the main task, so every ``finally`` and ``async with`` in it runs and shuts
    its pools; then ``Terminated`` is raised, also when the run failed after the signal. Ctrl-C
    raises ``KeyboardInterrupt`` after the same cleanup (a second Ctrl-C interrupts at once, as
    with ``asyncio.run``). Outside the main thread signals cannot be handled, and this is plain
    ``asyncio.run``.
    """
    handler = _CancelOnSigterm()
    inMainThread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if inMainThread else None
    if inMainThread:
        signal.signal(signal.SIGTERM, handler)
    try:
        with asyncio.Runner() as runner:
            try:
                result = runner.run(handler.guard(coro))
            except asyncio.CancelledError:
                if not handler.received:
                    raise
            except Exception as exc:
                # A SIGTERM sent to the whole process group also kills the workers and the fork
                # server, so the run may fail (BrokenProcessPool) before the cancel lands. The
                # cause is the signal, and that is what gets reported; the error stays chained.
                if not handler.received:
                    raise
                raise Terminated("terminated by SIGTERM") from exc
    finally:
        if inMainThread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
    if handler.received:
        # Also when the run finished before the cancel could land: the caller asked us to stop.
        raise Terminated("terminated by SIGTERM")
    return result


# The lifeline: a pipe whose write end only this process holds (os.pipe fds are not inherited
# across exec, and forkserver workers are not forked from here), and whose read end every
# worker gets a copy of. Nothing is ever written; the read returns EOF when this process is gone.
_lifeline: tuple[int, Connection, Connection] | None = None
_lifelineLock = threading.Lock()


def workerOptions(context: multiprocessing.context.BaseContext) -> dict[str, Any]:
    """``ProcessPoolExecutor`` keywords that make its workers ignore Ctrl-C and watch the parent.

    The initializer runs only once a worker has started, and a Ctrl-C that lands before that
    kills the worker and breaks the pool. So the fork server is started here, from the main
    thread, with SIGINT ignored: an ignored signal stays ignored across exec, the server keeps
    it as its own default, and every worker it forks is born ignoring Ctrl-C.
    """
    if context.get_start_method() == "forkserver":
        _startForkServerIgnoringSigint()
    return {"initializer": workerInitializer, "initargs": lifelineArgs()}


def _startForkServerIgnoringSigint() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signal dispositions can only be changed here; the initializer still applies
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        multiprocessing.forkserver.ensure_running()  # a no-op once it runs
    finally:
        signal.signal(signal.SIGINT, previous)


def lifelineArgs() -> tuple[Connection]:
    """``initargs`` for ``workerInitializer``: the read end of this process's lifeline."""
    global _lifeline
    with _lifelineLock:
        if _lifeline is None or _lifeline[0] != os.getpid():
            reader, writer = Pipe(duplex=False)
            _lifeline = (os.getpid(), reader, writer)
        return (_lifeline[1],)


def workerInitializer(lifeline: Connection | None = None) -> None:
    """Runs first in every process-pool worker: ignore Ctrl-C, and exit when the parent dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if lifeline is not None:
        threading.Thread(
            target=_exitWhenParentIsGone, args=(lifeline,), name="lecture31-lifeline", daemon=True
        ).start()


def _exitWhenParentIsGone(lifeline: Connection) -> None:
    with contextlib.suppress(EOFError, OSError):
        lifeline.recv_bytes()  # nothing is ever sent: this returns only by EOF
    # The parent is gone without shutting this pool down; there is nobody to send a result to.
    # os._exit, not sys.exit: this is not the main thread, and the main one may be mid-task.
    os._exit(EXIT_TERMINATED)
