"""-k against this repository's real bench (its conftest, its filterwarnings = error): nothing
selected or not a valid expression is bad input (exit 2, one line, in seconds); a bench that
cannot be collected is a side that failed (exit 3)."""

from __future__ import annotations

import time

import pytest
from fakes import worktrees
from gitrepos import runGate


@pytest.mark.parametrize(
    ("selection", "words"),
    [
        ("nothing_is_called_this", "selects no benchmark in the"),
        ("breaker and (", "Wrong expression passed to '-k'"),
    ],
)
def test_a_selection_of_nothing_or_not_valid_is_one_line_and_exit_2(realRepo, selection, words):
    started = time.monotonic()
    done = runGate(realRepo, "--base", "HEAD", "-k", selection, "--trials", "2", timeout=90)
    assert time.monotonic() - started < 60
    assert done.returncode == 2, done.stderr
    [said] = done.stderr.splitlines()
    assert f"-k {selection!r}" in said and words in said
    assert len(worktrees(realRepo)) == 1


def test_a_bench_that_cannot_be_collected_is_exit_3_naming_the_file(realRepo):
    with (realRepo / "bench" / "test_breaker.py").open("a") as bench:
        bench.write("def broken(:\n")
    done = runGate(realRepo, "--base", "HEAD", "-k", "breaker", "--trials", "2", timeout=90)
    assert done.returncode == 3, done.stderr
    [said] = done.stderr.splitlines()
    assert "the head's bench" in said and "bench/test_breaker.py" in said
    assert len(worktrees(realRepo)) == 1
