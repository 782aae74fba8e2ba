"""The gate's declaration: every benchmark of `pytest bench` in exactly one group, each group
measured as declared (its rounds, its instrument), the control only in the gate's runs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lecture31.gate import cli
from lecture31.gate.groups import (
    CONTROL,
    GROUPS,
    INSTRUMENTS,
    allGroups,
    groupNamed,
    groupsOf,
    selectionOf,
    selects,
)

ROOT = Path(__file__).resolve().parents[2]


def bench(*args, timeout=180):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "bench", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def collected(*args):
    done = bench("--collect-only", "-q", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_every_benchmark_of_the_default_selection_is_in_exactly_one_group():
    nodeids = collected()
    assert nodeids
    for nodeid in nodeids:
        assert len(groupsOf(nodeid)) == 1, (nodeid, groupsOf(nodeid))
    reached = {groupsOf(n)[0].name for n in nodeids}
    assert reached == {g.name for g in GROUPS}  # and every group gates something
    assert all(selects(cli.DEFAULT_SELECTION, n) for n in nodeids)


def test_the_control_runs_only_in_the_gates_runs():
    assert not any(groupsOf(n) == [CONTROL] for n in collected())
    inGate = collected("--bench-gate-groups")
    assert [n for n in inGate if groupsOf(n) == [CONTROL]] == [
        "bench/test_gate_control.py::test_gate_control[plain]",
        "bench/test_gate_control.py::test_gate_control[slowed]",
    ]


def test_the_declaration_is_well_formed():
    names = [g.name for g in allGroups()]
    assert len(names) == len(set(names))
    for group in GROUPS:
        assert group.instrument in INSTRUMENTS
        assert 0.0 < group.tolerance < 0.1
        assert group.trials >= 2 and group.rounds >= 1 and group.why
    assert groupNamed("breaker").instrument == "cpu"
    with pytest.raises(ValueError, match="no gate group 'nope'; the groups are breaker"):
        groupNamed("nope")


def test_selections_read_as_pytest_reads_k():
    assert selects("tiered and 10", "bench/test_tiered.py::test_tiered_requests[10]")
    assert not selects("tiered and 10", "bench/test_tiered.py::test_tiered_requests[40]")
    assert selects("not breaker", "bench/test_fanout.py::test_fanout_queries[fixed]")
    assert selectionOf(GROUPS[:2]) == f"({GROUPS[0].selection}) or ({GROUPS[1].selection})"


def _gateRun(tmp_path, selection):
    out = tmp_path / "run.json"
    done = bench(
        "--bench-quick", "--bench-gate-groups", "-q", "-k", selection, f"--benchmark-json={out}"
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    return json.loads(out.read_text())


def test_each_group_is_measured_with_its_declared_rounds_and_instrument(tmp_path):
    run = _gateRun(tmp_path, "(breaker and closed and sync) or fanout")
    byName = {b["name"]: b for b in run["benchmarks"]}
    breaker = byName["test_closed_breaker_overhead[sync]"]
    declared = groupNamed("breaker")
    assert breaker["extra_info"]["gateGroup"] == "breaker"
    assert breaker["extra_info"]["gateInstrument"] == "cpu"
    assert breaker["options"]["timer"] == "thread_time"  # pytest-benchmark names its timer
    assert breaker["stats"]["rounds"] == declared.rounds
    assert breaker["stats"]["iterations"] == declared.iterations
    # The fan-out on the virtual clock: seeded sleeps add up to the same seconds every time,
    # far more than the milliseconds the run took.
    fanout = byName["test_fanout_queries[adaptive]"]
    assert fanout["extra_info"]["gateInstrument"] == "virtual"
    again = _gateRun(tmp_path, "fanout and adaptive")["benchmarks"][0]
    assert fanout["stats"]["min"] == again["stats"]["min"] > 5.0
    assert (
        run[  # a gate run is recorded as quick: it never replaces a published table
            "lecture31"
        ]["quick"]
        is True
    )
