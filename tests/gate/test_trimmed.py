"""The CPU-bound groups' estimator: each side's slowest trials set aside, Yuen's test.

The trials are made as a shared host makes them for a CPU-bound benchmark: a fast cluster
(+-1%) and, in a share of the trials (30%, as in CI's dry run of 2026-12-07 ci1), a slow phase
of 1.3-1.6x. Where more than half of one side's trials are slow the estimator is left
unresolved, honestly: that case is docs/ci-gate.md's, not these tests'."""

from __future__ import annotations

import gzip
import json
import math
import statistics

import numpy as np
import pytest
from gitrepos import ROOT

from lecture31.gate.decide import (
    Measure,
    Verdict,
    estimate,
    judge,
    pairedTrials,
    trimmedEstimate,
)
from lecture31.gate.groups import groupNamed
from lecture31.gate.record import recordedRuns
from lecture31.gate.stages import judgeRuns

CALIBRATION = ROOT / "bench" / "calibration"
SECONDS = Measure("breaker-closed-sync", "seconds", "breaker")
SPEEDUP = Measure("breaker-closed-sync", "speedup", "breaker")


def phased(rng: np.random.Generator, trials: int, slowShare: float, scale: float = 1.0):
    """``trials`` figures of one side: 1 ms +-1%, times 1.3-1.6 for the ``slowShare`` of them
    (at seeded places) that fell in a slow phase."""
    fast = 1e-3 * scale * np.exp(rng.normal(0.0, 0.01, trials))
    slow = np.zeros(trials, dtype=bool)
    slow[rng.choice(trials, round(slowShare * trials), replace=False)] = True
    return list(np.where(slow, fast * rng.uniform(1.3, 1.6, trials), fast))


@pytest.mark.parametrize("seed", range(5))
def test_unchanged_code_in_a_phased_host_holds_where_the_paired_t_cannot_tell(seed):
    rng = np.random.default_rng(seed)
    base, head = phased(rng, 10, 0.3), phased(rng, 10, 0.3)
    [trimmed] = judge([trimmedEstimate(SECONDS, base, head, 0.5)], lambda m: 0.03)
    [paired] = judge([estimate(SECONDS, base, head)], lambda m: 0.03)
    assert trimmed.verdict is Verdict.HELD, str(trimmed)
    assert trimmed.resolution < paired.resolution / 2, (str(trimmed), str(paired))


@pytest.mark.parametrize("seed", range(5))
def test_a_ten_percent_slowdown_in_a_phased_host_is_caught(seed):
    rng = np.random.default_rng(100 + seed)
    base, head = phased(rng, 10, 0.3), phased(rng, 10, 0.3, scale=1.10)
    [finding] = judge([trimmedEstimate(SECONDS, base, head, 0.5)], lambda m: 0.03)
    assert finding.verdict is Verdict.REGRESSED, str(finding)
    assert finding.ratio == pytest.approx(1.10, abs=0.02)


def test_the_slowest_trials_are_set_aside_and_winsorized_into_the_error():
    base = [1.0, 1.0, 1.02, 1.04, 5.0, 9.0]  # two slow ones
    head = [1.0, 1.01, 1.02, 1.03, 1.6, 1.5]
    found = trimmedEstimate(SECONDS, base, head, 0.5)  # three of six kept a side
    logs = sorted(math.log(v) for v in base)
    kept, winsorized = logs[:3], logs[:3] + [logs[2]] * 3
    assert found.base == pytest.approx(math.exp(statistics.fmean(kept)))
    baseSquared = 5 * statistics.variance(winsorized) / (3 * 2)
    headLogs = sorted(math.log(v) for v in head)
    headSquared = 5 * statistics.variance(headLogs[:3] + [headLogs[2]] * 3) / (3 * 2)
    assert found.logError == pytest.approx(math.sqrt(baseSquared + headSquared))
    assert found.logMean == pytest.approx(statistics.fmean(headLogs[:3]) - statistics.fmean(kept))
    assert found.trials == 6
    assert 1 <= found.freedom <= 4  # Welch's, rounded down, at most 3 + 3 - 2


def test_two_trials_keep_both_and_one_is_refused():
    found = trimmedEstimate(SECONDS, [1.0, 1.1], [1.0, 1.2], 0.5)
    assert found.logMean == pytest.approx(
        statistics.fmean([0.0, math.log(1.2)]) - statistics.fmean([0.0, math.log(1.1)])
    )
    with pytest.raises(ValueError, match="at least 2 trials"):
        trimmedEstimate(SECONDS, [1.0], [1.0], 0.5)
    with pytest.raises(ValueError, match="trim must be in"):
        trimmedEstimate(SECONDS, [1.0, 1.0], [1.0, 1.0], 1.0)
    with pytest.raises(ValueError, match="must pair up"):
        trimmedEstimate(SECONDS, [1.0, 1.0, 1.0], [1.0, 1.0], 0.5)


def test_identical_trials_give_an_exact_estimate():
    found = trimmedEstimate(SECONDS, [2.0] * 4, [2.2] * 4, 0.5)
    assert found.logError == 0.0
    [finding] = judge([found], lambda m: 0.03)
    assert finding.verdict is Verdict.REGRESSED


def test_trimmed_groups_judge_seconds_not_speedups():
    rng = np.random.default_rng(7)
    base = [{SECONDS: s, SPEEDUP: 0.2} for s in phased(rng, 6, 0.3)]
    head = [{SECONDS: s, SPEEDUP: 0.2} for s in phased(rng, 6, 0.3)]
    trimmed, _, _ = pairedTrials(base, head, trimSlowest=0.5)
    paired, _, _ = pairedTrials(base, head)
    assert [e.measure for e in trimmed] == [SECONDS]
    assert {e.measure for e in paired} == {SECONDS, SPEEDUP}


def test_a_recorded_ci_run_judges_the_breaker_by_its_trimmed_seconds_not_its_bare_loop():
    with gzip.open(CALIBRATION / "2026-12-07-ci3.json.gz", "rt", encoding="utf-8") as text:
        session = json.load(text)
    runs = recordedRuns(session)
    findings, control = judgeRuns(runs, [groupNamed("breaker")], stat="min", alpha=0.025)
    assert {f.measure.variant for f in findings} == {"breaker"}  # bare: measured, not judged
    assert {f.measure.kind for f in findings} == {"seconds"}
    assert len(findings) == 4  # closed and open, sync and async
    assert control is not None and control.failed  # the 10% control, caught on CI's host
    assert control.ratio == pytest.approx(1.10, abs=0.03)
