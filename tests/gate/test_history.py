"""``--history A..B``: the step test on known numbers (exact), and end to end on a toy
repository made here (real git, real bench runs): the step marked, a PNG, a table, the JSON."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import toyHistory, worktrees

from lecture31.gate.changepoint import changePoints, levels

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    **os.environ,
    "PYTHONPATH": str(ROOT),
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",  # the toy bench needs pytest-benchmark alone
    "PYTEST_PLUGINS": "pytest_benchmark.plugin",
}

# Four rounds of six commits; a 1% wobble per run; commit 3 on is 10% slower; round 2 ran on a
# slow minute (everything 5% slower), which must move no level and mark no step.
WOBBLE = [
    [1.00, 1.01, 0.99, 1.00, 1.01, 0.99],
    [1.01, 0.99, 1.00, 0.99, 1.00, 1.01],
    [0.99, 1.00, 1.01, 1.01, 0.99, 1.00],
    [1.00, 1.00, 1.00, 1.00, 1.00, 1.00],
]


def values(steps: dict[int, float]) -> list[list[float]]:
    rows = []
    for number, row in enumerate(WOBBLE):
        factor, out = (1.05 if number == 1 else 1.0), []
        for commit, wobble in enumerate(row):
            level = 1.0
            for at, ratio in steps.items():
                level *= ratio if commit >= at else 1.0
            out.append(0.2 * factor * wobble * level)
        rows.append(out)
    return rows


def test_a_ten_percent_step_is_marked_at_its_commit():
    [step] = changePoints(values({3: 1.10}), alpha=0.05, tolerance=0.02)
    assert step.index == 3 and step.ratio == pytest.approx(1.10, abs=0.01) and step.p < 0.01


def test_an_unchanged_stretch_has_no_step_despite_a_slow_round():
    assert changePoints(values({}), alpha=0.05, tolerance=0.02) == []


def test_two_steps_are_both_marked():
    found = changePoints(values({2: 1.10, 4: 1.15}), alpha=0.05, tolerance=0.02)
    assert [s.index for s in found] == [2, 4]
    assert [round(s.ratio, 2) for s in found] == [1.10, 1.15]


def test_a_real_step_smaller_than_the_tolerance_is_not_marked():
    assert changePoints(values({3: 1.015}), alpha=0.05, tolerance=0.02) == []


def test_levels_take_the_slow_round_out():
    found = levels(values({}))
    assert all(level.value == pytest.approx(0.2 * 1.05**0.25, rel=0.01) for level in found)
    assert all(level.low < level.value < level.high for level in found)


def test_history_marks_the_step_and_writes_a_png_a_table_and_json(tmp_path):
    ids = toyHistory(tmp_path / "repo", [0.005, 0.005, 0.005, 0.010, 0.010])
    out, record = tmp_path / "out", tmp_path / "history.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lecture31.gate",
            "--history",
            f"{ids[0][:12]}..main",
            "-k",
            "",
            "--rounds",
            "3",
            "--tolerance",
            "0.1",
            "--out",
            str(out),
            "--json",
            str(record),
        ],
        cwd=tmp_path / "repo",
        env=ENV,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr
    steps = [line for line in done.stdout.splitlines() if line.startswith("history: step")]
    assert steps and all(f"at {ids[3][:12]} cost 10 ms (3)" in line for line in steps), done.stdout
    assert any("fake-1 fast seconds" in line for line in steps)
    assert not any("fake-1 slow seconds" in line for line in steps)
    assert (out / "history.png").read_bytes().startswith(b"\x89PNG")
    table = (out / "history.md").read_text()
    assert f"| {ids[3][:12]} | cost 10 ms (3) |" in table and "step +" in table
    kept = json.loads(record.read_text())
    assert [c["commit"] for c in kept["commits"]] == ids and len(kept["runs"]) == 15
    assert len(worktrees(tmp_path / "repo")) == 1


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--history", "main"], "wants a range A..B"),
        (["--history", "main~1..main", "--rounds", "2"], "--rounds must be between 3 and 50"),
        (["--history", "nope..main"], "unknown ref 'nope'"),
    ],
)
def test_bad_history_input_is_one_line_and_exit_2(tmp_path, args, words):
    toyHistory(tmp_path / "repo", [0.005, 0.005])
    done = subprocess.run(
        [sys.executable, "-m", "lecture31.gate", *args],
        cwd=tmp_path / "repo",
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr
