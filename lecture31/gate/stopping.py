"""How the gate stops on a signal: every ``finally`` runs (worktrees, bench processes).

    Ctrl-C (SIGINT)  KeyboardInterrupt                                  exit 130
    SIGTERM          Stopped(SIGTERM)                                   exit 143
    SIGHUP           Stopped(SIGHUP): the terminal went away; the same  exit 129
                     cleanup as SIGTERM (by default it would kill the gate on the spot and
                     leave its worktree and its bench, in a session of its own, running)

signalsHeld()     the three wait (blocked, not lost) while a step that must not be cut in half
                  runs, e.g. ``git worktree add``; then they arrive, and unwind as above
uninterrupted()   they are ignored while cleanup runs, so a second one cannot leave half of it
startedChild()    a child process started with them held: a signal while Popen runs would
                  raise before Popen returns the child, leaving it running unseen
runChild()        subprocess.run on startedChild: the child is killed and reaped on any exception

Each status is 128 + the signal's number, as a shell reports a process the signal killed.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = (
    "STOP_SIGNALS",
    "Stopped",
    "cleanUp",
    "runChild",
    "signalsHeld",
    "startedChild",
    "stopOnSignals",
    "uninterrupted",
)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(Exception):
    """Raised in the main thread by SIGTERM or SIGHUP: clean up, exit ``status``."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.status = 128 + signum
        super().__init__(self.name)


def _mainThread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def stopOnSignals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``Stopped`` here (Ctrl-C stays KeyboardInterrupt)."""
    if not _mainThread():  # nothing to install
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Stopped(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def signalsHeld() -> Iterator[set[Any] | None]:
    """Ctrl-C, SIGTERM and SIGHUP wait until the block is done, then arrive.

    Blocked, not ignored: none is lost. Children started inside inherit the mask, so a Ctrl-C
    sent by the terminal to the whole foreground group cannot cut them short either (a
    ``git worktree add`` killed half-way leaves a locked worktree that prune cannot remove).
    """
    if not _mainThread():
        yield None
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield previous  # the mask before: what a child should start with
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a held signal arrives now...
        _arrive()  # ...and its handler runs here, not at some later call the caller cannot see


def _arrive() -> None:
    """Nothing: calling a Python function is where CPython runs a signal handler that is due.
    Without it, the handler of a signal released above would run at the next call, wherever
    that is: say between ExitStack.enter_context's __enter__ and the registration of its
    __exit__, and the worktree just made would never be removed."""


def cleanUp(step: Callable[[], object]) -> None:
    """``step()`` (a cleanup) run whole, ``uninterrupted``: a signal whose handler fires just
    before the signals are ignored is kept, the step run again, and the signal raised after."""
    stopped: BaseException | None = None
    while True:
        try:
            with uninterrupted():
                step()
            break
        except (Stopped, KeyboardInterrupt) as exc:
            stopped = stopped or exc
    if stopped is not None:
        raise stopped


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP are ignored while cleanup runs, so a second one cannot
    leave half of it."""
    if not _mainThread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def startedChild(
    command: Sequence[str], *, stop: Callable[[subprocess.Popen[Any]], object], **popenArgs: Any
) -> Iterator[subprocess.Popen[Any]]:
    """``Popen(command)`` started with the stop signals held (the child starts with them open);
    ``stop(child)`` runs on any exception, a signal that came during the start included."""
    child: subprocess.Popen[Any] | None = None
    try:
        with signalsHeld() as previous:
            restore = None
            if previous is not None:
                mask = previous

                def restore() -> None:  # in the child, before exec: the signals open again
                    signal.pthread_sigmask(signal.SIG_SETMASK, mask)

            child = subprocess.Popen(command, preexec_fn=restore, **popenArgs)
        yield child
    except BaseException:
        if child is not None:
            stop(child)
        raise


def _killAndReap(child: subprocess.Popen[Any]) -> None:
    child.kill()
    child.communicate()


def runChild(
    command: Sequence[str], *, timeout: float, **popenArgs: Any
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(command, capture_output=True, text=True, timeout=timeout)``, the child
    started by ``startedChild``: killed and reaped on a time-out or a signal."""
    with startedChild(
        command,
        stop=_killAndReap,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popenArgs,
    ) as child:
        out, err = child.communicate(timeout=timeout)
    return subprocess.CompletedProcess(list(command), child.returncode, out, err)
