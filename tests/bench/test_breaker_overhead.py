"""Exercise 3: a breaker costs microseconds per call, not milliseconds (order of magnitude only).

The figures themselves come from ``pytest bench -k breaker`` and ``bench/breaker_overhead.py``;
this loads the latter's loops so that the check and the tool measure the same thing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_TOOL = Path(__file__).resolve().parents[2] / "bench" / "breaker_overhead.py"


def _loadTool():
    spec = importlib.util.spec_from_file_location("breaker_overhead", _TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_a_breaker_adds_microseconds_not_milliseconds_per_call():
    numbers = _loadTool().measureOurs(calls=20_000, repeat=3)
    # A fraction of a microsecond on any machine; 10-20x slack for a busy 2-core CI.
    assert numbers["syncClosedOverhead"] < 5e-6, numbers
    assert numbers["asyncClosedOverhead"] < 5e-6, numbers
    assert numbers["syncReject"] < 20e-6, numbers
    assert numbers["asyncReject"] < 20e-6, numbers
