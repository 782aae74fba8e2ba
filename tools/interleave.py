"""What does interleaving a pair's rounds (A, B, A, B...) buy over blocked rounds (A... then B...)?

    python tools/interleave.py [--pair pipeline-48] [--runs 8] [--rounds 5] [--json OUT.json]

pytest-benchmark times one benchmark per test (pytest-benchmark #166), so ``pytest bench`` runs
all rounds of the slow variant, then all rounds of the fast one: a neighbour's busy minute can
land on one variant only and move the speedup. This script calls the library directly, on warm
pools made as bench/conftest.py makes them, and repeats one "run" (a warm-up round of each, then
``--rounds`` timed rounds of each) ``--runs`` times in each schedule, alternating which schedule
goes first:

    blocked:      A A A A A  B B B B B      (what pytest-benchmark does)
    interleaved:  A B A B A B A B A B        (round i of A and B a second apart)

It prints, per schedule and statistic, how much the run's speedup wandered across runs (the
standard deviation relative to the mean, and the range) and how wide the run's own 95% interval
was (independent bootstrap for blocked rounds, paired for interleaved ones), so the two can be
compared on the same machine in the same minutes. Run it on the machine (and load) you care about.

Interleaving also changes what is measured: between two fast rounds the slow one runs, so the
fast variant's pools sit idle and start each round cold. Compare interleaved speedups only with
an interleaved baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lecture31 import pipeline, tiered
from lecture31._runtime.atomicwrite import checkTarget, writeAtomically
from lecture31._runtime.pools import makeProcessPool, makeThreadPool, warmPool
from lecture31.report.stats import speedupInterval

SEED = 31  # the bench suite's seed: every round does the same work


def _pairTargets(pair: str, runner: asyncio.Runner, pools: list) -> tuple[Callable, Callable]:
    """(slow round, fast round) callables for ``pair``; the pools they need go into ``pools``."""
    kind, _, scaleText = pair.partition("-")
    scale = int(scaleText)
    if kind == "pipeline":
        threads, processes = pipeline.STORE_THREADS, pipeline.NORMALIZE_PROCESSES
        threadPool, processPool = makeThreadPool(threads, "interleave-store"), None
        pools.append(threadPool)
        processPool = makeProcessPool(processes)
        pools.append(processPool)
        warmPool(threadPool, threads)
        warmPool(processPool, processes)

        def slow():
            return runner.run(pipeline.runNaivePipeline(scale, seed=SEED))

        def fast():
            return runner.run(
                pipeline.runCorrectPipeline(
                    scale, processPool=processPool, threadPool=threadPool, seed=SEED
                )
            )

        return slow, fast
    if kind == "tiered":
        threadPool = makeThreadPool(10, "interleave-metadata")
        pools.append(threadPool)
        processPool = makeProcessPool(4)
        pools.append(processPool)
        warmPool(threadPool, 10)
        warmPool(processPool, 4)

        def slow():
            return tiered.runSequential(scale, seed=SEED)

        def fast():
            return runner.run(
                tiered.runTiered(scale, threadPool=threadPool, processPool=processPool, seed=SEED)
            )

        return slow, fast
    raise SystemExit(f"--pair must be pipeline-N or tiered-N, got {pair!r}")


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def oneRun(slow, fast, rounds: int, schedule: str) -> dict[str, list[float]]:
    """One warm-up round of each variant, then ``rounds`` timed rounds in ``schedule`` order."""
    slow(), fast()
    if schedule == "blocked":
        slowRounds = [_timed(slow) for _ in range(rounds)]
        fastRounds = [_timed(fast) for _ in range(rounds)]
    else:
        slowRounds, fastRounds = [], []
        for _ in range(rounds):
            slowRounds.append(_timed(slow))
            fastRounds.append(_timed(fast))
    return {"slow": slowRounds, "fast": fastRounds}


def summarize(runs: dict[str, list[dict]]) -> list[str]:
    lines = [
        "| schedule | stat | speedups over the runs | mean | sd / mean | range / mean "
        "| mean 95% interval width / point |",
        "| :--- | :--- | :--- | ---: | ---: | ---: | ---: |",
    ]
    for schedule, results in runs.items():
        for stat in ("median", "min"):
            intervals = [
                speedupInterval(r["slow"], r["fast"], stat=stat, paired=schedule == "interleaved")
                for r in results
            ]
            points = [i.point for i in intervals]
            mean = statistics.fmean(points)
            sd = statistics.stdev(points) if len(points) > 1 else 0.0
            width = statistics.fmean((i.high - i.low) / i.point for i in intervals)
            listed = " ".join(f"{p:.2f}" for p in points)
            lines.append(
                f"| {schedule} | {stat} | {listed} | {mean:.2f}x | {sd / mean:.1%} "
                f"| {(max(points) - min(points)) / mean:.1%} | {width:.1%} |"
            )
    # Interleaved rounds also allow a per-round-pair ratio (slow_i / fast_i): its median.
    ratios = [
        statistics.median(s / f for s, f in zip(r["slow"], r["fast"], strict=True))
        for r in runs.get("interleaved", [])
    ]
    if len(ratios) > 1:
        mean = statistics.fmean(ratios)
        lines.append(
            f"| interleaved | median of slow_i/fast_i | {' '.join(f'{p:.2f}' for p in ratios)} "
            f"| {mean:.2f}x | {statistics.stdev(ratios) / mean:.1%} "
            f"| {(max(ratios) - min(ratios)) / mean:.1%} | - |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/interleave.py", description=__doc__.split("\n")[0])
    parser.add_argument("--pair", default="pipeline-48", help="pipeline-N or tiered-N")
    parser.add_argument("--runs", type=int, default=8, help="runs per schedule (default 8)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per variant (5)")
    parser.add_argument("--json", type=Path, help="also write every round here")
    args = parser.parse_args(argv)
    if args.runs < 2 or args.rounds < 1:
        parser.error("--runs must be >= 2 and --rounds >= 1")
    if args.json:
        try:
            checkTarget(args.json)  # before minutes of measuring, not after
        except OSError as exc:
            parser.error(f"--json {exc.filename}: {exc.strerror}")
    load = os.getloadavg()[0]
    print(f"{args.pair}: {args.runs} runs x {args.rounds} rounds per schedule; load {load:.2f}")
    runs: dict[str, list[dict]] = {"blocked": [], "interleaved": []}
    pools: list = []
    started = time.perf_counter()
    try:
        with asyncio.Runner() as runner:
            slow, fast = _pairTargets(args.pair, runner, pools)
            for index in range(args.runs):
                order = ("blocked", "interleaved") if index % 2 == 0 else ("interleaved", "blocked")
                for schedule in order:
                    runs[schedule].append(oneRun(slow, fast, args.rounds, schedule))
                print(f"  run {index + 1}/{args.runs} done", file=sys.stderr)
    finally:
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)
    print("\n".join(summarize(runs)))
    elapsed = time.perf_counter() - started
    endLoad = os.getloadavg()[0]
    print(f"\n{elapsed:.0f} s; 1-minute load average {load:.2f} at the start, {endLoad:.2f} at end")
    if args.json:
        record = {"pair": args.pair, "rounds": args.rounds, "load": [load, endLoad], "runs": runs}
        text = json.dumps(record, indent=1)
        try:
            writeAtomically([(args.json, lambda temp: temp.write_text(text, encoding="utf-8"))])
        except OSError as exc:
            print(f"{parser.prog}: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
