"""Real git repositories for the gate tests: a copy of this repository (the working tree as it
is, committed in a fresh repository under tmp_path) for the tests that need the real bench and
package, with a history of its own, so nothing they do touches this checkout, its index or its
worktree list; and the gate run from a tree, as CI runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GIT_IDENTITY = ("-c", "user.name=t", "-c", "user.email=t@t")


def cleanEnvironment(**extra: str) -> dict[str, str]:
    """This process's environment without git's variables (pytest may run from a git hook)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    environment.pop("PYTHONPATH", None)
    return {**environment, **extra}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *GIT_IDENTITY, *args],
        check=True,
        capture_output=True,
        text=True,
        env=cleanEnvironment(),
    ).stdout


def copyOfThisRepository(tmp_path: Path) -> Path:
    """This repository's files (tracked and new, as in the working tree) in a repository of
    their own with one commit on ``main``."""
    listed = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    copy = tmp_path / "repo"
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    git(tmp_path, "init", "-q", "-b", "main", str(copy))
    git(copy, "add", "-A")
    git(copy, "commit", "-qm", "the repository as it is")
    return copy


def runGate(
    repo: Path, *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m lecture31.gate`` from ``repo``: the gate of that tree, as CI runs it."""
    return subprocess.run(
        [sys.executable, "-m", "lecture31.gate", *args],
        cwd=repo,
        env=cleanEnvironment() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


FAKE_CONFTEST = """
def pytest_addoption(parser):
    parser.addoption("--bench-quick", action="store_true")
"""

FAKE_BENCH = """
import time

import lecture31


def test_fast(benchmark):
    benchmark.extra_info.update(pair="fake-1", variant="fast", scale=1, reference="slow")
    benchmark.pedantic(time.sleep, args=(lecture31.FAST_SECONDS,), rounds=3, iterations=1)


def test_slow(benchmark):
    benchmark.extra_info.update(pair="fake-1", variant="slow", scale=1, reference="slow")
    benchmark.pedantic(time.sleep, args=(0.02,), rounds=3, iterations=1)
"""


def fakeRepo(tmp_path: Path, *, files: int = 0) -> Path:
    """A small repository whose bench times one fake pair in about a second (``fast`` sleeps
    ``lecture31.FAST_SECONDS``), committed on ``main``; ``files`` padding files make its
    checkouts slower."""
    root = tmp_path / "fake"
    (root / "bench").mkdir(parents=True)
    (root / "lecture31").mkdir()
    (root / "bench" / "conftest.py").write_text(FAKE_CONFTEST)
    (root / "bench" / "test_fake.py").write_text(FAKE_BENCH)
    (root / "lecture31" / "__init__.py").write_text("FAST_SECONDS = 0.005\n")
    if files:
        (root / "padding").mkdir()
        for index in range(files):
            (root / "padding" / f"{index:05d}.txt").write_text(f"{index}\n" * 50)
    git(tmp_path, "init", "-q", "-b", "main", str(root))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    return root


def runFakeGate(
    repo: Path, *args: str, timeout: float = 120, **extra: str
) -> subprocess.CompletedProcess[str]:
    """The gate of this checkout run in ``repo`` (whose own lecture31 is only the fake)."""
    return runGate(
        repo, *args, timeout=timeout, env=cleanEnvironment(PYTHONPATH=str(ROOT), **extra)
    )
