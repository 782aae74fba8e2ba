"""The committed hedging results: the page is what the rows say, the rows what the code gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lecture31.fanout.findings import findingsMarkdown
from lecture31.fanout.hedging import DEFAULT_FAN_OUTS
from lecture31.fanout.study import ROW_FIELDS, runPoint

RESULTS = Path(__file__).resolve().parents[2] / "results"
SEED = 1  # the seed results/HEDGING.md names


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return json.loads((RESULTS / "hedging.json").read_text(encoding="utf-8"))["rows"]


def test_the_findings_page_is_what_the_committed_rows_give(rows):
    page = (RESULTS / "HEDGING.md").read_text(encoding="utf-8")
    assert page == findingsMarkdown(rows), (
        "results/HEDGING.md is stale: rerun the command at its top, then"
        " python -m lecture31.report.include"
    )


@pytest.mark.parametrize(
    "point", [("hiccup", "budgeted", 0.2), ("homework", "none", 0.5), ("correlated", "tied", 0.9)]
)
def test_the_committed_rows_are_what_the_code_gives(rows, point):
    """A change to a rule or a model that moves the numbers fails here until the results are
    rerun (virtual time: the same on any machine, to libm's last bits)."""
    committed = next(r for r in rows if (r["model"], r["policy"], r["load"]) == point)
    assert committed["fanOuts"] == DEFAULT_FAN_OUTS
    fresh = runPoint(point, DEFAULT_FAN_OUTS, SEED)
    for field in ROW_FIELDS:
        expected = committed[field]
        if isinstance(expected, float):
            expected = pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert fresh[field] == expected, field


def test_the_committed_run_meets_the_studys_targets(rows):
    at = {(r["model"], r["policy"], r["load"]): r for r in rows}
    budgeted = [r for r in rows if r["policy"] == "budgeted"]
    assert max(r["extraRequests"] for r in budgeted) <= 0.05
    none, hedged = at["hiccup", "none", 0.2], at["hiccup", "budgeted", 0.2]
    assert none["p999"] >= 10 * hedged["p999"]
    assert hedged["p50"] <= 1.05 * none["p50"]
    for r in budgeted:
        baseline = at[r["model"], "none", r["load"]]
        assert r["p50"] <= 1.10 * baseline["p50"], r
        assert r["p99"] <= 1.10 * baseline["p99"], r
