"""The A/B decision: paired t intervals over trials, Bonferroni over measures, ABBA order."""

import math
import random

import pytest

from lecture31.gate.decide import Finding, Measure, compareTrials, measuresOf
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
    assert "FAIL pipeline-48 correct seconds" in str(seconds) and "slower" in str(seconds)


def test_a_slowdown_within_the_tolerance_holds():
    findings, _, _ = compareTrials(*trials(2, 10, slowdown=1.02), tolerance=0.05)
    assert not any(f.failed for f in findings)


def test_the_confidence_is_corrected_for_the_pairs_compared_or_for_every_measure():
    base, head = trials(3, 6)
    other = Measure("tiered-10", "seconds", "tiered")
    for trial in (*base, *head):
        trial[other] = 0.1
    byPair, _, _ = compareTrials(base, head, tolerance=0.05)
    assert [f.confidence for f in byPair] == pytest.approx([1 - 0.05 / 2] * 4)
    byMeasure, _, _ = compareTrials(base, head, tolerance=0.05, correctFor="measures")
    assert [f.confidence for f in byMeasure] == pytest.approx([1 - 0.05 / 4] * 4)
    with pytest.raises(ValueError, match="correctFor must be one of pairs, measures"):
        compareTrials(base, head, tolerance=0.05, correctFor="tests")


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


def test_a_speedup_fails_on_its_slow_side_only():
    improvement = Finding(SPEEDUP, 5.0, 6.0, 1.2, 1.15, 1.25, 0.99, 0.05)
    loss = Finding(SPEEDUP, 6.0, 5.0, 0.83, 0.80, 0.90, 0.99, 0.05)
    assert not improvement.failed and loss.failed
    assert loss.change == pytest.approx(1 / 0.83 - 1)


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
