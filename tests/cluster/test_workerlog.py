"""A local dask worker's heartbeat cut short by its own close is not printed (issue 29): the
record is dropped while the worker closes, and kept while it runs.

The real case needs a heartbeat in flight at the moment a Ctrl-C closes the cluster (1 run in 25
under load); here the scheduler holds every heartbeat's answer, so one is always in flight.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading

import pytest

from lecture31.cluster import EXTRA_HINT, cpuExecutor, executor as executorModule

distributed = pytest.importorskip("distributed", reason=f"the dask tests need {EXTRA_HINT}")

from distributed.core import Status  # noqa: E402 (after the skip)

from lecture31.cluster import _workerlog  # noqa: E402 (imports distributed)


class _Worker:
    def __init__(self, status: Status) -> None:
        self.status = status


def _record(message: str) -> logging.LogRecord:
    try:
        raise OSError("Stream is closed")
    except OSError:
        excInfo = sys.exc_info()
    return logging.LogRecord("distributed.worker", logging.ERROR, "w.py", 1, message, (), excInfo)


@pytest.mark.parametrize(
    ("status", "kept"),
    [
        (Status.running, True),
        (Status.paused, True),
        (Status.closing, False),
        (Status.closing_gracefully, False),
        (Status.closed, False),
    ],
)
def test_a_heartbeat_failure_is_dropped_only_while_the_worker_closes(status, kept):
    worker = _Worker(status)
    drop = _workerlog._HeartbeatCutByClose(worker)
    assert drop.filter(_record(_workerlog.HEARTBEAT_FAILED + ".")) is kept


def test_every_other_record_of_a_closing_worker_is_kept():
    drop = _workerlog._HeartbeatCutByClose(_Worker(Status.closing))
    assert drop.filter(_record("Unexpected exception during heartbeat. Closing worker."))


def test_the_local_cluster_preloads_this_module_into_its_workers():
    assert _workerlog.__name__ == executorModule._WORKER_PRELOAD


def _closeWithAHeartbeatInFlight() -> None:
    """A one-worker local cluster whose scheduler holds heartbeats: closed with one waiting."""
    inFlight = threading.Event()
    with cpuExecutor("dask", workers=1) as executor:
        scheduler = executor._client.cluster.scheduler
        answer = scheduler.handlers["heartbeat_worker"]

        async def held(*args, **kwargs):
            inFlight.set()
            await asyncio.sleep(30)
            return answer(*args, **kwargs)

        scheduler.handlers["heartbeat_worker"] = held
        assert inFlight.wait(timeout=30), "no heartbeat reached the scheduler"


@pytest.mark.slow
@pytest.mark.parametrize("preload", ["ours", "none"])
def test_closing_with_a_heartbeat_in_flight_prints_nothing(preload, monkeypatch, capfd):
    monkeypatch.delenv(executorModule.DASK_SCHEDULER_ENV, raising=False)
    if preload == "none":  # the control: the same close without the filter prints the traceback
        monkeypatch.setattr(executorModule, "_WORKER_PRELOAD", "lecture31._runtime.batching")
    _closeWithAHeartbeatInFlight()
    printed = capfd.readouterr().err
    if preload == "ours":
        assert _workerlog.HEARTBEAT_FAILED not in printed, printed
    else:
        assert _workerlog.HEARTBEAT_FAILED in printed
