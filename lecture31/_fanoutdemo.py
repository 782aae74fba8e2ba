"""Exercise 2's printed report: what ``python -m lecture31 fanout`` shows, apart from the library.

runQueries(15, 6, _onRow=print one row) --> one line per query (* = the 0.5 s default)
                                        --> the summary: shards responded, records, timeout
"""

from __future__ import annotations

from collections.abc import Sequence

from .fanout import (
    DEFAULT_TIMEOUT_SECONDS,
    IDEAL_TIMEOUT_SECONDS,
    MIN_OBSERVATIONS,
    LatencyTracker,
    runQueries,
)

__all__ = ("showQueries",)

NUM_QUERIES, NUM_SHARDS = 15, 6  # the homework's requirement 4


async def showQueries(seed: int | None) -> None:
    """Requirements 4 and 5: 15 fan-outs to 6 shards, each printed, then the summary."""
    tracker = LatencyTracker()
    print(
        f"{NUM_QUERIES} fan-out queries to {NUM_SHARDS} shards"
        + ("" if seed is None else f" (seed {seed})")
    )
    print(
        f"shard latency 0.1 s + Exp(5): true p90 {IDEAL_TIMEOUT_SECONDS / 2:.3f} s,"
        f" so the ideal timeout 2 x p90 = {IDEAL_TIMEOUT_SECONDS:.3f} s"
    )
    print()
    print(_ROW_FORMAT.format("query", "timeout", "responded", "timed out", "failed", "records"))
    rows = await runQueries(
        NUM_QUERIES,
        NUM_SHARDS,
        seed=seed,
        tracker=tracker,
        _onRow=lambda row, before: print(_formatRow(row, before), flush=True),
    )
    print(_formatSummary(rows, tracker))


_ROW_FORMAT = "{:<10} {:>9} {:>10} {:>10} {:>7} {:>8}"


def _formatRow(row: dict, latenciesBefore: int) -> str:
    mark = "*" if latenciesBefore < MIN_OBSERVATIONS else " "
    return _ROW_FORMAT.format(
        row["query"],
        f"{row['usedTimeout']:.3f} s{mark}",
        row["shardsResponded"],
        row["shardsTimedOut"],
        row["shardsFailed"],
        row["totalRecords"],
    )


def _formatSummary(rows: Sequence[dict], tracker: LatencyTracker) -> str:
    responded = [row["shardsResponded"] for row in rows]
    timeouts = [row["usedTimeout"] for row in rows]
    final = tracker.suggestedTimeout()
    return "\n".join(
        [
            f"* default {DEFAULT_TIMEOUT_SECONDS} s: the tracker held fewer than"
            f" {MIN_OBSERVATIONS} latencies",
            "",
            "timeout by query: " + " ".join(f"{t:.2f}" for t in timeouts),
            f"summary over {len(rows)} queries:",
            f"  shards responded   min {min(responded)}  max {max(responded)}"
            f"  mean {sum(responded) / len(rows):.2f}",
            f"  total records      {sum(row['totalRecords'] for row in rows)}",
            f"  final suggested timeout  {final:.3f} s"
            f" ({final / IDEAL_TIMEOUT_SECONDS - 1:+.0%} against the ideal"
            f" {IDEAL_TIMEOUT_SECONDS:.3f} s)",
        ]
    )
