"""One gate at a time in a repository: two would measure each other's load, not their code.

    gateLock(repo)    an advisory lock (flock) on $(git rev-parse --git-common-dir)/
                      lecture31-gate.lock, shared by every worktree of the repository; a second
                      gate refuses at once (GateError: exit 2, one line naming the pid holding
                      it) rather than waiting: in CI a wait would eat the job's time unseen.

The kernel releases the lock when the holder dies, however it dies, so no stale lock is ever
left to clean up; the file itself stays (removing it would race with a gate opening it).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from .git import GateError, commonDir

__all__ = ("LOCK_NAME", "gateLock")

LOCK_NAME = "lecture31-gate.lock"


@contextlib.contextmanager
def gateLock(repo: Path) -> Iterator[Path]:
    """Hold the repository's gate lock for the block; GateError if another gate holds it."""
    path = commonDir(repo) / LOCK_NAME
    try:
        # O_NOFOLLOW: a symlink planted at that name is not followed to a file of its choosing.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise GateError(f"cannot open the gate's lock {path}: {exc.strerror or exc}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise GateError(
                f"another gate (pid {holder}) is running in this repository; wait for it to"
                f" finish (lock: {path})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock
