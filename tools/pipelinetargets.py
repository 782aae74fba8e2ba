"""Issue 20's targets, read off a benchmark run: streamed against correct, and each design's
efficiency against its own critical-path bound, per ``pipeline-N`` pair; and what batching
bought the streamed pipeline, per ``batching-N`` pair.

    python tools/pipelinetargets.py RUN.json [--stat median|min]

    target                                   pairs
    streamed over correct >= 1.15x / 1.25x   pipeline-48 / pipeline-480
    streamed efficiency >= 0.85              pipeline-12, -24, -48

RUN.json is any pytest-benchmark JSON of ``pytest bench`` (``--benchmark-json``), with
``-m large`` (or ``--bench-large``) for the 480-sensor pair and batching. Exit 1 if a target
is missed, 0 otherwise (a target whose pair is not in the run is said so, and not counted).
"""

from __future__ import annotations

import argparse
import sys

from lecture31 import report

OVER_CORRECT = {"pipeline-48": 1.15, "pipeline-480": 1.25}
STREAMED_EFFICIENCY = {"pipeline-12": 0.85, "pipeline-24": 0.85, "pipeline-48": 0.85}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/pipelinetargets.py", description=__doc__)
    parser.add_argument("run")
    parser.add_argument("--stat", choices=report.STATS, default="median")
    args = parser.parse_args(argv)
    results = {
        r.pair: r
        for r in report.pairResults(report.loadRun(args.run), args.stat, partial=True)
        if r.pair.startswith(("pipeline-", "batching-"))
    }
    missed = 0

    def verdict(value: float, target: float) -> str:
        nonlocal missed
        missed += value < target
        return f"{'ok  ' if value >= target else 'MISS'} (target {target:.2f})"

    for pair, r in results.items():
        names = [v.variant for v in r.others]
        print(f"{pair} (by {args.stat}):")
        for name in names:
            efficiency = r.efficiencyOf(name)
            line = f"  {name:<12} {r.speedupText(name)} over {r.reference.variant}"
            if efficiency is not None:
                line += f", efficiency {efficiency:.2f} of its bound"
                if name == "streamed" and pair in STREAMED_EFFICIENCY:
                    line += " " + verdict(efficiency, STREAMED_EFFICIENCY[pair])
            print(line)
        if {"correct", "streamed"} <= set(names):
            ratio = r.variant("correct").seconds / r.variant("streamed").seconds
            line = f"  streamed over correct {ratio:.2f}x"
            if pair in OVER_CORRECT:
                line += " " + verdict(ratio, OVER_CORRECT[pair])
            print(line)
    for pair in sorted(set(OVER_CORRECT) | set(STREAMED_EFFICIENCY)):
        if pair not in results or "streamed" not in {v.variant for v in results[pair].others}:
            print(f"{pair}: not in this run with correct and streamed; its targets are unchecked")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
