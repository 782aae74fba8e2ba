"""What a gate run keeps of its trials (the JSON of ``--json``), and the measures read back.

    {"base": {...}, "head": {...}, "selection", "stat", "tolerance",
     "trials": [{"trial": 1, "side": "base", "seconds": 24.1, "commit_info": {...},
                 "benchmarks": [{"name", "extra_info", "min", "median", "mean", "rounds",
                                 "data"}, ...]}, ...],
     "findings": [...], "onlyBase": [...], "onlyHead": [...], "seconds": 512.3}

Each benchmark keeps its rounds (``data``), so a later reader (``bench/calibrate-gate``) can
apply another statistic or rule to the same trials.
"""

from __future__ import annotations

from collections.abc import Mapping

from .decide import Finding, Measure, measuresOf
from .groups import OTHER, allGroups

__all__ = ("findingRecord", "keptBenchmarks", "recordedRuns", "sideMeasures")

_STATS = ("min", "median", "mean", "rounds", "data")


def keptBenchmarks(run: Mapping) -> list[dict]:
    """What a trial keeps of a pytest-benchmark run: each benchmark's place, stats, rounds."""
    kept = []
    for bench in run.get("benchmarks", []):
        stats = bench.get("stats", {})
        kept.append(
            {
                "name": bench.get("fullname"),
                "extra_info": bench.get("extra_info", {}),
                **{key: stats.get(key) for key in _STATS},
            }
        )
    return kept


def _asBenchmark(kept: Mapping) -> dict:
    """A kept benchmark back in pytest-benchmark's shape, for the report's parser."""
    return {
        "fullname": kept["name"],
        "extra_info": kept["extra_info"],
        "stats": {key: kept[key] for key in _STATS},
    }


def sideMeasures(record: Mapping, label: str, stat: str) -> list[dict[Measure, float]]:
    """Each trial's measures for the side ``label`` ("base" or "head"), in trial order."""
    trials = sorted((t for t in record["trials"] if t["side"] == label), key=lambda t: t["trial"])
    return [
        measuresOf({"benchmarks": [_asBenchmark(b) for b in trial["benchmarks"]]}, stat)
        for trial in trials
    ]


def recordedRuns(record: Mapping) -> list[dict]:
    """A gate JSON's trials as the stages keep them (``{"trial", "side", "groups", "run"}``), so
    a recorded session can be judged again (``bench/calibrate-gate``). A session recorded before
    the groups ran every group in every trial."""
    every = [g.name for g in allGroups()] + [OTHER]
    return [
        {
            "trial": trial["trial"],
            "side": trial["side"],
            "stage": trial.get("stage", 1),
            "groups": trial.get("groups", every),
            "run": {"benchmarks": [_asBenchmark(b) for b in trial["benchmarks"]]},
        }
        for trial in record["trials"]
    ]


def findingRecord(finding: Finding) -> dict:
    return {
        "measure": finding.measure.name,
        "group": finding.group,
        "pair": finding.measure.pair,
        "kind": finding.measure.kind,
        "variant": finding.measure.variant,
        "base": finding.base,
        "head": finding.head,
        "ratio": finding.ratio,
        "low": finding.low,
        "high": finding.high,
        "confidence": finding.confidence,
        "tolerance": finding.tolerance,
        "pValue": finding.pValue,
        "trials": finding.trials,
        "verdict": str(finding.verdict),
        "resolution": finding.resolution,
        "failed": finding.failed,
    }
