"""Benchmark plumbing: the ``measure`` fixture, round counts, the slowdown injector, and the
hooks of ``--benchmark-compare`` and the end-of-run summary (their work is in compare.py).

    measure(pair=, variant=, reference=, scale=, kind=, target=[, beside=])
        |-- benchmark.group = pair            (one table per comparison in `pytest bench`)
        |-- benchmark.extra_info = lecture31.report.records.extraInfo(...)   (the one format)
        |-- target() -> coroutine? run it on the session loop (benchRunner)
        |-- LECTURE31_BENCH_SLOWDOWN? stretch this variant's rounds (bench code only)
        |-- beside? the reference's call, timed next to every round (ABBA: before even rounds,
        |           after odd ones), kept as extra_info referenceRounds: the report divides
        |           round by round (pytest-benchmark times one benchmark per test, #166)
        '-- benchmark.pedantic(rounds, warmup_rounds, iterations=1)

    --benchmark-compare and the speedups printed at the end of every run: bench/compare.py

Every saved or --benchmark-json run records whether its rounds were --bench-quick's and which
-k / -m chose its benchmarks (``lecture31.report.records.RUN_INFO``): the report will not let
such a run replace a fuller table without --force.

Injecting a slowdown, to prove the CI gate catches one without touching the library::

    LECTURE31_BENCH_SLOWDOWN='pipeline-*/correct=1.3' pytest bench --bench-quick ...

stretches every round of the matching pair/variant (fnmatch patterns) to 1.3x its measured wall
time by sleeping ``0.3 x elapsed`` after it: the same effect on the median as a library that got
30% slower, and recorded as ``extra_info['injectedSlowdown']`` so such a run cannot pass for a
real one.
"""

from __future__ import annotations

import fnmatch
import functools
import inspect
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import compare  # bench/compare.py: pytest puts this folder on sys.path for its conftest
import pytest

from lecture31._runtime.virtualclock import runVirtually
from lecture31.gate.groups import CONTROL, CONTROL_ENV, CONTROL_FACTOR, GateGroup, groupsOf
from lecture31.report.records import (
    GATE_GROUP,
    GATE_INSTRUMENT,
    IDEAL_SECONDS,
    INJECTED_SLOWDOWN,
    REFERENCE_ROUNDS,
    RUN_INFO,
    extraInfo,
    runInfo,
)

SLOWDOWN_ENV = "LECTURE31_BENCH_SLOWDOWN"


@dataclass(frozen=True)
class Rounds:
    """Timed rounds and untimed warm-up rounds for one kind of benchmark."""

    rounds: int
    warmup: int


# Full runs (baselines) vs --bench-quick (CI). The report divides one statistic of each
# variant's rounds (median for tables, min for the CI gate), so a handful of rounds rides out a
# noisy round on a shared 2-core machine; quick mode's 5 rounds kept unchanged code within 9% of
# a quiet baseline by min even with one core busy. The kinds differ because one round costs from
# ~0.3 ms (breaker loops) to ~9 s (15 fan-out queries).
ROUNDS = {
    # kind: (full, quick)
    "tiered": (Rounds(7, 2), Rounds(5, 1)),
    "pipeline": (Rounds(7, 2), Rounds(5, 1)),
    "large": (Rounds(3, 1), Rounds(3, 1)),
    # Process pool vs dask at 480 / 4,800 sensors (bench/test_cluster.py, large only): a dask
    # round at 4,800 is tens of seconds on a loaded 2-core machine.
    "cluster": (Rounds(3, 1), Rounds(3, 1)),
    # Seeded sleeps only: every round sleeps the same, so one round is already representative.
    "fanout": (Rounds(2, 0), Rounds(1, 0)),
    "breaker": (Rounds(200, 20), Rounds(50, 5)),
    # Tier matrix: 8 tasks of ~10-30 ms per round, well under a second; like tiered.
    "tiers": (Rounds(7, 2), Rounds(5, 1)),
    # Plain vs hedged fan-out in virtual time (bench/test_hedging.py): deterministic, ~0.1 s.
    "hedging": (Rounds(7, 2), Rounds(5, 1)),
}

# python -m lecture31.gate's runs (--bench-gate-groups) measure each benchmark as its group in
# lecture31/gate/groups.py declares (rounds, calls a round, instrument): see _gatePlan below.
_GATE_GROUP = pytest.StashKey[GateGroup]()


def _parseSlowdowns(text: str) -> list[tuple[str, str, float]]:
    """``'PAIR/VARIANT=FACTOR,...'`` -> [(pairGlob, variantGlob, factor)]."""
    specs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        target, _, factor = part.partition("=")
        pairGlob, _, variantGlob = target.partition("/")
        try:
            value = float(factor)
        except ValueError:
            value = float("nan")
        if not pairGlob or not variantGlob or not value >= 1.0:
            raise pytest.UsageError(
                f"{SLOWDOWN_ENV}: {part!r} is not PAIR/VARIANT=FACTOR with FACTOR >= 1 "
                "(e.g. 'pipeline-*/correct=1.3')"
            )
        specs.append((pairGlob, variantGlob, value))
    return specs


def _slowdownFactor(pair: str, variant: str) -> float:
    factor = 1.0
    for pairGlob, variantGlob, value in _parseSlowdowns(os.environ.get(SLOWDOWN_ENV, "")):
        if fnmatch.fnmatchcase(pair, pairGlob) and fnmatch.fnmatchcase(variant, variantGlob):
            factor *= value
    return factor


def _stretched(fn: Callable[[], object], factor: float) -> Callable[[], object]:
    def run():
        start = time.perf_counter()
        result = fn()
        time.sleep((time.perf_counter() - start) * (factor - 1.0))
        return result

    return run


class Beside:
    """The reference's call, timed next to each round of a variant: before rounds 0, 2, 4...
    (pedantic's ``setup``) and after rounds 1, 3, 5... (its ``teardown``), so neither always goes
    first (asv's ABBA). Warm-up rounds run it too, untimed; ``seconds`` holds one per timed round.
    """

    def __init__(
        self,
        call: Callable[[], object],
        warmup: int,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.timer = timer
        self.call = call
        self.warmup = warmup
        self.rounds = 0
        self.seconds: list[float] = []

    def before(self) -> None:
        if self.rounds % 2 == 0:
            self._time()

    def after(self, *args: object, **kwargs: object) -> None:
        if self.rounds % 2 == 1:
            self._time()
        self.rounds += 1

    def _time(self) -> None:
        start = self.timer()
        self.call()
        elapsed = self.timer() - start
        if self.rounds >= self.warmup:
            self.seconds.append(elapsed)


def pytest_configure(config: pytest.Config) -> None:
    """A malformed slowdown spec is a usage error before anything runs, not 20 test errors.

    Runs before pytest-benchmark's own ``pytest_configure`` (``trylast``), which loads the run
    to compare with: a ``--benchmark-compare`` that would find nothing is redirected here.
    """
    _parseSlowdowns(os.environ.get(SLOWDOWN_ENV, ""))
    compare.startNotes(config)


def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    """Every saved or --benchmark-json run says whether its rounds were quick and which -k / -m
    chose its benchmarks: the report reads it (a partial or quick run never silently replaces
    the committed table)."""
    selection = " ".join(
        f"{flag} {value}"
        for flag, value in (
            ("-k", config.getoption("keyword")),
            ("-m", config.getoption("markexpr")),
        )
        if value
    )
    output_json[RUN_INFO] = runInfo(
        quick=bool(config.getoption("--bench-quick") or config.getoption("--bench-gate-groups")),
        selection=selection,
    )


@pytest.hookimpl(wrapper=True)
def pytest_benchmark_compare_machine_info(
    config, benchmarksession, machine_info, compared_benchmark
):
    """Replace pytest-benchmark's JSON-dump warning (an error under filterwarnings=error)."""
    result = []  # pytest-benchmark #217 raised, and was swallowed: nothing to add
    with compare.machineInfoWarningReplaced(benchmarksession):
        result = yield
    compare.noteMachine(config, machine_info, compared_benchmark)
    return result


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    """After pytest-benchmark's tables: the notes, then the speedups (median of the rounds)."""
    lines = compare.summaryLines(config)
    if lines:
        terminalreporter.section(compare.SUMMARY_TITLE)
        for line in lines:
            terminalreporter.write_line(line)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Outside the gate, the control is deselected; in the gate's runs each benchmark learns its
    group, and one that belongs to none or to two is an error before anything runs."""
    gate = config.getoption("--bench-gate-groups")
    kept, dropped = [], []
    for item in items:
        groups = groupsOf(item.nodeid)
        if groups == [CONTROL] and not gate:
            dropped.append(item)
            continue
        kept.append(item)
        if not gate:
            continue
        if len(groups) != 1:
            names = ", ".join(g.name for g in groups) or "none"
            raise pytest.UsageError(
                f"{item.nodeid} belongs to {len(groups)} gate groups ({names}); each benchmark"
                " belongs to exactly one (lecture31/gate/groups.py)"
            )
        item.stash[_GATE_GROUP] = groups[0]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@dataclass(frozen=True)
class _Plan:
    """How one benchmark is run: rounds, calls a round, the timer, and its gate group."""

    rounds: int
    warmup: int
    iterations: int = 1
    instrument: str = "wall"
    group: str | None = None


def _plan(request: pytest.FixtureRequest, kind: str, isReference: bool) -> _Plan:
    group = request.node.stash.get(_GATE_GROUP, None)
    if group is not None:
        if isReference and group.referenceRounds:
            return _Plan(group.referenceRounds, 0, 1, group.instrument, group.name)
        return _Plan(group.rounds, group.warmup, group.iterations, group.instrument, group.name)
    quick = request.config.getoption("--bench-quick")
    plan = ROUNDS[kind][1 if quick else 0]
    return _Plan(plan.rounds, plan.warmup)


class _VirtualTimer:
    """pytest-benchmark's timer for the "virtual" instrument: the virtual seconds of every round
    run so far, so a round's duration is the virtual time its coroutine took."""

    def __init__(self) -> None:
        self.total = 0.0

    def __call__(self) -> float:
        return self.total

    def run(self, coroutine, modules):
        result, seconds = runVirtually(coroutine, modules=modules)
        self.total += seconds
        return result


def controlFactor(tree: Path) -> float:
    """CONTROL_FACTOR when the gate names ``tree`` (this side's own sources) as the side to slow
    down, else 1.0: a head that ran another tree's code does not slow its control."""
    named = os.environ.get(CONTROL_ENV, "")
    if not named:
        return 1.0
    try:
        same = Path(named).resolve() == tree.resolve()
    except OSError:
        same = False
    return CONTROL_FACTOR if same else 1.0


@pytest.fixture
def measure(request, benchmark, benchRunner):
    """Time ``target`` as one variant of one pair; returns the last round's result."""

    def _measure(
        *,
        pair: str,
        variant: str,
        reference: str,
        scale: int,
        target: Callable[[], object],
        kind: str,
        idealSeconds: float | None = None,
        beside: Callable[[], object] | None = None,
        virtualClockFor: tuple = (),
        **extras: object,
    ):
        """``reference``: the pair's reference variant, whose time the others' speedups divide.
        ``beside``: its call, to time next to every round of this one (``Beside``).
        ``virtualClockFor``: the modules whose ``time`` reads the virtual clock when the plan's
        instrument is "virtual" (their latencies then are virtual seconds too)."""
        plan = _plan(request, kind, isReference=variant == reference)
        virtual = _VirtualTimer() if plan.instrument == "virtual" else None

        def once(call=target):
            result = call()
            if inspect.iscoroutine(result):
                if virtual is not None:
                    return virtual.run(result, virtualClockFor)
                result = benchRunner.run(result)
            return result

        if plan.instrument == "virtual" and virtual is not None:
            benchmark._timer = virtual  # pytest-benchmark reads its timer from here
        elif plan.instrument == "cpu":
            benchmark._timer = time.thread_time
        factor = _slowdownFactor(pair, variant)
        timed = once if factor == 1.0 else _stretched(once, factor)
        if idealSeconds is not None:
            extras[IDEAL_SECONDS] = float(idealSeconds)
        if factor != 1.0:
            extras[INJECTED_SLOWDOWN] = factor
        if plan.group is not None:
            extras[GATE_GROUP] = plan.group
            extras[GATE_INSTRUMENT] = plan.instrument
        benchmark.group = pair
        benchmark.extra_info.update(
            extraInfo(pair=pair, variant=variant, scale=scale, reference=reference, **extras)
        )
        if beside is None:
            return benchmark.pedantic(
                timed, rounds=plan.rounds, warmup_rounds=plan.warmup, iterations=plan.iterations
            )
        if plan.iterations != 1 or plan.instrument == "virtual":
            raise pytest.UsageError(f"{pair}: a reference timed beside needs a real clock, 1 call")
        referenceFactor = _slowdownFactor(pair, reference)
        referenceCall = functools.partial(once, beside)
        pairing = Beside(
            referenceCall if referenceFactor == 1.0 else _stretched(referenceCall, referenceFactor),
            plan.warmup,
            time.thread_time if plan.instrument == "cpu" else time.perf_counter,
        )
        result = benchmark.pedantic(
            timed,
            setup=pairing.before,
            teardown=pairing.after,
            rounds=plan.rounds,
            warmup_rounds=plan.warmup,
            iterations=1,
        )
        benchmark.extra_info[REFERENCE_ROUNDS] = pairing.seconds
        return result

    return _measure
