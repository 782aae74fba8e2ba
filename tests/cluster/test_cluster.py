"""The CPU tier on a process pool or a dask cluster, and batching by per-task overhead.

The dask tests need the ``distributed`` extra (CI installs it: ``.ci/run``). They start real
processes: a LocalCluster, and a ``dask scheduler`` with two ``dask worker`` processes on
127.0.0.1 (free ports), reached by address as a remote cluster would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lecture31 import cluster
from lecture31._runtime import batching
from lecture31._runtime.batching import batchSizeFor, executorWorkers, mapInBatches, measureOverhead
from lecture31.cluster import EXTRA_HINT, cpuExecutor
from lecture31.demos import scaleout
from lecture31.demos.clustermeasure import main as clusterMain
from lecture31.pipeline import runCorrectPipeline
from lecture31.tiered import runTiered

SEED = 13
PIPELINE_SENSORS = 480  # the scale: one task per reading is where dask's overhead shows

# Threads distributed keeps for the life of the interpreter once it has been used (its module-
# level offload executor), not per cluster or client: not ours to close, so not a leak.
_DASK_GLOBAL_THREADS = ("Dask-Offload",)


def _square(x: int) -> int:
    return x * x


# Importable on any worker (a builtin), unlike this module's functions on the CLI workers.
_squareAnywhere = functools.partial(pow, exp=2)


def _failOnSeven(x: int) -> int:
    if x == 7:
        raise ArithmeticError(f"item {x} is bad")
    return x


def _ourThreads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if not t.name.startswith(_DASK_GLOBAL_THREADS)}


def _leftovers() -> tuple[set, set]:
    return set(multiprocessing.active_children()), _ourThreads()


# --- the batch-size rule: a pure function, exact numbers ------------------------------------


@pytest.mark.parametrize(
    ("numItems", "workers", "overhead", "cost", "expected"),
    [
        # sqrt(480 x 1 ms / (2 x 1 ms)) = 15.5 -> 16: overhead of 30 tasks ~ one batch's tail
        (480, 2, 0.001, 0.001, 16),
        # free dispatch: one item per task is best
        (480, 2, 0.0, 0.001, 1),
        # overhead 1000x the work: one task holds everything (two would cost 2 s to dispatch)
        (10, 2, 1.0, 0.001, 10),
        # 4,800 on 256 workers at o = 6.4 ms, c = 1.4 ms: 19 a worker would take 1.6 s to
        # dispatch; 149 per task: 33 tasks, dispatched in 0.21 s ~ one batch of work (0.21 s)
        (4800, 256, 0.0064, 0.0014, 149),
        # 256 workers fed by one dispatcher at 1 ms a task need batches of >= 256 ms of work
        (1_000_000, 256, 0.001, 0.001, 256),
        # a task measured at 0 s: any overhead outweighs it, one task
        (100, 4, 0.001, 0.0, 100),
    ],
)
def test_batch_size_balances_overhead_against_the_tail(numItems, workers, overhead, cost, expected):
    size = batchSizeFor(numItems, workers, overheadSeconds=overhead, taskSeconds=cost)
    assert size == expected


def test_batch_size_grows_with_overhead_and_shrinks_with_task_cost():
    sizes = [
        batchSizeFor(4800, 4, overheadSeconds=o, taskSeconds=0.001) for o in (1e-5, 1e-4, 1e-3)
    ]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    sizes = [batchSizeFor(4800, 4, overheadSeconds=1e-3, taskSeconds=c) for c in (1e-4, 1e-3, 1e-2)]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"numItems": 0}, ValueError, "numItems must be >= 1, got 0"),
        ({"workers": 2.0}, TypeError, "workers must be an int, got 2.0"),
        ({"overheadSeconds": -1}, ValueError, "overheadSeconds must be a finite number"),
        ({"taskSeconds": math.nan}, ValueError, "taskSeconds must be a finite number"),
    ],
)
def test_batch_size_rejects_bad_arguments_by_name(kwargs, error, message):
    arguments = {"numItems": 10, "workers": 2, "overheadSeconds": 0.001, "taskSeconds": 0.001}
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        batchSizeFor(**arguments)


# --- mapInBatches on a thread pool (same code path as any Executor) -------------------------


@pytest.fixture
def threads():
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="test-batches") as pool:
        yield pool


@pytest.mark.parametrize("batchSize", [None, 1, 7, 1000])
async def test_map_in_batches_gives_every_result_in_order(threads, batchSize):
    items = list(range(101))
    assert await mapInBatches(threads, _square, items, batchSize=batchSize) == [
        x * x for x in items
    ]


async def test_map_in_batches_of_nothing_is_nothing(threads):
    assert await mapInBatches(threads, _square, []) == []


async def test_sizing_measures_the_overhead_once_per_executor_and_the_cost_once_per_function(
    threads, monkeypatch
):
    measured = []
    realMeasure = batching._measureOverhead

    async def countingMeasure(executor, burst):
        measured.append(executor)
        return await realMeasure(executor, burst)

    monkeypatch.setattr(batching, "_measureOverhead", countingMeasure)
    monkeypatch.setattr(batching, "_taskSecondsCache", {})
    await mapInBatches(threads, _square, range(50))
    await mapInBatches(threads, _square, range(50))
    assert measured == [threads]
    assert list(batching._taskSecondsCache) == [(__name__, "_square")]


async def test_a_failing_item_fails_the_map_with_its_own_error_and_leaves_nothing_running(threads):
    with pytest.raises(ArithmeticError, match="item 7 is bad"):
        await mapInBatches(threads, _failOnSeven, range(40), batchSize=2)
    # Every batch was cancelled or finished: the pool takes new work at once.
    assert threads.submit(_square, 3).result(timeout=5) == 9


class _CountingPool(ThreadPoolExecutor):
    """A thread pool that records the most tasks it ever held at once."""

    def __init__(self, workers: int) -> None:
        super().__init__(max_workers=workers, thread_name_prefix="test-window")
        self._lock = threading.Lock()
        self.inFlight = self.peak = 0

    def submit(self, fn, /, *args, **kwargs):
        with self._lock:
            self.inFlight += 1
            self.peak = max(self.peak, self.inFlight)
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _future) -> None:
        with self._lock:
            self.inFlight -= 1


async def test_batches_in_flight_stay_bounded_however_many_items():
    with _CountingPool(2) as pool:
        results = await mapInBatches(pool, _square, range(3000), batchSize=1)
    assert results == [x * x for x in range(3000)]
    assert pool.peak <= batching.WINDOW_PER_WORKER * 2


async def test_cancelling_a_map_cancels_its_queued_batches():
    started = threading.Event()

    def slow(x):
        started.set()
        time.sleep(0.05)
        return x

    with _CountingPool(1) as pool:
        task = asyncio.create_task(mapInBatches(pool, slow, range(100), batchSize=1))
        await asyncio.to_thread(started.wait, 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool.inFlight <= 1  # at most the batch already running, none queued


async def test_overhead_is_measured_as_a_round_trip_and_a_per_task_cost(threads):
    overhead = await measureOverhead(threads, burst=16)
    assert set(overhead) == {"roundTripSeconds", "perTaskSeconds"}
    assert 0 < overhead["perTaskSeconds"] < 1 and 0 < overhead["roundTripSeconds"] < 1


async def test_map_in_batches_rejects_a_batch_size_below_one(threads):
    # The executor and fn are checked once, by the runner that owns them (see test_dispatch).
    with pytest.raises(ValueError, match="batchSize must be >= 1, got 0"):
        await mapInBatches(threads, _square, [1], batchSize=0)


def test_workers_of_the_standard_pools_are_their_sizes(threads):
    assert executorWorkers(threads) == 3


# --- cpuExecutor: arguments and the missing extra -------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        (("gpu",), {}, ValueError, "kind must be one of process, dask, got 'gpu'"),
        ((None,), {}, TypeError, "kind must be one of process, dask, got None"),
        (("process",), {"address": "tcp://h:8786"}, ValueError, "address applies to kind='dask'"),
        (("dask",), {"address": 8786}, TypeError, "address must be a scheduler address"),
        (("dask",), {"address": ""}, ValueError, "address must be a scheduler address"),
        (("dask",), {"workers": 0}, ValueError, "workers must be >= 1, got 0"),
        (("process",), {"workers": True}, TypeError, "workers must be an int, got True"),
    ],
)
def test_cpu_executor_rejects_bad_arguments_before_starting_anything(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        cpuExecutor(*args, **kwargs)


def test_asking_for_dask_without_the_extra_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # what a missing package looks like
    before = _leftovers()
    missing = pytest.raises(ModuleNotFoundError, match=r"pip install 'lecture31\[distributed\]'")
    with missing, cpuExecutor("dask"):
        pass
    assert _leftovers() == before


@pytest.mark.slow
async def test_the_process_kind_is_a_warm_pool_that_is_closed_on_exit():
    before = _leftovers()
    async with cpuExecutor("process", workers=2) as pool:
        assert executorWorkers(pool) == 2
        assert await mapInBatches(pool, _square, range(20)) == [x * x for x in range(20)]
    assert _leftovers() == before
    with pytest.raises(RuntimeError):
        pool.submit(_square, 2)


@pytest.mark.slow
def test_the_sync_form_closes_the_pool_also_when_the_body_raises():
    before = _leftovers()
    with pytest.raises(KeyError), cpuExecutor("process", workers=1) as pool:
        assert pool.submit(_square, 4).result(timeout=30) == 16
        raise KeyError("the body failed")
    assert _leftovers() == before


def test_a_cpu_executor_opens_once():
    manager = cpuExecutor("process", workers=1)
    with manager, pytest.raises(RuntimeError, match="already open"), manager:
        pass


# --- dask: a LocalCluster ------------------------------------------------------------------


@pytest.fixture
def distributed():
    # CI installs the extra (.ci/run), so these run there; a `[test]`-only install skips them.
    return pytest.importorskip("distributed", reason=f"the dask tests need {EXTRA_HINT}")


@pytest.mark.slow
async def test_a_local_cluster_runs_every_tiered_request_and_leaves_nothing_behind(
    distributed, monkeypatch
):
    monkeypatch.delenv(cluster.DASK_SCHEDULER_ENV, raising=False)
    before = _leftovers()
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        async with cpuExecutor("dask", workers=2) as executor:
            opened = ticks
            assert executorWorkers(executor) == 2
            run = await runTiered(10, processPool=executor, seed=SEED)
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
    assert opened >= 3  # the loop ran while the cluster started (a blocking open: 0 ticks)
    assert run.failures == {}
    assert [result["requestId"] for result in run.results] == list(range(10))
    assert all(result["parseCount"] == 20 for result in run.results)
    assert _leftovers() == before


@pytest.mark.slow
async def test_cancelling_while_the_local_cluster_starts_closes_it(distributed, monkeypatch):
    monkeypatch.delenv(cluster.DASK_SCHEDULER_ENV, raising=False)
    before = _leftovers()

    async def openAndWait():
        async with cpuExecutor("dask", workers=1):
            await asyncio.sleep(60)

    task = asyncio.create_task(openAndWait())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=60)
    assert _leftovers() == before


@pytest.mark.slow
async def test_no_scheduler_at_the_address_is_a_connection_error_naming_it(
    distributed, monkeypatch
):
    import socket

    with socket.socket() as probe:  # a port nothing listens on once this closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(cluster.executor, "CONNECT_TIMEOUT_SECONDS", 2.0)
    before = _leftovers()
    address = f"tcp://127.0.0.1:{port}"
    start = time.monotonic()
    with pytest.raises(ConnectionError, match=f"no dask scheduler answered at '{address}'"):
        async with cpuExecutor("dask", address=address):
            pass
    assert time.monotonic() - start < 30
    assert _leftovers() == before


# --- dask: a scheduler and two workers as separate processes, reached by address -----------


class _CliCluster:
    """``dask scheduler`` + two ``dask worker`` (each with its nanny) on 127.0.0.1, free ports."""

    def __init__(self, directory: Path) -> None:
        import psutil

        self._psutil = psutil
        dask = str(Path(sys.executable).with_name("dask"))
        schedulerFile = directory / "scheduler.json"
        self.log = (directory / "cluster.log").open("w")
        quiet = {"stdout": subprocess.DEVNULL, "stderr": self.log}
        self.scheduler = subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(schedulerFile)],
            **quiet,
        )  # fmt: skip
        self.workers: list[subprocess.Popen] = []
        deadline = time.monotonic() + 60
        while not schedulerFile.exists() or not schedulerFile.read_text().strip():
            if self.scheduler.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dask scheduler did not start; see {self.log.name}")
            time.sleep(0.05)
        self.address = json.loads(schedulerFile.read_text())["address"]
        for index in range(2):
            self.workers.append(
                subprocess.Popen(
                    [
                        dask,
                        "worker",
                        self.address,
                        "--host",
                        "127.0.0.1",
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--memory-limit",
                        "0",
                        "--name",
                        f"worker-{index}",
                        "--local-directory",
                        str(directory / f"worker-{index}"),
                    ],
                    **quiet,
                )
            )

    def workerProcess(self, index: int):
        """The process doing worker ``index``'s tasks: the nanny's spawned child."""
        nanny = self._psutil.Process(self.workers[index].pid)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for child in nanny.children():
                if "resource_tracker" not in " ".join(child.cmdline()):
                    return child
            time.sleep(0.05)
        raise RuntimeError(f"worker-{index} has no worker process")

    def descendants(self) -> set:
        found = set()
        for process in [self.scheduler, *self.workers]:
            with contextlib.suppress(self._psutil.NoSuchProcess):
                found |= set(self._psutil.Process(process.pid).children(recursive=True))
        return found

    def stop(self) -> set:
        """Stop workers, then the scheduler (SIGTERM, as a supervisor would); return survivors."""
        grandchildren = self.descendants()
        for process in [*self.workers, self.scheduler]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        survivors = {p for p in grandchildren if p.is_running() and p.status() != "zombie"}
        for survivor in survivors:
            survivor.kill()
        self.log.close()
        return survivors


@pytest.fixture(scope="module")
def cliCluster(tmp_path_factory):
    pytest.importorskip("distributed", reason=f"the dask tests need {EXTRA_HINT}")
    started = _CliCluster(tmp_path_factory.mktemp("dask-cluster"))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def processPoolAggregate():
    """The reference: the same seed's pipeline on the project's process pool."""

    async def run():
        async with cpuExecutor("process", workers=2) as pool:
            return await runCorrectPipeline(PIPELINE_SENSORS, processPool=pool, seed=SEED)

    return asyncio.run(run())


@pytest.mark.slow
async def test_a_remote_scheduler_gives_the_process_pools_aggregate(
    cliCluster, processPoolAggregate
):
    before = _ourThreads()
    async with cpuExecutor("dask", address=cliCluster.address, workers=2) as executor:
        assert executorWorkers(executor) == 2
        aggregate = await runCorrectPipeline(PIPELINE_SENSORS, processPool=executor, seed=SEED)
        # The CLI workers cannot import this test module: send a builtin.
        batched = await mapInBatches(executor, _squareAnywhere, range(100))
    assert aggregate == processPoolAggregate  # normalizing is pure: same floats, same order
    assert aggregate["count"] == PIPELINE_SENSORS
    assert batched == [x * x for x in range(100)]
    assert _ourThreads() == before


@pytest.mark.slow
async def test_the_scheduler_address_can_come_from_the_environment(cliCluster, monkeypatch):
    monkeypatch.setenv(cluster.DASK_SCHEDULER_ENV, cliCluster.address)
    async with cpuExecutor("dask") as executor:
        assert await mapInBatches(executor, _squareAnywhere, [3, 4]) == [9, 16]


@pytest.mark.slow
async def test_a_worker_killed_mid_run_is_retried_transparently(cliCluster, processPoolAggregate):
    """dask reschedules a lost worker's tasks on the others (and the nanny restarts it): the
    run finishes with the same aggregate, in bounded time, without an error."""
    async with cpuExecutor("dask", address=cliCluster.address, workers=2) as executor:
        victim = cliCluster.workerProcess(0)
        run = asyncio.create_task(
            runCorrectPipeline(PIPELINE_SENSORS, processPool=executor, seed=SEED)
        )
        # Fetches take <= 0.12 s, then 480 readings of ~1 ms on 2 workers take >= 0.24 s
        # even with free dispatch: at 0.25 s normalizing is under way (measured: 3-15 s).
        await asyncio.sleep(0.25)
        assert not run.done(), "the run ended before the worker could be killed"
        os.kill(victim.pid, signal.SIGKILL)
        aggregate = await asyncio.wait_for(run, timeout=90)
    assert not victim.is_running() or victim.status() == "zombie"
    assert aggregate == processPoolAggregate


@pytest.mark.slow
def test_stopping_the_cluster_leaves_no_scheduler_or_worker_process(cliCluster):
    assert cliCluster.descendants(), "expected the nannies' worker processes to be running"
    assert cliCluster.stop() == set()
    assert all(p.poll() is not None for p in [cliCluster.scheduler, *cliCluster.workers])


# --- the scale-out model: pure arithmetic, exact numbers -------------------------------------


def test_the_cpu_stage_model_is_the_slower_of_compute_and_dispatch_plus_one_overhead():
    # 4,800 readings of 1 ms on 2 workers, one task each at 0.5 ms: compute (2,400 rounds) and
    # dispatch (4,800 x 0.5 ms) both take 2.4 s and overlap; + 0.5 ms for the first task's trip.
    assert scaleout.cpuStageSeconds(4800, 2, 1, overhead=0.0005, cost=0.001) == pytest.approx(
        2.4005
    )
    # 256 workers: compute 19 rounds x 1 ms, but the scheduler needs 4,800 x 1 ms: dispatch wins
    assert scaleout.cpuStageSeconds(4800, 256, 1, overhead=0.001, cost=0.001) == pytest.approx(
        4.801
    )
    # batches of 100: 48 tasks, one round on 256 workers: 0.1 s of work
    assert scaleout.cpuStageSeconds(4800, 256, 100, overhead=0.001, cost=0.001) == pytest.approx(
        0.101
    )


def test_the_model_covers_every_scale_and_machine_shape_and_says_it_is_a_model():
    rows = scaleout.modelRows(overheadSeconds=0.001, taskSeconds=0.001)
    assert len(rows) == 3 * 3 * 2
    assert {(r["sensors"], r["machines"], r["cores"]) for r in rows} == {
        (s, m, c) for s in (4_800, 48_000, 480_000) for m in (1, 4, 16) for c in (2, 16)
    }
    for row in rows:
        assert row["workers"] == row["machines"] * row["cores"]
        # batching never loses in the model (b = 1 is one of the sizes it could have chosen)
        assert row["cpuBatchedSeconds"] <= row["cpuPerReadingSeconds"] * 1.01
        assert row["pipelineBatchedSeconds"] > row["cpuBatchedSeconds"]
    text = scaleout.renderModel(rows, overheadSeconds=0.001, taskSeconds=0.001)
    assert text.startswith("MODEL, not a measurement")
    assert text.count("\n| 480,000 |") == 6


def test_the_model_tool_prints_the_table_from_given_numbers(capsys):
    assert clusterMain(["--model", "--overhead-ms", "1", "--task-ms", "1"]) == 0
    out = capsys.readouterr().out
    assert "MODEL, not a measurement: o = 1.00 ms" in out
    assert "| 4,800 | 1 x 2 | 2 |" in out


def test_the_model_tool_checks_write_before_measuring_and_writes_nothing_on_error(
    tmp_path, monkeypatch, capsys
):
    missing = tmp_path / "nope"
    with pytest.raises(SystemExit) as exit:
        clusterMain(["--model", "--overhead-ms", "1", "--task-ms", "1", "--write", str(missing)])
    assert exit.value.code == 2
    assert "--write" in capsys.readouterr().err and not missing.exists()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(SystemExit):
        clusterMain(["--model", "--overhead-ms", "1", "--task-ms", "1", "--write", str(tmp_path)])
    assert "pip install 'lecture31[plot]'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(SystemExit):
        clusterMain(["--model", "--overhead-ms", "-1"])
    assert "--overhead-ms must be a finite number of seconds" in capsys.readouterr().err


_OPEN_AND_HANG = """
import os, sys, time
from lecture31.cluster import cpuExecutor

if __name__ == "__main__":
    with cpuExecutor("dask", workers=2) as executor:
        pids = {executor.submit(os.getpid).result(timeout=60) for _ in range(20)}
        print(" ".join(map(str, sorted(pids))), flush=True)
        time.sleep(600)
"""


@pytest.mark.slow
def test_local_dask_workers_exit_when_their_parent_is_killed(distributed, tmp_path):
    """SIGKILL gives no chance to clean up: the workers notice their parent is gone and exit."""
    import psutil

    script = tmp_path / "hang.py"
    script.write_text(_OPEN_AND_HANG)
    env = {k: v for k, v in os.environ.items() if k != cluster.DASK_SCHEDULER_ENV}
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=env,
    )  # fmt: skip
    try:
        workerPids = [int(pid) for pid in parent.stdout.readline().split()]
        assert workerPids, "the cluster ran no task"
        descendants = psutil.Process(parent.pid).children(recursive=True)
        assert {p.pid for p in descendants} >= set(workerPids)
    finally:
        parent.kill()
        parent.wait(timeout=30)
        parent.stdout.close()
    _, alive = psutil.wait_procs(descendants, timeout=60)
    for process in alive:
        process.kill()
    assert alive == []
