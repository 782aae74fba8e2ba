"""A signal while the gate makes its worktree (``git worktree add``) is finished or undone:
no worktree is left, none locked, nothing in the temporary folder, nothing running."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from fakes import processesUnder, worktrees
from gitrepos import ROOT, cleanEnvironment, fakeRepo

TRIES = 24
PADDING_FILES = 1000  # so that a checkout takes a while (0.07-0.3 s here): a window to hit

# Stands in for git. For `git worktree add` it starts the real add, waits the try's delay (read
# from a file) and sends SIGTERM to its parent, the gate, while the add still runs (or, for the
# longest delays, just after it ended but before the gate's call returned): every try lands in
# the gate's add call, whatever the host's load. It logs when the add starts, ends, and when it
# sends.
WRAPPER = """#!/bin/sh
case "$3 $4" in
"worktree add")
    echo "start $(date +%s.%N)" >> "{log}"
    ( "{git}" "$@"; status=$?; echo "end $(date +%s.%N)" >> "{log}"; exit $status ) &
    add=$!
    sleep "$(cat "{delay}")"
    echo "sent $(date +%s.%N)" >> "{log}"
    kill -TERM $PPID
    wait $add
    exit $?;;
esac
exec "{git}" "$@"
"""


def _times(log: Path) -> dict[str, float]:
    return {word: float(t) for word, t in (line.split() for line in log.read_text().splitlines())}


def test_sigterm_during_worktree_creation_leaves_no_worktree_and_none_locked(tmp_path):
    repo = fakeRepo(tmp_path, files=PADDING_FILES)
    temp, bin, log, delay = (tmp_path / n for n in ("temp", "bin", "adds.log", "delay"))
    temp.mkdir()
    bin.mkdir()
    real = subprocess.run(["which", "git"], capture_output=True, text=True, check=True)
    (bin / "git").write_text(WRAPPER.format(log=log, git=real.stdout.strip(), delay=delay))
    (bin / "git").chmod(0o755)
    environment = cleanEnvironment(
        PYTHONPATH=str(ROOT), TMPDIR=str(temp), PATH=f"{bin}{os.pathsep}{os.environ['PATH']}"
    )
    during = 0
    for index in range(TRIES):
        # From at once to 0.4 s in, most of them early (the add may take as little as 0.07 s).
        delay.write_text(f"{0.4 * (index / (TRIES - 1)) ** 2:.3f}")
        log.write_text("")
        said = subprocess.run(
            [sys.executable, "-m", "lecture31.gate", "--base", "main", "--trials", "2", "-k", ""],
            cwd=repo,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
        times = _times(log)
        during += times["start"] <= times["sent"] <= times["end"]
        where = (index, times, said.stderr)
        assert said.returncode == 143, where
        assert "Traceback" not in said.stderr, where
        assert len(worktrees(repo)) == 1, (where, worktrees(repo))
        records = repo / ".git" / "worktrees"  # a locked worktree would keep its record here
        assert not records.exists() or list(records.iterdir()) == [], where
        assert list(temp.iterdir()) == [], (where, [str(p) for p in temp.rglob("*")][:8])
        # Once in ~200 tries the side's import probe (`checkSide`) was seen alive just after the
        # gate's exit, gone a moment later: a grace of seconds, not an orphan.
        deadline = time.monotonic() + 5
        while (left := processesUnder(temp)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert left == [], (where, [(p.cmdline(), p.ppid(), p.status()) for p in left])
    # The longest delays may come after a quick add; the first ones cannot.
    assert during >= 3, f"only {during} of {TRIES} signals came while the add ran"
