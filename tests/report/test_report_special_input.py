"""The report's inputs must be regular files: a FIFO (which would block the read forever), a
directory or a symlink to either is refused in one line, exit 2, without being read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _fifo(tmp_path: Path) -> tuple[Path, str]:
    os.mkfifo(tmp_path / "r.json")
    return tmp_path / "r.json", "is a FIFO"


def _folder(tmp_path: Path) -> tuple[Path, str]:
    (tmp_path / "r.json").mkdir()
    return tmp_path / "r.json", "is a directory"


def _linkToFifo(tmp_path: Path) -> tuple[Path, str]:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "r.json").symlink_to(tmp_path / "fifo")
    return tmp_path / "r.json", "is a FIFO"


MAKERS = {"a FIFO": _fifo, "a directory": _folder, "a symlink to a FIFO": _linkToFifo}


def _report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lecture31.report", *args],
        capture_output=True,
        text=True,
        timeout=30,  # a FIFO read would block until then
    )


@pytest.mark.parametrize("case", sorted(MAKERS))
def test_a_run_that_is_not_a_regular_file_is_refused_in_one_line(tmp_path, case):
    path, words = MAKERS[case](tmp_path)
    done = _report(str(path), "--output", "-")
    assert done.returncode == 2, done.stderr
    [said] = done.stderr.splitlines()
    assert f"{path} {words}, not a regular file" in said


def test_a_baseline_that_is_a_fifo_is_refused_in_one_line(tmp_path):
    path, _ = _fifo(tmp_path)
    run = FIXTURES / "run_small.json"
    done = _report(str(run), "--baseline", str(path), "--check")
    assert done.returncode == 2, done.stderr
    [said] = done.stderr.splitlines()
    assert f"{path} is a FIFO, not a regular file" in said
