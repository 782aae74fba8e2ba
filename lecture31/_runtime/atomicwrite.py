"""Files written whole or not at all: every writer of this package goes through here.

writeAtomically([(target, write), ...])
    each write(temporary path beside its target)  -- any failure: every target as it was
    then every temporary renamed over its target  -- the renames come last
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ("writeAtomically",)


def writeAtomically(writes: Sequence[tuple[Path, Callable[[Path], object]]]) -> None:
    """Write every file to a temporary name beside it, then rename them all into place.

    A failure while writing leaves every target as it was and no temporary file behind; the
    ``OSError`` names the target (``filename``).
    """
    staged: list[tuple[str, Path]] = []
    try:
        for target, write in writes:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent
            )
            os.close(fd)
            staged.append((temp, target))
            try:
                write(Path(temp))
            except OSError as exc:  # named after the target, not the temporary beside it
                raise OSError(exc.errno, exc.strerror or str(exc), str(target)) from exc
        for temp, target in staged:
            os.replace(temp, target)
    finally:
        for temp, _ in staged:
            Path(temp).unlink(missing_ok=True)
