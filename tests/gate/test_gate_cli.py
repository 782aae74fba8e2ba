"""The gate end to end, on a small git repository of its own: worktrees, trials, exit statuses,
and nothing left behind (worktrees, bench processes), also after Ctrl-C and SIGTERM."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fakes import processesUnder, sigintNotIgnoredAcrossExec, worktrees

CONFTEST = """
def pytest_addoption(parser):
    parser.addoption("--bench-quick", action="store_true")
"""

BENCH = """
import time

import lecture31


def measure(benchmark, variant, seconds):
    benchmark.extra_info.update(pair="fake-1", variant=variant, scale=1, reference="slow")
    benchmark.pedantic(time.sleep, args=(seconds,), rounds=3, iterations=1)


def test_slow(benchmark):
    measure(benchmark, "slow", 0.02)


def test_fast(benchmark):
    measure(benchmark, "fast", lecture31.FAST_SECONDS)
"""


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    """A repository whose bench times a fake pair: ``slow`` sleeps 20 ms, ``fast`` 5 ms."""
    root = tmp_path / "repo"
    (root / "bench").mkdir(parents=True)
    (root / "lecture31").mkdir()
    (root / "bench" / "conftest.py").write_text(CONFTEST)
    (root / "bench" / "test_fake.py").write_text(BENCH)
    (root / "lecture31" / "__init__.py").write_text("FAST_SECONDS = 0.005\n")
    git(tmp_path, "init", "-q", "-b", "main", str(root))
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "base")
    return root


def gate(repo, *args, timeout=240):
    return subprocess.run(
        [sys.executable, "-m", "lecture31.gate", *args],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_an_unchanged_working_tree_holds_and_every_trial_is_written(repo, tmp_path):
    out = tmp_path / "trials.json"
    done = gate(
        repo, "--base", "main", "--trials", "2", "-k", "", "--tolerance", "0.5", "--json", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert "trial 2: base" in done.stderr and "every measure held" in done.stderr
    assert "groups other (2 trials, 50.0%)" in done.stderr  # a bench outside every group
    assert "positive control: not measured" in done.stderr
    record = json.loads(out.read_text())
    assert [(t["trial"], t["side"]) for t in record["trials"]] == [
        (1, "base"),
        (1, "head"),
        (2, "head"),
        (2, "base"),
    ]
    assert {f["measure"] for f in record["findings"]} == {
        "fake-1 slow seconds",
        "fake-1 fast seconds",
        "fake-1 fast speedup",
    }
    assert len(worktrees(repo)) == 1  # the temporary base worktree is gone


def test_a_slower_working_tree_fails_naming_the_pair_and_both_figures(repo):
    (repo / "lecture31" / "__init__.py").write_text("FAST_SECONDS = 0.015\n")  # 3x slower
    done = gate(repo, "--base", "main", "--trials", "4", "-k", "")
    assert done.returncode == 1, done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("REGRESSION") and "seconds" in x]
    assert "fake-1 fast seconds" in line and "base 0.00" in line and "head 0.01" in line
    assert "slower" in line
    assert len(worktrees(repo)) == 1


def test_the_head_may_be_another_commit(repo):
    (repo / "lecture31" / "__init__.py").write_text("FAST_SECONDS = 0.010\n")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "slower")
    (repo / "lecture31" / "__init__.py").write_text("FAST_SECONDS = 0.005\n")  # not measured
    done = gate(repo, "--base", "main~1", "--head", "main", "--trials", "2", "-k", "")
    assert done.returncode == 1, done.stderr
    assert len(worktrees(repo)) == 1


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--base", "no-such-ref"], "unknown ref 'no-such-ref'"),
        (["--base", "main", "--trials", "1"], "--trials must be between 2 and 100"),
        (["--base", "main", "--tolerance", "1.5"], "--tolerance must be in [0, 1)"),
        (["--base", "main", "-k", "nothing_matches"], "selects no benchmark"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(repo, args, words):
    done = gate(repo, *args)
    assert done.returncode == 2, done.stderr
    assert words in done.stderr
    assert "Traceback" not in done.stderr
    assert len(worktrees(repo)) == 1


def test_a_base_without_a_bench_is_bad_input(repo):
    git(repo, "rm", "-rq", "bench")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "no bench")
    git(repo, "checkout", "-q", "main~1", "--", "bench")
    done = gate(repo, "--base", "main", "--trials", "2")
    assert done.returncode == 2 and "has no bench/ folder" in done.stderr, done.stderr


def test_a_working_tree_in_the_middle_of_a_merge_is_bad_input(repo):
    gitDir = repo / ".git"
    (gitDir / "MERGE_HEAD").write_text(
        subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout
    )
    done = gate(repo, "--base", "main", "--trials", "2")
    assert done.returncode == 2 and "in the middle of a merge" in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_a_signal_mid_trial_removes_the_worktree_and_stops_the_bench(repo, tmp_path, sig, status):
    (repo / "bench" / "test_fake.py").write_text(BENCH.replace("0.02)", "30.0)"))
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "a long bench")
    temp = tmp_path / "temp"
    temp.mkdir()
    with sigintNotIgnoredAcrossExec():  # as from a terminal, even when run as a background job
        child = subprocess.Popen(
            [sys.executable, "-m", "lecture31.gate", "--base", "main", "--trials", "2", "-k", ""],
            cwd=repo,
            env={
                **os.environ,
                "TMPDIR": str(temp),
                "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            },
            stderr=subprocess.PIPE,
            text=True,
        )
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(child.stderr), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        # The bench itself, not the short import probe the gate runs in the worktree first.
        while not processesUnder(temp, running="pytest") and time.monotonic() < deadline:
            if child.poll() is not None:  # the gate ended before its bench started: say why
                break
            time.sleep(0.1)  # the base's bench has started in its worktree under TMPDIR
        if not processesUnder(temp, running="pytest"):
            reader.join(timeout=10)
            raise AssertionError(
                f"the bench never started (gate exit {child.poll()}): {''.join(said)}"
            )
        time.sleep(1.0)
        child.send_signal(sig)
        child.wait(timeout=30)
        reader.join(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        child.stderr.close()
    stderr = "".join(said)
    assert child.returncode == status, stderr
    assert "worktrees and bench processes removed" in stderr and "Traceback" not in stderr
    assert len(worktrees(repo)) == 1
    assert processesUnder(temp) == []
    assert not any(temp.iterdir())
