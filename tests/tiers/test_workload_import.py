"""``python -m lecture31 tiers --workload mod:f``: the module's import runs under the call's
checks and --timeout, and --args nested beyond a sane depth is one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import processesUnder

from lecture31._runtime.checks import MAX_NESTING

ROOT = Path(__file__).resolve().parents[2]


def _tiers(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lecture31", "tiers", *args],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_module_that_exits_at_import_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "exits_at_import.py").write_text("raise SystemExit(0)\n\ndef f():\n    pass\n")
    done = _tiers(tmp_path, "--workload", "exits_at_import:f")
    assert done.returncode == 2, done.stderr
    [said] = done.stderr.splitlines()
    assert "'exits_at_import' failed to import (SystemExit: 0)" in said
    assert done.stdout == ""


def test_a_module_whose_import_outlasts_the_timeout_is_the_timeouts_line_and_exit_1(tmp_path):
    (tmp_path / "slow_import.py").write_text("import time\ntime.sleep(60)\n\ndef f():\n    pass\n")
    started = time.monotonic()
    done = _tiers(tmp_path, "--workload", "slow_import:f", "--timeout", "1")
    assert time.monotonic() - started < 20
    assert done.returncode == 1, done.stderr
    [said] = done.stderr.splitlines()
    assert "importing module 'slow_import' took over 1 s" in said and "--timeout" in said
    assert processesUnder(tmp_path) == []


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 5000])
def test_args_nested_too_deep_are_one_line_and_exit_2(tmp_path, depth):
    (tmp_path / "work.py").write_text("def f(*args):\n    return len(args)\n")
    nested = "[" * depth + "]" * depth
    done = _tiers(tmp_path, "--workload", "work:f", "--args", nested)
    assert done.returncode == 2, done.stderr
    [said] = done.stderr.splitlines()
    assert f"--args must be nested at most {MAX_NESTING} levels deep" in said
