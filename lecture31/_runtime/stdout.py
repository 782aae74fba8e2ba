"""Standard output that may be gone: a closed pipe ends quietly, any other loss in one line.

    with guardedStdout():          inside, a write or flush of sys.stdout that fails raises
        print(...)                 StdoutLost (the OSError as its cause), so a command line
        flushStdout()              tells "stdout is gone" from every other OSError of its run
    except StdoutLost as lost:
        lost.closed                EPIPE: the reader left (``| head -1``): say nothing
        otherwise                  ENOSPC, EIO, EFBIG...: one line on stderr; never exit 0

Once output is lost, stdout is pointed at the null device (``silenceStdout``), so that the
interpreter's own flush at exit cannot fail again and print "Exception ignored ...".
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO, cast

__all__ = ("StdoutLost", "flushStdout", "guardedStdout", "silenceStdout")


class StdoutLost(Exception):
    """Raised inside ``guardedStdout`` when stdout cannot be written; the OSError is the cause."""

    def __init__(self, error: OSError) -> None:
        super().__init__(f"cannot write to stdout: {error.strerror or error}")
        self.error = error

    @property
    def closed(self) -> bool:
        """The reader closed the pipe (EPIPE): the one loss that is not worth a word."""
        return self.error.errno == errno.EPIPE


class _Guarded:
    """sys.stdout with its OSErrors raised as StdoutLost; everything else passed through."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise StdoutLost(exc) from exc

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise StdoutLost(exc) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def guardedStdout() -> Iterator[None]:
    """Inside: a failed write to stdout raises StdoutLost, and stdout is silenced for good."""
    original = sys.stdout
    sys.stdout = cast(TextIO, _Guarded(original))
    try:
        yield
    except StdoutLost:
        silenceStdout(original)
        raise
    finally:
        sys.stdout = original


def flushStdout() -> None:
    """Flush stdout now, so a loss is found inside the run, not by the interpreter at exit."""
    if sys.stdout is not None:
        sys.stdout.flush()


def silenceStdout(stream: TextIO | None = None) -> None:
    """Point stdout's file descriptor at the null device: later flushes succeed, unseen."""
    stream = sys.stdout if stream is None else stream
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
