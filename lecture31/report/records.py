"""The benchmark record format: what ``bench/`` writes into ``extra_info`` and the report reads.

    bench/conftest.measure --extraInfo(...)--> benchmark.extra_info --JSON--> parseRecord --> Record
                                                                            (lecture31.report.parse)

One pair is one workload (``pipeline-48``) timed as several variants in the same session; one
variant, the pair's *reference*, is what the others' speedups divide (reference seconds / variant
seconds).

One key belongs to the whole run, not to a benchmark: ``RUN_INFO`` at the top of the run's
JSON, beside pytest-benchmark's own ``machine_info`` and ``commit_info`` (bench/conftest.py
writes it through ``pytest_benchmark_update_json``): whether the rounds were ``--bench-quick``'s
and which ``-k`` / ``-m`` selected the benchmarks. Runs without it read as
full runs of everything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = (
    "CALLS",
    "COLUMNS",
    "COMPARISON",
    "GATE_GROUP",
    "GATE_INSTRUMENT",
    "IDEAL_SECONDS",
    "IDEAL_SPEEDUP",
    "INJECTED_SLOWDOWN",
    "PAIR",
    "QUICK",
    "REFERENCE",
    "REFERENCE_ROUNDS",
    "RUN_INFO",
    "SCALE",
    "SCALE_LABEL",
    "SELECTION",
    "VARIANT",
    "FormatError",
    "Record",
    "extraInfo",
    "isQuickRun",
    "parseRecord",
    "runInfo",
    "runSelection",
)

# extra_info keys. Required on every paired benchmark: PAIR, VARIANT, SCALE, REFERENCE.
PAIR = "pair"  # the workload, e.g. "pipeline-48"; one table row (or matrix row)
VARIANT = "variant"  # this benchmark's variant, e.g. "correct"
SCALE = "scale"  # the workload's size (requests, sensors, calls): the plot's x axis
REFERENCE = "reference"  # the pair's reference variant, e.g. "naive"
# Optional.
SCALE_LABEL = "scaleLabel"  # what SCALE counts, e.g. "sensors": the plot's x label
COMPARISON = "comparison"  # the table it belongs to (default: PAIR without its "-SCALE" suffix)
IDEAL_SECONDS = "idealSeconds"  # this variant's critical-path bound for the seeded draws
IDEAL_SPEEDUP = "idealSpeedup"  # a stated ideal speedup, shown beside the measured one
CALLS = "calls"  # calls per round: the report adds per-call times and the per-call overhead
COLUMNS = "columns"  # {column label: extra_info key}: per-variant values shown as extra columns
INJECTED_SLOWDOWN = "injectedSlowdown"  # set by the bench slowdown injector, never by a real run
# Set only in the gate's runs (--bench-gate-groups): the gate group (lecture31.gate.groups) that
# measured this benchmark, and the instrument its time was read with ("wall", "cpu", "virtual").
GATE_GROUP = "gateGroup"
GATE_INSTRUMENT = "gateInstrument"
# The reference variant's seconds timed beside each of this variant's rounds (interleaved: round i
# of both moments apart), one per round: the report then divides round by round (paired).
REFERENCE_ROUNDS = "referenceRounds"

# The run's own key, and what it holds.
RUN_INFO = "lecture31"
QUICK = "quick"  # True: --bench-quick's fewer rounds (the CI gate's), not a table's
SELECTION = "selection"  # the -k / -m options that chose the benchmarks ("" for none)


class FormatError(ValueError):
    """A benchmark whose extra_info does not follow this format (the message names it)."""


@dataclass(frozen=True, slots=True)
class Record:
    """One benchmark's place in a comparison, and the extras the report shows beside it."""

    name: str
    pair: str
    variant: str
    scale: int
    reference: str
    comparison: str
    scaleLabel: str = "scale"
    idealSeconds: float | None = None
    idealSpeedup: float | None = None
    calls: int | None = None
    columns: Mapping[str, float | None] = field(default_factory=dict)
    referenceRounds: tuple[float, ...] | None = None


def extraInfo(
    *, pair: str, variant: str, scale: int, reference: str, **extras: object
) -> dict[str, object]:
    """The extra_info of one benchmark (the writer's half of the format; checks what it writes)."""
    for key, value in ((PAIR, pair), (VARIANT, variant), (REFERENCE, reference)):
        if not isinstance(value, str) or not value:
            raise FormatError(f"{key} must be a non-empty string, got {value!r}")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise FormatError(f"{SCALE} must be an int >= 1, got {scale!r}")
    columns = extras.get(COLUMNS)
    if columns is not None and not (
        isinstance(columns, Mapping) and all(isinstance(v, str) for v in columns.values())
    ):
        raise FormatError(f"{COLUMNS} must map column labels to extra_info keys, got {columns!r}")
    return {PAIR: pair, VARIANT: variant, SCALE: scale, REFERENCE: reference, **extras}


def runInfo(*, quick: bool, selection: str = "") -> dict[str, object]:
    """The run's RUN_INFO (the writer's half)."""
    return {QUICK: bool(quick), SELECTION: str(selection)}


def isQuickRun(run: object) -> bool:
    """The run says it used --bench-quick's rounds (a run that does not say is a full one)."""
    info = run.get(RUN_INFO) if isinstance(run, Mapping) else None
    return isinstance(info, Mapping) and info.get(QUICK) is True


def runSelection(run: object) -> str:
    """The -k / -m options the run says chose its benchmarks ("" if none, or if it does not say)."""
    info = run.get(RUN_INFO) if isinstance(run, Mapping) else None
    selection = info.get(SELECTION) if isinstance(info, Mapping) else None
    return selection if isinstance(selection, str) else ""


def _finite(name: str, info: Mapping, key: str, *, positive: bool) -> float | None:
    value = info.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FormatError(f"benchmark {name!r}: extra_info.{key} is {value!r}, expected a number")
    if positive and value <= 0:
        raise FormatError(
            f"benchmark {name!r}: extra_info.{key} is {value!r}, expected a positive number"
        )
    return float(value)


def _comparisonName(pair: str, scale: int, info: Mapping) -> str:
    comparison = info.get(COMPARISON)
    if isinstance(comparison, str):
        return comparison
    suffix = f"-{scale}"
    return pair[: -len(suffix)] if pair.endswith(suffix) else pair


def parseRecord(name: str, info: object) -> Record | None:
    """The Record of one benchmark's extra_info; None if it belongs to no pair.

    ``name`` (the benchmark's fullname) is only used in error messages.
    """
    if info is None:
        return None
    if not isinstance(info, Mapping):
        raise FormatError(f"benchmark {name!r}: extra_info is {type(info).__name__}, not an object")
    pair = info.get(PAIR)
    if pair is None:
        return None
    if not isinstance(pair, str) or not pair:
        raise FormatError(f"benchmark {name!r}: extra_info.{PAIR} is {pair!r}, expected a name")
    variant = info.get(VARIANT)
    if not isinstance(variant, str) or not variant:
        raise FormatError(
            f"benchmark {name!r}: extra_info.{VARIANT} is {variant!r}, expected a name"
        )
    scale = info.get(SCALE)
    if isinstance(scale, bool) or not isinstance(scale, int):
        raise FormatError(f"benchmark {name!r}: extra_info.{SCALE} is {scale!r}, expected an int")
    reference = info.get(REFERENCE)
    if not isinstance(reference, str) or not reference:
        raise FormatError(
            f"benchmark {name!r}: extra_info.{REFERENCE} is {reference!r}, expected a variant name"
        )
    calls = _finite(name, info, CALLS, positive=True)
    if calls is not None and not calls.is_integer():
        raise FormatError(f"benchmark {name!r}: extra_info.{CALLS} is {calls!r}, expected an int")
    declared = info.get(COLUMNS, {})
    if not isinstance(declared, Mapping) or not all(isinstance(k, str) for k in declared.values()):
        raise FormatError(
            f"benchmark {name!r}: extra_info.{COLUMNS} is {declared!r}, "
            "expected an object of column label -> extra_info key"
        )
    columns = {
        str(label): _finite(name, info, key, positive=False) for label, key in declared.items()
    }
    referenceRounds = _secondsList(name, info, REFERENCE_ROUNDS)
    return Record(
        name=name,
        pair=pair,
        variant=variant,
        scale=scale,
        reference=reference,
        comparison=_comparisonName(pair, scale, info),
        scaleLabel=str(info.get(SCALE_LABEL) or "scale"),
        idealSeconds=_finite(name, info, IDEAL_SECONDS, positive=True),
        idealSpeedup=_finite(name, info, IDEAL_SPEEDUP, positive=True),
        calls=None if calls is None else int(calls),
        columns=columns,
        referenceRounds=referenceRounds,
    )


def _secondsList(name: str, info: Mapping, key: str) -> tuple[float, ...] | None:
    values = info.get(key)
    if values is None:
        return None
    if (
        not isinstance(values, list)
        or not values
        or not all(
            not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v) and v > 0
            for v in values
        )
    ):
        raise FormatError(
            f"benchmark {name!r}: extra_info.{key} is {values!r}, expected a list of positive "
            "seconds, one per round"
        )
    return tuple(float(v) for v in values)
