"""The CPU tier's error paths (issue 21): one line, a documented exit status, and fast.

    a malformed scheduler address (--scheduler, $LECTURE31_DASK_SCHEDULER)    exit 2, at once
    a refused port (nothing listens there)                                    exit 1, at once
    python -m lecture31.cluster: overflowing model inputs, a --write FIFO,
    a stdout that cannot be written, the runpy warning                        one line each

The command-line cases run as real subprocesses, bounded in time.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lecture31 import cluster
from lecture31._runtime.checks import UserInputError
from lecture31.cluster import EXTRA_HINT, cpuExecutor

CLUSTER = "python -m lecture31.cluster: "
# "Fast": the refusal is known at once; before, it took CONNECT_TIMEOUT_SECONDS (30 s). The
# bound leaves room for starting Python and importing dask on a loaded 2-core machine.
FAST_SECONDS = 10


def _run(*argv: str, env: dict | None = None, timeout: float = 60) -> tuple[int, str, float]:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return done.returncode, done.stderr, time.monotonic() - start


@pytest.fixture
def refusedAddress():
    """tcp://127.0.0.1:PORT where a socket is bound but not listening: a connection is refused
    at once, and no other process can take the port while the test holds it."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"tcp://127.0.0.1:{held.getsockname()[1]}"


# --- the address, checked before anything starts ----------------------------------------------


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("notaurl", "no HOST:PORT"),
        ("tcp://host", "no HOST:PORT"),
        ("tcp://host:port", "port 'port' is not a number from 1 to 65535"),
        ("tcp://host:0", "port '0' is not a number from 1 to 65535"),
        ("http://host:8786", "unknown scheme 'http'; one of tcp, tls, ws, wss, ucx, inproc"),
        ("tcp://a host:8786", "'a host' is not a host name"),
        ("  ", "empty"),
        ("", "empty"),
    ],
)
def test_a_malformed_address_is_refused_at_construction_naming_it(address, problem):
    with pytest.raises(UserInputError) as raised:
        cpuExecutor("dask", address=address)
    assert str(raised.value) == (
        f"address must be a scheduler address such as tcp://host:8786, got {address!r} ({problem})"
    )


def test_a_malformed_address_in_the_environment_names_the_variable(monkeypatch):
    monkeypatch.setenv(cluster.DASK_SCHEDULER_ENV, "garbage")
    with pytest.raises(UserInputError, match=r"^LECTURE31_DASK_SCHEDULER must be a scheduler"):
        cpuExecutor("dask")
    cpuExecutor("process")  # the process pool does not read it


@pytest.mark.parametrize(
    "address", ["tcp://127.0.0.1:8786", "127.0.0.1:8786", "tls://h.example:8786", "tcp://[::1]:1"]
)
def test_well_formed_addresses_are_accepted_without_connecting(address):
    assert cpuExecutor("dask", address=address).address == address


@pytest.mark.slow
async def test_a_refused_port_fails_at_once_not_after_the_connect_timeout(refusedAddress):
    pytest.importorskip("distributed", reason=f"the dask tests need {EXTRA_HINT}")
    assert cluster.executor.CONNECT_TIMEOUT_SECONDS >= 30  # the real bound, not a shortened one
    start = time.monotonic()
    with pytest.raises(ConnectionError, match="connection refused"):
        async with cpuExecutor("dask", address=refusedAddress):
            pass
    assert time.monotonic() - start < 5


# --- the command lines ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (
            ["-m", "lecture31", "pipeline", "--cpu", "dask", "--scheduler", "notaurl"],
            {},
            "lecture31: --scheduler: address must be a scheduler address such as "
            "tcp://host:8786, got 'notaurl' (no HOST:PORT)\n",
        ),
        (
            ["-m", "lecture31", "pipeline", "--cpu", "dask"],
            {cluster.DASK_SCHEDULER_ENV: "garbage"},
            "lecture31: LECTURE31_DASK_SCHEDULER must be a scheduler address such as "
            "tcp://host:8786, got 'garbage' (no HOST:PORT)\n",
        ),
        (
            ["-m", "lecture31.cluster", "--overhead", "--scheduler", "notaurl"],
            {},
            CLUSTER + "error: --scheduler: address must be a scheduler address such as "
            "tcp://host:8786, got 'notaurl' (no HOST:PORT)\n",
        ),
        (
            ["-m", "lecture31.cluster", "--model", "--task-ms", "1"],
            {cluster.DASK_SCHEDULER_ENV: "garbage"},
            CLUSTER + "error: LECTURE31_DASK_SCHEDULER must be a scheduler address such as "
            "tcp://host:8786, got 'garbage' (no HOST:PORT)\n",
        ),
    ],
    ids=["cli-scheduler", "cli-environment", "cluster-scheduler", "cluster-environment"],
)
def test_a_malformed_address_is_one_line_exit_2_and_fast(argv, env, expected):
    status, err, seconds = _run(*argv, env=env)
    assert (status, err) == (2, expected)
    assert seconds < FAST_SECONDS


@pytest.mark.slow
@pytest.mark.parametrize(
    ("argv", "prefix"),
    [
        (["-m", "lecture31", "pipeline", "--cpu", "dask", "--scheduler"], "lecture31: "),
        (["-m", "lecture31.cluster", "--overhead", "--scheduler"], CLUSTER),
    ],
    ids=["cli", "cluster"],
)
def test_a_refused_port_is_one_line_exit_1_and_fast(refusedAddress, argv, prefix):
    pytest.importorskip("distributed", reason=f"the dask tests need {EXTRA_HINT}")
    status, err, seconds = _run(*argv, refusedAddress)
    assert status == 1
    assert err == (
        f"{prefix}ConnectionError: no dask scheduler answered at '{refusedAddress}': "
        "connection refused (is the scheduler running, on that port?)\n"
    )
    assert seconds < FAST_SECONDS  # 30 s and more before


def test_model_inputs_that_would_overflow_are_one_line_and_exit_2():
    status, err, _ = _run(
        "-m", "lecture31.cluster", "--model", "--overhead-ms", "1e308", "--task-ms", "1e-308"
    )
    assert status == 2
    assert err == CLUSTER + "error: --overhead-ms must be at most 86,400,000 (a day), got 1e+308\n"


def test_the_cluster_tool_runs_without_a_runpy_warning():
    # The warning came from the package importing the module it runs as __main__; with
    # -W error it would be an exception.
    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "lecture31.cluster", "--model",
         "--overhead-ms", "1", "--task-ms", "1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("MODEL, not a measurement")


_MODEL = ["-m", "lecture31.cluster", "--model", "--overhead-ms", "1", "--task-ms", "1"]


@pytest.mark.timeout(60)
def test_a_fifo_among_the_model_files_is_refused_before_anything_is_written(tmp_path):
    pytest.importorskip("matplotlib", reason="--write draws a plot: the plot extra")
    os.mkfifo(tmp_path / "cluster-model.md")
    status, err, _ = _run(*_MODEL, "--write", str(tmp_path))
    assert status == 2
    assert err == (
        f"{CLUSTER}error: --write: cannot write {tmp_path}/cluster-model.md: "
        "is a FIFO, not a regular file\n"
    )
    assert stat.S_ISFIFO(os.lstat(tmp_path / "cluster-model.md").st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster-model.md"]


def test_the_model_files_keep_their_mode_and_symlinks(tmp_path):
    pytest.importorskip("matplotlib", reason="--write draws a plot: the plot extra")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "model.md").write_text("old\n", encoding="utf-8")
    (elsewhere / "model.md").chmod(0o640)
    written = tmp_path / "out"
    written.mkdir()
    (written / "cluster-model.md").symlink_to(elsewhere / "model.md")
    status, err, _ = _run(*_MODEL, "--write", str(written))
    assert (status, err) == (0, "")
    assert (written / "cluster-model.md").is_symlink()
    assert (elsewhere / "model.md").read_text(encoding="utf-8").startswith("MODEL")
    assert stat.S_IMODE((elsewhere / "model.md").stat().st_mode) == 0o640
    assert (written / "cluster-model.png").stat().st_size > 0


def test_a_stdout_that_cannot_be_written_is_one_line_and_exit_1(tmp_path):
    # RLIMIT_FSIZE = 0: every write to the file fails (EFBIG), as /dev/full fails with ENOSPC.
    limit = (
        "import os, resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0)); "
        "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
    )
    with (tmp_path / "out.txt").open("w") as out:
        done = subprocess.run(
            [sys.executable, "-c", limit, *_MODEL],
            stdout=out, stderr=subprocess.PIPE, text=True, timeout=60,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == CLUSTER + "cannot write to stdout: File too large\n"
    assert Path(tmp_path / "out.txt").stat().st_size == 0
