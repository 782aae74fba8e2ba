"""Which tier? The workload x tier matrix: results, rows, ideals, verdicts, the user's workload."""

import asyncio
import importlib.util
import multiprocessing
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fakes import ForeignExecutor

from lecture31 import tiers
from lecture31._runtime import batching, machine
from lecture31._runtime.pools import makeProcessPool, shutDownPools
from lecture31.report.stats import Interval
from lecture31.tiers import (
    TIERS,
    WORKLOADS,
    WorkloadError,
    matrix as tierMatrix,
    rounds,
    runTierMatrix,
    scaling,
    show,
    workloads,
)
from lecture31.tiers.workloads import BUILTIN_WORKLOADS, Kind, Workload, idealSpeedup, runBatch


@pytest.fixture(autouse=True)
def behaviourNotPrecision(monkeypatch):
    """These tests check what a run does, not how precise it is: a workload's rounds stop after
    2 s here (a tiny user function's interval stays wide, and would take the CLI's 11 s)."""
    monkeypatch.setattr(rounds, "WORKLOAD_SECONDS", 2.0)


ROW_KEYS = {
    "workload",
    "tier",
    "tasks",
    "workers",
    "seconds",
    "speedup",
    "low",
    "high",
    "idealSpeedup",
}


def tierThreads(settleSeconds: float = 2.0):
    """The matrix's pool threads still alive. After an error or a cancel the pools are
    abandoned, not joined (a stuck thread cannot be killed), so idle threads get a moment to
    see the shutdown and exit."""
    deadline = time.monotonic() + settleSeconds
    while True:
        alive = [t for t in threading.enumerate() if t.name.startswith("lecture31-tiers")]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.01)


def nothingLeft(settleSeconds: float = 5.0) -> bool:
    """No pool thread and no worker process of the matrix left. After an error the pools are
    abandoned, not joined, so workers get a moment to see the shutdown and exit."""
    deadline = time.monotonic() + settleSeconds
    while tierThreads(0) or multiprocessing.active_children():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def tiny(name="tiny", fn=None, kind=Kind.WAITING, *, deterministic=True):
    """A fast workload for structural tests: ``fn(task input)`` with a seeded small int input."""
    return Workload(
        name,
        fn or workloads.blockingIo,
        kind,
        "a test workload",
        inputFor=lambda rng: (rng.randrange(100),),
        deterministic=deterministic,
    )


def test_workloads_and_tiers_are_the_ones_the_api_names():
    assert list(WORKLOADS) == [
        "cpu-python",
        "cpu-numpy",
        "blocking-io",
        "async-io",
        "homework-parse",
    ]
    assert list(TIERS)[:1] == ["inline"]
    assert {"inline", "threads", "processes"} <= set(TIERS)


def test_the_packages_docstring_names_the_built_in_workloads_in_order():
    drawn = tiers.__doc__.split("workload (", 1)[1].split(", or yours)", 1)[0]
    assert drawn.split(", ") == list(WORKLOADS)


def test_the_same_seed_gives_the_same_inputs_and_each_task_its_own():
    for workload in WORKLOADS.values():
        first = workload.inputs(4, seed=1)
        assert first == workload.inputs(4, seed=1)
        assert first != workload.inputs(4, seed=2)
        assert len({repr(args) for args in first}) == 4, workload.name


@pytest.mark.slow
async def test_every_builtin_workload_gives_inline_s_results_on_every_tier_that_takes_it():
    threadPool = ThreadPoolExecutor(2)
    processPool = makeProcessPool(2)
    try:
        for workload in BUILTIN_WORKLOADS:
            inputs = workload.inputs(3, seed=7)
            inline = await runBatch(workload, "inline", inputs)
            assert len(inline) == 3
            others = (
                {"loop": await runBatch(workload, "loop", inputs)}
                if workload.isAsync
                else {
                    "threads": await runBatch(workload, "threads", inputs, threadPool),
                    "processes": await runBatch(workload, "processes", inputs, processPool),
                }
            )
            for tier, results in others.items():
                assert results == inline, (workload.name, tier)
    finally:
        await shutDownPools(threadPool, processPool)


def test_cpu_workloads_depend_on_their_input():
    assert workloads.cpuPython(1, rounds=1000) != workloads.cpuPython(2, rounds=1000)
    assert workloads.cpuNumpy(1, size=1001) != workloads.cpuNumpy(2, size=1001)
    median, below = workloads.cpuNumpy(3, size=1001)
    assert 0.0 <= median <= 1.0 and 0 <= below <= 1001


async def test_rows_carry_the_api_keys_and_speedup_is_inline_seconds_over_tier_seconds():
    workload = tiny(fn=workloads.blockingIo)
    matrix = await tierMatrix.runMatrix(
        [workload], ["inline", "threads"], tasks=4, workers=4, seed=3, rounds=1
    )
    assert [row["tier"] for row in matrix.rows] == ["inline", "threads"]
    inline, threads = matrix.rows
    for row in matrix.rows:
        assert set(row) >= ROW_KEYS
        assert row["tasks"] == 4 and row["workload"] == "tiny" and row["sameResult"]
        assert row["low"] <= row["speedup"] <= row["high"] and row["rounds"] == 1
    assert inline["speedup"] == inline["low"] == inline["high"] == 1.0
    assert inline["idealSpeedup"] == 1.0 and inline["workers"] == 1
    # One round: its own speedup, inline's batch over the tier's.
    assert threads["speedup"] == pytest.approx(inline["seconds"] / threads["seconds"])
    assert threads["idealSpeedup"] == 4.0 and threads["workers"] == 4
    # Waiting only: the CPU scaling is not measured, so no process pool was made.
    assert matrix.scaling is None
    assert not multiprocessing.active_children()
    assert not tierThreads()


async def test_a_tier_that_disagrees_with_inline_is_an_error_for_a_pure_workload():
    workload = tiny("where", fn=_whichThreadOf)
    with pytest.raises(RuntimeError, match=r"'where' gave different results on tier 'threads'"):
        await tierMatrix.runMatrix([workload], ["threads"], tasks=2, workers=2, seed=1, rounds=1)
    assert not tierThreads()


def _whichThreadOf(_token):
    return threading.get_ident()


async def test_async_workloads_run_inline_and_on_the_loop_only():
    workload = Workload(
        "echo", workloads.asyncIo, Kind.ASYNC, "", inputFor=lambda rng: (rng.randrange(9), 0.01)
    )
    matrix = await tierMatrix.runMatrix(
        [workload], list(TIERS), tasks=5, workers=2, seed=1, rounds=1
    )
    assert [row["tier"] for row in matrix.rows] == ["inline", "loop"]
    assert matrix.rows[1]["idealSpeedup"] == 5.0 and matrix.rows[1]["workers"] == 5
    # Five 10 ms sleeps at once against one after another: an order of magnitude, with slack.
    assert matrix.rows[1]["speedup"] > 2.0


async def test_run_batch_refuses_what_a_tier_cannot_run():
    with pytest.raises(ValueError, match="runs coroutine functions only"):
        await runBatch(tiny(), "loop", [(1,)])
    with pytest.raises(ValueError, match="is a coroutine function"):
        await runBatch(WORKLOADS["async-io"], "threads", [(1,)], ThreadPoolExecutor(1))
    with pytest.raises(TypeError, match="tier 'threads' needs an Executor"):
        await runBatch(tiny(), "threads", [(1,)], None)


async def test_a_failing_task_is_raised_after_its_siblings_finish():
    pool = ThreadPoolExecutor(2)
    try:
        with pytest.raises(ValueError, match="the user's function failed"):
            await runBatch(tiny(fn=_failOnOdd), "threads", [(1,), (2,), (3,)], pool)
    finally:
        pool.shutdown(wait=True)


def _failOnOdd(value):
    if value % 2:
        raise ValueError("the user's function failed")
    return value


@pytest.mark.parametrize(
    ("kind", "tier", "gil", "expected"),
    [
        (Kind.PYTHON_CPU, "inline", True, 1.0),
        (Kind.PYTHON_CPU, "threads", True, 1.0),
        (Kind.PYTHON_CPU, "threads", False, 2.0),
        (Kind.PYTHON_CPU, "processes", True, 2.0),
        (Kind.PYTHON_CPU, "dask", True, None),  # a cluster's cores are not this machine's
        (Kind.NATIVE_CPU, "threads", True, 2.0),
        (Kind.WAITING, "threads", True, 3.0),
        (Kind.WAITING, "processes", True, 3.0),
        (Kind.ASYNC, "loop", True, 8.0),
        (Kind.UNKNOWN, "processes", True, None),
    ],
)
def test_ideal_speedup_is_a_bound_by_kind_tier_and_cores(monkeypatch, kind, tier, gil, expected):
    monkeypatch.setattr(workloads, "gilEnabled", lambda: gil)
    assert idealSpeedup(kind, tier, tasks=8, workers=3, cores=2) == expected


def test_a_run_without_the_gil_is_labelled_free_threaded(monkeypatch):
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: False, raising=False)
    assert machine.gilLabel() == "free-threaded (GIL disabled)"
    heading = show.heading(list(WORKLOADS.values()), tasks=8, workers=2, seed=1)
    assert "free-threaded (GIL disabled)" in heading
    assert "Python CPU work on threads can scale" in heading


def test_a_run_with_the_gil_says_so(monkeypatch):
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: True, raising=False)
    assert "GIL enabled" in machine.gilLabel()


async def test_scaling_of_one_task_is_not_measured_and_the_pool_is_not_touched():
    class NoPool(ThreadPoolExecutor):
        def submit(self, *args, **kwargs):
            raise AssertionError("the pool was used")

    assert await scaling.measureScaling(NoPool(1), 1) is None


async def test_measured_scaling_is_the_median_of_the_rounds_ratios_with_an_interval(monkeypatch):
    # Serial: two 50 ms waits in a row; together: two at once on two threads. About 2x.
    monkeypatch.setattr(scaling, "cpuPythonRepeated", _waitRepeated)
    monkeypatch.setattr(scaling, "cpuPython", _wait)
    pool = ThreadPoolExecutor(2)
    try:
        measured = await scaling.measureScaling(pool, 2, rounds=3)
    finally:
        pool.shutdown(wait=True)
    assert measured.low <= measured.point <= measured.high
    assert 1.3 < measured.point < 3.0  # an order of magnitude, with slack for a busy machine


def _wait(start):
    return workloads.blockingIo(start, 0.05)


def _waitRepeated(start, times):
    return [_wait(start) for _ in range(times)]


def cpuRows(threads, processes, ideal, *, width=0.02):
    """Rows of one CPU workload: (speedup, (low, high)) or a speedup and a +-width interval."""

    def row(tier, value, idealSpeedup):
        speedup, (low, high) = value if isinstance(value, tuple) else (value, (0, 0))
        if not isinstance(value, tuple):
            low, high = speedup * (1 - width), speedup * (1 + width)
        return {
            "workload": "cpu-python",
            "tier": tier,
            "speedup": speedup,
            "low": low,
            "high": high,
            "idealSpeedup": idealSpeedup,
        }

    return [
        row("inline", (1.0, (1.0, 1.0)), 1.0),
        row("threads", threads, 1.0),
        row("processes", processes, ideal),
    ]


def test_verdict_names_the_tier_with_its_interval_and_ideal():
    text = show.verdict(WORKLOADS["cpu-python"], cpuRows(0.8, 1.6, 2.0), None)
    assert text == (
        "cpu-python belongs on processes: 1.60x (1.57-1.63) of an ideal 2.00x; "
        "threads 0.80x (0.78-0.82)"
    )


def test_verdict_names_every_tier_within_noise_the_lighter_first():
    rows = cpuRows((1.9, (1.8, 2.0)), (2.0, (1.9, 2.1)), 2.0)
    rows[1]["idealSpeedup"] = 2.0
    for row in rows:
        row["workload"] = "homework-parse"
    text = show.verdict(WORKLOADS["homework-parse"], rows, None)
    assert text == (
        "homework-parse belongs on threads or processes (within noise; threads is lighter): "
        "threads 1.90x (1.80-2.00), processes 2.00x (1.90-2.10) of an ideal 2.00x"
    )


def test_verdict_keeps_work_inline_when_no_interval_clears_one():
    text = show.verdict(WORKLOADS["cpu-python"], cpuRows(0.7, (1.05, (0.98, 1.12)), 2.0), None)
    assert text == (
        "cpu-python stays inline: no tier beats it beyond noise "
        "(threads 0.70x (0.69-0.71); processes 1.05x (0.98-1.12))"
    )


def test_verdict_for_a_user_function_beyond_the_measured_cpu_scaling_says_it_waits():
    rows = cpuRows(3.9, 1.8, None)
    rows[1]["idealSpeedup"] = None
    for row in rows:
        row["workload"] = "mine"
    user = tiny("mine", kind=Kind.UNKNOWN)
    text = show.verdict(user, rows, Interval(1.7, 1.6, 1.8))
    assert text.startswith(
        "mine belongs on threads: 3.90x (3.82-3.98), beyond the machine's measured CPU scaling "
        "of 1.70x: it waits more than it computes; processes"
    )


def test_a_row_whose_results_differ_is_marked():
    row = {
        "workload": "w",
        "tier": "threads",
        "tasks": 2,
        "workers": 2,
        "seconds": 0.5,
        "speedup": 2.0,
        "low": 1.9,
        "high": 2.1,
        "idealSpeedup": None,
        "sameResult": False,
        "rounds": 15,
        "batches": 2,
    }
    line = show.formatRow(row)
    assert re.search(
        r"w\s+threads\s+2\s+2\s+0\.500 s\s+250\.0 ms\s+2\.00x\s+\(1\.90-2\.10\)\s+-\s+15 x 2",
        line,
    )
    assert line.endswith("(results differ from inline)")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"workloads": "cpu-python"}, TypeError, "workloads must be a list of names or None"),
        ({"workloads": ["gpu"]}, ValueError, r"workloads has unknown name\(s\) \['gpu'\]"),
        ({"tiers": ["fpga"]}, ValueError, r"tiers has unknown name\(s\) \['fpga'\]"),
        ({"tiers": []}, ValueError, "tiers must name at least one"),
        ({"tasks": 0}, ValueError, "tasks must be >= 1, got 0"),
        ({"tasks": 10**7}, ValueError, "tasks must be <= 10000"),
        ({"workers": True}, TypeError, "workers must be an int, got True"),
        ({"workers": 10**7}, ValueError, "workers must be <= 256"),
        ({"seed": "1"}, TypeError, "seed must be an int or None"),
    ],
)
async def test_bad_arguments_name_the_culprit_before_any_pool_starts(kwargs, error, message):
    with pytest.raises(error, match=message):
        await runTierMatrix(**kwargs)
    assert nothingLeft()


async def test_cancelling_a_run_propagates_and_leaves_no_pool_behind():
    run = asyncio.create_task(runTierMatrix(["blocking-io"], ["threads"], tasks=4, workers=2))
    for _ in range(500):  # until the run is under way, its pool up (at most 5 s)
        if tierThreads():
            break
        await asyncio.sleep(0.01)
    assert tierThreads() and not run.done()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert not tierThreads()


# ---- the user's own workload ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "args", "reason", "message"),
    [
        ("userworkload.square", None, "malformed", "is not of the form package.module:function"),
        ("no_such_module_xyz:f", None, "not importable", "module 'no_such_module_xyz' failed"),
        ("userworkload:missing", None, "not importable", "no attribute 'missing'"),
        (
            "userworkload:NOT_CALLABLE",
            None,
            "not a function",
            "is not a function: it is the int 42",
        ),
        ("userworkload:unpicklable", None, "not picklable", "cannot go to a process"),
        ("userworkload:square", 5, "bad arguments", "--args must be a JSON list"),
    ],
)
async def test_a_workload_that_cannot_run_everywhere_is_one_clear_error(
    spec, args, reason, message, capsys
):
    with pytest.raises(WorkloadError, match=message) as raised:
        await tiers.main(seed=1, workload=spec, args=args)
    assert raised.value.reason == reason
    assert "\n" not in str(raised.value)
    assert capsys.readouterr().out == ""  # nothing ran


async def test_a_workload_that_raises_names_the_error_and_the_tier():
    with pytest.raises(WorkloadError, match=r"raised ValueError: the user's function failed"):
        await tiers.main(seed=1, workload="userworkload:boom")
    assert nothingLeft()


@pytest.mark.slow
async def test_a_user_function_runs_on_every_tier_with_positional_arguments(capsys):
    await tiers.main(seed=1, workload="userworkload:square", args=[7])
    out = capsys.readouterr().out
    for tier in ("inline", "threads", "processes"):
        assert re.search(rf"userworkload:square\s+{tier}\s+8\s", out), tier
    # Eight multiplications: any executor costs more than they do.
    assert re.search(r"\nverdicts \(.*\):\n  userworkload:square stays inline: ", out)
    assert "results differ" not in out
    assert nothingLeft()


async def test_a_user_function_takes_keyword_arguments_and_a_given_process_pool(capsys):
    given = ThreadPoolExecutor(2)  # stands in for --cpu dask: any Executor
    try:
        await tiers.main(
            seed=1,
            workload="userworkload:sleepThenEcho",
            args={"seconds": 0.002, "value": "x"},
            processPool=given,
        )
        assert given.submit(int, "5").result() == 5  # left open for its owner
    finally:
        given.shutdown(wait=True)
    out = capsys.readouterr().out
    assert re.search(r"userworkload:sleepThenEcho\s+processes\s+8\s+\d+\s", out)
    assert not multiprocessing.active_children()


async def test_an_impure_user_function_is_measured_and_flagged_not_refused(capsys):
    given = ThreadPoolExecutor(1)
    try:
        await tiers.main(seed=1, workload="userworkload:whichThread", processPool=given)
    finally:
        given.shutdown(wait=True)
    out = capsys.readouterr().out
    assert re.search(r"whichThread\s+threads .*\(results differ from inline\)", out)


async def test_a_user_coroutine_function_runs_inline_and_on_the_loop(capsys):
    await tiers.main(seed=1, workload="userworkload:asyncEcho", args=["hi"])
    out = capsys.readouterr().out
    assert re.search(r"asyncEcho\s+loop\s+8\s+8\s", out)
    assert not re.search(r"asyncEcho\s+(threads|processes)", out)


def test_a_whole_interval_beyond_its_ideal_is_called_noise_not_a_result():
    rows = cpuRows((1.4, (1.3, 1.5)), 1.2, 2.0)
    text = show.verdict(WORKLOADS["cpu-python"], rows, None)
    assert text.startswith("cpu-python belongs on threads: 1.40x (1.30-1.50) of an ideal 1.00x")
    assert text.endswith(
        "(noisy: threads beat the ideal over the whole interval, so other jobs disturbed some "
        "rounds; re-run on a quiet machine)"
    )


def test_a_low_measured_scaling_is_reported_as_busy_cores():
    assert "other jobs hold the cores" in show.scalingLine(Interval(1.05, 1.0, 1.1), 2)
    line = show.scalingLine(Interval(1.7, 1.65, 1.75), 2)
    assert line.startswith("measured CPU scaling: 1.70x (1.65-1.75) for 2 CPU tasks at once")
    assert "a measurement, not a bound" in line and "other jobs hold the cores" not in line
    assert "only one task can run at a time" in show.scalingLine(None, 1)


@pytest.mark.slow
def test_a_user_module_in_the_working_directory_reaches_the_process_workers(tmp_path):
    """As the CLI runs it: a fresh interpreter whose user module is only on the path via cwd."""
    (tmp_path / "mywork.py").write_text("def triple(x):\n    return 3 * x\n")
    program = (
        "import asyncio, multiprocessing, lecture31.tiers as t\n"
        "t.rounds.WORKLOAD_SECONDS = 2.0\n"  # behaviourNotPrecision, in the child
        "asyncio.run(t.main(seed=2, workload='mywork:triple', args=[5]))\n"
        "assert not multiprocessing.active_children()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"mywork:triple\s+processes\s+8\s+\d+\s", done.stdout)
    assert "results differ" not in done.stdout


def test_rows_come_lightest_tier_first_whatever_order_they_were_asked_in():
    assert tierMatrix._tiersFor(WORKLOADS["blocking-io"], ["processes", "threads"]) == [
        "inline",
        "threads",
        "processes",
    ]
    assert tierMatrix._tiersFor(WORKLOADS["async-io"], ["processes", "loop"]) == ["inline", "loop"]


async def test_the_scaling_is_measured_a_round_at_a_time_beside_cpu_rows_only(monkeypatch):
    rounds = []

    class FakeProbe:
        def __init__(self, processPool, parallel):
            assert parallel == 2

        async def measureRound(self):
            rounds.append("probe")

        def interval(self):
            return Interval(1.5, 1.4, 1.6)

    monkeypatch.setattr(tierMatrix, "ScalingProbe", FakeProbe)
    monkeypatch.setattr(tierMatrix, "usableCores", lambda: 2)
    crunch = tiny("crunch", kind=Kind.NATIVE_CPU)
    wait = tiny("wait", kind=Kind.WAITING)
    measured = await tierMatrix.runMatrix(
        [crunch, wait], ["inline", "threads"], tasks=2, workers=2, seed=1, rounds=3
    )
    assert rounds == ["probe"] * 3  # one per round of the CPU workload, none for waiting
    ideals = {(row["workload"], row["tier"]): row["idealSpeedup"] for row in measured.rows}
    assert ideals == {
        ("crunch", "inline"): 1.0,
        ("crunch", "threads"): 2.0,  # the bound: 2 tasks, 2 workers, 2 cores; not the probe's
        ("wait", "inline"): 1.0,
        ("wait", "threads"): 2.0,
    }
    assert measured.scaling == Interval(1.5, 1.4, 1.6) and measured.parallel == 2
    assert not multiprocessing.active_children()


async def test_a_cluster_like_executor_gets_the_work_in_batches_with_the_same_results(
    monkeypatch,
):
    async def clusterOverhead(executor):
        return 0.05  # dask-like: a task's trip costs more than a parse

    monkeypatch.setattr(batching, "_overheadOf", clusterOverhead)
    workload = WORKLOADS["homework-parse"]
    inputs = workload.inputs(16, seed=3)
    executor = ForeignExecutor()
    try:
        results = await runBatch(workload, "processes", inputs, executor)
    finally:
        executor.shutdown()
    assert results == await runBatch(workload, "inline", inputs)
    # One probe task per worker, then the other 14 parses in a few batches, not 14 tasks.
    assert executor.submitted < 2 + 14 // 2


def test_the_dask_tier_is_listed_exactly_when_the_extra_is_installed():
    assert ("dask" in TIERS) == (importlib.util.find_spec("distributed") is not None)


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None, reason="needs the distributed extra"
)
async def test_the_dask_tier_runs_the_matrix_on_a_local_cluster_and_closes_it():
    before = {thread.name for thread in threading.enumerate()}
    rows = await runTierMatrix(["blocking-io"], ["dask"], tasks=4, workers=2, seed=1)
    assert [row["tier"] for row in rows] == ["inline", "dask"]
    assert all(row["sameResult"] for row in rows)
    assert rows[1]["speedup"] > 0
    leftover = {
        thread.name for thread in threading.enumerate() if thread.name != "Dask-Offload"
    } - before
    assert not leftover
    assert not multiprocessing.active_children()
