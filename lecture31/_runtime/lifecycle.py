"""How a run ends: SIGTERM and Ctrl-C become cancellation, and workers outlive no parent.

    SIGTERM --> cancel the main task --> finally blocks shut the pools --> Terminated (exit 143)
    Ctrl-C  --> the same --> KeyboardInterrupt (exit 130)
    cleanup over STOP_GRACE_SECONDS, or a second signal --> one line, os._exit(128 + signal)
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

Workers are deaf to SIGINT from birth (``workerOptions``): Ctrl-C in a terminal goes to the whole
process group, and the parent alone decides what an interrupt means; a worker that died of it
would print a traceback and break the pool before the parent could shut it down in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing.context
import multiprocessing.forkserver
import multiprocessing.resource_tracker
import os
import signal
import threading
from collections.abc import Coroutine, Iterator
from multiprocessing.connection import Connection, Pipe
from typing import Any, TypeVar

__all__ = (
    "Terminated",
    "lifelineArgs",
    "runMain",
    "sigintBlockedForChildren",
    "workerInitializer",
    "workerOptions",
)

T = TypeVar("T")

# 128 + the signal number: the shell's convention for "ended by this signal".
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM


# How long the run's own cleanup may take after the first SIGTERM or Ctrl-C before the process
# exits anyway. Shutting the pools takes well under a second (a worker finishes the task in
# hand, a thread its blocking call); the bound is for what should not happen, such as a broken
# pool whose shutdown never returns (3.11's executor can hang joining it). Exiting then still
# leaves no orphan: the workers' lifelines end them. A second signal exits at once.
STOP_GRACE_SECONDS = 5.0

_NAMES: dict[int, str] = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated (SIGTERM)"}


class Terminated(Exception):
    """Raised by ``runMain`` once a SIGTERM has cancelled the run and its cleanup has finished."""


def _exitNow(signum: int, why: str) -> None:
    """Leave without cleanup: one line on stderr (a raw write, no lock), then ``os._exit``."""
    os.write(2, f"lecture31: {_NAMES[signum]}; {why}\n".encode())
    os._exit(128 + signum)


class _StopOnSignal:
    """SIGTERM and Ctrl-C handler: cancel the main task (as ``asyncio.Runner`` does on Ctrl-C),
    give its cleanup ``graceSeconds``, and exit at once on a second signal.

    The grace period is kept by a watchdog thread started before any signal: a handler must not
    start a thread itself, since it may interrupt the main thread inside ``Thread.start``.
    """

    def __init__(self, graceSeconds: float) -> None:
        self.signum: int | None = None
        self._graceSeconds = graceSeconds
        self._stopping = threading.Event()  # a signal arrived, or the run is over
        self._finished = threading.Event()  # the run is over
        self._watchdog: threading.Thread | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __call__(self, signum: int, frame: object) -> None:
        if self.signum is not None:
            _exitNow(signum, "exiting at once, without cleanup")
        self.signum = signum
        self._stopping.set()
        self._cancel()

    def startWatchdog(self) -> None:
        self._watchdog = threading.Thread(
            target=self._watch, name="lecture31-stop-watchdog", daemon=True
        )
        self._watchdog.start()

    def _watch(self) -> None:
        self._stopping.wait()
        if self.signum is None:  # woken by stopWatchdog: the run is over, no signal came
            return
        if not self._finished.wait(self._graceSeconds):
            why = f"cleanup took over {self._graceSeconds:g} s, exiting anyway"
            _exitNow(self.signum, why)

    def stopWatchdog(self) -> None:
        self._finished.set()
        self._stopping.set()
        if self._watchdog is not None:
            self._watchdog.join()

    def _cancel(self) -> None:
        if self._task is not None and self._loop is not None and not self._task.done():
            self._task.cancel()
            # Wake the loop if it sits in select() with a long timeout, as Runner does.
            self._loop.call_soon_threadsafe(lambda: None)

    def raiseIfStopped(self) -> None:
        if self.signum == signal.SIGINT:
            raise KeyboardInterrupt
        if self.signum == signal.SIGTERM:
            raise Terminated("terminated by SIGTERM")

    async def guard(self, coro: Coroutine[Any, Any, T]) -> T:
        self._task = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        if self.signum is not None:  # arrived before the task existed
            self._cancel()
        return await coro


def runMain(coro: Coroutine[Any, Any, T], *, graceSeconds: float = STOP_GRACE_SECONDS) -> T:
    """``asyncio.run(coro)``, where SIGTERM and Ctrl-C cancel the run and wait for its cleanup.

    The main task is cancelled, so every ``finally`` and ``async with`` in it runs and shuts its
    pools; then ``Terminated`` (SIGTERM) or ``KeyboardInterrupt`` (Ctrl-C) is raised, also when
    the run failed or finished after the signal. Cleanup longer than ``graceSeconds``, or a
    second signal, ends the process with one line and exit status 128 + signal. Outside the
    main thread signals cannot be handled, and this is plain ``asyncio.run``; an ignored
    SIGINT (a background job) stays ignored.
    """
    handler = _StopOnSignal(graceSeconds)
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        previous[signal.SIGTERM] = signal.getsignal(signal.SIGTERM)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            previous[signal.SIGINT] = signal.default_int_handler  # so Runner keeps out
        handler.startWatchdog()
        for signum in previous:
            signal.signal(signum, handler)
    try:
        with asyncio.Runner() as runner:
            try:
                result = runner.run(handler.guard(coro))
            except asyncio.CancelledError:
                if handler.signum is None:
                    raise
            except Exception as exc:
                # A signal sent to the whole process group also reaches the workers and the fork
                # server, so the run may fail (BrokenProcessPool) before the cancel lands. The
                # cause is the signal, and that is what gets reported; the error stays chained.
                if handler.signum is None:
                    raise
                try:
                    handler.raiseIfStopped()
                except BaseException as stop:
                    raise stop from exc
    finally:
        for signum, before in previous.items():
            signal.signal(signum, signal.SIG_DFL if before is None else before)
        handler.stopWatchdog()
    # Also when the run finished before the cancel could land: the user asked us to stop.
    handler.raiseIfStopped()
    return result


# The lifeline: a pipe whose write end only this process holds (os.pipe fds are not inherited
# across exec, and forkserver workers are not forked from here), and whose read end every
# worker gets a copy of. Nothing is ever written; the read returns EOF when this process is gone.
_lifeline: tuple[int, Connection, Connection] | None = None
_lifelineLock = threading.Lock()


def workerOptions(context: multiprocessing.context.BaseContext) -> dict[str, Any]:
    """``ProcessPoolExecutor`` keywords that make its workers ignore Ctrl-C and watch the parent.

    The initializer runs only once a worker has started, and a Ctrl-C that lands before that
    kills the worker and breaks the pool. So the fork server is started here with SIGINT
    blocked: a signal mask survives fork and exec, so the server and every worker it forks are
    born deaf to Ctrl-C until the initializer ignores it for good.
    """
    if context.get_start_method() == "forkserver":
        _startForkServerDeafToSigint()
    return {"initializer": workerInitializer, "initargs": lifelineArgs()}


def _startForkServerDeafToSigint() -> None:
    # A mask, not SIG_IGN in this process: ignoring SIGINT here while the server spawns lost a
    # Ctrl-C that landed in that window (it takes milliseconds on a loaded host), and the run
    # went on to the end. Blocked, this thread's Ctrl-C goes to another thread or waits for the
    # unblock. The server is born blocking SIGINT (a Ctrl-C during its imports stays pending)
    # and ignores it once it runs, which discards one that is pending.
    with sigintBlockedForChildren():
        multiprocessing.forkserver.ensure_running()  # a no-op once it runs


@contextlib.contextmanager
def sigintBlockedForChildren() -> Iterator[None]:
    """Inside, this thread blocks SIGINT: threads it starts, and processes they start, inherit it.

    For pools whose worker processes are started by a library's own threads (a dask local
    cluster's nannies), where ``workerOptions`` cannot reach: a signal mask survives both
    thread creation and fork + exec, so those workers never see a terminal's Ctrl-C, which the
    parent alone handles (it shuts them down in order). Python runs signal handlers in the main
    thread only, so a helper thread that blocks SIGINT loses nothing. On the main thread, a
    Ctrl-C meanwhile is held and delivered on leaving. A no-op where masks do not exist.

    The resource tracker is started first: 3.11's ``ensure_running`` *unblocks* SIGINT in the
    thread that starts it, which would undo the mask in whichever thread got there first.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    multiprocessing.resource_tracker.ensure_running()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


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
