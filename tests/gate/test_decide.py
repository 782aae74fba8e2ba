"""The A/B decision: paired t tests over trials, Benjamini-Hochberg over measures, the four
verdicts and the resolution, ABBA order."""

import math
import random

import pytest

from lecture31.gate.decide import (
    Estimate,
    Measure,
    Verdict,
    benjaminiHochberg,
    compareTrials,
    estimate,
    judge,
    measuresOf,
)
from lecture31.gate.tdist import tCdf, tQuantile
from lecture31.gate.trials import abbaOrder

CORRECT = Measure("pipeline-48", "seconds", "correct")
NAIVE = Measure("pipeline-48", "seconds", "naive")
SPEEDUP = Measure("pipeline-48", "speedup", "correct")


@pytest.mark.parametrize(
    ("p", "df", "expected"),
    [  # published two-sided critical values of Student's t
        (0.975, 1, 12.706205),
        (0.975, 9, 2.262157),
        (0.995, 3, 5.840909),
        (0.95, 30, 1.697261),
        (0.9995, 5, 6.868827),
        (0.975, 1000, 1.962339),
    ],
)
def test_t_quantiles_match_the_tables(p, df, expected):
    assert tQuantile(p, df) == pytest.approx(expected, abs=1e-6)
    assert tCdf(expected, df) == pytest.approx(p, abs=1e-7)  # the tables' 6 decimals


def test_t_is_symmetric_and_rejects_what_is_not_a_probability():
    assert tQuantile(0.5, 4) == 0.0
    assert tQuantile(0.025, 9) == pytest.approx(-tQuantile(0.975, 9))
    with pytest.raises(ValueError, match="p must be a probability in"):
        tQuantile(1.0, 3)


def test_abba_order_alternates_which_side_goes_first():
    assert abbaOrder(3) == [
        (1, "base"),
        (1, "head"),
        (2, "head"),
        (2, "base"),
        (3, "base"),
        (3, "head"),
    ]


def trials(seed, count, slowdown=1.0, noise=0.02):
    """``count`` trials of both sides: seconds with multiplicative noise, the head x slowdown."""
    rng = random.Random(seed)
    base, head = [], []
    for _ in range(count):
        drift = math.exp(rng.gauss(0, 0.05))  # the host's speed this minute: both sides share it
        b = {CORRECT: 0.18 * drift * math.exp(rng.gauss(0, noise)), NAIVE: 1.1 * drift}
        h = {
            CORRECT: 0.18 * slowdown * drift * math.exp(rng.gauss(0, noise)),
            NAIVE: 1.1 * drift,
        }
        for side in (b, h):
            side[SPEEDUP] = side[NAIVE] / side[CORRECT]
        base.append(b)
        head.append(h)
    return base, head


def test_unchanged_code_holds_even_when_the_host_drifts_between_trials():
    for seed in range(20):
        findings, _, _ = compareTrials(*trials(seed, 10), tolerance=0.05)
        assert not any(f.failed for f in findings), seed


def test_a_ten_percent_slowdown_fails_both_its_seconds_and_its_speedup():
    findings, _, _ = compareTrials(*trials(1, 10, slowdown=1.10), tolerance=0.05)
    failed = {f.measure for f in findings if f.failed}
    assert failed == {CORRECT, SPEEDUP}
    [seconds] = [f for f in findings if f.measure == CORRECT]
    assert 1.05 < seconds.low < seconds.ratio < seconds.high
    assert seconds.change == pytest.approx(seconds.ratio - 1)
    assert str(seconds).startswith("regressed  pipeline-48 correct seconds")
    assert "slower" in str(seconds) and "resolves" in str(seconds)


def test_a_slowdown_within_the_tolerance_holds():
    findings, _, _ = compareTrials(*trials(2, 10, slowdown=1.02), tolerance=0.05)
    assert not any(f.failed for f in findings)


def test_the_intervals_are_corrected_for_every_measure_compared():
    base, head = trials(3, 6)
    other = Measure("tiered-10", "seconds", "tiered")
    for trial in (*base, *head):
        trial[other] = 0.1
    findings, _, _ = compareTrials(base, head, tolerance=0.05)
    assert [f.confidence for f in findings] == pytest.approx([1 - 2 * 0.05 / 4] * 4)


def test_benjamini_hochberg_rejects_by_rank_and_counts_the_whole_family():
    # p(1) <= 0.05 * 1/4, p(2) <= 0.05 * 2/4; p(3) = 0.04 > 0.05 * 3/4? no: 0.0375 < 0.04
    assert benjaminiHochberg([0.01, 0.02, 0.04, 0.9], 0.05, 4) == [True, True, False, False]
    # step-up: a later rank that passes takes every smaller p with it
    assert benjaminiHochberg([0.03, 0.035, 0.036], 0.05, 3) == [True, True, True]
    # judged against a larger family (untested measures count as p = 1): stricter
    assert benjaminiHochberg([0.01, 0.02], 0.05, 10) == [False, False]
    with pytest.raises(ValueError, match="family must count every test"):
        benjaminiHochberg([0.1, 0.2], 0.05, 1)


def _estimate(logMean, logError, trials=10, kind="seconds"):
    return Estimate(Measure("p-1", kind, "v"), 1.0, math.exp(logMean), logMean, logError, trials)


@pytest.mark.parametrize(
    ("logMean", "logError", "verdict"),
    [
        (math.log(1.10), 0.005, Verdict.REGRESSED),  # well beyond 2%
        (math.log(0.90), 0.005, Verdict.IMPROVED),  # its worst end still 8% better
        (0.0, 0.002, Verdict.HELD),  # its worst end within 2%
        (0.0, 0.05, Verdict.UNRESOLVED),  # +-20%: cannot tell
        (math.log(1.05), 0.0, Verdict.REGRESSED),  # no spread (a virtual clock): exact
        (math.log(1.01), 0.0, Verdict.HELD),
    ],
)
def test_each_measure_ends_in_one_of_four_verdicts(logMean, logError, verdict):
    [finding] = judge([_estimate(logMean, logError)], lambda m: 0.02)
    assert finding.verdict is verdict
    assert finding.failed is (verdict is Verdict.REGRESSED)


def test_a_speedup_is_worse_when_it_falls():
    [loss] = judge([_estimate(math.log(0.9), 0.005, kind="speedup")], lambda m: 0.02)
    [gain] = judge([_estimate(math.log(1.1), 0.005, kind="speedup")], lambda m: 0.02)
    assert loss.verdict is Verdict.REGRESSED and gain.verdict is Verdict.IMPROVED
    assert loss.change == pytest.approx(1 / 0.9 - 1)


def test_the_resolution_is_the_tolerance_widened_by_the_interval():
    [exact] = judge([_estimate(0.0, 0.0)], lambda m: 0.02)
    assert exact.resolution == pytest.approx(0.02)  # no spread: the tolerance itself
    [spread] = judge([_estimate(0.0, 0.01, trials=10)], lambda m: 0.02)
    assert spread.resolution == pytest.approx(1.02 * math.exp(spread.spread) - 1)
    assert spread.resolution > 0.035  # t(9) at 5% x 1% error: 1.8% on top of the 2%
    # a measure whose true slowdown equals its resolution is flagged (its low end = tolerance)
    shifted = _estimate(math.log(1 + spread.resolution) + 1e-9, 0.01, trials=10)
    [caught] = judge([shifted], lambda m: 0.02)
    assert caught.low == pytest.approx(1.02, rel=1e-6)


def test_estimates_pair_trials_and_refuse_a_single_one():
    found = estimate(CORRECT, [1.0, 2.0], [1.1, 2.2])
    assert found.ratio == pytest.approx(1.1) and found.logError == 0.0 and found.trials == 2
    with pytest.raises(ValueError, match="trials must pair up"):
        estimate(CORRECT, [1.0], [1.0, 2.0])


def test_measures_only_one_side_has_are_listed_not_compared():
    base, head = trials(4, 4)
    streamed = Measure("pipeline-48", "seconds", "streamed")
    for trial in head:
        trial[streamed] = 0.15
    findings, onlyBase, onlyHead = compareTrials(base, head, tolerance=0.05)
    assert onlyBase == [] and onlyHead == [streamed]
    assert streamed not in {f.measure for f in findings}


def test_one_trial_is_not_enough_for_an_interval():
    with pytest.raises(ValueError, match="at least 2 trials"):
        compareTrials(*trials(5, 1), tolerance=0.05)


def test_a_trial_run_yields_each_variants_seconds_and_each_speedup():
    def bench(variant, seconds):
        info = {"pair": "p-1", "variant": variant, "scale": 1, "reference": "slow"}
        return {"fullname": f"t[{variant}]", "extra_info": info, "stats": {"min": seconds}}

    run = {"benchmarks": [bench("slow", 2.0), bench("fast", 0.5)]}
    assert measuresOf(run, "min") == {
        Measure("p-1", "seconds", "slow"): 2.0,
        Measure("p-1", "seconds", "fast"): 0.5,
        Measure("p-1", "speedup", "fast"): 4.0,
    }
