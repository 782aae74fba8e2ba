"""Measuring many commits in one job, for ``--bisect`` and ``--history``: the gate's machinery
(worktrees, a side's own bench in a child process, ABBA trials, the decision), shared, not copied.

    Commits(repo, selection=..., stat=..., runs=DIR)      a `with` block; on the way out every
        .side(commit)     the commit in a temporary worktree  worktree it made is removed
                          (made once, checked like the gate's sides)
        .run(side, name)  one bench run: its measures, and what --json keeps of it
    Trials(good, other)                    paired runs so far; .extend(commits, upTo) adds trials
        .finding(measure, familyAlpha)     the measure's head/base ratio and interval
    compareCommits(repo, base, head, ...)  the plain A/B of two commits: its findings
    firstParentCommits(repo, good, bad)    the commits after GOOD up to BAD, oldest first

A commit that cannot be measured (no bench/, its lecture31 not its own, its bench failing or
selecting nothing, a measure missing) raises ``Unmeasurable``: bisect skips it, history drops it.
"""

from __future__ import annotations

import contextlib
import fnmatch
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..report.parse import ReportError
from .decide import FAMILY_ALPHA, Finding, Measure, compareTrials, measuresOf
from .git import GateError, _git, checkedOut, resolveCommit
from .protocol import sharedOptions
from .record import keptBenchmarks
from .trials import BenchFailed, Side, abbaOrder, checkSide, runBench

__all__ = (
    "Commits",
    "Run",
    "Trials",
    "Unmeasurable",
    "compareCommits",
    "firstParentCommits",
    "matching",
    "say",
    "slowdown",
    "subjectOf",
)


class Unmeasurable(Exception):
    """Raised by ``Commits`` for a commit whose bench cannot give the measures (skip it)."""


def say(text: str) -> None:
    """Progress, to stderr (stdout is for the findings)."""
    print(f"gate: {text}", file=sys.stderr, flush=True)


def firstParentCommits(repo: Path, good: str, bad: str) -> list[str]:
    """The commits after ``good`` up to ``bad`` along first parents, oldest first."""
    if _git(repo, "merge-base", "--is-ancestor", good, bad, check=False).returncode != 0:
        raise GateError(f"{good[:12]} is not an ancestor of {bad[:12]}: give GOOD before BAD")
    listed = _git(repo, "rev-list", "--first-parent", "--reverse", f"{good}..{bad}").stdout
    commits = listed.split()
    if not commits:
        raise GateError(f"no commit between {good[:12]} and {bad[:12]}")
    return commits


def subjectOf(repo: Path, commit: str) -> str:
    return _git(repo, "log", "-1", "--format=%s", commit).stdout.strip()


def matching(measures: list[Measure], pattern: str | None) -> list[Measure]:
    """The measures whose name holds ``pattern`` or matches it as a glob (case-insensitive)."""
    if not pattern:
        return list(measures)
    wanted = pattern.lower()
    return [
        m
        for m in measures
        if wanted in m.name.lower() or fnmatch.fnmatchcase(m.name.lower(), wanted)
    ]


def slowdown(finding: Finding) -> tuple[float, float, float]:
    """(point, low, high) as "times slower": > 1 is worse for seconds and speedups alike."""
    if finding.measure.kind == "seconds":
        return finding.ratio, finding.low, finding.high
    return 1.0 / finding.ratio, 1.0 / finding.high, 1.0 / finding.low


@dataclass(frozen=True)
class Run:
    """One bench run of one commit: its measures, and the record --json keeps."""

    measures: dict[Measure, float]
    record: dict


class Commits(contextlib.AbstractContextManager["Commits"]):
    """Worktrees of the commits being measured, made on demand, all removed on the way out."""

    def __init__(self, repo: Path, *, selection: str, stat: str, runs: Path) -> None:
        self.repo, self.selection, self.stat, self.runs = repo, selection, stat, runs
        self._stack = contextlib.ExitStack()
        self._sides: dict[str, Side] = {}
        self.records: list[dict] = []

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def side(self, commit: str) -> Side:
        """``commit`` checked out and checked (Unmeasurable if it has no bench of its own)."""
        if commit not in self._sides:
            tree = self._stack.enter_context(checkedOut(self.repo, commit, commit[:12]))
            side = Side(f"commit {commit[:12]}", tree, commit)
            try:
                checkSide(side)
            except GateError as exc:
                raise Unmeasurable(str(exc)) from exc
            self._sides[commit] = side
        return self._sides[commit]

    def run(self, side: Side, name: str, *, extra: list[str]) -> Run:
        """One bench run of ``side``; Unmeasurable when it fails or selects nothing."""
        started = time.monotonic()
        try:
            raw = runBench(
                side,
                self.runs / f"{name}.json",
                selection=self.selection,
                extra=extra,
                log=self.runs / f"{name}.log",
            )
            measures = measuresOf(raw, self.stat)
        except (BenchFailed, ReportError) as exc:
            raise Unmeasurable(str(exc)) from exc
        except GateError as exc:  # -k selects nothing in this commit's bench
            raise Unmeasurable(str(exc)) from exc
        record = {
            "name": name,
            "commit": side.commit,
            "seconds": time.monotonic() - started,
            "benchmarks": keptBenchmarks(raw),
        }
        self.records.append(record)
        return Run(measures, record)


@dataclass
class Trials:
    """Paired runs of two commits so far, in ABBA order: ``base[i]`` and ``head[i]``."""

    base: Side
    head: Side
    baseRuns: list[Mapping[Measure, float]] = field(default_factory=list)
    headRuns: list[Mapping[Measure, float]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.baseRuns)

    def extend(self, commits: Commits, upTo: int, *, tag: str) -> None:
        """Run trials ``count + 1`` .. ``upTo``, continuing the ABBA alternation."""
        extra = sharedOptions((self.base, self.head), commits.selection)
        done = self.count
        try:
            for trial, label in abbaOrder(upTo):
                if trial <= done:
                    continue
                side = self.base if label == "base" else self.head
                name = f"{tag}-trial-{trial:02d}-{label}-{side.commit[:12]}"
                say(f"{tag}: trial {trial} of {upTo}, {label} {side.commit[:12]}")
                run = commits.run(side, name, extra=extra)
                (self.baseRuns if label == "base" else self.headRuns).append(run.measures)
        finally:
            # A trial whose second run failed leaves the lists unequal: keep whole trials only.
            whole = min(len(self.baseRuns), len(self.headRuns))
            del self.baseRuns[whole:], self.headRuns[whole:]

    def findings(self, *, tolerance: float, familyAlpha: float = FAMILY_ALPHA) -> list[Finding]:
        return compareTrials(
            self.baseRuns, self.headRuns, tolerance=tolerance, familyAlpha=familyAlpha
        )[0]

    def finding(self, measure: Measure, *, tolerance: float, familyAlpha: float) -> Finding:
        """``measure`` alone (so its interval is at 1 - familyAlpha); Unmeasurable if a side
        lacks it."""
        base = [{measure: run[measure]} for run in self.baseRuns if measure in run]
        head = [{measure: run[measure]} for run in self.headRuns if measure in run]
        if len(base) != self.count or len(head) != self.count:
            missing = self.base if len(base) != self.count else self.head
            raise Unmeasurable(f"{missing.commit[:12]} has no {measure.name}")
        [found], _, _ = compareTrials(base, head, tolerance=tolerance, familyAlpha=familyAlpha)
        return found


def compareCommits(
    repo: Path,
    base: str,
    head: str,
    *,
    selection: str,
    trials: int,
    tolerance: float,
    measure: str | None = None,
    stat: str = "min",
    log: Callable[[str], None] = say,
) -> list[Finding]:
    """The gate's A/B of two commits (both in temporary worktrees): the findings whose measure
    matches ``measure`` (all when None)."""
    baseCommit, headCommit = resolveCommit(repo, base), resolveCommit(repo, head)
    with (
        tempfile.TemporaryDirectory(prefix="lecture31-gate-") as runs,
        Commits(repo, selection=selection, stat=stat, runs=Path(runs)) as commits,
    ):
        paired = Trials(commits.side(baseCommit), commits.side(headCommit))
        log(f"{baseCommit[:12]} against {headCommit[:12]}: {trials} trials")
        paired.extend(commits, trials, tag="compare")
    found = paired.findings(tolerance=tolerance)
    keep = set(matching([f.measure for f in found], measure))
    return [f for f in found if f.measure in keep]
