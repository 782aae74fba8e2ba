"""bench/calibrate-gate: its analysis (recorded gate sessions through the gate's own rule) and
its recording, which leaves nothing behind when stopped."""

import gzip
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import processesUnder, worktrees

ROOT = Path(__file__).resolve().parents[2]


def session(path, trials, *, slowdown, seed):
    """A gate JSON of ``trials`` ABBA trials of one pair: the head's fast variant x slowdown."""
    rng = random.Random(seed)
    kept = []
    for trial in range(1, trials + 1):
        drift = math.exp(rng.gauss(0, 0.05))
        for side in ("base", "head"):
            fast = 0.2 * drift * (slowdown if side == "head" else 1.0)
            benchmarks = []
            for variant, seconds in (("naive", 1.1 * drift), ("correct", fast)):
                rounds = [seconds * math.exp(abs(rng.gauss(0, 0.01))) for _ in range(3)]
                benchmarks.append(
                    {
                        "name": f"test[{variant}]",
                        "extra_info": {
                            "pair": "pipeline-48",
                            "variant": variant,
                            "scale": 48,
                            "reference": "naive",
                        },
                        "min": min(rounds),
                        "median": sorted(rounds)[1],
                        "mean": sum(rounds) / 3,
                        "rounds": 3,
                        "data": rounds,
                    }
                )
            kept.append({"trial": trial, "side": side, "benchmarks": benchmarks})
    path.write_text(json.dumps({"trials": kept}))
    return path


def analyze(*paths):
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "calibrate-gate"),
            "analyze",
            *map(str, paths),
            "--trials",
            "10",
            "--tolerance",
            "0.05",
            "--samples",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def test_an_unchanged_session_never_fails_and_a_slowed_one_always_does(tmp_path):
    same = session(tmp_path / "aa.json", 20, slowdown=1.0, seed=1)
    slow = session(tmp_path / "slow.json", 20, slowdown=1.10, seed=2)
    out = analyze(same, slow).split("## ")
    assert "- 10 trials: 0 of 2 disjoint blocks have a regression, 0 of 20 random" in out[1]
    assert "- 10 trials: 2 of 2 disjoint blocks have a regression, 20 of 20 random" in out[2]
    assert "regressed: {'pipeline-48 correct seconds': 2" in out[2]
    # Every trial at once: the slowdown's size, and what the blocks resolve.
    [noise] = [line for line in out[2].splitlines() if "pipeline-48 correct seconds:" in line]
    assert noise.strip().startswith("regressed"), noise
    assert re.search(r"head/base 1\.(09|10|11)\d", noise), noise
    assert re.search(r"other: resolves \d\.\d%", out[1]), out[1]


def test_a_gzipped_session_reads_as_the_plain_one(tmp_path):
    plain = session(tmp_path / "s.json", 12, slowdown=1.05, seed=3)
    zipped = tmp_path / "s.json.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    assert analyze(zipped).split("\n", 1)[1] == analyze(plain).split("\n", 1)[1]


@pytest.mark.parametrize("patch", sorted(p.name for p in (ROOT / "bench" / "patches").iterdir()))
def test_the_calibration_patches_still_apply_to_the_library(patch):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    checked = subprocess.run(
        ["git", "apply", "--check", str(ROOT / "bench" / "patches" / patch)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals and /proc")
def test_sigterm_while_recording_removes_both_worktrees_and_every_bench_process(tmp_path):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    # A clone of this repository (its HEAD, this tree's calibrate-gate): the worktrees it makes
    # belong to the clone, not to the checkout under test.
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=60)
    shutil.copy(ROOT / "bench" / "calibrate-gate", clone / "bench" / "calibrate-gate")
    temp = tmp_path / "temp"
    temp.mkdir()
    child = subprocess.Popen(
        [sys.executable, "bench/calibrate-gate", "record", "t", "--trials", "2", "--dir", "out"],
        cwd=clone,
        env={**os.environ, "TMPDIR": str(temp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not processesUnder(temp, running="pytest") and time.monotonic() < deadline:
            if child.poll() is not None:
                break
            time.sleep(0.1)  # the base's bench has started in the gate's worktree
        assert processesUnder(temp, running="pytest"), f"no bench started: {child.poll()}"
        time.sleep(1.0)
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=30)
    assert child.returncode == 143, stderr
    assert "calibrate-gate: terminated (SIGTERM)" in stderr and "Traceback" not in stderr
    assert len(worktrees(clone)) == 1  # the clone itself: no scratch, no base
    assert processesUnder(temp) == []
    assert not any(temp.iterdir())
