"""The command line: ``python -m lecture31 [exercise] [--seed N] [--cpu ...] [--workload ...]``.

The exercises' ``main`` functions and ``lecture31.cluster`` are replaced by recorders here: these
tests are about what the command line passes on and how it ends, not about the exercises.
"""

import asyncio
import contextlib
import dataclasses
import errno
import io
import os
import signal
import subprocess
import sys
import threading
import time
import types
from concurrent.futures.process import BrokenProcessPool

import pytest

from lecture31 import cli
from lecture31._runtime.checks import UserInputError
from lecture31.tiers import WorkloadError
from lecture31.tiers.rounds import WorkloadTimedOut

HOMEWORK = ("tiered", "fanout", "breaker", "pipeline")


class Recorder:
    """Stands in for every exercise's ``main``: records who was called with what."""

    def __init__(self, monkeypatch):
        self.calls = []
        self.monkeypatch = monkeypatch

    def use(self, name, main):
        """Register ``main`` as exercise ``name``'s for this test."""
        exercise = dataclasses.replace(cli.EXERCISES[name], main=main)
        self.monkeypatch.setitem(cli.EXERCISES, name, exercise)

    def mainFor(self, name, *, raises=None):
        async def main(**keywords):
            self.calls.append((name, keywords))
            if raises is not None:
                raise raises

        return main


@pytest.fixture
def recorder(monkeypatch):
    recorder = Recorder(monkeypatch)
    for name in cli.EXERCISES:
        recorder.use(name, recorder.mainFor(name))
    return recorder


class FakeCluster:
    """Stands in for ``lecture31.cluster``: records each ``cpuExecutor`` and when it closed."""

    def __init__(self, *, asynchronous=False):
        self.opened = []
        self.closed = 0
        self.executor = object()
        self.asynchronous = asynchronous

    def cpuExecutor(self, kind="process", *, address=None, workers=None):
        self.opened.append((kind, address))
        if self.asynchronous:
            return self._asyncManager()
        return self._syncManager()

    @contextlib.contextmanager
    def _syncManager(self):
        try:
            yield self.executor
        finally:
            self.closed += 1

    @contextlib.asynccontextmanager
    async def _asyncManager(self):
        try:
            yield self.executor
        finally:
            self.closed += 1


def installCluster(monkeypatch, cluster):
    module = types.ModuleType("lecture31.cluster")
    module.cpuExecutor = cluster.cpuExecutor
    monkeypatch.setitem(sys.modules, "lecture31.cluster", module)


def usageError(capsys, argv):
    with pytest.raises(SystemExit) as exitInfo:
        cli.main(argv)
    assert exitInfo.value.code == 2
    return capsys.readouterr().err


# --- help and usage -------------------------------------------------------------------------


def test_help_lists_every_exercise_and_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in (
        *HOMEWORK,
        "tiers",
        "all",
        "--seed",
        "--cpu",
        "--scheduler",
        "--workload",
        "--timeout",
    ):
        assert name in out


def test_unknown_exercise_is_a_usage_error_with_exit_status_2(capsys):
    assert "invalid choice: 'quantum'" in usageError(capsys, ["quantum"])


def test_non_integer_seed_is_a_usage_error(capsys):
    assert "--seed" in usageError(capsys, ["tiered", "--seed", "abc"])


def test_unknown_cpu_kind_is_a_usage_error(capsys):
    assert "invalid choice: 'gpu'" in usageError(capsys, ["pipeline", "--cpu", "gpu"])


@pytest.mark.parametrize("exercise", ["fanout", "breaker"])
def test_cpu_option_is_refused_where_no_process_pool_is_used(recorder, capsys, exercise):
    err = usageError(capsys, [exercise, "--cpu", "process"])
    assert "--cpu applies to the exercises with a process pool" in err
    assert repr(exercise) in err
    assert recorder.calls == []


def test_scheduler_without_cpu_dask_is_a_usage_error(recorder, capsys):
    err = usageError(capsys, ["pipeline", "--cpu", "process", "--scheduler", "tcp://h:8786"])
    assert "--scheduler needs --cpu dask" in err
    assert recorder.calls == []


@pytest.mark.parametrize(
    "extra", [["--workload", "pkg.mod:fn"], ["--workload", "pkg.mod:fn", "--args", "[1]"]]
)
def test_workload_options_are_refused_outside_tiers(recorder, capsys, extra):
    assert "apply to tiers only, not 'tiered'" in usageError(capsys, ["tiered", *extra])
    assert recorder.calls == []


def test_args_without_a_workload_is_a_usage_error(recorder, capsys):
    assert "--args needs --workload" in usageError(capsys, ["tiers", "--args", "[1]"])


def test_bad_json_in_args_is_one_line_and_exit_2(recorder, capsys):
    status = cli.main(["tiers", "--workload", "pkg.mod:fn", "--args", "{'a': 1}"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1
    assert err.startswith("lecture31: --args is not valid JSON (")
    assert "{'a': 1}" in err
    assert recorder.calls == []


# --- what each exercise is given ------------------------------------------------------------


def test_all_runs_the_four_homework_exercises_in_order_and_not_tiers(recorder, capsys):
    assert cli.main(["--seed", "5"]) == 0
    assert recorder.calls == [(name, {"seed": 5}) for name in HOMEWORK]
    assert capsys.readouterr().out.count("=== Exercise") == 4


def test_one_exercise_gets_only_the_seed_when_no_option_is_given(recorder):
    assert cli.main(["pipeline"]) == 0
    assert recorder.calls == [("pipeline", {"seed": None})]


def test_cpu_dask_opens_the_cluster_executor_and_passes_it_as_the_process_pool(
    recorder, monkeypatch
):
    cluster = FakeCluster()
    installCluster(monkeypatch, cluster)
    assert cli.main(["pipeline", "--cpu", "dask", "--scheduler", "tcp://h:8786"]) == 0
    assert cluster.opened == [("dask", "tcp://h:8786")]
    assert recorder.calls == [("pipeline", {"seed": None, "processPool": cluster.executor})]
    assert cluster.closed == 1


def test_an_async_cpu_executor_is_entered_and_closed_too(recorder, monkeypatch):
    cluster = FakeCluster(asynchronous=True)
    installCluster(monkeypatch, cluster)
    assert cli.main(["tiered", "--cpu", "process"]) == 0
    assert cluster.opened == [("process", None)]
    assert recorder.calls == [("tiered", {"seed": None, "processPool": cluster.executor})]
    assert cluster.closed == 1


def test_with_all_one_executor_goes_to_the_exercises_that_use_a_process_pool(recorder, monkeypatch):
    cluster = FakeCluster()
    installCluster(monkeypatch, cluster)
    assert cli.main(["all", "--cpu", "process", "--seed", "2"]) == 0
    assert len(cluster.opened) == 1
    pool = {"processPool": cluster.executor}
    assert recorder.calls == [
        ("tiered", {"seed": 2, **pool}),
        ("fanout", {"seed": 2}),
        ("breaker", {"seed": 2}),
        ("pipeline", {"seed": 2, **pool}),
    ]


def test_the_cpu_executor_is_closed_when_the_exercise_fails(recorder, monkeypatch):
    cluster = FakeCluster()
    installCluster(monkeypatch, cluster)
    recorder.use("pipeline", recorder.mainFor("pipeline", raises=OSError("x")))
    with pytest.raises(OSError, match="x"):
        cli.main(["pipeline", "--cpu", "process"])
    assert cluster.closed == 1


def test_a_missing_cluster_module_or_extra_is_one_line_and_exit_2(recorder, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "lecture31.cluster", None)  # import raises ImportError
    assert cli.main(["pipeline", "--cpu", "dask"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("lecture31: --cpu dask: ")
    assert recorder.calls == []


def test_tiers_gets_the_workload_and_its_parsed_args(recorder):
    argv = ["tiers", "--workload", "pkg.mod:fn", "--args", '[1, {"n": 2}]', "--seed", "3"]
    assert cli.main(argv) == 0
    assert recorder.calls == [
        ("tiers", {"seed": 3, "workload": "pkg.mod:fn", "args": [1, {"n": 2}]})
    ]


def test_tiers_gets_no_args_keyword_when_args_is_not_given(recorder):
    assert cli.main(["tiers", "--workload", "pkg.mod:fn"]) == 0
    assert recorder.calls == [("tiers", {"seed": None, "workload": "pkg.mod:fn"})]


def test_a_json_null_args_is_forwarded_as_given(recorder):
    assert cli.main(["tiers", "--workload", "pkg.mod:fn", "--args", "null"]) == 0
    assert recorder.calls == [("tiers", {"seed": None, "workload": "pkg.mod:fn", "args": None})]


def test_a_workload_error_from_tiers_is_one_line_and_exit_2(recorder, capsys):
    error = WorkloadError("not picklable", "pkg.mod:fn is not picklable")
    recorder.use("tiers", recorder.mainFor("tiers", raises=error))
    assert cli.main(["tiers", "--workload", "pkg.mod:fn"]) == 2
    assert capsys.readouterr().err == "lecture31: pkg.mod:fn is not picklable\n"


def test_tiers_gets_the_timeout_as_its_time_limit_only_when_given(recorder):
    assert cli.main(["tiers", "--workload", "pkg.mod:fn", "--timeout", "2.5"]) == 0
    assert recorder.calls == [("tiers", {"seed": None, "workload": "pkg.mod:fn", "timeLimit": 2.5})]


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_a_usage_error(
    recorder, capsys, value
):
    err = usageError(capsys, ["tiers", "--timeout", value])
    assert f"argument --timeout: must be a number of seconds > 0, got {value!r}" in err
    assert recorder.calls == []


def test_timeout_is_refused_outside_tiers(recorder, capsys):
    assert "--timeout applies to tiers only, not 'pipeline'" in usageError(
        capsys, ["pipeline", "--timeout", "5"]
    )
    assert recorder.calls == []


def test_a_workload_that_timed_out_is_one_line_and_exit_1(recorder, capsys):
    error = WorkloadTimedOut("timed out", "workload 'pkg.mod:fn' did not finish 8 tasks")
    recorder.use("tiers", recorder.mainFor("tiers", raises=error))
    assert cli.main(["tiers", "--workload", "pkg.mod:fn", "--timeout", "1"]) == 1
    assert capsys.readouterr().err == "lecture31: workload 'pkg.mod:fn' did not finish 8 tasks\n"


def test_after_a_timeout_threads_that_finish_in_time_are_waited_for(recorder, capsys):
    # A stuck thread makes the command line exit at once (os._exit); one that finishes within
    # the grace period is simply joined, and main returns as usual.
    finishing = threading.Thread(target=time.sleep, args=(0.05,))
    finishing.start()
    error = WorkloadTimedOut("timed out", "it hung", stuckThreads=(finishing,))
    recorder.use("tiers", recorder.mainFor("tiers", raises=error))
    assert cli.main(["tiers", "--workload", "pkg.mod:fn"]) == 1
    assert not finishing.is_alive()


def test_other_errors_from_tiers_are_not_mistaken_for_workload_errors(recorder):
    recorder.use("tiers", recorder.mainFor("tiers", raises=ZeroDivisionError("bug")))
    with pytest.raises(ZeroDivisionError):
        cli.main(["tiers"])


@pytest.mark.parametrize(
    "fault",
    [
        BrokenProcessPool("pipeline stage 'normalize' failed: a worker of its pool died"),
        ConnectionError("no dask scheduler answers at tcp://127.0.0.1:9"),
    ],
)
def test_a_dead_worker_or_an_unreachable_cluster_is_one_line_and_exit_1(recorder, capsys, fault):
    recorder.use("pipeline", recorder.mainFor("pipeline", raises=fault))
    assert cli.main(["pipeline"]) == 1
    err = capsys.readouterr().err
    assert err == f"lecture31: {type(fault).__name__}: {fault}\n"


# --- how a run ends -------------------------------------------------------------------------


def test_ctrl_c_in_an_exercise_is_one_line_and_exit_130(recorder, capsys):
    recorder.use("fanout", recorder.mainFor("fanout", raises=KeyboardInterrupt))
    assert cli.main(["all"]) == 130
    assert capsys.readouterr().err == "lecture31: interrupted\n"
    assert [name for name, _ in recorder.calls] == ["tiered", "fanout"]


def test_sigterm_stops_before_the_next_exercise_even_if_one_swallows_the_cancel(recorder, capsys):
    async def swallowing(**keywords):
        recorder.calls.append(("fanout", keywords))
        os.kill(os.getpid(), signal.SIGTERM)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            return  # lost, as 3.11's wait_for can lose it

    recorder.use("fanout", swallowing)
    assert cli.main(["all"]) == 143
    assert capsys.readouterr().err == (
        "lecture31: terminated (SIGTERM); child processes shut down\n"
    )
    assert [name for name, _ in recorder.calls] == ["tiered", "fanout"]


def test_a_closed_stdout_ends_the_run_quietly_with_exit_1(recorder, capsys):
    recorder.use("tiered", recorder.mainFor("tiered", raises=BrokenPipeError(32)))
    assert cli.main(["all"]) == 1
    assert capsys.readouterr().err == ""
    assert [name for name, _ in recorder.calls] == ["tiered"]


class _FullStdout(io.StringIO):
    def write(self, text):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_stdout_is_one_line_and_exit_1_never_0(recorder, capsys, monkeypatch):
    async def printing(**keywords):
        recorder.calls.append(("tiered", keywords))
        print("Exercise 1: ...")

    recorder.use("tiered", printing)
    monkeypatch.setattr(sys, "stdout", _FullStdout())
    assert cli.main(["tiered"]) == 1
    assert capsys.readouterr().err == "lecture31: cannot write to stdout: No space left on device\n"


def test_an_oserror_of_the_run_is_not_mistaken_for_a_lost_stdout(recorder):
    failure = PermissionError(13, "Permission denied", "/etc/x")
    recorder.use("tiered", recorder.mainFor("tiered", raises=failure))
    with pytest.raises(PermissionError):
        cli.main(["tiered"])


def test_a_bad_scheduler_address_is_one_line_and_exit_2_before_anything_runs(recorder, capsys):
    assert cli.main(["pipeline", "--cpu", "dask", "--scheduler", "tcp://h:x"]) == 2
    assert capsys.readouterr().err == (
        "lecture31: --scheduler: address must be a scheduler address such as tcp://host:8786,"
        " got 'tcp://h:x' (port 'x' is not a number from 1 to 65535)\n"
    )
    assert recorder.calls == []


def test_a_bad_address_met_inside_an_exercise_is_one_line_and_exit_2(recorder, capsys):
    # tiers opens dask itself when the extra is installed, reading $LECTURE31_DASK_SCHEDULER.
    error = UserInputError("LECTURE31_DASK_SCHEDULER must be a scheduler address, got 'x'")
    recorder.use("tiers", recorder.mainFor("tiers", raises=error))
    assert cli.main(["tiers"]) == 2
    assert capsys.readouterr().err == f"lecture31: {error}\n"


def test_lost_output_never_exits_0_from_the_command_line(tmp_path):  # `tiered > /dev/full`
    # RLIMIT_FSIZE = 0: every write to the file fails (EFBIG), as /dev/full fails with ENOSPC.
    limit = (
        "import os, resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0)); "
        "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
    )
    with (tmp_path / "out.txt").open("w") as out:
        done = subprocess.run(
            [sys.executable, "-c", limit, "-m", "lecture31", "tiered", "--seed", "1"],
            stdout=out, stderr=subprocess.PIPE, text=True, timeout=120,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == "lecture31: cannot write to stdout: File too large\n"


def test_module_runs_as_a_program():
    done = subprocess.run(
        [sys.executable, "-m", "lecture31", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert "usage: python -m lecture31" in done.stdout
