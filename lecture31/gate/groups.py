"""What the gate guards and how: the suite's pairs in groups, each measured and judged its way.

    group        -k selection        one bench run measures it with ...
    breaker      test_breaker        CPU time of the thread, 10 loops a round
    fanout       test_fanout         a virtual clock (seeded sleeps)
    pipeline     test_pipeline       wall time, 3 rounds
    ...          (each selection names the bench file, so a test id elsewhere cannot match it)

This tuple is the one declaration: the gate runs and decides from it, ``bench/conftest.py``
reads each group's rounds and instrument from it (``--bench-gate``), CI runs the gate's
default (every group), the docs' tests and the backstop read it. A benchmark of ``pytest
bench``'s default selection that falls in no group fails ``tests/gate/test_groups.py``: a
new pair is gated the day it lands.

Tolerances and trial counts come from A/A sessions on CI's machine kind (``bench/calibrate-gate``,
``bench/calibration/``): each group's tolerance sits above what unchanged code moves its
measures by, and its trials make the interval narrow enough to resolve the targets
(docs/ci-gate.md).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

__all__ = (
    "CONTROL",
    "CONTROL_ENV",
    "CONTROL_FACTOR",
    "CONTROL_PAIR",
    "CONTROL_VARIANT",
    "GROUPS",
    "INSTRUMENTS",
    "OTHER",
    "GateGroup",
    "allGroups",
    "backstopPairs",
    "groupNamed",
    "groupsOf",
    "groupsTable",
    "matchingGroups",
    "otherGroup",
    "selectionOf",
    "selects",
)

# How one bench run reads time. "wall": time.perf_counter, what a user waits. "cpu":
# time.thread_time, the CPU the benchmark's own thread spent, blind to the time a shared vCPU
# was given to another tenant (a micro-benchmark's rounds of a few ms are all jitter otherwise).
# "virtual": the round runs on lecture31._runtime.virtualclock's loop, whose clock jumps to the
# next timer: for code made of seeded sleeps and deadlines the time is exactly what its rules add
# up to, and a run takes milliseconds instead of seconds.
INSTRUMENTS = ("wall", "cpu", "virtual")
_INSTRUMENT_WORDS = {
    "wall": "wall time",
    "cpu": "CPU time of the thread",
    "virtual": "a virtual clock: seeded sleeps cost nothing, the deadline rule's seconds exact",
}


@dataclass(frozen=True, slots=True)
class GateGroup:
    """One group of pairs: how the gate measures them and at what tolerance it judges them."""

    name: str
    selection: str  # pytest -k expression over bench/: the benchmarks of this group
    instrument: str  # one of INSTRUMENTS
    rounds: int  # timed rounds in one bench run
    warmup: int  # untimed rounds before them
    iterations: int  # calls per round (a round's time is divided by it)
    trials: int  # first stage: paired trials (one run of each side) every gate run makes
    moreTrials: int  # second stage, if measures are still unresolved and time allows
    tolerance: float  # the slowdown allowed before a measure counts as regressed
    why: str
    # Rounds of the pair's reference variant, when it differs (0: ``rounds``, ``warmup``): the
    # synchronous references are sleeps, steady from one round, and cost most of a run.
    referenceRounds: int = 0
    # Judged again by CI's backstop against the committed baseline's speedups (its instrument
    # is the baseline's and its speedups carry across CPU models); see .ci/run.
    backstop: bool = False
    # The fraction of each side's slowest trials set aside, their means compared by Yuen's test
    # (lecture31.gate.decide, trimmedEstimate); 0: paired trials. For CPU-bound groups, whose
    # trials fall in a host's fast or slow phase as a whole (why: decide.py).
    trimSlowest: float = 0.0
    # Variants measured (a pair's reference) but not judged: the bench's own code, which no
    # change to the library can slow; judging them only adds noise to the family.
    unjudged: tuple[str, ...] = ()


GROUPS: tuple[GateGroup, ...] = (
    GateGroup(
        name="breaker",
        selection="test_breaker",
        instrument="cpu",
        rounds=15,
        warmup=2,
        iterations=10,
        trials=8,
        moreTrials=6,
        tolerance=0.03,
        why="2,000 calls a round cost 0.1-2.5 ms: ten of them a round, timed in the thread's CPU"
        " time, so a round is long against timer and scheduler jitter and a vCPU stolen by"
        " another tenant costs nothing; a benchmark (0.3 s) falls whole in a host's fast or"
        " slow phase, so each side's slowest half of the trials is set aside. The reference,"
        " bare calls, is the bench's own loop: measured, not judged",
        trimSlowest=0.5,
        unjudged=("bare",),
    ),
    GateGroup(
        name="fanout",
        selection="test_fanout",
        instrument="virtual",
        rounds=1,
        warmup=0,
        iterations=1,
        trials=2,
        moreTrials=0,
        tolerance=0.005,
        why="15 fan-outs of seeded sleeps: on a virtual clock the run takes 30 ms instead of"
        " 18 s and its seconds are exactly what the deadline rule waits, the same in every"
        " trial; two trials suffice (no spread), and a tolerance of half a percent sees a 10%"
        " longer deadline (+0.9% on the series)",
        backstop=True,
    ),
    GateGroup(
        name="pipeline",
        selection="test_pipeline",
        instrument="wall",
        rounds=3,
        warmup=1,
        iterations=1,
        trials=10,
        moreTrials=6,
        tolerance=0.015,
        why="pools and waits: wall time is what the design buys; the noise is between runs, not"
        " rounds, so many short runs (3 rounds each; the naive reference, sleeps, one)",
        referenceRounds=1,
        backstop=True,
    ),
    GateGroup(
        name="tiered-10",
        selection="test_tiered and 10",
        instrument="wall",
        rounds=3,
        warmup=1,
        iterations=1,
        trials=10,
        moreTrials=6,
        tolerance=0.01,
        why="the homework's scale, mostly sleeps in pools: steady (0.5% a trial), so a tight"
        " tolerance; the sequential reference, sleeps, one round",
        referenceRounds=1,
        backstop=True,
    ),
    GateGroup(
        name="tiered-40",
        selection="test_tiered and 40",
        instrument="wall",
        rounds=2,
        warmup=0,
        iterations=1,
        trials=4,
        moreTrials=4,
        tolerance=0.02,
        why="the same code as tiered-10 at four times the cost (its sequential reference sleeps"
        " 3 s a round: one round of it): two rounds, the pools already warm, few trials",
        referenceRounds=1,
        backstop=True,
    ),
    GateGroup(
        name="tiers",
        selection="test_tiers",
        instrument="wall",
        rounds=2,
        warmup=1,
        iterations=1,
        trials=6,
        moreTrials=6,
        tolerance=0.03,
        why="the tier matrix's dispatch: parallel CPU work on shared vCPUs moves a few % from run"
        " to run, so a wider tolerance",
    ),
    GateGroup(
        name="hedging",
        selection="test_hedging",
        instrument="cpu",
        rounds=3,
        warmup=1,
        iterations=1,
        trials=6,
        moreTrials=4,
        tolerance=0.03,
        why="100 hedged fan-outs on a virtual clock: what the round costs is the CPU of the"
        " hedging machinery (tasks, timers, the budget), so the thread's CPU time; CPU-bound,"
        " so each side's slowest half of the trials is set aside, as the breaker's",
        trimSlowest=0.5,
    ),
)

# The positive control: a real code path (the pipeline's CPU stage, normalizeReading, run
# inline) that the head side's bench slows by CONTROL_FACTOR (more readings a round) when, and
# only when, the gate names that side's own tree in CONTROL_ENV. A gate that cannot see this
# slowdown on this host, now, is blind; the control never runs outside the gate's own runs.
CONTROL_ENV = "LECTURE31_GATE_CONTROL"
CONTROL_FACTOR = 1.10
CONTROL_PAIR = "gate-control"  # variants "plain" (the reference) and "slowed"
CONTROL_VARIANT = "slowed"
CONTROL = GateGroup(
    name="control",
    selection="test_gate_control",
    # CPU time: the control is pure CPU work inline, and in wall time a host's hiccup between
    # two runs (a base run at 90 ms against 50 ms, measured 2026-12-07) hid its 10%.
    instrument="cpu",
    rounds=9,
    warmup=1,
    iterations=1,
    trials=0,  # measured in every trial of the first stage, whatever its length
    moreTrials=0,
    tolerance=0.015,
    why="proves in every run that the gate can fail: the head's control is 10% slower, in the"
    " thread's CPU time (pure CPU work inline), judged as the CPU-bound groups are",
    trimSlowest=0.5,
)


# Benchmarks that a -k of the user's selects outside every group (a bench of one's own, a pair
# not yet declared): measured and judged together at the command line's --trials and tolerance.
OTHER = "other"


def otherGroup(*, trials: int, tolerance: float) -> GateGroup:
    """The group of whatever no declared group selects."""
    return GateGroup(
        name=OTHER,
        selection="",
        instrument="wall",
        rounds=0,  # the bench's own quick rounds
        warmup=0,
        iterations=1,
        trials=trials,
        moreTrials=0,
        tolerance=tolerance,
        why="benchmarks outside every declared group, at the command line's figures",
    )


def backstopPairs(run: dict) -> list[str]:
    """The pairs of a pytest-benchmark run whose groups CI's backstop judges (``backstop``)."""
    pairs = []
    for bench in run.get("benchmarks", []):
        groups = groupsOf(str(bench.get("fullname", "")))
        pair = bench.get("extra_info", {}).get("pair")
        if pair and len(groups) == 1 and groups[0].backstop and pair not in pairs:
            pairs.append(pair)
    return pairs


def allGroups() -> tuple[GateGroup, ...]:
    """The groups and the control, each once."""
    return (*GROUPS, CONTROL)


def groupNamed(name: str) -> GateGroup:
    """The group called ``name``; ValueError naming the known ones otherwise."""
    for group in allGroups():
        if group.name == name:
            return group
    known = ", ".join(g.name for g in allGroups())
    raise ValueError(f"no gate group {name!r}; the groups are {known}")


def selectionOf(groups: tuple[GateGroup, ...] | list[GateGroup]) -> str:
    """One -k expression selecting every benchmark of ``groups``."""
    return " or ".join(f"({g.selection})" for g in groups)


def selects(selection: str, nodeid: str) -> bool:
    """Whether ``-k selection`` picks the benchmark ``nodeid`` (bench/test_x.py::test_y[10]):
    pytest's own -k grammar (and, or, not, parentheses), each word a case-insensitive part of
    the id, so the gate and the bench read a group's selection alike."""
    from _pytest.mark.expression import Expression  # pytest: present wherever a bench runs

    lowered = nodeid.lower()

    def matches(word: str, /, **kwargs: str | int | bool | None) -> bool:
        return word.lower() in lowered

    return Expression.compile(selection).evaluate(matches)


def groupsOf(nodeid: str) -> list[GateGroup]:
    """The groups (or the control) whose selection picks ``nodeid``: one, unless misdeclared."""
    if selects(CONTROL.selection, nodeid):
        return [CONTROL]
    return [group for group in GROUPS if selects(group.selection, nodeid)]


def matchingGroups(patterns: list[str]) -> list[GateGroup]:
    """The groups whose names match any of the fnmatch ``patterns`` (for --group)."""
    return [g for g in GROUPS if any(fnmatch.fnmatchcase(g.name, p) for p in patterns)]


def groupsTable() -> str:
    """The groups as docs/ci-gate.md shows them (a markdown table; the page includes it, see
    lecture31.report.include): written from GROUPS, so the page cannot drift from them."""
    lines = [
        "| group | selection | instrument | rounds (reference) | trials (+ second stage)"
        " | tolerance | trials judged |",
        "| :--- | :--- | :--- | :--- | :--- | :--- | :--- |",
    ]
    for g in GROUPS:
        instrument = _INSTRUMENT_WORDS[g.instrument]
        if g.iterations > 1:
            instrument += f", {g.iterations} calls of the benchmark a round"
        reference = f" ({g.referenceRounds})" if g.referenceRounds else ""
        more = f" (+{g.moreTrials})" if g.moreTrials else ""
        judged = (
            f"trimmed: each side's slowest {g.trimSlowest:.0%} set aside"
            if g.trimSlowest
            else "paired"
        )
        if g.unjudged:
            judged += f"; {', '.join(g.unjudged)} measured, not judged"
        tolerance = f"{g.tolerance:.1%}".replace(".0%", "%")
        cells = [g.name, f"`{g.selection}`", instrument, f"{g.rounds}{reference}"]
        lines.append("| " + " | ".join([*cells, f"{g.trials}{more}", tolerance, judged]) + " |")
    return "\n".join(lines) + "\n"
