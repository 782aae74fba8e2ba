"""A user's own function as a workload: ``--workload package.module:function [--args JSON]``.

Checked before anything runs: importable (within the time limit, and whatever the import
raises, SystemExit too), a function, picklable with its arguments nested at most MAX_NESTING
deep (a process pool sends it by name and the arguments by value). Anything that keeps it from
running on every tier is a ``WorkloadError`` whose message the command line prints as one line.
"""

from __future__ import annotations

import importlib
import inspect
import pickle
import re
import reprlib
import threading

from .._runtime.checks import UserInputError, checkNesting
from .workloads import Kind, Workload

__all__ = ("WorkloadError", "WorkloadTimedOut", "userWorkload")


class WorkloadError(Exception):
    """Raised by ``main`` when a user's ``--workload`` cannot run on every tier.

    ``reason`` says which: ``"malformed"``, ``"not importable"``, ``"not a function"``,
    ``"not picklable"``, ``"bad arguments"``, ``"raised"`` (anything it raised, ``SystemExit``
    and ``KeyboardInterrupt`` too) or ``"timed out"`` (a batch overran the time limit). The CLI
    prints the message as one line and exits 2, or 1 for ``"timed out"``; the cause is chained.
    ``stuckThreads``: threads still running the function after a time-out (a thread cannot be
    ended; whoever exits the process must not wait for them).
    """

    def __init__(
        self, reason: str, message: str, *, stuckThreads: tuple[threading.Thread, ...] = ()
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.stuckThreads = stuckThreads


class WorkloadTimedOut(WorkloadError):
    """Raised when a batch of the user's function, or its module's import, overran the time
    limit: the command line exits 1 on it, 2 on every other ``WorkloadError`` (told apart by
    type)."""


_WORKLOAD_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def _importWithin(spec: str, moduleName: str, timeLimit: float | None) -> object:
    """``import moduleName`` under the call's checks: in a thread of its own, so an import that
    hangs is given up after ``timeLimit`` (a daemon thread: the process may exit without it),
    and anything it raises, SystemExit and KeyboardInterrupt too, is a WorkloadError."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["module"] = importlib.import_module(moduleName)
        except BaseException as exc:  # the module's own, in this thread: never the user's Ctrl-C
            outcome["error"] = exc

    thread = threading.Thread(target=run, name=f"import {moduleName}", daemon=True)
    thread.start()
    thread.join(timeLimit)
    if thread.is_alive():
        raise WorkloadTimedOut(
            "timed out",
            f"workload {spec!r}: importing module {moduleName!r} took over {timeLimit:g} s"
            " (the time limit of a batch: --timeout)",
            stuckThreads=(thread,),
        )
    error = outcome.get("error")
    if isinstance(error, BaseException):
        raise WorkloadError(
            "not importable",
            f"workload {spec!r} is not importable: module {moduleName!r} failed to import "
            f"({type(error).__name__}: {error})",
        ) from error
    return outcome["module"]


def userWorkload(spec: object, args: object, *, timeLimit: float | None = None) -> Workload:
    """Import ``package.module:function`` and check it can go to every tier, with ``args``;
    the import is given ``timeLimit`` seconds (None: no limit)."""
    if not isinstance(spec, str) or not _WORKLOAD_SPEC.fullmatch(spec):
        raise WorkloadError(
            "malformed", f"--workload {spec!r} is not of the form package.module:function"
        )
    try:
        checkNesting(args, "--args")
    except UserInputError as exc:
        raise WorkloadError("bad arguments", str(exc)) from exc
    positional: tuple = ()
    keywords: dict[str, object] = {}
    if isinstance(args, list):
        positional = tuple(args)
    elif isinstance(args, dict) and all(isinstance(key, str) for key in args):
        keywords = dict(args)
    elif args is not None:
        raise WorkloadError(
            "bad arguments",
            f"--args must be a JSON list (positional) or object (keywords), got {args!r}",
        )
    moduleName, _, attributePath = spec.partition(":")
    target: object = _importWithin(spec, moduleName, timeLimit)
    for part in attributePath.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise WorkloadError(
                "not importable", f"workload {spec!r} is not importable: no attribute {part!r}"
            ) from exc
    if not callable(target):
        raise WorkloadError(
            "not a function",
            f"workload {spec!r} is not a function: it is the {type(target).__name__} "
            f"{reprlib.repr(target)}",
        )
    isAsync = inspect.iscoroutinefunction(target)
    if not isAsync:
        # A process pool sends the function by name and the arguments by value.
        try:
            pickle.dumps((target, positional, keywords))
        except Exception as exc:
            raise WorkloadError(
                "not picklable",
                f"workload {spec!r} is not picklable, so it cannot go to a process "
                f"({type(exc).__name__}: {exc}); define it at module level",
            ) from exc
    return Workload(
        spec,
        target,
        Kind.UNKNOWN,
        f"your function {spec}",
        inputFor=lambda rng: positional,
        keywords=tuple(keywords.items()),
        deterministic=False,
    )
