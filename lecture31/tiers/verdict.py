"""Which tiers a workload belongs on, read from the rows' intervals: a pure function of rows.

    one workload's rows
      |  keep the tiers whose whole interval is above 1.0x (x RESOLUTION): they beat inline
      |  beyond noise (none left: ("inline",))
      |  the best of them (highest speedup), and every one whose interval overlaps the best's
      |  (stretched by RESOLUTION): as fast within noise
      v
    lightest first: loop, threads, processes, then any other tier, e.g. ("threads", "processes")

Why not simply the fastest: two tiers a few percent apart trade places from one run to the next
on a shared machine, and a verdict that flips is worse than none. Within noise the lighter tier
wins: it costs no processes, no pickling, no memory of its own.

Why RESOLUTION on top of the intervals: an interval says how much one run's rounds agree, not
how much the next run will. Two vCPUs that share a host shift CPU rows by a few percent between
runs whose own intervals are that narrow, so two tiers whose intervals miss each other by 2%
would still trade places from run to run. Set it to 0.0 for the intervals alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ("LIGHTEST_FIRST", "RESOLUTION", "verdicts")

# The order of preference among tiers that are as fast within noise; any other tier comes after
# these, in the order its rows came.
LIGHTEST_FIRST = ("loop", "threads", "processes")

# Differences smaller than this fraction are not told apart: a tier must beat inline, or a
# heavier tier a lighter one, by more than it beyond the intervals (see the docstring).
RESOLUTION = 0.05


def verdicts(rows: Sequence[Mapping]) -> dict[str, tuple[str, ...]]:
    """For each workload in ``rows`` (``runTierMatrix``'s), the tiers it belongs on, the
    recommended one first: several when their intervals overlap (lightest first: ``loop``,
    ``threads``, ``processes``, then others), ``("inline",)`` when no tier beats inline.

    Overlap and beating are judged to RESOLUTION (5%): a tier beats inline when its whole
    interval is above 1.05x, and is as fast as the best when its high end, stretched by 5%,
    reaches the best's low end. A row without ``low`` and ``high`` counts as an interval of its
    speedup alone.
    """
    if isinstance(rows, str | bytes) or not isinstance(rows, Sequence):
        raise TypeError(f"rows must be a sequence of runTierMatrix rows, got {rows!r}")
    byWorkload: dict[str, list[Mapping]] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping) or not {"workload", "tier", "speedup"} <= row.keys():
            raise ValueError(
                f"rows[{index}] must be a row with workload, tier and speedup, got {row!r}"
            )
        byWorkload.setdefault(row["workload"], []).append(row)
    return {workload: _belongsOn(own) for workload, own in byWorkload.items()}


def _low(row: Mapping) -> float:
    return float(row.get("low", row["speedup"]))


def _high(row: Mapping) -> float:
    return float(row.get("high", row["speedup"]))


def _belongsOn(rows: Sequence[Mapping]) -> tuple[str, ...]:
    beating = [row for row in rows if row["tier"] != "inline" and _low(row) > 1.0 + RESOLUTION]
    if not beating:
        return ("inline",)
    best = max(beating, key=lambda row: row["speedup"])
    tied = [row for row in beating if _high(row) * (1.0 + RESOLUTION) >= _low(best)]
    rank = {tier: index for index, tier in enumerate(LIGHTEST_FIRST)}
    arrival = {row["tier"]: index for index, row in enumerate(rows)}
    tied.sort(key=lambda row: (rank.get(row["tier"], len(rank)), arrival[row["tier"]]))
    return tuple(row["tier"] for row in tied)
