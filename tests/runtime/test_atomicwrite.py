"""The one writer (issue 21): whole or not at all, and *to* the file a path names.

Only temporary files, FIFOs and symlinks made in tmp_path: never a device path. A device is
refused by the same check as a FIFO; that check is shown with a stat that says "device".
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from lecture31._runtime import atomicwrite
from lecture31._runtime.atomicwrite import checkTarget, writeAtomically


def _text(text: str):
    return lambda temp: temp.write_text(text, encoding="utf-8")


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o640, 0o755])
def test_an_existing_file_keeps_its_mode(tmp_path, mode):
    target = tmp_path / "SPEEDUPS.md"
    target.write_text("old\n", encoding="utf-8")
    target.chmod(mode)
    writeAtomically([(target, _text("new\n"))])
    assert target.read_text(encoding="utf-8") == "new\n"
    assert _mode(target) == mode
    assert _entries(tmp_path) == ["SPEEDUPS.md"]


def test_a_new_file_gets_the_mode_open_would_give_it(tmp_path):
    previous = os.umask(0o027)
    try:
        writeAtomically([(tmp_path / "new.md", _text("x"))])
        (tmp_path / "by-open.md").write_text("x", encoding="utf-8")
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "new.md") == _mode(tmp_path / "by-open.md") == 0o640


def test_a_symlink_is_written_through_and_stays_a_symlink(tmp_path):
    real = tmp_path / "elsewhere" / "table.md"
    real.parent.mkdir()
    real.write_text("old\n", encoding="utf-8")
    real.chmod(0o644)
    link = tmp_path / "table.md"
    link.symlink_to(real)
    writeAtomically([(link, _text("new\n"))])
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text(encoding="utf-8") == "new\n"
    assert _mode(real) == 0o644
    assert _entries(real.parent) == ["table.md"]  # the temporary was made beside the real file


def test_a_dangling_symlink_makes_the_file_it_names(tmp_path):
    link = tmp_path / "link.md"
    link.symlink_to(tmp_path / "made.md")
    writeAtomically([(link, _text("new\n"))])
    assert link.is_symlink()
    assert (tmp_path / "made.md").read_text(encoding="utf-8") == "new\n"


def _refused(tmp_path: Path, target: Path, expected: str) -> OSError:
    """writeAtomically must refuse ``target`` before writing anything, even the other file."""
    other = tmp_path / "other.md"
    other.write_text("other\n", encoding="utf-8")
    before = {p.name: os.lstat(p) for p in tmp_path.iterdir()}
    called = []

    def write(temp: Path) -> None:
        called.append(temp)
        temp.write_text("new\n", encoding="utf-8")

    with pytest.raises(OSError) as raised:
        writeAtomically([(other, write), (target, write)])
    assert called == []
    assert str(raised.value.filename) == str(target)
    assert expected in raised.value.strerror
    after = {p.name: os.lstat(p) for p in tmp_path.iterdir()}
    assert after.keys() == before.keys()
    for name, status in before.items():  # same inode, same kind, same mode: untouched
        assert (after[name].st_ino, after[name].st_mode) == (status.st_ino, status.st_mode)
    assert other.read_text(encoding="utf-8") == "other\n"
    return raised.value


def test_a_fifo_is_refused_before_anything_is_written(tmp_path):
    fifo = tmp_path / "out.md"
    os.mkfifo(fifo)
    _refused(tmp_path, fifo, "is a FIFO, not a regular file")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_symlink_to_a_fifo_is_refused(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    link = tmp_path / "out.md"
    link.symlink_to(tmp_path / "pipe")
    _refused(tmp_path, link, "is a FIFO, not a regular file")


def test_a_directory_is_refused(tmp_path):
    (tmp_path / "figures").mkdir()
    error = _refused(tmp_path, tmp_path / "figures", "is a directory, not a regular file")
    assert error.errno == errno.EISDIR


def test_a_symlink_loop_is_refused(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    error = _refused(tmp_path, tmp_path / "a", "")
    assert error.errno == errno.ELOOP


def test_a_folder_on_the_way_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    _refused(tmp_path, tmp_path / "afile" / "deeper" / "out.md", "afile is a file")


def test_a_device_is_refused_like_a_fifo(tmp_path, monkeypatch):
    # A temporary file that os.stat reports as a character device: the check reads the kind
    # from the stat, so this is what /dev/full or /dev/null would meet, without touching them.
    target = tmp_path / "out.md"
    target.write_text("x", encoding="utf-8")
    original = os.stat
    device = os.stat_result((stat.S_IFCHR | 0o666, *tuple(original(target))[1:]))
    monkeypatch.setattr(
        atomicwrite.os,
        "stat",
        lambda path, *a, **k: device if Path(path) == target else original(path, *a, **k),
    )
    with pytest.raises(OSError, match="is a character device, not a regular file"):
        checkTarget(target)


def test_a_read_only_file_is_refused_or_as_root_written_keeping_its_mode(tmp_path):
    target = tmp_path / "locked.md"
    target.write_text("old\n", encoding="utf-8")
    target.chmod(0o444)
    if os.geteuid() == 0:  # root may write anything; what it must not do is change the mode
        writeAtomically([(target, _text("new\n"))])
        assert target.read_text(encoding="utf-8") == "new\n"
        assert _mode(target) == 0o444
    else:
        _refused(tmp_path, target, "is read-only")
        assert target.read_text(encoding="utf-8") == "old\n"


def test_a_failed_write_leaves_every_target_and_folder_as_it_was(tmp_path):
    first = tmp_path / "first.md"
    first.write_text("first\n", encoding="utf-8")
    nested = tmp_path / "new" / "deeper" / "second.md"

    def fails(temp: Path) -> None:
        temp.write_text("half", encoding="utf-8")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as raised:
        writeAtomically([(first, _text("changed\n")), (nested, fails)])
    assert raised.value.errno == errno.ENOSPC
    assert raised.value.filename == str(nested)
    assert first.read_text(encoding="utf-8") == "first\n"
    assert _entries(tmp_path) == ["first.md"]  # no temporary, no folder of ours


def test_a_target_that_turns_into_a_fifo_while_writing_is_not_replaced(tmp_path):
    target = tmp_path / "out.md"
    target.write_text("old\n", encoding="utf-8")

    def swap(temp: Path) -> None:
        temp.write_text("new\n", encoding="utf-8")
        target.unlink()
        os.mkfifo(target)

    with pytest.raises(OSError, match="FIFO"):
        writeAtomically([(target, swap)])
    assert stat.S_ISFIFO(os.lstat(target).st_mode)
    assert _entries(tmp_path) == ["out.md"]


def test_the_write_gets_a_temporary_beside_the_real_file_with_its_suffix(tmp_path):
    seen = []
    writeAtomically([(tmp_path / "plot.png", lambda temp: seen.append(temp) or temp.touch())])
    [temp] = seen
    assert temp.parent == tmp_path and temp.suffix == ".png" and temp.name.startswith(".plot")
    assert _entries(tmp_path) == ["plot.png"]
