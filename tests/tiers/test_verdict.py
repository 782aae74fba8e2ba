"""verdicts(rows): which tiers each workload belongs on, read from the rows' intervals."""

import pytest

from lecture31 import tiers, verdicts
from lecture31.tiers import verdict


def row(workload, tier, speedup, low=None, high=None):
    got = {"workload": workload, "tier": tier, "speedup": speedup}
    if low is not None:
        got.update(low=low, high=high)
    return got


INLINE = [row("w", "inline", 1.0, 1.0, 1.0)]


def test_it_is_the_public_one():
    assert verdicts is tiers.verdicts
    assert "verdicts" in tiers.__all__


def test_the_only_tier_whose_interval_clears_the_others_is_the_answer():
    rows = [
        *INLINE,
        row("w", "threads", 0.9, 0.85, 0.95),
        row("w", "processes", 1.7, 1.6, 1.8),
    ]
    assert verdicts(rows) == {"w": ("processes",)}


def test_tiers_whose_intervals_overlap_the_best_come_lightest_first():
    rows = [
        *INLINE,
        row("w", "processes", 1.50, 1.45, 1.55),  # best by a hair
        row("w", "threads", 1.47, 1.40, 1.52),
    ]
    assert verdicts(rows) == {"w": ("threads", "processes")}


def test_a_faster_tier_beyond_the_noise_wins_even_if_heavier():
    rows = [*INLINE, row("w", "threads", 1.83, 1.80, 1.86), row("w", "processes", 1.53, 1.5, 1.56)]
    assert verdicts(rows) == {"w": ("threads",)}
    rows = [*INLINE, row("w", "threads", 1.2, 1.1, 1.3), row("w", "processes", 1.9, 1.8, 2.0)]
    assert verdicts(rows) == {"w": ("processes",)}


def test_a_tier_that_only_overlaps_a_tied_one_is_not_tied_to_the_best():
    rows = [
        *INLINE,
        row("w", "threads", 1.62, 1.55, 1.70),
        row("w", "processes", 1.90, 1.80, 2.00),
        row("w", "dask", 1.75, 1.65, 1.85),
    ]
    assert verdicts(rows) == {"w": ("processes", "dask")}


def test_the_event_loop_is_lightest_and_other_tiers_come_after_processes():
    rows = [
        *INLINE,
        row("w", "dask", 7.9, 7.0, 8.0),
        row("w", "processes", 7.5, 7.1, 7.9),
        row("w", "loop", 7.8, 7.6, 8.0),
    ]
    assert verdicts(rows) == {"w": ("loop", "processes", "dask")}


def test_inline_when_no_interval_lies_wholly_above_one():
    rows = [*INLINE, row("w", "threads", 0.7, 0.6, 0.8), row("w", "processes", 1.1, 0.98, 1.2)]
    assert verdicts(rows) == {"w": ("inline",)}
    assert verdicts(INLINE) == {"w": ("inline",)}


def test_every_workload_gets_its_own_verdict_in_the_order_rows_name_them():
    rows = [
        row("b", "inline", 1.0, 1.0, 1.0),
        row("b", "threads", 1.98, 1.97, 1.99),
        row("b", "processes", 1.70, 1.69, 1.71),
        row("a", "inline", 1.0, 1.0, 1.0),
        row("a", "loop", 7.8, 7.7, 7.9),
    ]
    assert list(verdicts(rows).items()) == [("b", ("threads",)), ("a", ("loop",))]


def test_a_row_without_an_interval_counts_as_its_speedup_alone():
    rows = [row("w", "inline", 1.0), row("w", "threads", 1.5), row("w", "processes", 1.5)]
    assert verdicts(rows) == {"w": ("threads", "processes")}
    assert verdicts([row("w", "inline", 1.0), row("w", "threads", 1.0)]) == {"w": ("inline",)}


def test_a_difference_under_the_resolution_is_a_tie_even_between_intervals_that_miss():
    rows = [*INLINE, row("w", "threads", 1.40, 1.38, 1.42), row("w", "processes", 1.46, 1.44, 1.48)]
    assert verdict.RESOLUTION == 0.05
    assert verdicts(rows) == {"w": ("threads", "processes")}


def test_with_no_resolution_the_intervals_alone_decide(monkeypatch):
    monkeypatch.setattr(verdict, "RESOLUTION", 0.0)
    rows = [*INLINE, row("w", "threads", 1.40, 1.38, 1.42), row("w", "processes", 1.46, 1.44, 1.48)]
    assert verdicts(rows) == {"w": ("processes",)}
    assert verdicts([*INLINE, row("w", "threads", 1.04, 1.02, 1.06)]) == {"w": ("threads",)}


def test_a_tier_must_beat_inline_by_more_than_the_resolution():
    assert verdicts([*INLINE, row("w", "threads", 1.04, 1.02, 1.06)]) == {"w": ("inline",)}
    assert verdicts([*INLINE, row("w", "threads", 1.08, 1.06, 1.10)]) == {"w": ("threads",)}


def test_no_rows_no_verdicts():
    assert verdicts([]) == {}


@pytest.mark.parametrize(
    ("rows", "error", "message"),
    [
        ("cpu-python", TypeError, "rows must be a sequence of runTierMatrix rows"),
        (None, TypeError, "rows must be a sequence of runTierMatrix rows, got None"),
        ([{"tier": "threads"}], ValueError, r"rows\[0\] must be a row with workload, tier"),
        ([INLINE[0], 3], ValueError, r"rows\[1\] must be a row"),
    ],
)
def test_what_is_not_rows_is_refused_naming_the_culprit(rows, error, message):
    with pytest.raises(error, match=message):
        verdicts(rows)
