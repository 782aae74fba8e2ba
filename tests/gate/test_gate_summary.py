"""The gate's positive control and its summary, end to end on a small repository of its own:
a bench that knows the gate's groups, with a control pair the head slows only when the gate
names the head's own tree."""

import os
import subprocess
import sys
from pathlib import Path

from fakes import worktrees

CONFTEST = """
def pytest_addoption(parser):
    parser.addoption("--bench-quick", action="store_true")
    parser.addoption("--bench-gate-groups", action="store_true")
"""

BENCH = """
import time


def test_fake(benchmark):
    benchmark.extra_info.update(pair="fake-1", variant="slow", scale=1, reference="slow")
    benchmark.pedantic(time.sleep, args=(0.01,), rounds=3, iterations=1)


def test_fake_fast(benchmark):
    benchmark.extra_info.update(pair="fake-1", variant="fast", scale=1, reference="slow")
    benchmark.pedantic(time.sleep, args=(0.005,), rounds=3, iterations=1)
"""

# The control as bench/test_gate_control.py has it: slowed 10% when the gate names this tree.
# SLOWED_SIDE "head" is the honest plumbing; "base" stands for a gate that swapped its sides.
CONTROL = """
import os
import time
from pathlib import Path

import pytest

TREE = Path(__file__).resolve().parent.parent
SLOWED_SIDE = "{side}"


def factor():
    named = os.environ.get("LECTURE31_GATE_CONTROL")
    isHead = named is not None and Path(named).resolve() == TREE
    return 1.10 if isHead == (SLOWED_SIDE == "head") else 1.0


@pytest.mark.parametrize("variant", ["plain", "slowed"])
def test_gate_control(benchmark, variant):
    seconds = 0.02 * (factor() if variant == "slowed" else 1.0)
    benchmark.extra_info.update(pair="gate-control", variant=variant, scale=1, reference="plain")
    benchmark.pedantic(time.sleep, args=(seconds,), rounds=3, iterations=1)
"""


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def makeRepo(root, side):
    (root / "bench").mkdir(parents=True)
    (root / "lecture31").mkdir()
    (root / "lecture31" / "__init__.py").write_text("")
    (root / "bench" / "conftest.py").write_text(CONFTEST)
    (root / "bench" / "test_fake.py").write_text(BENCH)
    (root / "bench" / "test_gate_control.py").write_text(CONTROL.format(side=side))
    git(root.parent, "init", "-q", "-b", "main", str(root))
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "base")
    return root


def gate(repo, *args, environment=()):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "lecture31.gate",
            "--base",
            "main",
            "--trials",
            "4",
            "-k",
            "",
            *args,
        ],
        cwd=repo,
        env={
            **os.environ,
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            **dict(environment),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_control_is_caught_and_the_summary_is_written_and_appended(tmp_path):
    repo = makeRepo(tmp_path / "repo", "head")
    summary = tmp_path / "summary.md"
    step = tmp_path / "step.md"
    step.write_text("earlier step\n")
    done = gate(repo, "--markdown", str(summary), environment={"GITHUB_STEP_SUMMARY": str(step)})
    assert done.returncode == 0, done.stderr
    assert "positive control: caught" in done.stderr
    text = summary.read_text()
    assert text.startswith("## lecture31 gate: nothing regressed")
    assert "| group | measure | base | head | change | interval | verdict | resolves |" in text
    assert "| other | fake-1 fast seconds |" in text and "cores, " in text
    assert "Positive control: caught" in text
    assert step.read_text() == "earlier step\n" + text  # appended, not replaced
    assert len(worktrees(repo)) == 1


def test_a_gate_that_swapped_its_sides_is_blind_and_says_so(tmp_path):
    repo = makeRepo(tmp_path / "repo", "base")
    done = gate(repo)
    assert done.returncode == 4, done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("python -m lecture31.gate:")]
    assert "blind: the positive control was not caught" in line
    assert "Traceback" not in done.stderr
    assert len(worktrees(repo)) == 1


def test_a_summary_that_cannot_be_written_is_refused_before_the_first_trial(tmp_path):
    repo = makeRepo(tmp_path / "repo", "head")
    done = gate(repo, "--markdown", str(tmp_path))  # a directory
    assert done.returncode == 2, done.stderr
    assert f"--markdown {tmp_path}: is a directory, not a regular file" in done.stderr
    assert "trial 1" not in done.stderr and "Traceback" not in done.stderr
