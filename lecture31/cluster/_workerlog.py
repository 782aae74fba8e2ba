"""Preloaded into each worker of a local dask cluster that ``cpuExecutor`` owns: a heartbeat cut
short by the worker's own close is not an error to print.

    cluster.close() --> each nanny --> worker.close(): status "closing", then its connections
                                       closed, also the one a heartbeat still waits on
                                         '--> CommClosedError in Worker.heartbeat, logged by
                                              distributed.worker at ERROR with a traceback:
                                              dropped here while the worker is closing

Under load a heartbeat takes long enough to be in flight when a Ctrl-C closes the cluster (1
run in 25): the run printed that traceback after its one line. ``silence_logs`` cannot help, the
record is at ERROR; a heartbeat that fails while the worker is running still gets through.
"""

from __future__ import annotations

import logging
import weakref

from distributed import Worker
from distributed.core import Status

__all__ = ("HEARTBEAT_FAILED", "dask_setup")

HEARTBEAT_FAILED = "Failed to communicate with scheduler during heartbeat"
_CLOSING = frozenset({Status.closing, Status.closed, Status.closing_gracefully})


class _HeartbeatCutByClose(logging.Filter):
    """Drops distributed.worker's heartbeat failure while its worker is closing."""

    def __init__(self, worker: Worker) -> None:
        super().__init__()
        self._worker = weakref.ref(worker)

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(HEARTBEAT_FAILED):
            return True
        worker = self._worker()
        return worker is not None and worker.status not in _CLOSING


def dask_setup(worker: Worker) -> None:
    """dask's preload hook, run as the worker starts."""
    logging.getLogger("distributed.worker").addFilter(_HeartbeatCutByClose(worker))
