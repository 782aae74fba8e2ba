"""``python -m lecture31.gate``: is the head slower than the base, measured here, now, in turns?

    --base REF [--head REF]     base: a commit, checked out in a temporary worktree; head: the
                                working tree (uncommitted changes included), or another commit
    every group of the suite (lecture31/gate/groups.py: how each is measured and judged)
    stage 1: trial 1: base, head   trial 2: head, base   ...   each group its own trials,
             the positive control in every trial (the head's is 10% slower, by design)
    stage 2: more trials for the groups with unresolved measures, within --budget
    each measure: head / base per trial, held / regressed / improved / unresolved, and the
        smallest slowdown this run could have seen (lecture31.gate.decide, .stages)

    --bisect GOOD BAD / --history A..B: many commits, the same machinery (lecture31.gate.bisect,
                                lecture31.gate.history; their exit statuses are in their docstrings)

Exit status: ``EXIT_STATUSES`` below (the --help epilog and docs/reliability.md read it). Whatever
it made (worktrees, bench processes) is gone when it exits, also on failure, Ctrl-C, SIGTERM or
SIGHUP (a closed terminal: cleaned up as for SIGTERM, 128 + its number as for any signal).

Outputs (--json, --markdown, --keep-runs) are checked before the first trial. The verdict is
printed before the JSON and the summary are written: if a write fails, one line says so (and
where the trials went instead) and the status is the verdict's if it failed (the regression or
the blindness wins: it is what the gate is for), else 2. Without --json the trials go to a
fresh private file (lecture31.gate.outputs).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from .._runtime.atomicwrite import writeAtomically
from .._runtime.exits import exitEpilog
from ..report.parse import STATS, ReportError
from .bisect import runBisect
from .decide import Finding, Measure, Verdict
from .git import GateError, checkedOutOn, repoRoot, resolveCommit, workingTreeProblem
from .groups import (
    CONTROL_ENV,
    GROUPS,
    GateGroup,
)
from .history import runHistory
from .lock import gateLock
from .outputs import checkOutputs, checkRunsFolder, writeRecord
from .plan import DEFAULT_SELECTION, plannedGroups, runSelection, scopeSelection
from .protocol import benchOptions
from .record import findingRecord, keptBenchmarks
from .stages import Outcome, StagePlan, runStages
from .stopping import Stopped, stopOnSignals
from .summary import controlLine, hostLine, markdownSummary
from .trials import BenchFailed, Side, checkSide, runBench

__all__ = ("DEFAULT_BUDGET_MINUTES", "DEFAULT_SELECTION", "EXIT_BLIND", "EXIT_STATUSES", "main")

PROG = "python -m lecture31.gate"

# CI's gate step must end within 12 minutes on 2 cores: the first stage takes about 7, the
# second stage spends what is left of this on the measures the first could not decide.
DEFAULT_BUDGET_MINUTES = 10.0
# --trials / --tolerance for benchmarks outside every group (a -k of one's own).
OTHER_TRIALS, OTHER_TOLERANCE = 10, 0.02
# --bisect: the most trials one step of the search may take.
MANY_COMMITS_TRIALS = 12

EXIT_REGRESSION, EXIT_USAGE, EXIT_BENCH_FAILED, EXIT_BLIND = 1, 2, 3, 4
EXIT_HANGUP, EXIT_INTERRUPTED, EXIT_TERMINATED = 129, 130, 143
# What each status means, once: the --help epilog and docs/reliability.md's row are this table.
EXIT_STATUSES = {
    0: "nothing regressed (unresolved measures are said)",
    EXIT_REGRESSION: "a measure regressed beyond its tolerance (named, with both figures)",
    EXIT_USAGE: "bad input: an unknown ref, a working tree mid-merge, a side without a bench,"
    " -k selecting nothing, an option out of range, an output it cannot write, another gate"
    " running in the repository (its pid named)",
    EXIT_BENCH_FAILED: "a side's bench failed",
    EXIT_BLIND: "nothing regressed, but the positive control was not caught: the gate is blind"
    " here",
    EXIT_HANGUP: "SIGHUP (a closed terminal), cleaned up as for SIGTERM",
    EXIT_INTERRUPTED: "Ctrl-C",
    EXIT_TERMINATED: "SIGTERM",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Benchmark a base commit and the head on this machine, in turns, and fail "
        "when the head is slower beyond each group's tolerance.",
        epilog=exitEpilog(EXIT_STATUSES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--base", metavar="REF", help="the commit to compare with")
    what.add_argument(
        "--bisect",
        nargs=2,
        metavar=("GOOD", "BAD"),
        help="find the first commit after GOOD, up to BAD, at which a measure got slower"
        " (lecture31.gate.bisect); --trials is then the most trials of one step",
    )
    what.add_argument(
        "--history",
        metavar="RANGE",
        help="measure every commit of RANGE (A..B, A included) in interleaved rounds; a PNG and"
        " a markdown table (lecture31.gate.history)",
    )
    parser.add_argument(
        "--head", metavar="REF", default=None, help="default: the working tree, as it is"
    )
    parser.add_argument(
        "--group",
        action="append",
        metavar="NAME",
        help="only these groups (fnmatch patterns; repeatable): "
        + ", ".join(g.name for g in GROUPS),
    )
    parser.add_argument(
        "-k",
        dest="selection",
        metavar="EXPR",
        default=None,
        help="narrow the benchmarks, as pytest's -k; what it selects outside every group is"
        f" judged at --trials (default {OTHER_TRIALS}) and --tolerance (default"
        f" {OTHER_TOLERANCE})",
    )
    parser.add_argument(
        "--trials",
        type=int,
        default=None,
        help="every group exactly this many trials, no second stage (default: each group's own)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="every measure's allowed slowdown (default: each group's own)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_MINUTES,
        metavar="MINUTES",
        help="the second stage adds trials while the run stays within this"
        f" (default {DEFAULT_BUDGET_MINUTES:g})",
    )
    parser.add_argument(
        "--stat", choices=STATS, default="min", help="each variant's statistic (default min)"
    )
    parser.add_argument(
        "--measure", metavar="PATTERN", help="--bisect: the measure(s) to search, a name's part"
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="--history: rounds, each runs every commit once"
    )
    parser.add_argument("--out", metavar="DIR", help="--history: where the PNG and table go")
    parser.add_argument("--json", metavar="FILE", help="where to write every trial (JSON)")
    parser.add_argument(
        "--markdown",
        metavar="FILE",
        help="the reviewer's table (also appended to $GITHUB_STEP_SUMMARY when set)",
    )
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


class _Runner:
    """Runs one side's bench for one trial; keeps the run's JSON and says how it went."""

    def __init__(
        self,
        sides: Mapping[str, Side],
        options: list[str],
        userK: str | None,
        runs: Path,
        control: bool,
    ) -> None:
        self.sides, self.options, self.userK, self.runs = sides, options, userK, runs
        self.control = control
        self.count = 0

    def __call__(self, trial: int, label: str, groups: Sequence[GateGroup]) -> dict:
        side = self.sides[label]
        self.count += 1
        names = ", ".join(g.name for g in groups)
        _say(f"trial {trial}: {label} ({side.commit[:12]}), run {self.count}: {names}")
        started = time.monotonic()
        name = f"trial-{trial:02d}-{label}"
        environment = {CONTROL_ENV: str(side.tree)} if label == "head" and self.control else {}
        run = runBench(
            side,
            self.runs / f"{name}.json",
            selection=runSelection(groups, self.userK),
            extra=self.options,
            log=self.runs / f"{name}.log",
            environment=environment,
        )
        _say(f"trial {trial}: {label} done in {time.monotonic() - started:.0f} s")
        return run


def _record(
    args: argparse.Namespace, base: Side, head: Side, outcome: Outcome, groups: Sequence[GateGroup]
) -> dict:
    return {
        "base": {"ref": args.base, "commit": base.commit},
        "head": {"ref": args.head or "working tree", "commit": head.commit},
        "selection": args.selection,
        "stat": args.stat,
        "groups": [dataclasses.asdict(g) for g in groups],
        "secondStage": outcome.secondStage,
        "trials": [
            {
                "trial": entry["trial"],
                "side": entry["side"],
                "stage": entry["stage"],
                "groups": entry["groups"],
                "commit_info": entry["run"].get("commit_info", {}),
                "machine_info": entry["run"].get("machine_info", {}),
                "benchmarks": keptBenchmarks(entry["run"]),
            }
            for entry in outcome.runs
        ],
    }


def _report(findings: list[Finding], onlyBase: list[Measure], onlyHead: list[Measure]) -> None:
    for finding in findings:
        print(f"gate: {finding}")
    for label, measures in (("base", onlyBase), ("head", onlyHead)):
        for measure in measures:
            print(f"gate: only the {label} has {measure.name} (listed, not compared)")


def _writeSummary(path: str | None, text: str) -> str | None:
    """The summary to ``path`` (atomically) and appended to $GITHUB_STEP_SUMMARY when set; one
    line saying what could not be written, or None."""
    try:
        if path:
            writeAtomically([(Path(path), lambda temp: temp.write_text(text, encoding="utf-8"))])
        stepSummary = os.environ.get("GITHUB_STEP_SUMMARY")
        if stepSummary:
            with open(stepSummary, "a", encoding="utf-8") as sink:
                sink.write(text)
    except OSError as exc:
        return f"cannot write the summary: {exc.strerror or exc}: {exc.filename or path}"
    return None


def _run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    # Before any trial: a bad path costs seconds, not the run.
    checkOutputs([("--json", args.json), ("--markdown", args.markdown)])
    runsFolder = checkRunsFolder(args.keep_runs) if args.keep_runs else None
    repo = repoRoot(Path.cwd())
    with contextlib.ExitStack() as stack:
        stack.enter_context(gateLock(repo))  # one gate a repository; a second refuses (exit 2)
        base, head = stack.enter_context(_sides(repo, args.base, args.head))
        for side in (base, head):
            checkSide(side)
        scope = scopeSelection(args.group, args.selection)
        options, collected = benchOptions((base, head), scope or "")
        groups = plannedGroups(
            collected.get("head", []),
            trials=args.trials,
            tolerance=args.tolerance,
            otherTrials=OTHER_TRIALS,
            otherTolerance=OTHER_TOLERANCE,
        )
        # Both sides' benches know the groups, and so the control (they came together).
        control = "--bench-gate-groups" in options
        if runsFolder is not None:
            runs = runsFolder
        else:
            runs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lecture31-gate-")))
        _say(
            f"base {args.base} ({base.commit[:12]}) against head {args.head or 'working tree'}"
            f" ({head.commit[:12]}): groups "
            + ", ".join(f"{g.name} ({g.trials} trials, {g.tolerance:.1%})" for g in groups)
            + (", and the positive control" if control else "")
        )
        plan = StagePlan(groups, stat=args.stat, budgetSeconds=args.budget * 60.0, control=control)
        runner = _Runner({"base": base, "head": head}, options, args.selection, runs, control)
        try:
            outcome = runStages(plan, runner, say=_say)
        except ReportError as exc:
            raise GateError(f"a trial's benchmarks cannot be read: {exc}") from exc
    findings = outcome.findings
    if not findings:
        raise GateError(f"no pair was measured on both sides with -k {scope!r}")
    record = _record(args, base, head, outcome, groups)
    record["findings"] = [findingRecord(f) for f in findings]
    record["control"] = findingRecord(outcome.control) if outcome.control else None
    record["onlyBase"] = [m.name for m in outcome.onlyBase]
    record["onlyHead"] = [m.name for m in outcome.onlyHead]
    record["seconds"] = time.monotonic() - started
    _report(findings, outcome.onlyBase, outcome.onlyHead)
    controlText, blind = controlLine(outcome.control)
    failed = [f for f in findings if f.failed]
    counts = {v: sum(1 for f in findings if f.verdict is v) for v in Verdict}
    tally = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    trialsText = f"{max(e['trial'] for e in outcome.runs)} trials" + (
        f" (second stage: {', '.join(outcome.secondStage)})" if outcome.secondStage else ""
    )
    minutes = record["seconds"] / 60
    _say(f"{len(findings)} measures: {tally}; {trialsText}; took {minutes:.1f} min")
    _say(f"positive control: {controlText}")
    if blind:
        verdict = "BLIND"
    elif failed:
        verdict = f"REGRESSED ({len(failed)} measures)"
    else:
        verdict = "nothing regressed" + (
            f" ({counts[Verdict.UNRESOLVED]} unresolved)" if counts[Verdict.UNRESOLVED] else ""
        )
    firstRun = outcome.runs[0]["run"] if outcome.runs else {}
    summary = markdownSummary(
        verdict=verdict,
        sides=f"base {args.base} ({base.commit[:12]}) against head"
        f" {args.head or 'the working tree'} ({head.commit[:12]})",
        host=hostLine(firstRun.get("machine_info", {})),
        trials=f"{trialsText}, {minutes:.1f} min",
        control=controlText,
        findings=findings,
    )
    for finding in failed:
        print(f"REGRESSION {finding}", file=sys.stderr)
    if blind:
        print(
            f"{PROG}: blind: the positive control was not caught ({controlText})", file=sys.stderr
        )
    if failed:  # a regression seen is real whatever the control says: it wins
        status = EXIT_REGRESSION
    elif blind:
        status = EXIT_BLIND
    else:
        unresolved = counts[Verdict.UNRESOLVED]
        _say(
            "nothing regressed"
            + (
                f"; {unresolved} measures unresolved (this run could not tell)"
                if unresolved
                else "; every measure held"
            )
        )
        status = 0
    # Written after the verdict is out, so a failed write never hides it (module docstring).
    written, problem = writeRecord(record, args.json)
    if problem is not None:
        elsewhere = f"; every trial in {written} instead" if written else ""
        print(f"{PROG}: error: {problem}{elsewhere}", file=sys.stderr)
        return status or EXIT_USAGE
    if (problem := _writeSummary(args.markdown, summary)) is not None:
        print(f"{PROG}: error: {problem}; every trial in {written}", file=sys.stderr)
        return status or EXIT_USAGE
    _say(
        f"every trial in {written}" + (f"; the summary in {args.markdown}" if args.markdown else "")
    )
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the gate; return the exit status (see the module docstring)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.trials is not None and not 2 <= args.trials <= 100:
        parser.error(f"--trials must be between 2 and 100, got {args.trials}")
    if args.tolerance is not None and not 0.0 <= args.tolerance < 1.0:
        parser.error(f"--tolerance must be in [0, 1), got {args.tolerance}")
    if not args.budget > 0:
        parser.error(f"--budget must be a positive number of minutes, got {args.budget}")
    if args.base is None and args.head is not None:
        parser.error("--head goes with --base")
    if args.measure is not None and not args.bisect:
        parser.error("--measure goes with --bisect")
    if (args.rounds is not None or args.out is not None) and not args.history:
        parser.error("--rounds and --out go with --history")
    try:
        with stopOnSignals():
            if args.bisect or args.history:
                # Many commits: one tolerance and one trial count for every measure searched.
                args.trials = args.trials or MANY_COMMITS_TRIALS
                args.tolerance = OTHER_TOLERANCE if args.tolerance is None else args.tolerance
                args.selection = DEFAULT_SELECTION if args.selection is None else args.selection
                checkOutputs([("--json", args.json)])
                with gateLock(repoRoot(Path.cwd())):  # one gate a repository, as the A/B run
                    return runBisect(args) if args.bisect else runHistory(args)
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
