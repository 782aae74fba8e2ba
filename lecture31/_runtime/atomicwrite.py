"""Files written whole or not at all, and written *to*: every writer of this package goes here.

writeAtomically([(target, write), ...])
    checkTarget(each target)            -- the regular file it names, through any symlink; a
                                           FIFO, device, directory or socket: OSError, before
                                           anything is written (never replace a device node)
    each write(temporary file beside the real file)
                                        -- any failure: every target as it was, no temporary
                                           file and no folder of ours left behind
    each temporary takes the real file's mode (and owner, where allowed); a new file gets the
    mode open() would give it (0666 less the umask)
    then every temporary renamed over its real file     -- the renames come last

Renaming replaces the file's inode: a hard link to the old file keeps the old content. A
symlink is kept and its target is what gets replaced.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ("checkTarget", "irregularKind", "writeAtomically")

# What each kind of file is called when it is refused.
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def irregularKind(mode: int) -> str | None:
    """What a file of ``mode`` (``st_mode``) is called when refused ("a FIFO"), or None if it
    is a regular file (or a kind none of the refusals names)."""
    return next((name for isKind, name in _KINDS if isKind(mode)), None)


def _named(exc: OSError, target: Path) -> OSError:
    """The same error, named after the target the caller gave (not a temporary or a link)."""
    return type(exc)(exc.errno, exc.strerror or str(exc), str(target))


def checkTarget(target: Path) -> Path:
    """The regular file ``target`` names, following symlinks (or where a new one would go).

    ``OSError`` naming ``target`` (``filename``) when it cannot be written as a regular file:
    not a regular file (``strerror`` says what it is), a symlink loop, a folder on the way that
    is a file, no permission to write it or to create a file beside it.
    """
    target = Path(target)
    try:
        status: os.stat_result | None = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        status = None  # a new file (or a dangling symlink: the file is made where it points)
    except OSError as exc:  # a symlink loop (ELOOP), no permission to look (EACCES)...
        raise _named(exc, target) from exc
    real = Path(os.path.realpath(target))
    if status is not None:
        kind = irregularKind(status.st_mode)
        if kind is not None:
            code = errno.EISDIR if kind == "a directory" else errno.EINVAL
            raise OSError(code, f"is {kind}, not a regular file", str(target))
        if not os.access(real, os.W_OK):
            raise PermissionError(errno.EACCES, "is read-only", str(target))
    for folder in real.parents:
        if os.path.lexists(folder):
            if not folder.is_dir():
                raise NotADirectoryError(
                    errno.ENOTDIR, f"{folder} is a file, not a directory", str(target)
                )
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, f"cannot write in {folder}", str(target))
            break
    return real


def _makeFolders(real: Path, made: list[Path]) -> None:
    """Create the missing folders above ``real``, recording each one made (outermost first)."""
    missing = [folder for folder in real.parents if not os.path.lexists(folder)]
    for folder in reversed(missing):
        folder.mkdir()
        made.append(folder)


def _newTemporary(real: Path) -> Path:
    """An empty file beside ``real`` with a fresh name and the mode open() would give it."""
    while True:
        temp = real.with_name(f".{real.name}.{secrets.token_hex(4)}.tmp{real.suffix}")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return temp


def _keepModeAndOwner(temp: Path, real: Path) -> None:
    """Give ``temp`` the mode (and, where allowed, the owner) of ``real`` if it exists."""
    try:
        status = os.stat(real)
    except FileNotFoundError:
        return
    os.chmod(temp, stat.S_IMODE(status.st_mode))
    mine = os.stat(temp)
    if (mine.st_uid, mine.st_gid) != (status.st_uid, status.st_gid):
        try:
            os.chown(temp, status.st_uid, status.st_gid)
        except PermissionError:
            pass  # not ours to give away: the file becomes the writer's, as with any editor
        else:
            os.chmod(temp, stat.S_IMODE(status.st_mode))  # chown clears set-id bits


def writeAtomically(writes: Sequence[tuple[Path, Callable[[Path], object]]]) -> None:
    """Write every file to a temporary name beside it, then rename them all into place.

    Every target is checked first (``checkTarget``): one that is not a regular file, or cannot
    be written, fails the whole call before any ``write`` runs. A failure while writing leaves
    every target as it was, with no temporary file and no new folder behind. Each ``OSError``
    names the target as the caller gave it (``filename``).
    """
    plan = [(Path(target), checkTarget(Path(target)), write) for target, write in writes]
    made: list[Path] = []
    staged: list[tuple[Path, Path, Path]] = []
    done = False
    try:
        for target, real, write in plan:
            try:
                _makeFolders(real, made)
                temp = _newTemporary(real)
                staged.append((target, temp, real))
                write(temp)
                _keepModeAndOwner(temp, real)
            except OSError as exc:
                raise _named(exc, target) from exc
        for target, temp, real in staged:
            # Checked again at the last moment: what is there now must still be a regular file.
            if os.path.lexists(real) and not stat.S_ISREG(os.lstat(real).st_mode):
                checkTarget(target)  # raises, saying what it has become
            try:
                os.replace(temp, real)
            except OSError as exc:
                raise _named(exc, target) from exc
        done = True
    finally:
        for _, temp, _ in staged:
            temp.unlink(missing_ok=True)
        if not done:
            for folder in reversed(made):
                with contextlib.suppress(OSError):  # someone else's file in it: theirs
                    folder.rmdir()
