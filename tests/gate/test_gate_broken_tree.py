"""A tree that cannot import is a side whose bench failed (exit 3, one line naming the side and
the file), never a regression: the gate imports none of the code it measures."""

from __future__ import annotations

import json
import subprocess
import sys

from fakes import worktrees
from gitrepos import git, runGate

BROKEN = "def broken(:\n"


def appendBroken(path):
    text = path.read_text()
    path.write_text(text + BROKEN)
    return len(text.splitlines()) + 1  # the broken line's number


def test_importing_the_package_or_the_gate_imports_no_exercise():
    code = (
        "import json, sys, lecture31, lecture31.gate.cli, lecture31.gate.trials\n"
        "print(json.dumps([m.split('.')[1] for m in sys.modules if m.startswith('lecture31.')]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout))
    assert loaded.isdisjoint({"tiered", "fanout", "breaker", "pipeline", "tiers", "cluster"})


def test_a_syntax_error_in_the_working_tree_is_exit_3_naming_the_head_and_the_file(realRepo):
    line = appendBroken(realRepo / "lecture31" / "pipeline" / "stages.py")
    done = runGate(realRepo, "--base", "HEAD", "-k", "breaker", "--trials", "2")
    assert done.returncode == 3, done.stderr
    [said] = done.stderr.splitlines()
    assert "the head's lecture31" in said and "cannot import" in said
    assert f"lecture31/pipeline/stages.py:{line}: SyntaxError" in said
    assert len(worktrees(realRepo)) == 1


def test_a_base_that_cannot_import_is_exit_3_naming_the_base(realRepo):
    stages = realRepo / "lecture31" / "pipeline" / "stages.py"
    good = stages.read_text()
    line = appendBroken(stages)
    git(realRepo, "commit", "-qam", "broken")
    stages.write_text(good)
    done = runGate(realRepo, "--base", "HEAD", "-k", "breaker", "--trials", "2")
    assert done.returncode == 3, done.stderr
    [said] = done.stderr.splitlines()
    assert "the base's lecture31" in said and f"stages.py:{line}: SyntaxError" in said
    assert len(worktrees(realRepo)) == 1


def test_a_gate_module_that_cannot_import_is_one_line_and_exit_3(realRepo):
    line = appendBroken(realRepo / "lecture31" / "report" / "parse.py")
    done = runGate(realRepo, "--base", "HEAD", "-k", "breaker", "--trials", "2")
    assert done.returncode == 3, done.stderr
    [said] = done.stderr.splitlines()
    assert "the gate's own modules cannot import" in said
    assert f"lecture31/report/parse.py:{line}: SyntaxError" in said
    assert len(worktrees(realRepo)) == 1
