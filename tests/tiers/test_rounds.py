"""Interleaved rounds: the shuffled, seeded order, samples sized from a first timing, the rounds'
bounds, and the time limit that ends a user's function that hangs (no process left behind)."""

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from fakes import sessionSurvivors

from lecture31.tiers import WorkloadError, matrix as tierMatrix, rounds
from lecture31.tiers.rounds import WorkloadTimedOut
from lecture31.tiers.userworkload import userWorkload
from lecture31.tiers.workloads import Kind, Workload, blockingIo

TESTS = Path(__file__).resolve().parent.parent
TIERS = ["inline", "threads", "processes"]


def waiting(name="wait"):
    return Workload(name, blockingIo, Kind.WAITING, "", inputFor=lambda rng: (rng.randrange(9),))


@pytest.fixture
def recorded(monkeypatch):
    """Every sample's tier, in order, from a stand-in for runBatch that does no work."""
    calls = []

    async def runBatch(workload, tier, inputs, executor=None, *, repeats=1):
        calls.append(tier)
        return [0] * len(inputs)

    monkeypatch.setattr(rounds, "runBatch", runBatch)
    return calls


async def orderOf(recorded, seed, *, alongside=None, most=rounds.MAX_ROUNDS):
    recorded.clear()
    timed = await rounds.timeInterleaved(
        waiting(), TIERS, [(1,)], {}, seed=seed, rounds=most, alongside=alongside
    )
    return timed, list(recorded)


def roundsOf(calls, width):
    """Round 0 (in order), then the timed rounds, each a list of ``width`` entries."""
    return [calls[i : i + width] for i in range(0, len(calls), width)]


async def test_every_round_times_every_tier_once_in_a_seeded_shuffled_order(recorded):
    timed, calls = await orderOf(recorded, seed=1, most=rounds.ROUNDS)
    first, *timedRounds = roundsOf(calls, len(TIERS))
    assert first == TIERS  # round 0: inline first, the reference results
    assert len(timedRounds) == timed.rounds == rounds.ROUNDS
    assert all(sorted(order) == sorted(TIERS) for order in timedRounds)
    assert len({tuple(order) for order in timedRounds}) > 1  # shuffled, not one fixed order
    assert all(len(seconds) == timed.rounds for seconds in timed.seconds.values())
    _, again = await orderOf(recorded, seed=1, most=rounds.ROUNDS)
    _, other = await orderOf(recorded, seed=2, most=rounds.ROUNDS)
    assert again == calls
    assert other != calls


async def test_a_probe_round_joins_the_shuffle_of_every_round(recorded):
    async def probe():
        recorded.append("probe")

    _, calls = await orderOf(recorded, seed=3, alongside=probe)
    first, timedRounds = calls[:3], roundsOf(calls[3:], len(TIERS) + 1)
    assert first == TIERS
    assert all(order.count("probe") == 1 for order in timedRounds)
    assert len({order.index("probe") for order in timedRounds}) > 1


async def test_rounds_stop_once_the_workload_s_time_is_spent_but_not_before_the_minimum(
    recorded, monkeypatch
):
    monkeypatch.setattr(rounds, "WORKLOAD_SECONDS", 0.0)
    timed, _ = await orderOf(recorded, seed=1)
    assert timed.rounds == rounds.MIN_ROUNDS
    timed, _ = await orderOf(recorded, seed=1, most=2)
    assert timed.rounds == 2


async def test_rounds_go_on_past_rounds_only_while_an_interval_is_wider_than_the_precision(
    recorded, monkeypatch
):
    monkeypatch.setattr(rounds, "PRECISION", float("inf"))  # every interval narrow enough
    timed, _ = await orderOf(recorded, seed=1)
    assert timed.rounds == rounds.ROUNDS
    monkeypatch.setattr(rounds, "PRECISION", 1.0)  # none ever is
    timed, _ = await orderOf(recorded, seed=1)
    assert timed.rounds == rounds.MAX_ROUNDS
    monkeypatch.setattr(rounds, "WORKLOAD_SECONDS", 0.0)  # but not past the workload's time
    timed, _ = await orderOf(recorded, seed=1)
    assert timed.rounds == rounds.MIN_ROUNDS


def test_precision_is_judged_on_every_tier_s_interval_against_inline(monkeypatch):
    steady = [0.1] * 20
    assert rounds._precise({"inline": steady, "threads": [0.05] * 20})
    noisy = [0.05 if i % 2 else 0.08 for i in range(20)]
    assert not rounds._precise({"inline": steady, "threads": [0.05] * 20, "processes": noisy})


@pytest.mark.parametrize(
    ("batchSeconds", "repeats"),
    [(0.2, 1), (0.05, 1), (0.016, 4), (1e-9, rounds.MAX_REPEATS), (0.0, rounds.MAX_REPEATS)],
)
def test_a_sample_repeats_short_batches_until_it_is_long_enough_within_bounds(
    batchSeconds, repeats
):
    assert rounds.repeatsFor(batchSeconds) == repeats


async def test_seconds_are_per_batch_whatever_the_repeats():
    # 2 tasks of 10 ms on 2 threads: one batch ~10 ms, so samples repeat it ~5 times.
    workload = Workload(
        "sleepy", blockingIo, Kind.WAITING, "", inputFor=lambda rng: (rng.randrange(9), 0.01)
    )
    matrix = await tierMatrix.runMatrix(
        [workload], ["threads"], tasks=2, workers=2, seed=1, rounds=2
    )
    inline, threads = matrix.rows
    assert threads["batches"] > 1
    # Per batch: 20 ms inline, 10 ms on threads (an order of magnitude, with slack).
    assert 0.015 < inline["seconds"] < 0.2
    assert 0.008 < threads["seconds"] < 0.1


# --- the time limit -------------------------------------------------------------------------


def descendantsLeft(settleSeconds=10.0):
    """This process's descendants other than the fork server and resource tracker, which serve
    the whole test session, once they had ``settleSeconds`` to exit."""
    servers = {
        getattr(multiprocessing.forkserver._forkserver, "_forkserver_pid", None),
        getattr(multiprocessing.resource_tracker._resource_tracker, "_pid", None),
    }
    deadline = time.monotonic() + settleSeconds
    while True:
        left = [
            child.pid
            for child in psutil.Process().children(recursive=True)
            if child.pid not in servers and child.status() != psutil.STATUS_ZOMBIE
        ]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


@pytest.mark.slow
async def test_a_batch_that_hangs_in_a_worker_process_is_cut_off_and_its_workers_ended():
    workload = userWorkload("userworkload:hangsInAWorkerProcess", None)
    started = time.monotonic()
    with pytest.raises(WorkloadError) as raised:
        await tierMatrix.runMatrix(
            [workload], ["threads", "processes"], tasks=4, workers=2, seed=1, timeLimit=1.0
        )
    assert isinstance(raised.value, WorkloadTimedOut)  # what the command line exits 1 on
    assert raised.value.reason == "timed out"
    assert str(raised.value) == (
        "workload 'userworkload:hangsInAWorkerProcess' did not finish 4 tasks on tier "
        "'processes' within 1 s (the time limit of a batch: --timeout); its process workers "
        "were ended"
    )
    assert raised.value.stuckThreads == ()
    assert time.monotonic() - started < 60  # the limit is 1 s; the rest is slack
    assert descendantsLeft() == []
    assert not multiprocessing.active_children()


def runTiers(tmp_path, *arguments, seconds=120):
    """``python -m lecture31 tiers ...`` in a session of its own, the tests' user module on its
    path; returns (exit status, stdout, stderr, session id)."""
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    child = subprocess.Popen(
        [sys.executable, "-m", "lecture31", "tiers", *arguments],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": path},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = child.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        raise
    return child.returncode, out, err, child.pid


@pytest.mark.slow
@pytest.mark.parametrize(
    ("function", "tier"),
    [("hangs", "inline"), ("hangsOnAPoolThread", "threads")],
    ids=["everywhere", "on-a-pool-thread"],
)
def test_the_command_line_ends_a_workload_that_hangs_in_one_line_and_exit_1(
    tmp_path, function, tier
):
    started = time.monotonic()
    status, _, err, session = runTiers(
        tmp_path, "--workload", f"userworkload:{function}", "--timeout", "1", "--seed", "1"
    )
    assert status == 1, err
    assert err == (
        f"lecture31: workload 'userworkload:{function}' did not finish 8 tasks on tier "
        f"'{tier}' within 1 s (the time limit of a batch: --timeout)\n"
    )
    assert time.monotonic() - started < 100
    assert sessionSurvivors(session) == []
