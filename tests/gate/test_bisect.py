"""``--bisect GOOD BAD`` end to end on toy repositories made here (real git, real bench runs):
the commit named on the last line, a slowdown in two steps, skipped commits, nothing to find,
and nothing left behind, also after SIGTERM."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import processesUnder, sigintNotIgnoredAcrossExec, toyHistory, worktrees

from lecture31.gate.commits import compareCommits

ROOT = Path(__file__).resolve().parents[2]
# The toy bench needs pytest-benchmark alone: a run starts in 0.6 s instead of 1.5 s.
ENV = {
    **os.environ,
    "PYTHONPATH": str(ROOT),
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    "PYTEST_PLUGINS": "pytest_benchmark.plugin",
}


def gate(repo, *args, timeout=110):
    return subprocess.run(
        [sys.executable, "-m", "lecture31.gate", *args],
        cwd=repo,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def bisect(repo, good, bad, *args, timeout=110):
    return gate(
        repo,
        *("--bisect", good, bad, "-k", "", "--tolerance", "0.1", "--trials", "5", *args),
        timeout=timeout,
    )


def test_bisect_names_the_commit_of_a_single_step_on_the_last_line(tmp_path):
    ids = toyHistory(tmp_path / "repo", [0.005, 0.005, 0.005, 0.010, 0.010, 0.010])
    out = tmp_path / "bisect.json"
    done = bisect(tmp_path / "repo", ids[0], ids[-1], "--measure", "fast seconds", "--json", out)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith(f"bisect: first slower commit {ids[3]} cost 10 ms (3)"), done.stdout
    assert "fake-1 fast seconds +" in last and "interval" in last and "against its parent" in last
    assert "step 2: " in done.stdout  # each step of the search is printed with its figures
    record = json.loads(out.read_text())
    assert record["found"] == [ids[3]] and record["measure"] == "fake-1 fast seconds"
    assert len(worktrees(tmp_path / "repo")) == 1


@pytest.mark.timeout(240)  # 8 comparisons of 3-5 trials: ~50 s alone, twice that on a busy host
def test_a_slowdown_in_two_steps_is_said_to_be_two_steps(tmp_path):
    ids = toyHistory(tmp_path / "repo", [0.005, 0.0075, 0.0075, 0.015, 0.015])
    done = bisect(tmp_path / "repo", ids[0], ids[-1], "--measure", "fast seconds", timeout=230)
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert "came in 2 steps" in last, done.stdout
    assert last.index(ids[1][:12]) < last.index(ids[3][:12]), last
    assert len(worktrees(tmp_path / "repo")) == 1


def test_a_commit_whose_bench_fails_is_skipped_and_said(tmp_path):
    ids = toyHistory(tmp_path / "repo", [0.005, 0.005, None, 0.005, 0.010, 0.010])
    done = bisect(tmp_path / "repo", ids[0], ids[-1], "--measure", "fast seconds")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{ids[2][:12]} (commit 2 of 5) against {ids[0][:12]}: skipped" in done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith(f"bisect: first slower commit {ids[4]}")


def test_nothing_slower_between_good_and_bad_exits_1_naming_no_commit(tmp_path):
    ids = toyHistory(tmp_path / "repo", [0.005, 0.005, 0.005])
    done = bisect(tmp_path / "repo", ids[0], ids[-1])
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no commit to name" in done.stdout.strip().splitlines()[-1]
    assert len(worktrees(tmp_path / "repo")) == 1


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--bisect", "main", "main~2"], "is not an ancestor"),
        (["--bisect", "main~1", "no-such-ref"], "unknown ref 'no-such-ref'"),
        (["--bisect", "main~2", "main", "--head", "main"], "--head goes with --base"),
        (["--bisect", "main~2", "main", "--measure", "nothing-like-it"], "matches no measure"),
        (["--base", "main", "--history", "main~2..main"], "not allowed with"),
        (["--base", "main", "--measure", "fast"], "--measure goes with --bisect"),
        (["--bisect", "main~2", "main", "--rounds", "3"], "--rounds and --out go with --history"),
    ],
)
def test_bad_bisect_input_is_one_line_and_exit_2(tmp_path, args, words):
    toyHistory(tmp_path / "repo", [0.005, 0.005, 0.010])
    done = gate(tmp_path / "repo", *args, "-k", "", "--trials", "2")
    assert done.returncode == 2, done.stderr
    assert words in done.stderr and "Traceback" not in done.stderr
    assert len(worktrees(tmp_path / "repo")) == 1


def test_compare_commits_is_the_gate_on_two_commits(tmp_path):
    ids = toyHistory(tmp_path / "repo", [0.005, 0.010])
    [finding] = compareCommits(
        tmp_path / "repo",
        ids[0],
        ids[1],
        selection="",
        trials=2,
        tolerance=0.1,
        measure="fast seconds",
        log=lambda text: None,
    )
    assert finding.measure.name == "fake-1 fast seconds" and 1.7 < finding.ratio < 2.3
    assert len(worktrees(tmp_path / "repo")) == 1


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_search_removes_every_worktree_and_bench_process(tmp_path, sig, status):
    # Slow rounds (0.2-0.4 s): the bench is surely running when the poll below looks for it.
    ids = toyHistory(tmp_path / "repo", [0.2, 0.2, 0.4])
    temp = tmp_path / "temp"
    temp.mkdir()
    with sigintNotIgnoredAcrossExec():  # as from a terminal, even when run as a background job
        child = subprocess.Popen(
            [sys.executable, "-m", "lecture31.gate", "--bisect", ids[0], ids[-1], "-k", ""],
            cwd=tmp_path / "repo",
            env={**ENV, "TMPDIR": str(temp)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:
        deadline = time.monotonic() + 60
        while not processesUnder(temp, running="pytest") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processesUnder(temp, running="pytest"), "the bench never started"
        child.send_signal(sig)
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=30)
    assert child.returncode == status, stderr
    assert "worktrees and bench processes removed" in stderr and "Traceback" not in stderr
    assert len(worktrees(tmp_path / "repo")) == 1
    assert processesUnder(temp) == []
