"""``--bisect GOOD BAD``: the first commit after GOOD, up to BAD, at which a measure got slower.

    GOOD ------------ good ------- mid ------- bad ------------ BAD     (first parents)
    1. GOOD against BAD, ABBA trials: the measures slower beyond the tolerance; --measure picks
       among them, else the worst. Its slowdown is the total, T.
    2. each midpoint against GOOD: slower when its interval lies above the threshold
       max(1 + tolerance, sqrt(T)) (the geometric middle), not when it lies below; START_TRIALS
       trials, TRIAL_STEP more while the interval straddles it, up to --trials (then the point
       decides, and the step says so). A commit whose bench fails, or that lacks the measure,
       is skipped (as `git bisect skip`) and the nearest other commit is tried.
    3. the commit found against its parent (its neighbour): the step's own size and interval.
       When that step is clearly smaller than T (its interval's top below T's bottom), the
       slowdown came in more than one step: GOOD..parent and commit..BAD are each compared, and
       those still slower beyond the tolerance are searched the same way (MAX_STEPS at most).

Why against GOOD: every midpoint answers one question on one scale, "how much slower than
GOOD?", so a step shows at its full size at every later commit and noise does not add up along
the path. Why the geometric middle: a commit at GOOD's speed sits as far below it as one at
BAD's sits above, so both are told in the fewest trials (a threshold at 1 + 2% would need many
trials to clear a commit at 1.00 on a noisy pair). Why the neighbour at the end: against GOOD
alone, one 10% step and two 5% steps look the same.

Exit status: 0 the commit (or the steps) named on the last line; 1 nothing between GOOD and
BAD is slower beyond the tolerance (no commit to name); 2 bad input; 3 GOOD's or BAD's bench
failed (a commit between them failing is skipped); 130 Ctrl-C; 143 SIGTERM.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .commits import (
    Commits,
    Trials,
    Unmeasurable,
    firstParentCommits,
    matching,
    say,
    slowdown,
    subjectOf,
)
from .decide import FAMILY_ALPHA, Finding, Measure
from .git import GateError, repoRoot, resolveCommit
from .outputs import writeRecord
from .record import findingRecord
from .trials import BenchFailed

__all__ = ("EXIT_NOTHING_SLOWER", "MAX_STEPS", "START_TRIALS", "TRIAL_STEP", "runBisect")

# Few trials first: a 10% step on the pipeline pairs (2-10% noise a trial) is told from the
# middle threshold in 3-5 trials; more only while a commit's interval straddles it.
START_TRIALS = 3
TRIAL_STEP = 2
# Each decision's interval misses its ratio 2% of the time: a search makes ~log2(n) + 2 of them.
STEP_ALPHA = 0.02
# A slowdown in more pieces than this is drift, not steps: name these, say the rest.
MAX_STEPS = 3
EXIT_NOTHING_SLOWER = 1

Decide = Callable[[float, float], bool | None]


def _figures(finding: Finding, trials: int) -> str:
    point, low, high = slowdown(finding)
    return (
        f"{point - 1:+.1%} ({finding.confidence:.0%} interval {low - 1:+.1%} to {high - 1:+.1%},"
        f" {trials} trials)"
    )


@dataclass
class _Step:
    """A commit the search named, with its step's size against its parent."""

    commit: str
    subject: str
    finding: Finding
    trials: int


@dataclass
class _Search:
    """One bisection's state: the chain GOOD..BAD, the measure, what has been printed."""

    commits: Commits
    chain: list[str]  # GOOD first, BAD last
    measure: Measure
    tolerance: float
    maxTrials: int
    repo: Path
    log: list[dict] = field(default_factory=list)
    steps: int = 0

    def _position(self, index: int) -> str:
        return f"commit {index} of {len(self.chain) - 1}"

    def measured(self, base: str, head: str, decide: Decide, tag: str) -> tuple[Finding, int]:
        """``head`` against ``base`` on the measure: few trials, more while undecided."""
        trials = Trials(self.commits.side(base), self.commits.side(head))
        count = min(START_TRIALS, self.maxTrials)
        while True:
            trials.extend(self.commits, count, tag=tag)
            finding = trials.finding(self.measure, tolerance=self.tolerance, familyAlpha=STEP_ALPHA)
            _, low, high = slowdown(finding)
            if decide(low, high) is not None or count >= self.maxTrials:
                return finding, count
            count = min(count + TRIAL_STEP, self.maxTrials)

    def _report(self, what: str, finding: Finding | None, trials: int, verdict: str) -> None:
        self.steps += 1
        figures = "" if finding is None else f" {_figures(finding, trials)}:"
        print(f"bisect: step {self.steps}: {what}:{figures} {verdict}", flush=True)
        self.log.append(
            {
                "step": self.steps,
                "what": what,
                "verdict": verdict,
                "trials": trials,
                "finding": None if finding is None else findingRecord(finding),
            }
        )

    def beyondTolerance(self, low: float, high: float) -> bool | None:
        return True if low > 1 + self.tolerance else False if high <= 1 + self.tolerance else None

    def find(self, lo: int, hi: int, total: Finding) -> list[_Step] | list[str]:
        """The steps between chain[lo] (not slower) and chain[hi] (slower by ``total``); a
        list of commit ids instead when skipped commits leave the boundary among several."""
        base = self.chain[lo]
        threshold = max(1 + self.tolerance, math.sqrt(slowdown(total)[0]))

        def decide(low: float, high: float) -> bool | None:
            return True if low > threshold else False if high < threshold else None

        good, bad, skipped = lo, hi, set()
        while candidates := [i for i in range(good + 1, bad) if i not in skipped]:
            middle = (good + bad) / 2
            index = min(candidates, key=lambda i: (abs(i - middle), i))
            commit = self.chain[index]
            what = f"{commit[:12]} ({self._position(index)}) against {base[:12]}"
            try:
                finding, trials = self.measured(base, commit, decide, f"bisect-{index}")
            except Unmeasurable as exc:
                skipped.add(index)
                self._report(what, None, 0, f"skipped, {exc}")
                continue
            point, low, high = slowdown(finding)
            slower = decide(low, high)
            how = f"beyond {threshold - 1:+.1%}"
            if slower is None:
                slower = point > threshold
                how = f"by the point alone, the interval straddles {threshold - 1:+.1%}"
            self._report(what, finding, trials, f"{'slower' if slower else 'not slower'} ({how})")
            good, bad = (good, index) if slower else (index, bad)
        if bad - good > 1:  # skipped commits between: the step is in one of them or at `bad`
            return self.chain[good + 1 : bad + 1]
        return self.neighbours(lo, bad, hi, total)

    def neighbours(self, lo: int, found: int, hi: int, total: Finding) -> list[_Step]:
        """``found`` against its parent; if that step is clearly not all of ``total``, search
        the rest (before it and after it) too."""
        parent, commit = self.chain[found - 1], self.chain[found]
        finding, trials = self.measured(parent, commit, self.beyondTolerance, f"step-{found}")
        self._report(
            f"{commit[:12]} ({self._position(found)}) against its parent {parent[:12]}",
            finding,
            trials,
            "the step",
        )
        named = [_Step(commit, subjectOf(self.repo, commit), finding, trials)]
        if slowdown(finding)[2] >= slowdown(total)[1]:
            return named
        for start, end in ((lo, found - 1), (found, hi)):
            if end <= start or len(named) >= MAX_STEPS:
                continue
            rest, restTrials = self.measured(
                self.chain[start], self.chain[end], self.beyondTolerance, f"rest-{start}-{end}"
            )
            verdict = self.beyondTolerance(*slowdown(rest)[1:])
            self._report(
                f"the rest, {self.chain[end][:12]} against {self.chain[start][:12]}",
                rest,
                restTrials,
                "slower beyond the tolerance: searched" if verdict else "within the tolerance",
            )
            if verdict:
                more = self.find(start, end, rest)
                if more and isinstance(more[0], _Step):
                    named += [s for s in more if isinstance(s, _Step)]
        return sorted(named, key=lambda s: self.chain.index(s.commit))


def _total(search: _Search, pattern: str | None) -> Finding | None:
    """GOOD against BAD: the measure to search (the worst slower one matching ``pattern``)."""
    good, bad = search.chain[0], search.chain[-1]
    trials = Trials(search.commits.side(good), search.commits.side(bad))
    count = min(START_TRIALS, search.maxTrials)
    while True:
        trials.extend(search.commits, count, tag="good-bad")
        findings = trials.findings(tolerance=search.tolerance, familyAlpha=FAMILY_ALPHA)
        candidates = [f for f in findings if f.measure in matching([f.measure], pattern)]
        if not candidates:
            names = ", ".join(f.measure.name for f in findings[:6])
            raise GateError(f"--measure {pattern!r} matches no measure (there are: {names}, ...)")
        regressed = [f for f in candidates if slowdown(f)[1] > 1 + search.tolerance]
        straddle = [f for f in candidates if slowdown(f)[2] > 1 + search.tolerance]
        if regressed or not straddle or count >= search.maxTrials:
            break
        count = min(count + TRIAL_STEP, search.maxTrials)
    for finding in sorted(candidates, key=lambda f: -slowdown(f)[0]):
        print(f"bisect: {bad[:12]} against {good[:12]}: {finding}", flush=True)
    if not regressed:
        return None
    worst = max(regressed, key=lambda f: slowdown(f)[0])
    search.measure = worst.measure
    search._report(f"BAD {bad[:12]} against GOOD {good[:12]}", worst, count, "the total")
    return worst


def _lastLine(found: list[_Step] | list[str], measure: Measure) -> str:
    if found and isinstance(found[0], str):
        ids = " ".join(c[:12] for c in found if isinstance(c, str))
        return f"bisect: {measure.name}: the first slower commit is one of {ids} (others skipped)"
    steps = [s for s in found if isinstance(s, _Step)]
    if len(steps) == 1:
        [step] = steps
        return (
            f"bisect: first slower commit {step.commit} {step.subject}: {measure.name}"
            f" {_figures(step.finding, step.trials)} against its parent"
        )
    parts = "; then ".join(
        f"{s.commit[:12]} {s.subject}: {_figures(s.finding, s.trials)}" for s in steps
    )
    return f"bisect: {measure.name} came in {len(steps)} steps: {parts}"


def runBisect(args: argparse.Namespace) -> int:
    """``--bisect GOOD BAD``: search, print each step, the commit on the last line."""
    started = time.monotonic()
    repo = repoRoot(Path.cwd())
    goodRef, badRef = args.bisect
    good, bad = resolveCommit(repo, goodRef), resolveCommit(repo, badRef)
    chain = [good, *firstParentCommits(repo, good, bad)]
    say(
        f"bisect {len(chain) - 1} commits after {good[:12]} up to {bad[:12]}, -k {args.selection!r}"
    )
    with tempfile.TemporaryDirectory(prefix="lecture31-bisect-") as temporary:
        runs = Path(args.keep_runs or temporary)
        runs.mkdir(parents=True, exist_ok=True)
        with Commits(repo, selection=args.selection, stat=args.stat, runs=runs) as commits:
            search = _Search(
                commits, chain, Measure("", "seconds", ""), args.tolerance, args.trials, repo
            )
            try:
                total = _total(search, args.measure)
                found = [] if total is None else search.find(0, len(chain) - 1, total)
            except Unmeasurable as exc:  # GOOD's or BAD's bench (the others are skipped)
                cause = exc.__cause__
                raise (
                    cause if isinstance(cause, GateError | BenchFailed) else BenchFailed(str(exc))
                ) from None
            records = commits.records
    record = {
        "good": {"ref": goodRef, "commit": good},
        "bad": {"ref": badRef, "commit": bad},
        "selection": args.selection,
        "stat": args.stat,
        "tolerance": args.tolerance,
        "measure": search.measure.name if total else None,
        "steps": search.log,
        "found": [s.commit if isinstance(s, _Step) else s for s in found],
        "runs": records,
        "seconds": time.monotonic() - started,
    }
    jsonPath, problem = writeRecord(record, args.json)  # a private file without --json
    if problem is not None:
        say(f"error: {problem}" + (f"; every run in {jsonPath} instead" if jsonPath else ""))
    else:
        say(
            f"{search.steps} steps, {len(records)} runs, {record['seconds'] / 60:.1f} min;"
            f" every run in {jsonPath}"
        )
    if total is None:
        print(
            f"bisect: nothing matching {args.measure or 'any measure'} is slower at {bad[:12]}"
            f" than at {good[:12]} beyond the tolerance {args.tolerance:.0%}: no commit to name"
        )
        return EXIT_NOTHING_SLOWER
    print(_lastLine(found, search.measure), flush=True)
    return 0
