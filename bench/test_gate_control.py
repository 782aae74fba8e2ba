"""The gate's positive control (pair ``gate-control``): run only by ``python -m lecture31.gate``.

    plain:   READINGS x normalizeReading(reading), inline          (the pipeline's CPU stage)
    slowed:  the same; in the head side's runs, when the gate names this side's own tree in
             LECTURE31_GATE_CONTROL, CONTROL_FACTOR x READINGS of them (10% more of the work)

The gate must find this pair regressed in every run, or it says it is blind here and fails
(lecture31/gate/groups.py, CONTROL). It is deselected from every other run (bench/conftest.py),
so it is in no published table and no baseline. The slowdown is real work on the library's own
code path, not a sleep, and it happens only if this file's tree is the one the gate named: a gate
that swapped its sides, or ran the head from another tree, sees no slowdown and says so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import controlFactor
from lecture31.gate.groups import CONTROL_PAIR
from lecture31.pipeline import normalizeReading

READINGS = 60
_TREE = Path(__file__).resolve().parent.parent


def _normalizeAll(count: int) -> None:
    for sensorId in range(count):
        normalizeReading({"sensorId": sensorId, "rawValue": 50.0 + sensorId % 7})


@pytest.mark.parametrize("variant", ["plain", "slowed"])
def test_gate_control(measure, variant):
    count = round(READINGS * (controlFactor(_TREE) if variant == "slowed" else 1.0))
    measure(
        pair=CONTROL_PAIR,
        variant=variant,
        reference="plain",
        scale=READINGS,
        kind="pipeline",
        target=lambda: _normalizeAll(count),
        # plain's call timed beside each round of slowed (the pair's paired speedup, kept so that
        # both sides of a gate run do the same work); the gate judges slowed's seconds, each
        # side's slowest trials set aside (lecture31/gate/groups.py, CONTROL)
        beside=None if variant == "plain" else lambda: _normalizeAll(READINGS),
    )
