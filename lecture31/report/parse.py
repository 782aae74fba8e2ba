"""Read pytest-benchmark JSON into Measurements; every schema error is a ReportError naming it.

RUN.json --loadRun--> run dict --parseBenchmarks--> [Measurement(record, seconds, rounds)]
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from .._runtime.atomicwrite import irregularKind
from .records import FormatError, Record, parseRecord
from .stats import STATISTICS

__all__ = ("STATS", "Measurement", "ReportError", "loadRun", "newestRun", "parseBenchmarks")


# Which per-variant statistic a speedup divides. The median is what a reader expects in a table.
# The minimum is what a regression gate wants on a shared machine: a neighbour's burst only ever
# adds time, so the fastest round is the least disturbed one (the spread of both over reruns of
# unchanged code is in .ci/run, with the command that measured it).
STATS = STATISTICS  # the statistics are declared once, beside their numpy reducers


class ReportError(Exception):
    """Raised by the report for unreadable runs, malformed benchmarks or missing pairs."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """One benchmark of a run: where it belongs (its Record), one statistic of its rounds and,
    if the run kept them, the rounds themselves (seconds, in run order)."""

    record: Record
    seconds: float
    rounds: tuple[float, ...] | None = None


def _readRegular(path: Path) -> str:
    """The text of ``path`` if it is a regular file (through symlinks). Anything else (a FIFO
    would block the read forever, a device may never end) is a ReportError, and is never
    opened for reading: stat first, then an open that cannot block, checked again."""
    kind = irregularKind(os.stat(path).st_mode)
    if kind is None:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, "rb") as source:  # closes fd
            mode = os.fstat(source.fileno()).st_mode  # swapped since the stat?
            kind = irregularKind(mode)
            if kind is None:
                return source.read().decode("utf-8")
    raise ReportError(f"{path} is {kind}, not a regular file; not reading it")


def loadRun(path: str | os.PathLike) -> dict:
    """Read one pytest-benchmark JSON file; ReportError if it is missing or not such a file."""
    path = Path(path)
    try:
        text = _readRegular(path)
    except UnicodeDecodeError as exc:
        raise ReportError(f"{path} is not a text file (not UTF-8: {exc.reason})") from exc
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        run = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path} is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ReportError(f"{path} is nested too deeply to be a pytest-benchmark run") from exc
    if not isinstance(run, dict) or not isinstance(run.get("benchmarks"), list):
        raise ReportError(
            f"{path} is not a pytest-benchmark run (no 'benchmarks' list); "
            "write one with: pytest bench --benchmark-json=FILE"
        )
    return run


def newestRun(resultsDir: str | os.PathLike = "results") -> Path:
    """The most recently written run under ``resultsDir``/<machine>/ (pytest-benchmark layout)."""
    found = []
    for path in Path(resultsDir).glob("*/*.json"):
        try:
            found.append((path.stat().st_mtime_ns, path.name, path))
        except OSError as exc:  # a symlink loop or a dangling link among the runs
            raise ReportError(f"cannot read {path}: {exc.strerror or exc}") from exc
    runs = [path for *_, path in sorted(found)]
    if not runs:
        raise ReportError(
            f"no benchmark runs under {resultsDir}/; "
            "save one with: pytest bench --benchmark-save=NAME"
        )
    return runs[-1]


# --- parse: JSON -> Measurements (every schema error is a ReportError naming the benchmark) ---


def _benchName(bench: dict) -> str:
    return str(bench.get("fullname") or bench.get("name") or "?")


def _statistic(bench: dict, stat: str) -> float:
    stats = bench.get("stats")
    value = stats.get(stat) if isinstance(stats, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ReportError(
            f"benchmark {_benchName(bench)!r}: stats.{stat} is {value!r}, expected a finite number"
        )
    if value <= 0:
        raise ReportError(
            f"benchmark {_benchName(bench)!r}: stats.{stat} is {value!r}, "
            "expected a positive number"
        )
    return float(value)


def _rounds(bench: dict, stat: str, seconds: float) -> tuple[float, ...] | None:
    """The benchmark's per-round seconds (``stats.data``), None if the run did not keep them.

    Rounds that are there must be usable: positive finite numbers, as many as ``stats.rounds``
    says, whose ``stat`` is the one the run reports (else a hand-edited or truncated file would
    print an interval around a different speedup than the table's).
    """
    stats = bench.get("stats")
    if not isinstance(stats, dict) or stats.get("data") is None:
        return None
    data = stats["data"]
    name = _benchName(bench)
    if not isinstance(data, list) or not data:
        raise ReportError(
            f"benchmark {name!r}: stats.data is {type(data).__name__} "
            f"{'with no rounds' if isinstance(data, list) else ''}".rstrip()
            + ", expected a list of seconds per round"
        )
    for i, value in enumerate(data):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ReportError(
                f"benchmark {name!r}: stats.data[{i}] is {value!r}, expected positive seconds"
            )
    count = stats.get("rounds")
    if isinstance(count, int) and not isinstance(count, bool) and count != len(data):
        raise ReportError(
            f"benchmark {name!r}: stats.data holds {len(data)} rounds but stats.rounds is {count}"
        )
    ordered = sorted(float(v) for v in data)
    middle = len(ordered) // 2
    recomputed = {
        "min": ordered[0],
        "median": ordered[middle]
        if len(ordered) % 2
        else (ordered[middle - 1] + ordered[middle]) / 2,
        "mean": math.fsum(ordered) / len(ordered),
    }[stat]
    if not math.isclose(recomputed, seconds, rel_tol=1e-6):
        raise ReportError(
            f"benchmark {name!r}: the {stat} of stats.data is {recomputed!r} but stats.{stat} "
            f"is {seconds!r}; the rounds do not belong to this benchmark"
        )
    return tuple(float(v) for v in data)


def parseBenchmarks(run: dict, stat: str = "median") -> list[Measurement]:
    """Every paired benchmark of a run with its ``stat`` (one of ``STATS``), in run order.

    Benchmarks without ``extra_info['pair']`` are skipped. Each keeps its rounds if the run
    kept them (``stats.data``).
    """
    if stat not in STATS:
        raise ReportError(f"stat must be one of {', '.join(STATS)}, got {stat!r}")
    benchmarks = run.get("benchmarks") if isinstance(run, dict) else None
    if not isinstance(benchmarks, list):
        raise ReportError("not a pytest-benchmark run: no 'benchmarks' list")
    measurements = []
    for bench in benchmarks:
        if not isinstance(bench, dict):
            raise ReportError(f"a benchmark entry is {type(bench).__name__}, expected an object")
        try:
            record = parseRecord(_benchName(bench), bench.get("extra_info"))
        except FormatError as exc:
            raise ReportError(str(exc)) from exc
        if record is not None:
            seconds = _statistic(bench, stat)
            rounds = _rounds(bench, stat, seconds)
            paired = record.referenceRounds
            if paired is not None and rounds is not None and len(paired) != len(rounds):
                raise ReportError(
                    f"benchmark {record.name!r}: extra_info.referenceRounds holds {len(paired)} "
                    f"rounds but stats.data holds {len(rounds)}; they must pair round by round"
                )
            measurements.append(Measurement(record, seconds, rounds))
    return measurements
