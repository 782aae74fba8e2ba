"""``cpuExecutor``: the CPU tier as one Executor, on this machine's processes or on dask.

    event loop --Dispatch (one task each, or batches)--> cpuExecutor(kind)
                                                     |
        "process"  lecture31 process pool (forkserver, warm) --> worker processes, this host
        "dask"     Client --> scheduler --> dask workers: a LocalCluster (spawned processes,
                   1 thread each, loopback only) or the scheduler at `address`, any hosts

Whatever ``cpuExecutor`` starts it closes on exit, also on error and on cancellation: the
executor (queued work cancelled), then the client, then the local cluster. ``async with`` does
the blocking opening and closing in a helper thread, so the event loop keeps running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from concurrent.futures import Executor
from typing import TypeVar

from .._runtime.batching import noop
from .._runtime.checks import UserInputError, checkCount
from .._runtime.helperthread import inHelperThreadToEnd
from .._runtime.lifecycle import sigintBlockedForChildren
from .._runtime.pools import makeProcessPool, warmPool

T = TypeVar("T")

__all__ = ("CONNECT_TIMEOUT_SECONDS", "DASK_SCHEDULER_ENV", "EXTRA_HINT", "KINDS", "cpuExecutor")

KINDS = ("process", "dask")
DASK_SCHEDULER_ENV = "LECTURE31_DASK_SCHEDULER"
EXTRA_HINT = "pip install 'lecture31[distributed]'"

# Waiting for a remote scheduler or its workers: long enough for a cluster that is still coming
# up, short enough that a wrong address is an error within a minute, not a hang. Only silence
# is waited for: a refused connection (nothing listens on that port) or a host name that does
# not exist is an error at once.
CONNECT_TIMEOUT_SECONDS = 30.0

# The transports distributed ships, and which of them are reached at HOST:PORT.
_PORTED_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")
_SCHEMES = (*_PORTED_SCHEMES, "inproc")

# Local dask workers start as fresh interpreters ("spawn", dask's own default), never forked
# from this process, which runs threads (see lecture31._runtime.pools). Pinned for the
# cluster's whole life because a nanny re-reads it when it restarts a killed worker.
DASK_START_METHOD = "spawn"

# In force while a local cluster lives. The statistical profiler samples each server's event
# loop from a "Profile" thread (on Python other than 3.11) for the dashboard, which is off here;
# that thread outlives the cluster's close by a sampling interval, so it is left off.
_LOCAL_DASK_CONFIG = {
    "distributed.worker.multiprocessing-method": DASK_START_METHOD,
    "distributed.worker.profile.enabled": False,
}

# Imported by each local worker as it starts (a dask preload): its heartbeat cut short by its
# own close is not logged as an error (a traceback after a Ctrl-C's one line, 1 run in 25).
_WORKER_PRELOAD = f"{__package__}._workerlog"


def cpuExecutor(
    kind: str = "process", *, address: str | None = None, workers: int | None = None
) -> _CpuExecutor:
    """A context manager (``with`` or ``async with``) yielding the CPU tier's Executor.

    ``kind="process"``: the project's process pool, ``workers`` processes (default: the core
    count), started and warm. ``kind="dask"``: an executor on a dask cluster; ``address`` (or
    the environment variable ``LECTURE31_DASK_SCHEDULER``) names a running scheduler such as
    ``tcp://host:8786`` (then ``workers`` is how many workers to wait for, default 1), else a
    local cluster of ``workers`` single-threaded worker processes (default: the core count).
    """
    return _CpuExecutor(kind, address=address, workers=workers)


class _CpuExecutor:
    """One use: opens on enter, closes everything it opened on exit."""

    def __init__(self, kind: object, *, address: object, workers: object) -> None:
        if not isinstance(kind, str):
            raise TypeError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if address is not None and not isinstance(address, str):
            raise TypeError(f"address must be a scheduler address string or None, got {address!r}")
        if address is not None and kind != "dask":
            raise ValueError(f"address applies to kind='dask' only, got kind={kind!r}")
        self.kind: str = kind
        self.address: str | None = _schedulerAddress(address) if kind == "dask" else None
        self.workers: int | None = None if workers is None else checkCount(workers, "workers")
        self._stack: contextlib.ExitStack | None = None

    def __repr__(self) -> str:
        where = f" address={self.address!r}" if self.address else ""
        return f"<cpuExecutor {self.kind}{where} workers={self.workers}>"

    # --- sync ---------------------------------------------------------------------------

    def __enter__(self) -> Executor:
        if self._stack is not None:
            raise RuntimeError(f"{self!r} is already open; use a new cpuExecutor(...)")
        stack = contextlib.ExitStack()
        self._stack = stack
        try:
            if self.kind == "process":
                return _openProcessPool(stack, self.workers)
            return _openDask(stack, self.address, self.workers)
        except BaseException:
            stack.close()
            raise

    def __exit__(self, *excInfo: object) -> None:
        if self._stack is not None:
            self._stack.close()

    # --- async: the same, with the blocking parts in a helper thread ---------------------

    async def __aenter__(self) -> Executor:
        executor, cancelled = await inHelperThreadToEnd(self.__enter__, "lecture31-cpu-open")
        if cancelled is not None:
            # Cancelled while opening: what was opened is closed before the cancellation goes on.
            await inHelperThreadToEnd(self.__exit__, "lecture31-cpu-close", None, None, None)
            raise cancelled
        return executor

    async def __aexit__(self, *excInfo: object) -> None:
        _, cancelled = await inHelperThreadToEnd(self.__exit__, "lecture31-cpu-close", *excInfo)
        if cancelled is not None:
            raise cancelled


def _openProcessPool(stack: contextlib.ExitStack, workers: int | None) -> Executor:
    size = workers or os.cpu_count() or 1
    pool = makeProcessPool(size)
    stack.callback(pool.shutdown, wait=True, cancel_futures=True)
    warmPool(pool, size)
    return pool


def _importDistributed():
    try:
        import dask
        import distributed
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"cpuExecutor(kind='dask') needs the 'distributed' extra: {EXTRA_HINT}"
        ) from exc
    return dask, distributed


class _CancelledFutureNoise(logging.Filter):
    """Drops tornado's report of distributed's ClientExecutor handing an outcome to a
    ``concurrent.futures.Future`` that was cancelled meanwhile (``cfexecutor._cascade_future``:
    ``InvalidStateError`` from ``set_result``, or ``FutureCancelledError`` once the client
    closes). A cancelled run (Ctrl-C) cancels its pending futures, and dask does not check
    before it completes them: that is the cancellation itself, not an error to print."""

    _EXPECTED = ("InvalidStateError", "FutureCancelledError", "CancelledError")

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is None or type(error).__name__ not in self._EXPECTED:
            return True
        frame = error.__traceback__
        while frame is not None:
            code = frame.tb_frame.f_code
            if code.co_name == "_cascade_future" and code.co_filename.endswith("cfexecutor.py"):
                return False
            frame = frame.tb_next
        return True


_NOISE_FILTER = _CancelledFutureNoise()


def _openDask(stack: contextlib.ExitStack, address: str | None, workers: int | None) -> Executor:
    dask, distributed = _importDistributed()
    # Once per process, for good: the reports can come after the executor is closed.
    logging.getLogger("tornado.application").addFilter(_NOISE_FILTER)
    if address is None:
        stack.enter_context(dask.config.set(_LOCAL_DASK_CONFIG))
        # The nannies start (and restart) their worker processes from the cluster's own
        # threads: started from here with SIGINT blocked, those workers are born deaf to a
        # terminal's Ctrl-C, as the process pool's are. Otherwise each one dies of it with a
        # traceback while this process is still shutting the cluster down in order.
        with sigintBlockedForChildren():
            cluster = distributed.LocalCluster(
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",  # loopback only: nothing here listens on the network
                scheduler_port=0,
                dashboard_address=None,
                worker_dashboard_address=None,
                # The scheduler serves HTTP even without a dashboard, on port 8787 unless told
                # otherwise, and warns when that port is taken: a free loopback port instead.
                scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                silence_logs=logging.ERROR,
                preload=[_WORKER_PRELOAD],
            )
            stack.callback(cluster.close)  # before a held Ctrl-C is delivered on leaving
        client = distributed.Client(cluster, set_as_default=False)
    else:
        _awaitScheduler(address)
        try:
            client = distributed.Client(
                address, set_as_default=False, timeout=CONNECT_TIMEOUT_SECONDS
            )
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(
                f"no dask scheduler answered at {address!r} within"
                f" {CONNECT_TIMEOUT_SECONDS:g} s ({exc})"
            ) from exc
    stack.callback(client.close)
    if address is not None:
        wanted = workers or 1
        try:
            client.wait_for_workers(wanted, timeout=CONNECT_TIMEOUT_SECONDS)
        except TimeoutError as exc:
            raise ConnectionError(
                f"dask scheduler {address!r} has fewer than {wanted} worker(s) after"
                f" {CONNECT_TIMEOUT_SECONDS:g} s; start them with `dask worker {address}`"
            ) from exc
    # pure=False: dask's default pure=True gives identical calls one key, so a repeated round
    # would be served from the first one's result instead of computed (dask/distributed#2022).
    executor: Executor = client.get_executor(pure=False)
    # Closed before the client: queued tasks are released, none is waited for.
    stack.callback(executor.shutdown, wait=False)
    _warmDask(executor, client)
    return executor


def _schedulerAddress(address: object) -> str | None:
    """The scheduler to use: ``address``, else $LECTURE31_DASK_SCHEDULER, else None (a local
    cluster). A UserInputError naming where it came from if it is no scheduler address."""
    if address is not None and not isinstance(address, str):
        raise TypeError(f"address must be a scheduler address string or None, got {address!r}")
    source, given = "address", address
    if given is None:
        source, given = DASK_SCHEDULER_ENV, os.environ.get(DASK_SCHEDULER_ENV) or None
        if given is None:
            return None
    problem = _addressProblem(given)
    if problem is not None:
        raise UserInputError(
            f"{source} must be a scheduler address such as tcp://host:8786, got {given!r}"
            f" ({problem})"
        )
    return given


def _addressProblem(address: str) -> str | None:
    """What makes ``address`` no dask scheduler address (None if nothing), read as distributed
    reads one: ``[SCHEME://]HOST:PORT``, tcp when no scheme is given."""
    if not address.strip():
        return "empty"
    scheme, separator, rest = address.partition("://")
    if not separator:
        scheme, rest = "tcp", address
    if scheme not in _SCHEMES:
        return f"unknown scheme {scheme!r}; one of {', '.join(_SCHEMES)}"
    if scheme not in _PORTED_SCHEMES:
        return None
    host, colon, port = rest.rpartition(":")
    if not colon or not host:
        return "no HOST:PORT"
    if any(c.isspace() or c in "/?#@" for c in host):
        return f"{host!r} is not a host name"
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"port {port!r} is not a number from 1 to 65535"
    return None


def _awaitScheduler(address: str) -> None:
    """Return once the scheduler's port accepts a connection; ConnectionError at once when the
    connection is refused or the host does not exist, and at the deadline when nothing answers.

    Checked before any Client exists because a Client that fails to connect leaves its IO-loop
    thread running (distributed 2026.8), where nothing can stop it.
    """
    from distributed.comm.addressing import get_address_host_port, parse_address

    try:
        protocol, _ = parse_address(address)
        host, port = get_address_host_port(address)
    except ValueError as exc:
        raise ValueError(
            f"address must be a scheduler address such as tcp://host:8786, got {address!r}"
        ) from exc
    if protocol not in ("tcp", "tls"):
        return  # other transports: left to the Client's own timeout
    deadline = time.monotonic() + CONNECT_TIMEOUT_SECONDS
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except ConnectionRefusedError as exc:  # the host answered: nothing listens there
            raise ConnectionError(
                f"no dask scheduler answered at {address!r}: connection refused"
                " (is the scheduler running, on that port?)"
            ) from exc
        except socket.gaierror as exc:
            if exc.errno != socket.EAI_NONAME:
                raise ConnectionError(f"cannot look up {host!r} for {address!r}: {exc}") from exc
            raise ConnectionError(
                f"no dask scheduler answered at {address!r}: no host named {host!r}"
            ) from exc
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise ConnectionError(
                    f"no dask scheduler answered at {address!r} within"
                    f" {CONNECT_TIMEOUT_SECONDS:g} s ({exc})"
                ) from exc
            time.sleep(0.2)


def _warmDask(executor: Executor, client) -> None:
    """One no-op per worker thread, so the first timed task does not pay for the first import."""
    threads = max(1, sum(client.nthreads().values()))
    for future in [executor.submit(noop) for _ in range(threads)]:
        future.result(timeout=CONNECT_TIMEOUT_SECONDS)
