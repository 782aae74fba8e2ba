"""``.ci/run`` stops at the first failing command: nothing in it may hide a failure."""

from __future__ import annotations

from pathlib import Path

CI_RUN = Path(__file__).resolve().parents[1] / ".ci" / "run"


def test_no_command_of_ci_run_is_in_an_and_list():
    """Under ``set -e`` a failure inside ``a && b`` does not stop the script (bash's manual,
    "The Set Builtin"): ``ruff check . && ruff format --check .`` once let a lint error pass."""
    text = CI_RUN.read_text(encoding="utf-8")
    assert "set -euo pipefail" in text
    offending = [
        f"line {number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), 1)
        if "&&" in line.split("#", 1)[0]
    ]
    assert offending == []
