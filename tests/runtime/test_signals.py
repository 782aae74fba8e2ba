"""How a run ends: SIGTERM, Ctrl-C, a parent killed outright, a closed stdout.

The real-process tests start ``python -m lecture31`` in a session of its own, wait until its
process pool has workers, send the signal, and then look for every process of that session
(fork server, workers, resource tracker), wherever it was re-parented: none may survive.
"""

import asyncio
import collections
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import psutil
import pytest
from fakes import sessionMembers, sigintNotIgnoredAcrossExec

from lecture31._runtime import lifecycle as _lifecycle, pools as _pools

# Bounds, not expectations: on a loaded 2-core machine a cancelled run takes about 0.5 s to
# exit and its fork server and tracker 0.3 s more (see docs/reliability.md).
START_TIMEOUT = 60
EXIT_TIMEOUT = 20
GONE_TIMEOUT = 10


# --- runMain, in this process -----------------------------------------------------------------


def test_sigterm_cancels_the_run_lets_its_cleanup_finish_and_raises_terminated():
    cleanedUp = []

    async def run():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(30)
        finally:
            await asyncio.sleep(0)  # cleanup may still await
            cleanedUp.append(True)

    started = time.monotonic()
    with pytest.raises(_lifecycle.Terminated):
        _lifecycle.runMain(run())
    assert cleanedUp == [True]
    assert time.monotonic() - started < 10


def test_a_sigterm_that_lands_as_the_run_finishes_still_raises_terminated():
    async def run():
        os.kill(os.getpid(), signal.SIGTERM)  # handled before the coroutine returns
        return 1

    with pytest.raises(_lifecycle.Terminated):
        _lifecycle.runMain(run())


def test_an_error_after_sigterm_is_reported_as_terminated_with_the_error_chained():
    async def run():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(30)
        finally:
            raise OSError("a worker died of the same signal")

    with pytest.raises(_lifecycle.Terminated) as info:
        _lifecycle.runMain(run())
    assert isinstance(info.value.__cause__, OSError)


def test_without_a_signal_the_result_comes_back_and_the_sigterm_handler_is_restored():
    before = signal.getsignal(signal.SIGTERM)

    async def run():
        assert signal.getsignal(signal.SIGTERM) is not before
        return 42

    threadsBefore = set(threading.enumerate())
    assert _lifecycle.runMain(run()) == 42
    assert signal.getsignal(signal.SIGTERM) is before
    assert set(threading.enumerate()) == threadsBefore  # the watchdog is joined


@pytest.fixture
def sigintHandled():
    """Ctrl-C as an interactive Python has it, even when this run ignores SIGINT (background)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_cancels_the_run_lets_its_cleanup_finish_and_raises_keyboard_interrupt(
    sigintHandled,
):
    cleanedUp = []

    async def run():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.sleep(30)
        finally:
            cleanedUp.append(True)

    with pytest.raises(KeyboardInterrupt):
        _lifecycle.runMain(run())
    assert cleanedUp == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


_STUCK_CLEANUP = """
import asyncio, os, signal, sys, time
from lecture31._runtime import lifecycle as _lifecycle
async def run():
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(30)
    finally:
        if sys.argv[1] == "again":
            os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)  # a cleanup that never ends
_lifecycle.runMain(run(), graceSeconds=0.5)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("how", "line"),
    [
        ("wait", "cleanup took over 0.5 s, exiting anyway"),
        ("again", "exiting at once, without cleanup"),
    ],
)
def test_a_stuck_cleanup_ends_after_the_grace_period_or_a_second_signal(how, line):
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _STUCK_CLEANUP, how],
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT,
    )
    assert done.returncode == 143
    assert done.stderr == f"lecture31: terminated (SIGTERM); {line}\n"
    assert time.monotonic() - started < EXIT_TIMEOUT / 2


def test_an_error_without_a_signal_propagates_unchanged():
    async def run():
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        _lifecycle.runMain(run())


# --- the worker initializer -------------------------------------------------------------------


def test_pool_workers_ignore_sigint_and_hold_a_lifeline():
    pool = _pools.makeProcessPool(1)
    try:
        handler = pool.submit(signal.getsignal, signal.SIGINT).result(timeout=START_TIMEOUT)
        threadNames = pool.submit(_threadNames).result(timeout=START_TIMEOUT)
    finally:
        pool.shutdown(wait=True)
    assert handler == signal.SIG_IGN
    assert "lecture31-lifeline" in threadNames


def _threadNames():
    return [thread.name for thread in threading.enumerate()]


def test_the_initializer_without_a_lifeline_only_ignores_sigint():
    with ProcessPoolExecutor(1, mp_context=_pools.processContext()) as pool:
        result = pool.submit(_initializeAndReport).result(timeout=START_TIMEOUT)
    assert result == (signal.SIG_IGN, ["MainThread"])


def _initializeAndReport():
    _lifecycle.workerInitializer(None)
    return signal.getsignal(signal.SIGINT), _threadNames()


_BORN_DEAF_PROBE = """
import signal
from concurrent.futures import ProcessPoolExecutor
from lecture31._runtime import pools as _pools
_pools.makeProcessPool(1).shutdown()  # starts the fork server, as every pool here does
with ProcessPoolExecutor(1, mp_context=_pools.processContext()) as plain:  # no initializer
    blocked = plain.submit(signal.pthread_sigmask, signal.SIG_BLOCK, []).result(timeout=60)
    handler = plain.submit(signal.getsignal, signal.SIGINT).result(timeout=60)
print(signal.SIGINT in blocked or handler == signal.SIG_IGN)
"""


def _runProbe(source):
    """``python -c source`` in a session of its own: (exit status, stdout, stderr)."""
    with sigintNotIgnoredAcrossExec():
        done = subprocess.run(
            [sys.executable, "-c", source],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            start_new_session=True,
        )
    return done.returncode, done.stdout, done.stderr


@pytest.mark.slow
def test_workers_are_born_deaf_to_sigint_before_any_initializer_runs():
    # A Ctrl-C in the moment between fork and initializer must not kill a starting worker.
    assert _runProbe(_BORN_DEAF_PROBE) == (0, "True\n", "")


# The Ctrl-C is sent from inside the fork server's spawn, so it lands in that window every time.
_CTRL_C_AT_SPAWN_PROBE = """
import asyncio, multiprocessing.resource_tracker, multiprocessing.util, os, signal
from lecture31._runtime import lifecycle, pools
multiprocessing.resource_tracker.ensure_running()  # so the next spawn is the fork server's
spawn = multiprocessing.util.spawnv_passfds
def ctrlCThenSpawn(*args):
    os.kill(os.getpid(), signal.SIGINT)
    return spawn(*args)
multiprocessing.util.spawnv_passfds = ctrlCThenSpawn
async def run():
    pool = pools.makeProcessPool(1)
    try:
        await asyncio.sleep(30)
    finally:
        pool.shutdown(cancel_futures=True)
try:
    lifecycle.runMain(run())
    print("finished: the Ctrl-C was lost")
except KeyboardInterrupt:
    print("interrupted")
"""


@pytest.mark.slow
def test_a_ctrl_c_while_the_fork_server_spawns_still_interrupts_the_run():
    assert _runProbe(_CTRL_C_AT_SPAWN_PROBE) == (0, "interrupted\n", "")


def test_every_pool_in_a_process_shares_one_lifeline():
    assert _lifecycle.lifelineArgs()[0] is _lifecycle.lifelineArgs()[0]


# --- real processes, real signals -------------------------------------------------------------


def _describe(pids):
    lines = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            lines.append(f"{pid} (parent {process.ppid()}): {' '.join(process.cmdline())[-120:]}")
        except psutil.Error:
            continue
    return "\n".join(lines)


class Program:
    """``python -m lecture31 ARGS`` in a new session; whatever is left is killed at the end."""

    def __init__(self, *args, stdout=subprocess.DEVNULL, env=None, module="lecture31"):
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        with sigintNotIgnoredAcrossExec():
            self.process = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                stdout=stdout,
                stderr=self.stderr,
                start_new_session=True,
                env=env,
            )
        self.pid = self.process.pid

    def waitForWorkers(self):
        """Wait until the pool has a worker: a process whose parent is the fork server."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            members = sessionMembers(self.pid)
            for pid in members:
                try:
                    parent = psutil.Process(pid).ppid()
                except psutil.Error:
                    continue
                if parent in members and parent != self.pid:
                    return members
            assert self.process.poll() is None, "the program ended before it started workers"
            time.sleep(0.01)
        pytest.fail(f"no pool worker within {START_TIMEOUT} s")

    def wait(self):
        try:
            return self.process.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {EXIT_TIMEOUT} s after the signal")

    def errorText(self):
        self.stderr.seek(0)
        return self.stderr.read().decode()

    def survivors(self):
        deadline = time.monotonic() + GONE_TIMEOUT
        while (left := sessionMembers(self.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return _describe(left)

    def close(self):
        if sessionMembers(self.pid):
            os.killpg(self.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.stderr.close()


@pytest.fixture
def program():
    started = []

    def start(*args, **options):
        started.append(Program(*args, **options))
        return started[-1]

    yield start
    for each in started:
        each.close()


@pytest.mark.slow
@pytest.mark.parametrize("exercise", ["pipeline", "tiered"])
def test_sigterm_to_the_parent_ends_every_child_process(program, exercise):
    run = program(exercise, "--seed", "1")
    assert len(run.waitForWorkers()) >= 3  # fork server, resource tracker, a worker at least
    os.kill(run.pid, signal.SIGTERM)
    assert run.wait() == 143
    assert run.errorText() == "lecture31: terminated (SIGTERM); child processes shut down\n"
    assert run.survivors() == ""


@pytest.mark.slow
@pytest.mark.parametrize("exercise", ["pipeline", "tiered"])
def test_ctrl_c_to_the_process_group_prints_one_line_and_exits_130(program, exercise):
    run = program(exercise, "--seed", "1")
    run.waitForWorkers()
    os.killpg(run.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    assert run.wait() == 130
    assert run.errorText() == "lecture31: interrupted\n"
    assert run.survivors() == ""


@pytest.mark.slow
def test_ctrl_c_to_the_parent_only_also_ends_every_child(program):
    run = program("pipeline", "--seed", "1")
    run.waitForWorkers()
    os.kill(run.pid, signal.SIGINT)
    assert run.wait() == 130
    assert run.errorText() == "lecture31: interrupted\n"
    assert run.survivors() == ""


@pytest.mark.slow
def test_sigterm_to_the_whole_group_ends_with_143_and_no_survivor(program):
    # The workers and the fork server die of the signal too, so the pool breaks under the run;
    # that is reported as the termination it is. Workers may still print their own errors.
    run = program("pipeline", "--seed", "1")
    run.waitForWorkers()
    os.killpg(run.pid, signal.SIGTERM)
    assert run.wait() == 143
    assert "lecture31: terminated (SIGTERM)" in run.errorText()
    assert run.survivors() == ""


@pytest.mark.slow
def test_a_parent_killed_outright_takes_its_workers_fork_server_and_tracker_with_it(program):
    run = program("pipeline", "--seed", "1")
    run.waitForWorkers()
    os.kill(run.pid, signal.SIGKILL)  # no cleanup at all: only the workers' lifeline is left
    assert run.wait() == -signal.SIGKILL
    assert run.survivors() == ""


@pytest.mark.slow
@pytest.mark.parametrize("exercise", ["tiered", "pipeline"])
def test_closing_stdout_early_exits_quietly_like_head_does(program, exercise):
    # PYTHONUNBUFFERED: every print is a write, so the pipe is found closed mid-run, pools open.
    run = program(
        exercise, "--seed", "1", stdout=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    assert run.process.stdout.readline()  # `| head -1`
    run.process.stdout.close()
    assert run.wait() == 1
    assert run.errorText() == ""
    assert run.survivors() == ""


# --- Ctrl-C with dask in the run (issue 21) -------------------------------------------------
# The local cluster's workers are spawned by its nannies from the cluster's own threads; before,
# each died of the terminal's Ctrl-C with a traceback (133-182 lines), and dask's client logged
# the futures it completed after they were cancelled. Now: one line, 130, nothing left.


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "args", "line"),
    [
        ("lecture31", ("tiers", "--cpu", "dask", "--seed", "1"), "lecture31: interrupted\n"),
        ("lecture31", ("tiers", "--seed", "1"), "lecture31: interrupted\n"),
        # --pipeline (~11 s): --overhead ends in about 2 s on a quick host, at the Ctrl-C.
        ("lecture31.cluster", ("--pipeline",), "python -m lecture31.cluster: interrupted\n"),
    ],
    ids=["tiers-cpu-dask", "tiers", "cluster-pipeline"],
)
@pytest.mark.parametrize("seconds", [1.0, 2.0])
def test_ctrl_c_with_dask_in_the_run_is_one_line_130_and_leaves_nothing(
    program, module, args, line, seconds
):
    pytest.importorskip("distributed", reason="dask joins these runs with the distributed extra")
    env = {k: v for k, v in os.environ.items() if k != "LECTURE31_DASK_SCHEDULER"}
    run = program(*args, module=module, env=env)
    time.sleep(seconds)  # starting up (1 s) or running (2 s; the case)
    assert run.process.poll() is None, f"the run ended before Ctrl-C: {run.errorText()}"
    os.killpg(run.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    assert run.wait() == 130  # within EXIT_TIMEOUT: the cleanup is bounded
    assert run.errorText() == line
    assert run.survivors() == ""


# --- docs/reliability.md's figures: python tests/runtime/test_signals.py [TRIALS] ------------

_SCENARIOS = [
    ("pipeline", "SIGTERM", "parent"),
    ("tiered", "SIGTERM", "parent"),
    ("pipeline", "SIGINT", "group"),
    ("tiered", "SIGINT", "group"),
    ("pipeline", "SIGINT", "parent"),
    ("pipeline", "SIGKILL", "parent"),
    ("pipeline", "SIGTERM", "group"),
]


def _trial(exercise, signum, target):
    run = Program(exercise, "--seed", "1")
    try:
        run.waitForWorkers()
        sent = time.monotonic()
        (os.killpg if target == "group" else os.kill)(run.pid, signum)
        try:
            status = run.process.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            status = "hang"
        exited = time.monotonic() - sent
        survivors = run.survivors()
        return status, exited, time.monotonic() - sent, bool(survivors), run.errorText()
    finally:
        run.close()


def _printTrials(trials):
    print("| run | signal to | trials | exit status | slowest exit | all gone by | survivors |")
    print("| --- | --- | ---: | --- | ---: | ---: | ---: |")
    for exercise, name, target in _SCENARIOS:
        rows = [_trial(exercise, getattr(signal, name), target) for _ in range(trials)]
        statuses = ", ".join(
            f"{s} x{n}" for s, n in sorted(collections.Counter(str(r[0]) for r in rows).items())
        )
        print(
            f"| {exercise} | {name} to the {target} | {trials} | {statuses}"
            f" | {max(r[1] for r in rows):.2f} s | {max(r[2] for r in rows):.2f} s"
            f" | {sum(r[3] for r in rows)} |"
        )


if __name__ == "__main__":
    _printTrials(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
