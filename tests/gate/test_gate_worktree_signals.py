"""A signal while the gate makes its worktree (``git worktree add``) is finished or undone:
no worktree is left, none locked, nothing in the temporary folder, nothing running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fakes import processesUnder, worktrees
from gitrepos import ROOT, cleanEnvironment, fakeRepo

TRIES = 24
PADDING_FILES = 300  # so that a checkout takes a while: a window to hit

# Logs when each `git worktree add` starts and ends, so the test knows when to send its signals.
WRAPPER = """#!/bin/sh
case "$3 $4" in "worktree add") echo "start $(date +%s.%N)" >> "{log}";; esac
"{git}" "$@"
status=$?
case "$3 $4" in "worktree add") echo "end $(date +%s.%N)" >> "{log}";; esac
exit $status
"""


def _startGate(repo: Path, temp: Path, bin: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lecture31.gate", "--base", "main", "--trials", "2", "-k", ""],
        cwd=repo,
        env=cleanEnvironment(
            PYTHONPATH=str(ROOT), TMPDIR=str(temp), PATH=f"{bin}{os.pathsep}{os.environ['PATH']}"
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _addWindow(repo: Path, temp: Path, bin: Path, log: Path) -> tuple[float, float]:
    """When the worktree add starts and ends, in seconds after the gate starts (one run)."""
    log.write_text("")
    started = time.time()
    child = _startGate(repo, temp, bin)
    deadline = time.monotonic() + 60
    while log.read_text().count("end") < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGTERM)
    child.communicate(timeout=60)
    times = dict(line.split() for line in log.read_text().splitlines()[:2])
    return float(times["start"]) - started, float(times["end"]) - started


def test_sigterm_during_worktree_creation_leaves_no_worktree_and_none_locked(tmp_path):
    repo = fakeRepo(tmp_path, files=PADDING_FILES)
    temp, bin, log = tmp_path / "temp", tmp_path / "bin", tmp_path / "adds.log"
    temp.mkdir()
    bin.mkdir()
    real = subprocess.run(["which", "git"], capture_output=True, text=True, check=True)
    (bin / "git").write_text(WRAPPER.format(log=log, git=real.stdout.strip()))
    (bin / "git").chmod(0o755)
    start, end = _addWindow(repo, temp, bin, log)
    # The signals spread over the add and a little either side (the 0.30-0.40 s was
    # this window on the machine that found it).
    moments = [start - 0.05 + (end - start + 0.1) * i / (TRIES - 1) for i in range(TRIES)]
    hits = 0
    for moment in moments:
        log.write_text("")
        child = _startGate(repo, temp, bin)
        time.sleep(moment)
        sent = time.time()
        child.send_signal(signal.SIGTERM)
        _, said = child.communicate(timeout=60)
        times = [line.split() for line in log.read_text().splitlines()]
        began = [float(t) for word, t in times if word == "start"][:1]
        ended = [float(t) for word, t in times if word == "end"][:1]
        hits += bool(began and began[0] < sent and (not ended or sent < ended[0]))
        # Killed before its handler was installed (so before any add), or stopped in order.
        assert child.returncode == 143 or (child.returncode == -15 and not began), (moment, said)
        assert "Traceback" not in said, said
        assert len(worktrees(repo)) == 1, (moment, worktrees(repo))
        records = repo / ".git" / "worktrees"  # a locked worktree would keep its record here
        assert not records.exists() or list(records.iterdir()) == [], moment
        assert list(temp.iterdir()) == [], (moment, said, [str(p) for p in temp.rglob("*")][:8])
        assert processesUnder(temp) == [], (moment, said)
    # A sanity check that the window was hit at all (the host's load moves it between runs).
    assert hits >= 3, f"only {hits} of {TRIES} signals came during a worktree add"
