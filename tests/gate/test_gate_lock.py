"""One gate at a time in a repository: a second one refuses at once, naming the first's pid,
and the lock goes with the first gate."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

from fakes import processesUnder, worktrees
from gitrepos import ROOT, cleanEnvironment, fakeRepo, runFakeGate


def test_a_second_gate_in_the_same_repository_refuses_naming_the_first(tmp_path):
    repo = fakeRepo(tmp_path)
    (repo / "bench" / "test_fake.py").write_text(
        (repo / "bench" / "test_fake.py").read_text().replace("(0.02,)", "(2.0,)")
    )
    temp = tmp_path / "temp"
    temp.mkdir()
    first = subprocess.Popen(
        [sys.executable, "-m", "lecture31.gate", "--base", "main", "--trials", "2", "-k", ""],
        cwd=repo,
        env=cleanEnvironment(PYTHONPATH=str(ROOT), TMPDIR=str(temp)),
        stderr=subprocess.PIPE,
        text=True,
    )
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(first.stderr), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not any("trial 1: " in line for line in said) and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.monotonic()
        second = runFakeGate(repo, "--base", "main", "--trials", "2", "-k", "", timeout=60)
        assert time.monotonic() - started < 15
        assert second.returncode == 2, second.stderr
        [line] = second.stderr.splitlines()
        assert f"another gate (pid {first.pid}) is running in this repository" in line
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        first.stderr.close()
    assert first.returncode == 143, "".join(said)
    # The lock went with the first gate: a third one gets past it (to its own bad -k).
    third = runFakeGate(repo, "--base", "main", "--trials", "2", "-k", "nothing_is_this")
    assert third.returncode == 2 and "selects no benchmark" in third.stderr, third.stderr
    assert len(worktrees(repo)) == 1 and processesUnder(temp) == []
