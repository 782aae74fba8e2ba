"""Benchmark plumbing: the ``measure`` fixture, round counts, the slowdown injector, and what
``--benchmark-compare`` and the end of every run print.

    measure(pair=, variant=, reference=, scale=, kind=, target=[, beside=])
        |-- benchmark.group = pair            (one table per comparison in `pytest bench`)
        |-- benchmark.extra_info = lecture31.report.records.extraInfo(...)   (the one format)
        |-- target() -> coroutine? run it on the session loop (benchRunner)
        |-- LECTURE31_BENCH_SLOWDOWN? stretch this variant's rounds (bench code only)
        |-- beside? the reference's call, timed next to every round (ABBA: before even rounds,
        |           after odd ones), kept as extra_info referenceRounds: the report divides
        |           round by round (pytest-benchmark times one benchmark per test, #166)
        '-- benchmark.pedantic(rounds, warmup_rounds, iterations=1)

    --benchmark-compare[=NNNN|=PATH]   decided before anything runs:
        |-- no value, no run saved for this machine id: compare with the closest committed
        |   run (same OS and Python implementation), or run without comparing; a note says so
        |-- =NNNN: the same fallback, but a number that names no run at all is a usage error
        |   (one line, exit 4), not a two-minute run without the comparison asked for
        |-- =PATH of a saved run's JSON: compared as given (made absolute, so the summary reads
        |   the very file pytest-benchmark compares with); a path that is no file: usage error
        |-- machine_info differs: a short note (CPU, Python) instead of pytest-benchmark's
        |                         warning, which the suite's warnings-as-errors would turn
        |                         into an INTERNALERROR (pytest-benchmark #255, #276), and
        |                         which crashes on its own when --benchmark-storage lies
        |                         outside the working directory (#217): any folder works
        '-- end of the run: each pair's speedup, and the compared run's beside it

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
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_benchmark.logger import PytestBenchmarkWarning
from pytest_benchmark.utils import get_machine_id

from lecture31 import report
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
_NOTES = pytest.StashKey[list[str]]()


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

    def __init__(self, call: Callable[[], object], warmup: int) -> None:
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
        start = time.perf_counter()
        self.call()
        elapsed = time.perf_counter() - start
        if self.rounds >= self.warmup:
            self.seconds.append(elapsed)


def pytest_configure(config: pytest.Config) -> None:
    """A malformed slowdown spec is a usage error before anything runs, not 20 test errors.

    Runs before pytest-benchmark's own ``pytest_configure`` (``trylast``), which loads the run
    to compare with: a ``--benchmark-compare`` that would find nothing is redirected here.
    """
    _parseSlowdowns(os.environ.get(SLOWDOWN_ENV, ""))
    config.stash[_NOTES] = []
    compare = config.getoption("benchmark_compare", None)
    storage = _storageDir(config)
    if compare and storage is not None:
        _resolveCompare(config, compare, storage)


# --- --benchmark-compare on any machine ------------------------------------------------------


def _storageDir(config: pytest.Config) -> Path | None:
    """The folder of ``--benchmark-storage`` (None for non-file storage such as elasticsearch)."""
    storage = config.getoption("benchmark_storage", None)
    if not storage:
        return None
    if "://" not in storage:
        storage = "file://" + storage
    return Path(storage[len("file://") :]) if storage.startswith("file://") else None


def _splitMachineId(machineId: str) -> tuple[str, str, tuple[int, ...], str]:
    """``'Linux-CPython-3.11-64bit'`` -> ('Linux', 'CPython', (3, 11), '64bit')."""
    parts = machineId.split("-")
    if len(parts) < 4:
        return machineId, "", (), ""
    system, (implementation, version, bits) = "-".join(parts[:-3]), parts[-3:]
    try:
        numbers = tuple(int(part) for part in version.split("."))
    except ValueError:
        numbers = ()
    return system, implementation, numbers, bits


def closestRun(storage: Path, machineId: str, pattern: str) -> Path | None:
    """The newest run matching ``pattern`` from the machine id nearest ``machineId``.

    Nearest: same OS and Python implementation (anything else would compare a different
    runtime), then the same word size, then the nearest Python version (newer on a tie).
    """
    system, implementation, version, bits = _splitMachineId(machineId)
    candidates = []
    for folder in sorted(p for p in storage.glob("*") if p.is_dir() and p.name != machineId):
        runs = sorted(folder.glob(pattern))
        otherSystem, otherImplementation, otherVersion, otherBits = _splitMachineId(folder.name)
        if not runs or (otherSystem, otherImplementation) != (system, implementation):
            continue
        gap = abs(_versionNumber(otherVersion) - _versionNumber(version))
        candidates.append((otherBits != bits, gap, -_versionNumber(otherVersion), runs[-1]))
    return min(candidates)[-1] if candidates else None


def _versionNumber(version: tuple[int, ...]) -> int:
    major, minor = (*version, 0, 0)[:2]
    return major * 100 + minor


def _heldRuns(storage: Path) -> str:
    counts = {f.name: len(list(f.glob("*.json"))) for f in sorted(storage.glob("*")) if f.is_dir()}
    held = [f"{name} ({n} run{'s' * (n != 1)})" for name, n in counts.items() if n]
    return ", ".join(held) or "no saved runs"


def _savedRuns(storage: Path) -> str:
    """``'Linux-CPython-3.11-64bit: 0001_baseline, 0002_x'``: what a user can name instead."""
    held = []
    for folder in sorted(f for f in storage.glob("*") if f.is_dir()):
        names = sorted(run.stem for run in folder.glob("*.json"))
        if names:
            shown = ", ".join(names[-4:])
            held.append(f"{folder.name}: {'..., ' if len(names) > 4 else ''}{shown}")
    return "; ".join(held) or "no saved runs"


def _resolveCompare(config: pytest.Config, compare: object, storage: Path) -> None:
    """Point ``--benchmark-compare`` at a run that exists, or turn it off and say so; a value
    that names no run at all is a usage error, before anything runs."""
    asked = "--benchmark-compare" + ("" if compare is True else f"={compare}")
    machineId = get_machine_id()
    notes = config.stash[_NOTES]
    if isinstance(compare, str):
        given = Path(compare)
        if given.is_file():
            # A saved run's JSON, named as a path: pytest-benchmark keeps a relative path as
            # given but reads the storage's runs relative to it; absolute, both agree.
            config.option.benchmark_compare = str(given.resolve())
            return
        if given.is_absolute() or given.suffix == ".json" or len(given.parts) > 2:
            raise pytest.UsageError(
                f"{asked}: no such file; name a saved run's JSON, a run number such as 0001, "
                f"or MACHINE/NNNN ({storage}/ holds {_savedRuns(storage)})"
            )
        if len(given.parts) == 2:  # MACHINE/NAME glob: exactly that, if it exists
            machineGlob, nameGlob = given.parts
            if any(storage.glob(f"{machineGlob}/{nameGlob.rstrip('*')}*.json")):
                return
            raise pytest.UsageError(
                f"{asked}: no saved run matches it; {storage}/ holds {_savedRuns(storage)}"
            )
    pattern = (
        "[0-9][0-9][0-9][0-9]_*.json" if compare is True else f"{compare}".rstrip("*") + "*.json"
    )
    if any((storage / machineId).glob(pattern)) or any(storage.glob(pattern)):
        return
    closest = closestRun(storage, machineId, pattern)
    if closest is not None:
        config.option.benchmark_compare = str(closest.resolve())
        notes.append(
            f"{asked}: no saved run for this machine id ({machineId}) in {storage}/; comparing "
            f"with the closest committed run, {closest.parent.name}/{closest.name} (same OS and "
            "Python implementation). Save your own with --benchmark-save=NAME."
        )
        return
    if compare is not True:
        raise pytest.UsageError(
            f"{asked}: no saved run {compare} for this machine id ({machineId}) nor for another "
            f"of the same OS and Python implementation; {storage}/ holds {_savedRuns(storage)}"
        )
    config.option.benchmark_compare = None
    notes.append(
        f"{asked}: nothing to compare with for this machine id ({machineId}): {storage}/ holds "
        f"{_heldRuns(storage)}, none from the same OS and Python implementation. The benchmarks "
        "ran without a comparison; save a run with --benchmark-save=NAME."
    )


# What a reader of the numbers needs to know differs; the rest is grouped into a few words.
_OTHER_DIFFERENCES = {
    "flags": "CPU flags",
    "l1_data_cache_size": "caches",
    "l1_instruction_cache_size": "caches",
    "l2_cache_size": "caches",
    "l2_cache_line_size": "caches",
    "l2_cache_associativity": "caches",
    "l3_cache_size": "caches",
    "hz_advertised_friendly": "clock",
    "hz_actual_friendly": "clock",
    "hz_advertised": "clock",
    "hz_actual": "clock",
    "release": "kernel",
    "python_build": "Python build",
    "python_compiler": "Python build",
    "model": "CPU model",
    "family": "CPU model",
    "stepping": "CPU model",
    "node": None,
    "python_implementation_version": None,
    "cpuinfo_version": None,
    "cpuinfo_version_string": None,
}


def _cpu(info: Mapping) -> str:
    cpu = info.get("cpu") if isinstance(info.get("cpu"), Mapping) else {}
    return f"{cpu.get('brand_raw') or info.get('processor') or '?'} x {cpu.get('count', '?')}"


def _python(info: Mapping) -> str:
    return f"{info.get('python_implementation', '?')} {info.get('python_version', '?')}"


def machineNote(current: Mapping, saved: Mapping) -> list[str]:
    """A few lines naming what differs between two machine_info dicts (none if they match)."""
    if current == saved:
        return []
    lines = []
    for what, describe in (("CPU", _cpu), ("Python", _python)):
        here, there = describe(current), describe(saved)
        lines.append(
            f"  {what}: {there}" + (" (the same here)" if here == there else f", here {here}")
        )
    others: dict[str, None] = {}
    for scope, now, then in (("", current, saved), ("cpu", current.get("cpu"), saved.get("cpu"))):
        now = now if isinstance(now, Mapping) else {}
        then = then if isinstance(then, Mapping) else {}
        for key in sorted(set(now) | set(then)):
            if key in ("cpu", "brand_raw", "count", "python_version", "python_implementation"):
                continue
            if now.get(key) != then.get(key):
                label = _OTHER_DIFFERENCES.get(key, f"{scope}.{key}".lstrip("."))
                if label:
                    others[label] = None
    if others:
        lines.append(f"  also different: {', '.join(others)}")
    lines.append("  Raw seconds do not carry across machines; the speedups below do.")
    return ["The compared run comes from another machine:", *lines]


def _storageOutsideCwd(benchmarksession) -> bool:
    try:
        benchmarksession.storage.location  # noqa: B018 (the property is what raises)
    except ValueError:
        return True
    return False


@pytest.hookimpl(wrapper=True)
def pytest_benchmark_compare_machine_info(
    config, benchmarksession, machine_info, compared_benchmark
):
    """Replace pytest-benchmark's JSON-dump warning (an error under filterwarnings=error)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "Benchmark machine_info is different", PytestBenchmarkWarning
        )
        try:
            result = yield
        except ValueError:
            # pytest-benchmark #217: its warning names the storage relative to the working
            # directory, and raises for a storage outside it (an absolute CI cache path). That
            # warning is what this hook replaces anyway; any other ValueError is not ours.
            if not _storageOutsideCwd(benchmarksession):
                raise
            result = []
    saved = compared_benchmark.get("machine_info")
    note = machineNote(machine_info, saved if isinstance(saved, Mapping) else {})
    if note and _NOTES in config.stash:
        config.stash[_NOTES].extend(note)
    return result


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


# --- the speedup summary at the end of every run ---------------------------------------------


def _sessionRun(benchmarksession) -> dict:
    return {"benchmarks": [b.as_dict(include_data=True) for b in benchmarksession.benchmarks if b]}


def _comparedRun(benchmarksession) -> tuple[str, dict] | None:
    mapping = benchmarksession.compared_mapping or {}
    if not mapping:
        return None
    path = Path(list(mapping)[-1])
    full = path if path.is_absolute() else Path(benchmarksession.storage.path) / path
    return f"{path.parent.name}/{path.name}", report.loadRun(full)


def speedupSummary(benchmarksession) -> list[str]:
    """This session's speedup per pair and variant, and the compared run's beside it."""
    results = report.pairResults(_sessionRun(benchmarksession), partial=True)
    if not results:
        return ["no pair was measured with its reference variant in this session"]
    compared = _comparedRun(benchmarksession)
    if compared is None:
        return report.renderSummary(report.speedupChanges(results))
    name, run = compared
    changes = report.speedupChanges(results, report.pairResults(run, partial=True))
    return report.renderSummary(changes, compared=name)


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    """After pytest-benchmark's tables: the notes, then the speedups (median of the rounds)."""
    notes = config.stash.get(_NOTES, [])
    benchmarksession = getattr(config, "_benchmarksession", None)
    measured = benchmarksession is not None and any(benchmarksession.benchmarks)
    if not notes and not measured:
        return
    terminalreporter.section("lecture31: speedups (median of each variant's rounds, 95% interval)")
    for line in notes:
        terminalreporter.write_line(line)
    if measured:
        try:
            lines = speedupSummary(benchmarksession)
        except report.ReportError as exc:
            lines = [f"no speedup summary: {exc}"]
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
        if plan.iterations != 1 or plan.instrument != "wall":
            raise pytest.UsageError(f"{pair}: a reference timed beside needs wall time, 1 call")
        referenceFactor = _slowdownFactor(pair, reference)
        referenceCall = functools.partial(once, beside)
        pairing = Beside(
            referenceCall if referenceFactor == 1.0 else _stretched(referenceCall, referenceFactor),
            plan.warmup,
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
