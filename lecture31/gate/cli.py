"""``python -m lecture31.gate``: is the head slower than the base, measured here, now, in turns?

    --base REF [--head REF]     base: a commit, checked out in a temporary worktree; head: the
                                working tree (uncommitted changes included), or another commit
    trial 1: base, head   trial 2: head, base   ...   (--trials N, ABBA order)
        each run: the side's own `pytest bench --bench-quick -k EXPR`, its own lecture31
    compare: each pair's speedups and each variant's seconds, head / base per trial,
        interval over the trials (lecture31.gate.decide)

Exit status: 0 every measure holds; 1 a measure regressed beyond the tolerance (named, with
both figures); 2 bad input (unknown ref, a working tree mid-merge, a side without a bench, an
option out of range, an output it cannot write, another gate running in the repository: its
pid is named), one line; 3 a side's bench failed; 130 Ctrl-C;
143 SIGTERM; 129 SIGHUP (a closed terminal: cleaned up as for SIGTERM, 128 + its number as for
any signal). Whatever it made (worktrees, bench processes) is gone when it exits, also on
failure or Ctrl-C.

Outputs (--json, --keep-runs) are checked before the first trial. The verdict is printed before
the JSON is written: if that write fails, one line says so (and where the trials went instead)
and the status is 1 if a measure regressed (the regression wins: it is what the gate is for),
else 2. Without --json the trials go to a fresh private file (lecture31.gate.outputs).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..report.parse import STATS, ReportError
from .decide import FAMILY_ALPHA, Finding, Measure, compareTrials
from .git import GateError, checkedOutOn, repoRoot, resolveCommit, workingTreeProblem
from .lock import gateLock
from .outputs import checkOutputs, checkRunsFolder, writeRecord
from .record import findingRecord, keptBenchmarks, sideMeasures
from .stopping import Stopped, stopOnSignals
from .trials import (
    BenchFailed,
    Side,
    abbaOrder,
    checkSelection,
    checkSide,
    gateRounds,
    runBench,
)

__all__ = ("DEFAULT_SELECTION", "DEFAULT_TOLERANCE", "DEFAULT_TRIALS", "main")

PROG = "python -m lecture31.gate"

# Calibrated on CI's machine kind: see docs/ci-gate.md (the README links it).
DEFAULT_TRIALS = 12
DEFAULT_TOLERANCE = 0.02
# The pairs whose code the gate guards, cheap enough to run many trials of: the sensor pipeline
# at three scales and the tiered handler at the homework's scale (~30 s a run on 2 cores). The
# fan-out pair is seeded sleeps (its times move only with its deadline rule) and tiered-40
# repeats tiered-10's code at four times the cost; the breaker loops and the tier matrix
# follow the host's vCPUs more than the code.
DEFAULT_SELECTION = "pipeline or (tiered and 10)"

EXIT_REGRESSION, EXIT_USAGE, EXIT_BENCH_FAILED = 1, 2, 3
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Benchmark a base commit and the head on this machine, in turns, and fail "
        "when the head is slower beyond the tolerance.",
        epilog=__doc__.split("Exit status:")[1].strip()
        and "exit status: 0 all hold, 1 a "
        "regression, 2 bad input, 3 a bench failed, 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP",
    )
    parser.add_argument("--base", required=True, metavar="REF", help="the commit to compare with")
    parser.add_argument(
        "--head", metavar="REF", default=None, help="default: the working tree, as it is"
    )
    parser.add_argument(
        "--trials",
        type=int,
        default=DEFAULT_TRIALS,
        help=f"trials, each one run of each side (default {DEFAULT_TRIALS}; at least 2)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"slowdown allowed before a measure fails (default {DEFAULT_TOLERANCE})",
    )
    parser.add_argument(
        "-k",
        dest="selection",
        metavar="EXPR",
        default=DEFAULT_SELECTION,
        help=f"which benchmarks, as pytest's -k (default {DEFAULT_SELECTION!r})",
    )
    parser.add_argument(
        "--stat", choices=STATS, default="min", help="each variant's statistic (default min)"
    )
    parser.add_argument("--json", metavar="FILE", help="where to write every trial (JSON)")
    parser.add_argument(
        "--keep-runs", metavar="DIR", help="also keep each run's pytest-benchmark JSON in DIR"
    )
    return parser


def _say(text: str) -> None:
    print(f"gate: {text}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _sides(repo: Path, base: str, head: str | None) -> Iterator[tuple[Side, Side]]:
    baseCommit = resolveCommit(repo, base)
    headCommit = resolveCommit(repo, head) if head is not None else None
    if headCommit is None and (problem := workingTreeProblem(repo)) is not None:
        raise GateError(problem)
    with contextlib.ExitStack() as stack:
        baseTree = checkedOutOn(stack, repo, baseCommit, "base")
        if headCommit is None:
            headSide = Side("head", repo, "working tree")
        else:
            headTree = checkedOutOn(stack, repo, headCommit, "head")
            headSide = Side("head", headTree, headCommit)
        yield Side("base", baseTree, baseCommit), headSide


def _measure(args: argparse.Namespace, base: Side, head: Side, runs: Path) -> dict:
    """Every trial, in ABBA order; the record the JSON keeps, with the measures per side."""
    record: dict = {
        "base": {"ref": args.base, "commit": base.commit},
        "head": {"ref": args.head or "working tree", "commit": head.commit},
        "selection": args.selection,
        "stat": args.stat,
        "tolerance": args.tolerance,
        "trials": [],
    }
    sides = {"base": base, "head": head}
    order = abbaOrder(args.trials)
    extra = gateRounds(base, head)
    record["rounds"] = "gate" if extra else "quick"
    for index, (trial, label) in enumerate(order, start=1):
        side = sides[label]
        where = f"{label} ({side.commit[:12]})"
        _say(f"trial {trial} of {args.trials}: {where}, run {index} of {len(order)}")
        started = time.monotonic()
        name = f"trial-{trial:02d}-{label}"
        run = runBench(
            side,
            runs / f"{name}.json",
            selection=args.selection,
            extra=extra,
            log=runs / f"{name}.log",
        )
        seconds = time.monotonic() - started
        record["trials"].append(
            {
                "trial": trial,
                "side": label,
                "seconds": seconds,
                "commit_info": run.get("commit_info", {}),
                "benchmarks": keptBenchmarks(run),
            }
        )
        _say(f"trial {trial} of {args.trials}: {label} done in {seconds:.0f} s")
    return record


def _print(findings: list[Finding], onlyBase: list[Measure], onlyHead: list[Measure]) -> None:
    for finding in findings:
        print(f"gate: {finding}")
    for label, measures in (("base", onlyBase), ("head", onlyHead)):
        for measure in measures:
            print(f"gate: only the {label} has {measure.name} (listed, not compared)")


def _run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    checkOutputs([("--json", args.json)])  # before any trial: a bad path costs seconds, not the run
    runsFolder = checkRunsFolder(args.keep_runs) if args.keep_runs else None
    repo = repoRoot(Path.cwd())
    with contextlib.ExitStack() as stack:
        stack.enter_context(gateLock(repo))  # one gate a repository; a second refuses (exit 2)
        base, head = stack.enter_context(_sides(repo, args.base, args.head))
        for side in (base, head):
            checkSide(side)
            checkSelection(side, args.selection)
        if runsFolder is not None:
            runs = runsFolder
        else:
            runs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lecture31-gate-")))
        _say(
            f"base {args.base} ({base.commit[:12]}) against head {args.head or 'working tree'}"
            f" ({head.commit[:12]}): {args.trials} trials of -k {args.selection!r}"
        )
        record = _measure(args, base, head, runs)
    try:
        findings, onlyBase, onlyHead = compareTrials(
            sideMeasures(record, "base", args.stat),
            sideMeasures(record, "head", args.stat),
            tolerance=args.tolerance,
        )
    except ReportError as exc:
        raise GateError(f"a trial's benchmarks cannot be read: {exc}") from exc
    if not findings:
        raise GateError(f"no pair was measured on both sides with -k {args.selection!r}")
    record["findings"] = [findingRecord(f) for f in findings]
    record["onlyBase"] = [m.name for m in onlyBase]
    record["onlyHead"] = [m.name for m in onlyHead]
    record["seconds"] = time.monotonic() - started
    _print(findings, onlyBase, onlyHead)
    failed = [f for f in findings if f.failed]
    confidence = findings[0].confidence
    minutes = record["seconds"] / 60
    _say(
        f"{len(findings)} measures, {args.trials} trials, {confidence:.2%} intervals"
        f" (family {1 - FAMILY_ALPHA:.0%}), tolerance {args.tolerance:.0%}; took {minutes:.1f}"
        " min"
    )
    for finding in failed:
        print(f"REGRESSION {finding}", file=sys.stderr)
    if not failed:
        _say("every measure holds")
    # Written after the verdict is out, so a failed write never hides it (module docstring).
    written, problem = writeRecord(record, args.json)
    if problem is not None:
        elsewhere = f"; every trial in {written} instead" if written else ""
        print(f"{PROG}: error: {problem}{elsewhere}", file=sys.stderr)
        return EXIT_REGRESSION if failed else EXIT_USAGE
    _say(f"every trial in {written}")
    return EXIT_REGRESSION if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the gate; return the exit status (see the module docstring)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not 2 <= args.trials <= 100:
        parser.error(f"--trials must be between 2 and 100, got {args.trials}")
    if not 0.0 <= args.tolerance < 1.0:
        parser.error(f"--tolerance must be in [0, 1), got {args.tolerance}")
    try:
        with stopOnSignals():
            return _run(args)
    except GateError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BenchFailed as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_BENCH_FAILED
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; worktrees and bench processes removed", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Stopped as stop:
        with contextlib.suppress(OSError):  # after SIGHUP, the terminal may be gone
            print(
                f"{PROG}: terminated ({stop.name}); worktrees and bench processes removed",
                file=sys.stderr,
            )
        return stop.status  # 143 SIGTERM, 129 SIGHUP
    except OSError as exc:
        print(f"{PROG}: error: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return EXIT_USAGE
