"""``--benchmark-compare`` on any machine, and what the end of every run prints: the bench's
conftest keeps thin hooks (pytest finds hooks only there) that call this module.

    --benchmark-compare[=NNNN|=PATH]   decided before anything runs (startNotes):
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
        '-- end of the run (summaryLines): the notes, each pair's speedup, and the compared
            run's beside it
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pytest_benchmark.logger import PytestBenchmarkWarning
from pytest_benchmark.utils import get_machine_id

from lecture31 import report

__all__ = (
    "NOTES",
    "SUMMARY_TITLE",
    "closestRun",
    "machineInfoWarningReplaced",
    "machineNote",
    "noteMachine",
    "speedupSummary",
    "startNotes",
    "summaryLines",
)

# What the run has to say before its speedups (a compare redirected or off, another machine).
NOTES = pytest.StashKey[list[str]]()
SUMMARY_TITLE = "lecture31: speedups (median of each variant's rounds, 95% interval)"


def startNotes(config: pytest.Config) -> None:
    """Open the run's notes, then point ``--benchmark-compare`` at a run that exists.

    Called from the conftest's ``pytest_configure``, which runs before pytest-benchmark's own
    (``trylast``) loads the run to compare with.
    """
    config.stash[NOTES] = []
    compare = config.getoption("benchmark_compare", None)
    storage = _storageDir(config)
    if compare and storage is not None:
        _resolveCompare(config, compare, storage)


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
    notes = config.stash[NOTES]
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
    cpu = info.get("cpu")
    cpu = cpu if isinstance(cpu, Mapping) else {}
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


def _storageOutsideCwd(benchmarksession: Any) -> bool:
    try:
        benchmarksession.storage.location  # noqa: B018 (the property is what raises)
    except ValueError:
        return True
    return False


@contextmanager
def machineInfoWarningReplaced(benchmarksession: Any) -> Iterator[None]:
    """Around pytest-benchmark's machine_info comparison: its JSON-dump warning (an error under
    filterwarnings=error) is silenced, and its crash for a storage outside the working
    directory (pytest-benchmark #217) swallowed; ``noteMachine`` says what differs instead."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "Benchmark machine_info is different", PytestBenchmarkWarning
        )
        try:
            yield
        except ValueError:
            # #217: its warning names the storage relative to the working directory, and raises
            # for a storage outside it (an absolute CI cache path). That warning is what this
            # replaces anyway; any other ValueError is not ours.
            if not _storageOutsideCwd(benchmarksession):
                raise


def noteMachine(config: pytest.Config, machineInfo: Mapping, comparedBenchmark: Mapping) -> None:
    """Add ``machineNote``'s lines for the compared run to the run's notes."""
    saved = comparedBenchmark.get("machine_info")
    note = machineNote(machineInfo, saved if isinstance(saved, Mapping) else {})
    if note and NOTES in config.stash:
        config.stash[NOTES].extend(note)


# --- the speedup summary at the end of every run ---------------------------------------------


def _sessionRun(benchmarksession: Any) -> dict:
    return {"benchmarks": [b.as_dict(include_data=True) for b in benchmarksession.benchmarks if b]}


def _comparedRun(benchmarksession: Any) -> tuple[str, dict] | None:
    mapping = benchmarksession.compared_mapping or {}
    if not mapping:
        return None
    path = Path(list(mapping)[-1])
    full = path if path.is_absolute() else Path(benchmarksession.storage.path) / path
    return f"{path.parent.name}/{path.name}", report.loadRun(full)


def speedupSummary(benchmarksession: Any) -> list[str]:
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


def summaryLines(config: pytest.Config) -> list[str]:
    """The notes, then the speedups (median of the rounds); none when there is nothing to say."""
    notes = config.stash.get(NOTES, [])
    benchmarksession = getattr(config, "_benchmarksession", None)
    measured = benchmarksession is not None and any(benchmarksession.benchmarks)
    if not measured:
        return list(notes)
    try:
        lines = speedupSummary(benchmarksession)
    except report.ReportError as exc:
        lines = [f"no speedup summary: {exc}"]
    return [*notes, *lines]
