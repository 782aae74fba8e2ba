"""lecture31.report.stats: bootstrap speedup intervals, Mann-Whitney U, and the gate's decision."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lecture31.report.stats import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    GateDecision,
    Interval,
    gateDecision,
    requiredTolerance,
    roundRatioInterval,
    speedupInterval,
)

FIXTURE = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "stats_rounds.json").read_text(encoding="utf-8")
)


def _case(expected: dict) -> str:
    mode = "paired" if expected["paired"] else "independent"
    return f"{expected['run']}-{expected['stat']}-{mode}"


# --- speedupInterval against the checked-in fixture -------------------------------------------


def test_fixture_was_made_with_the_defaults():
    assert (FIXTURE["seed"], FIXTURE["resamples"]) == (DEFAULT_SEED, DEFAULT_RESAMPLES)


@pytest.mark.parametrize("expected", FIXTURE["expected"], ids=_case)
def test_interval_matches_the_fixture_exactly(expected):
    rounds = FIXTURE["runs"][expected["run"]]
    interval = speedupInterval(
        rounds["slowRounds"], rounds["fastRounds"], stat=expected["stat"], paired=expected["paired"]
    )
    assert (interval.point, interval.low, interval.high) == pytest.approx(
        (expected["point"], expected["low"], expected["high"]), rel=1e-12
    )
    assert str(interval) == expected["text"]


def test_point_is_the_ratio_of_the_statistics_over_all_rounds():
    interval = speedupInterval([3.0, 1.0, 2.0], [0.5, 0.25, 1.0], stat="median")
    assert interval.point == 2.0 / 0.5
    assert speedupInterval([3.0, 1.0, 2.0], [0.5, 0.25, 1.0], stat="min").point == 1.0 / 0.25
    assert speedupInterval([3.0, 1.0, 2.0], [0.5, 0.25, 1.0], stat="mean").point == pytest.approx(
        2.0 / (1.75 / 3)
    )


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_interval_follows_the_exact_bootstrap_distribution(seed):
    # The median of 3 draws from {1, 2, 3} is 1 or 3 with probability 7/27 each, 2 with 13/27.
    # So the 95% interval is (1, 3) and a 40% one (quantiles 0.3 and 0.7) is just (2, 2),
    # whatever the seed: the draws only have to be uniform and independent.
    slow, fast = [1.0, 2.0, 3.0], [1.0]
    assert speedupInterval(slow, fast, seed=seed) == Interval(2.0, 1.0, 3.0, 0.95)
    assert speedupInterval(slow, fast, seed=seed, confidence=0.4) == Interval(2.0, 2.0, 2.0, 0.4)


def test_same_seed_gives_the_same_interval_and_another_seed_another():
    rounds = FIXTURE["runs"]["pipeline-48 other-host"]
    # By mean: a median's quantiles land on the same few atoms whatever the seed.
    slow, fast = rounds["slowRounds"], rounds["fastRounds"]
    first = speedupInterval(slow, fast, stat="mean", seed=5)
    assert speedupInterval(slow, fast, stat="mean", seed=5) == first
    assert speedupInterval(slow, fast, stat="mean", seed=6) != first


def test_one_round_each_gives_a_point_interval():
    assert speedupInterval([7.08], [8.72]) == Interval(7.08 / 8.72, 7.08 / 8.72, 7.08 / 8.72)


def test_pairing_cancels_a_slowdown_that_hit_both_variants_of_a_round():
    # Every round's slow variant took exactly 6x its fast partner, but the machine's speed
    # wandered from round to round: paired resampling sees a constant 6x; independent does not.
    fast = [0.18, 0.21, 0.19, 0.25, 0.18, 0.20, 0.22]
    slow = [6 * f for f in fast]
    paired = speedupInterval(slow, fast, paired=True)
    independent = speedupInterval(slow, fast)
    assert paired.low == pytest.approx(6.0) and paired.high == pytest.approx(6.0)
    assert independent.high - independent.low > 1.0


def test_a_wider_confidence_gives_a_wider_interval():
    rounds = FIXTURE["runs"]["tiered-10 other-host"]
    narrow = speedupInterval(rounds["slowRounds"], rounds["fastRounds"], confidence=0.5)
    wide = speedupInterval(rounds["slowRounds"], rounds["fastRounds"], confidence=0.99)
    assert wide.low < narrow.low <= narrow.point <= narrow.high < wide.high


def test_interval_formats_like_the_report():
    assert Interval(6.2312, 6.049, 6.414).format() == "6.23x (6.05-6.41)"
    assert Interval(0.9, 0.851, 0.93).format(3, "") == "0.900 (0.851-0.930)"


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"slowRounds": []}, ValueError, "slowRounds must hold at least one round"),
        ({"fastRounds": [0.1, -0.2]}, ValueError, "fastRounds[1]"),
        ({"fastRounds": [0.1, math.nan]}, ValueError, "fastRounds[1]"),
        ({"slowRounds": [1.0, True]}, TypeError, "slowRounds[1]"),
        ({"slowRounds": "1.0"}, TypeError, "slowRounds must be a sequence"),
        ({"stat": "max"}, ValueError, "stat must be one of median, min, mean"),
        ({"confidence": 1.0}, ValueError, "confidence must be a number in (0, 1)"),
        ({"confidence": "95%"}, TypeError, "confidence"),
        ({"resamples": 10}, ValueError, "resamples must be >= 100"),
        ({"seed": 1.5}, TypeError, "seed must be an int or None"),
        ({"seed": -1}, ValueError, "seed must be in [0, 2**32) or None"),
        ({"seed": 2**32}, ValueError, "seed must be in [0, 2**32) or None"),
        ({"paired": 1}, TypeError, "paired must be a bool"),
        ({"paired": True, "fastRounds": [0.1]}, ValueError, "as many of each variant"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, words):
    arguments = {"slowRounds": [1.0, 1.1], "fastRounds": [0.2, 0.21], **kwargs}
    slow, fast = arguments.pop("slowRounds"), arguments.pop("fastRounds")
    with pytest.raises(error) as caught:
        speedupInterval(slow, fast, **arguments)
    assert words in str(caught.value)


# --- roundRatioInterval: each interleaved round's own ratio ----------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_round_ratios_follow_the_exact_bootstrap_distribution(seed):
    # Round ratios 1, 2, 3: the same distribution of the median as above, whatever the seed.
    slow, fast = [0.5, 2.0, 4.5], [0.5, 1.0, 1.5]
    assert roundRatioInterval(slow, fast, seed=seed) == Interval(2.0, 1.0, 3.0, 0.95)
    assert roundRatioInterval(slow, fast, seed=seed, confidence=0.4) == Interval(2.0, 2.0, 2.0, 0.4)


def test_round_ratios_cancel_load_that_moved_both_variants_and_the_ratio_of_medians_does_not():
    # The machine's speed wandered a lot between rounds, and one round of each variant caught a
    # burst of its own: the rounds' own ratios stay near 2, the medians' ratio wanders.
    load = [1.0, 1.6, 0.8, 1.3, 2.0, 0.9, 1.1]
    fast = [0.1 * x for x in load]
    slow = [0.2 * x for x in load]
    slow[1] *= 1.5
    fast[4] *= 1.5
    rounds = roundRatioInterval(slow, fast)
    medians = speedupInterval(slow, fast, paired=True)
    assert rounds.point == pytest.approx(2.0)
    assert rounds.high / rounds.low < medians.high / medians.low


def test_round_ratios_need_as_many_rounds_of_each_and_name_bad_ones():
    with pytest.raises(ValueError, match="as many of each variant, got 2 slow and 1 fast"):
        roundRatioInterval([1.0, 1.1], [0.5])
    with pytest.raises(ValueError, match=r"fastRounds\[0\]"):
        roundRatioInterval([1.0], [0.0])
    with pytest.raises(ValueError, match="stat must be one of"):
        roundRatioInterval([1.0], [0.5], stat="max")


# --- the gate's decision --------------------------------------------------------------------


def test_gate_fails_an_interval_wholly_below_the_floor():
    decision = gateDecision(Interval(4.02, 3.95, 4.10), 6.26, 0.18)
    assert decision.failed
    assert decision.floor == pytest.approx(6.26 * 0.82)
    assert "floor 5.13x" in str(decision) and "below" in str(decision)


def test_gate_passes_an_interval_that_reaches_the_floor():
    floor = 6.0 * (1 - 0.2)
    assert not gateDecision(Interval(4.5, 4.4, floor), 6.0, 0.2).failed
    assert gateDecision(Interval(4.5, 4.4, math.nextafter(floor, 0)), 6.0, 0.2).failed


def test_gate_passes_a_low_point_whose_interval_still_reaches_the_floor():
    # The point alone is 25% down, but the rounds are too spread to say so at 95%.
    assert not gateDecision(Interval(4.5, 3.9, 5.0), 6.0, 0.2).failed


def test_gate_with_zero_tolerance_fails_anything_wholly_below_the_baseline():
    assert gateDecision(Interval(5.9, 5.8, 5.99), 6.0, 0.0).failed
    assert not gateDecision(Interval(5.9, 5.8, 6.0), 6.0, 0.0).failed


def test_gate_never_fails_an_improvement():
    assert not gateDecision(Interval(9.0, 8.5, 9.5), 6.0, 0.0).failed


def test_gate_decision_keeps_its_numbers():
    interval = Interval(4.0, 3.9, 4.1)
    decision = gateDecision(interval, 6.0, 0.25)
    assert decision == GateDecision(True, 4.5, 6.0, interval, 0.25)
    assert "floor 4.50x" in str(decision)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "words"),
    [
        ((Interval(1, 1, 1), 6.0, 1.0), {}, ValueError, "tolerance must be a number in [0, 1)"),
        ((Interval(1, 1, 1), 6.0, -0.1), {}, ValueError, "tolerance"),
        ((Interval(1, 1, 1), 0.0, 0.1), {}, ValueError, "baselineSpeedup must be a finite"),
        ((Interval(1, 1, 1), math.nan, 0.1), {}, ValueError, "baselineSpeedup"),
        ((Interval(1, 1, 1), "6", 0.1), {}, TypeError, "baselineSpeedup"),
        (((1, 1, 1), 6.0, 0.1), {}, TypeError, "interval must be an Interval"),
    ],
)
def test_gate_rejects_bad_arguments_by_name(args, kwargs, error, words):
    with pytest.raises(error) as caught:
        gateDecision(*args, **kwargs)
    assert words in str(caught.value)


def test_required_tolerance_is_where_the_decision_flips():
    interval = Interval(5.0, 4.9, 5.1)
    needed = requiredTolerance(interval, 6.0)
    assert needed == pytest.approx(0.15)
    assert not gateDecision(interval, 6.0, needed).failed
    assert gateDecision(interval, 6.0, needed - 1e-9).failed
    assert requiredTolerance(Interval(7.0, 6.5, 7.5), 6.0) == 0.0
