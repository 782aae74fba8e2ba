"""The gate's trials: a first stage every run makes, a second where measures are unresolved.

    stage 1   trial t = 1..T, one run of each side (ABBA order), of every group whose
              ``trials`` reach t; the positive control runs in every trial of this stage
    look 1    every measure judged at alpha / 2 (Benjamini-Hochberg over all of them)
    stage 2   the groups left with an unresolved measure: up to ``moreTrials`` more trials
              each, while the time budget lasts (a trial's cost taken from the runs so far)
    look 2    those measures judged again on all their trials, at the other alpha / 2, BH
              over the family of every measure; what look 1 decided stands

Why a fixed split of alpha over two looks: by the union bound the run's false-alarm rate stays
at most alpha / 2 + alpha / 2 = alpha whatever the two looks share, with no model of how they
depend on each other (a Pocock or O'Brien-Fleming boundary needs the looks' correlation, which
differs per measure here). It costs look 1 a little power; the second stage buys it back where
it matters, on the measures the first could not decide.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .decide import (
    FAMILY_ALPHA,
    Estimate,
    Finding,
    Measure,
    Verdict,
    judge,
    measuresOf,
    pairedTrials,
)
from .groups import CONTROL, CONTROL_PAIR, CONTROL_VARIANT, OTHER, GateGroup, groupsOf
from .trials import abbaOrder

__all__ = ("Outcome", "StagePlan", "controlFinding", "judgeRuns", "runStages", "trialGroups")

# A run is (trial, side label, the groups it measures) -> that run's pytest-benchmark JSON.
RunSide = Callable[[int, str, Sequence[GateGroup]], Mapping]


@dataclass(frozen=True)
class StagePlan:
    """What the run measures: its groups, the statistic, the time budget, the family alpha."""

    groups: tuple[GateGroup, ...]
    stat: str = "min"
    budgetSeconds: float = 11 * 60.0
    alpha: float = FAMILY_ALPHA
    control: bool = True  # measure the positive control in stage 1


@dataclass
class Outcome:
    """Every run's JSON by trial and side, and the verdicts the looks reached."""

    runs: list[dict] = field(default_factory=list)  # {"trial", "side", "stage", "groups", "run"}
    findings: list[Finding] = field(default_factory=list)
    control: Finding | None = None
    onlyBase: list[Measure] = field(default_factory=list)
    onlyHead: list[Measure] = field(default_factory=list)
    secondStage: list[str] = field(default_factory=list)  # groups that got more trials


def trialGroups(groups: Sequence[GateGroup], trial: int) -> list[GateGroup]:
    """The groups stage 1's trial ``trial`` measures."""
    return [g for g in groups if g.trials >= trial]


def _groupOf(run: Mapping) -> dict[str, str]:
    """pair -> group name, from the benchmarks' ids."""
    found = {}
    for bench in run.get("benchmarks", []):
        pair = bench.get("extra_info", {}).get("pair")
        groups = groupsOf(str(bench.get("fullname", "")))
        if pair:
            found[pair] = groups[0].name if len(groups) == 1 else OTHER
    return found


def _perSide(runs: Sequence[dict], group: str, stat: str) -> tuple[list[dict], list[dict]]:
    """Trial by trial, each side's measures of ``group`` (trials where both sides ran it)."""
    bySide: dict[str, dict[int, dict]] = {"base": {}, "head": {}}
    for entry in runs:
        if group not in entry["groups"]:
            continue
        owner = _groupOf(entry["run"])
        measures = {
            m: v for m, v in measuresOf(entry["run"], stat).items() if owner.get(m.pair) == group
        }
        bySide[entry["side"]][entry["trial"]] = measures
    shared = sorted(set(bySide["base"]) & set(bySide["head"]))
    return [bySide["base"][t] for t in shared], [bySide["head"][t] for t in shared]


def _estimates(
    runs: Sequence[dict], groups: Sequence[GateGroup], stat: str
) -> tuple[list[Estimate], dict[Measure, GateGroup], list[Measure], list[Measure]]:
    estimates: list[Estimate] = []
    owner: dict[Measure, GateGroup] = {}
    onlyBase: list[Measure] = []
    onlyHead: list[Measure] = []
    for group in groups:
        base, head = _perSide(runs, group.name, stat)
        if len(base) < 2:
            continue
        found, lostBase, lostHead = pairedTrials(base, head, trimSlowest=group.trimSlowest)
        found = [e for e in found if e.measure.variant not in group.unjudged]
        estimates += found
        onlyBase += lostBase
        onlyHead += lostHead
        owner.update({e.measure: group for e in found})
    return estimates, owner, onlyBase, onlyHead


def _look(
    estimates: Sequence[Estimate], owner: Mapping[Measure, GateGroup], alpha: float, family: int
) -> list[Finding]:
    return judge(
        estimates,
        lambda m: owner[m].tolerance,
        alpha=alpha,
        family=family,
        groupOf=lambda m: owner[m].name,
    )


def judgeRuns(
    runs: Sequence[dict], groups: Sequence[GateGroup], *, stat: str, alpha: float
) -> tuple[list[Finding], Finding | None]:
    """One look over ``runs`` (entries as ``Outcome.runs`` keeps them): every measure of
    ``groups`` judged at ``alpha``, BH over all of them, and the positive control's finding."""
    estimates, owner, _, _ = _estimates(runs, groups, stat)
    findings = _look(estimates, owner, alpha, len(estimates))
    return findings, controlFinding(runs, stat, alpha, len(estimates))


def controlFinding(runs: Sequence[dict], stat: str, alpha: float, family: int) -> Finding | None:
    """The positive control's verdict: one hypothesis of its own (not one of the family's), so
    judged alone at the run's alpha: caught, the plumbing can see a slowdown of its size."""
    estimates, owner, _, _ = _estimates(runs, [CONTROL], stat)
    # Its seconds, by the rule of the CPU-bound groups (each side's slowest trials set aside):
    # caught, the rule those groups are judged by sees a slowdown of its size on this host.
    slowed = Measure(CONTROL_PAIR, "seconds", CONTROL_VARIANT)
    chosen = [e for e in estimates if e.measure == slowed]
    if not chosen:
        return None
    [finding] = _look(chosen, owner, FAMILY_ALPHA, 1)
    return finding


def runStages(
    plan: StagePlan,
    runSide: RunSide,
    *,
    say: Callable[[str], None] = lambda text: None,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Both stages and both looks (see the module docstring)."""
    started = clock()
    outcome = Outcome()
    firstTrials = max((g.trials for g in plan.groups), default=0)
    slowest = 0.0
    for trial, label in abbaOrder(firstTrials):
        groups = trialGroups(plan.groups, trial) + ([CONTROL] if plan.control else [])
        runStarted = clock()
        run = runSide(trial, label, groups)
        slowest = max(slowest, clock() - runStarted)
        outcome.runs.append(
            {
                "trial": trial,
                "side": label,
                "stage": 1,
                "groups": [g.name for g in groups],
                "run": run,
            }
        )
    estimates, owner, outcome.onlyBase, outcome.onlyHead = _estimates(
        outcome.runs, plan.groups, plan.stat
    )
    family = len(estimates)
    half = plan.alpha / 2.0
    findings = {f.measure: f for f in _look(estimates, owner, half, family)}
    outcome.control = controlFinding(outcome.runs, plan.stat, half, family)

    unresolved = {f.group for f in findings.values() if f.verdict is Verdict.UNRESOLVED}
    extra = {g.name: g.moreTrials for g in plan.groups if g.name in unresolved and g.moreTrials}
    trial = firstTrials
    lastTrialSeconds = 2.0 * slowest  # a trial is two runs; the first estimate is stage 1's worst
    while extra and clock() - started + lastTrialSeconds <= plan.budgetSeconds:
        trial += 1
        groups = [g for g in plan.groups if extra.get(g.name, 0) > 0]
        trialStarted = clock()
        for label in ("base", "head") if trial % 2 else ("head", "base"):
            run = runSide(trial, label, groups)
            outcome.runs.append(
                {
                    "trial": trial,
                    "side": label,
                    "stage": 2,
                    "groups": [g.name for g in groups],
                    "run": run,
                }
            )
        lastTrialSeconds = clock() - trialStarted
        for group in groups:
            extra[group.name] -= 1
            if group.name not in outcome.secondStage:
                outcome.secondStage.append(group.name)
        extra = {name: left for name, left in extra.items() if left > 0}
    if outcome.secondStage:
        again = [g for g in plan.groups if g.name in outcome.secondStage]
        estimates, owner, _, _ = _estimates(outcome.runs, again, plan.stat)
        undecided = [e for e in estimates if findings[e.measure].verdict is Verdict.UNRESOLVED]
        for finding in _look(undecided, owner, half, family):
            findings[finding.measure] = finding
        if say is not None and undecided:
            say(
                f"second stage: {len(undecided)} unresolved measures of"
                f" {', '.join(outcome.secondStage)} judged again on all their trials"
            )
    outcome.findings = sorted(findings.values(), key=lambda f: (f.group, f.measure.name))
    return outcome
