"""Where the gate writes: checked before the first trial, written after the verdict.

checkOutputs([("--json", path), ...])   each a regular file the gate may write, in a folder that
                                        exists: GateError (exit 2, one line) before any trial
checkRunsFolder(path)                   --keep-runs: a folder it may write in (made now if only
                                        it is missing)
writeRecord(record, path)               the path written (``path``, or a fresh private file when
                                        None or when ``path`` failed) and what failed, if any

The default JSON (no --json) is a fresh file made with ``mkstemp`` (a random name, created
exclusively, mode 0600: nothing planted under a predictable name is followed or overwritten) in
a folder private to the user, ``$TMPDIR/lecture31-gate-UID`` (0700, ours, not a symlink; if
someone else holds that name, the shared temporary folder itself). That folder keeps the newest
``KEPT_RECORDS`` records and deletes older ones: the path printed at the end of a run stays
readable for a while, and a machine running the gate in CI all day does not fill up.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from .._runtime.atomicwrite import checkTarget, writeAtomically
from .git import GateError

__all__ = ("KEPT_RECORDS", "checkOutputs", "checkRunsFolder", "writeRecord")

# A record with every round of 12 trials is a few hundred kB: 20 of them are a few MB.
KEPT_RECORDS = 20


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def checkOutputs(outputs: Sequence[tuple[str, str | os.PathLike[str] | None]]) -> None:
    """Each ``(flag, path)`` given (None: not asked for) names a regular file that can be
    written, in a folder that exists, and no two name the same file."""
    seen: dict[str, str] = {}
    for flag, path in outputs:
        if path is None:
            continue
        try:
            real = checkTarget(Path(path))
        except OSError as exc:
            raise GateError(f"{flag} {path}: {_why(exc)}") from exc
        if not real.parent.is_dir():
            raise GateError(f"{flag} {path}: no folder {real.parent} to write it in")
        if str(real) in seen:
            raise GateError(f"{flag} {path}: the same file as {seen[str(real)]}")
        seen[str(real)] = f"{flag} {path}"


def checkRunsFolder(path: str | os.PathLike[str]) -> Path:
    """``--keep-runs``: a folder the gate may write in, made now if only it is missing."""
    folder = Path(path)
    try:
        status = os.stat(folder)
    except FileNotFoundError:
        if not folder.parent.is_dir():
            raise GateError(
                f"--keep-runs {path}: no folder {folder.parent} to make it in"
            ) from None
        try:
            folder.mkdir()
        except OSError as exc:
            raise GateError(f"--keep-runs {path}: cannot make it: {_why(exc)}") from exc
        return folder
    except OSError as exc:  # a symlink loop, a file on the way, no permission to look
        raise GateError(f"--keep-runs {path}: {_why(exc)}") from exc
    if not stat.S_ISDIR(status.st_mode):
        raise GateError(f"--keep-runs {path}: not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise GateError(f"--keep-runs {path}: cannot write in it")
    return folder


def _privateFolder() -> Path | None:
    """``$TMPDIR/lecture31-gate-UID``, made 0700; None if that name is not a folder of ours
    that only we can enter (someone planted it, or a symlink)."""
    folder = Path(tempfile.gettempdir()) / f"lecture31-gate-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    status = os.lstat(folder)
    mine = stat.S_ISDIR(status.st_mode) and status.st_uid == os.getuid()
    return folder if mine and not status.st_mode & 0o077 else None


def _prune(folder: Path) -> None:
    """Delete all but the newest ``KEPT_RECORDS`` records (regular files only: unlink never
    follows a symlink, and the folder is ours alone)."""
    found = []
    for path in folder.glob("gate-*.json"):
        with contextlib.suppress(OSError):
            status = os.lstat(path)
            if stat.S_ISREG(status.st_mode):
                found.append((status.st_mtime_ns, path))
    for _, path in sorted(found)[:-KEPT_RECORDS]:
        with contextlib.suppress(OSError):
            path.unlink()


def _writePrivate(text: str) -> Path:
    """``text`` in a fresh private file (see the module docstring); its path."""
    folder = _privateFolder()
    prefix = f"gate-{time.strftime('%Y%m%d-%H%M%S')}-"
    fd, name = tempfile.mkstemp(
        prefix=prefix if folder else f"lecture31-{prefix}", suffix=".json", dir=folder
    )
    with os.fdopen(fd, "w", encoding="utf-8") as sink:
        sink.write(text)
    if folder is not None:
        _prune(folder)
    return Path(name)


def writeRecord(
    record: dict, path: str | os.PathLike[str] | None
) -> tuple[Path | None, str | None]:
    """Write the gate's record to ``path`` (atomically), or to a fresh private file when
    ``path`` is None. ``(written, problem)``: when ``path`` cannot be written, ``problem`` says
    why in one line and the record goes to a private file instead (``written``, or None if that
    failed too)."""
    text = json.dumps(record, indent=1) + "\n"
    problem = None
    if path is not None:
        try:
            writeAtomically([(Path(path), lambda temp: temp.write_text(text, encoding="utf-8"))])
            return Path(path), None
        except OSError as exc:
            problem = f"cannot write --json {path}: {_why(exc)}"
    try:
        return _writePrivate(text), problem
    except OSError as exc:
        return None, problem or f"cannot write the trials to {tempfile.gettempdir()}: {_why(exc)}"
