"""The command line: ``python -m lecture31 [exercise] [--seed N]``."""

import subprocess
import sys

import pytest

from lecture31 import __main__ as cli


def test_help_lists_every_exercise(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in ("tiered", "fanout", "breaker", "pipeline", "all", "--seed"):
        assert name in out


def test_unknown_exercise_is_a_usage_error_with_exit_status_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["quantum"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'quantum'" in capsys.readouterr().err


def test_non_integer_seed_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["tiered", "--seed", "abc"])
    assert exit_info.value.code == 2
    assert "--seed" in capsys.readouterr().err


def test_module_runs_as_a_program():
    done = subprocess.run(
        [sys.executable, "-m", "lecture31", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert "usage: python -m lecture31" in done.stdout
