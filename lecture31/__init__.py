"""lecture31: Lecture 31's concurrency architecture patterns, implemented and measured.

The tree is the architecture. Imports only go down:

    cli.py, report/cli.py, gate/cli.py, every __main__  the command lines
      |
    demos/                                            beyond the homework: analyses, models,
      |                                               measurements (each only prints)
    tiered/  fanout/  breaker/  pipeline/             the four exercises, each with the main()
    tiers/   cluster/   report/   gate/               its homework asks for; which tier; the
      |                                               CPU tier; the report; the A/B gate
    _runtime/                                         pools, signals, gathering, dispatch,
                                                      checks, seeding: knows no exercise

tests/test_layering.py walks the package and fails on an import cycle or an upward import.
Every public name is re-exported here, and tests/test_package.py pins them (each exercise's
``__all__``); what lies behind an exercise (its modules) is private.

The re-exports are lazy (PEP 562): ``import lecture31`` imports no exercise, and
``lecture31.runTiered`` (or ``from lecture31 import runTiered``) imports ``lecture31.tiered`` on
first use. Why: the gate (``python -m lecture31.gate``) runs from the very tree it measures, and
must not fail (or measure itself) because an exercise of that tree is broken; the bench and
every command import what they use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Where each public name lives; __all__ is read from here. tests/test_package.py checks each
# module's own __all__ against it.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "tiered": (
        "RequestFailedError",
        "RunResult",
        "fetchMetadataBlocking",
        "handleRequest",
        "parseCsvChunk",
        "runSequential",
        "runTiered",
    ),
    "fanout": (
        "LatencyTracker",
        "fanOutWithAdaptiveTimeout",
        "hedgedFanOut",
        "queryShard",
        "runQueries",
    ),
    "breaker": (
        "AsyncCircuitBreaker",
        "BreakerState",
        "CircuitBreaker",
        "CircuitOpenError",
        "FlakyAsyncService",
        "runHarness",
    ),
    "pipeline": (
        "aggregateResults",
        "compareScales",
        "fetchSensorReading",
        "normalizeReading",
        "runCorrectPipeline",
        "runNaivePipeline",
        "runStorageBreakerBatches",
        "runStreamedPipeline",
        "storeReading",
    ),
    "tiers": ("TIERS", "WORKLOADS", "TierRow", "WorkloadError", "runTierMatrix", "verdicts"),
    "cluster": ("cpuExecutor",),  # the rest of lecture31.cluster is its own business
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = tuple(_HOME)

if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors
    from . import (
        breaker as breaker,
        cluster as cluster,
        fanout as fanout,
        pipeline as pipeline,
        tiered as tiered,
        tiers as tiers,
    )
    from .breaker import *  # noqa: F403
    from .cluster import cpuExecutor as cpuExecutor
    from .fanout import *  # noqa: F403
    from .pipeline import *  # noqa: F403
    from .tiered import *  # noqa: F403
    from .tiers import *  # noqa: F403


def __getattr__(name: str) -> Any:
    """A public name, or an exercise module, imported on first use (then cached here)."""
    if name in _HOME:
        value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    elif name in _EXPORTS:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_EXPORTS})
