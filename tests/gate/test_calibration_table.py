"""The calibration figures the docs show are today's rule applied to the committed sessions:
``bench/calibration/TABLE.md`` is what ``bench/calibrate-gate table`` writes from them, and
docs/ci-gate.md includes it (a stale copy fails tests/test_docs.py)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import shutil

import pytest
from gitrepos import ROOT


def _calibrateGate():
    path = ROOT / "bench" / "calibrate-gate"
    loader = importlib.machinery.SourceFileLoader("calibrate_gate", str(path))
    spec = importlib.util.spec_from_loader("calibrate_gate", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_the_committed_table_is_todays_rule_over_the_committed_sessions():
    tool = _calibrateGate()
    assert tool.TABLE.read_text(encoding="utf-8") == tool.calibrationTable(), (
        "run `bench/calibrate-gate table` (the rule, a group or a session changed)"
    )


def test_every_committed_session_says_what_changed_in_it():
    tool = _calibrateGate()
    names = {p.name.removesuffix(".json.gz") for p in tool.CALIBRATION.glob("*.json.gz")}
    assert names == set(tool.SESSIONS)


def test_a_session_nobody_described_is_refused_by_name(tmp_path):
    tool = _calibrateGate()
    shutil.copy(tool.CALIBRATION / "2026-12-07-ci1.json.gz", tmp_path / "mystery.json.gz")
    with pytest.raises(SystemExit, match="say what changed in mystery"):
        tool.calibrationTable(tmp_path)


def test_the_gate_page_includes_the_table():
    page = (ROOT / "docs" / "ci-gate.md").read_text(encoding="utf-8")
    assert "<!-- include: bench/calibration/TABLE.md -->" in page
