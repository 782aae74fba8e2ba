"""Running the bench of one side: its own code and its own bench, in a child process.

Side(label, tree)      where a side's sources are (a temporary worktree, or the working tree)
abbaOrder(trials)      B H, H B, B H, ...: each trial's two runs adjacent, which side goes
                       first alternating, so a drift in the host's speed favours neither
runBench(side, ...)    python -m pytest bench --bench-quick -k EXPR --benchmark-json=OUT
                       with cwd and PYTHONPATH at the side's tree, so that side's lecture31,
                       conftest and bench are the ones that run
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .git import GateError, gitFreeEnvironment
from .groups import CONTROL_ENV
from .stopping import runChild, startedChild, uninterrupted

__all__ = (
    "BENCH_TIMEOUT_SECONDS",
    "QUIET_BENCHMARK_WARNING",
    "BenchFailed",
    "Side",
    "abbaOrder",
    "benchEnvironment",
    "checkSide",
    "runBench",
)

# One quick bench run of the gated pairs takes about half a minute on 2 cores; a run that takes
# ten times that is stuck, not slow.
BENCH_TIMEOUT_SECONDS = 600.0

# After Ctrl-C or SIGTERM, how long the bench child gets to shut its pools before it is killed.
STOP_GRACE_SECONDS = 10.0


class BenchFailed(Exception):
    """Raised when a side's bench run fails (a benchmark failed or errored): exit 3."""


@dataclass(frozen=True)
class Side:
    """One side of the comparison: ``label`` ("base" or "head"), its commit and its sources."""

    label: str
    tree: Path
    commit: str  # the commit id, or "working tree" for uncommitted sources


def abbaOrder(trials: int) -> list[tuple[int, str]]:
    """``(trial, side)`` in run order: trial 1 base then head, trial 2 head then base, ..."""
    order = []
    for trial in range(1, trials + 1):
        pair = ("base", "head") if trial % 2 else ("head", "base")
        order += [(trial, pair[0]), (trial, pair[1])]
    return order


def benchEnvironment(tree: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a side's bench process: its own tree first on the import path."""
    environment = gitFreeEnvironment()  # pytest-benchmark runs git for commit_info
    # The side's own package first, ahead of any installed (or editable) lecture31.
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(tree), environment.get("PYTHONPATH", "")])
    )
    environment.pop("LECTURE31_BENCH_SLOWDOWN", None)  # an injected slowdown is no side's code
    environment.pop(CONTROL_ENV, None)  # the gate names the control's side itself
    environment.update(extra or {})
    return environment


# Run in the side's tree: import its lecture31 and every public name (its __init__ may re-export
# lazily), and say where an import failed as "file:line: Error: message" on stderr.
_PROBE = r"""
import sys, traceback
try:
    import lecture31
    for name in getattr(lecture31, "__all__", ()):
        getattr(lecture31, name)
except BaseException as exc:
    if isinstance(exc, SyntaxError) and exc.filename:
        where, what = (exc.filename, exc.lineno), exc.msg
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        mine = [f for f in frames if f.filename.startswith(sys.argv[1])] or frames
        where = (mine[-1].filename, mine[-1].lineno) if mine else ("?", 0)
        what = str(exc)
    sys.stderr.write("%s:%s: %s: %s" % (*where, type(exc).__name__, what))
    sys.exit(1)
sys.stdout.write(lecture31.__file__)
"""


def checkSide(side: Side) -> None:
    """The side has a bench, and its lecture31 imports, from its own tree: GateError (exit 2)
    or BenchFailed (exit 3, naming the file and line of the error)."""
    if not (side.tree / "bench").is_dir():
        raise GateError(f"the {side.label} ({side.commit[:12]}) has no bench/ folder to run")
    probe = runChild(
        [sys.executable, "-c", _PROBE, str(side.tree.resolve()) + os.sep],
        cwd=side.tree,
        env=benchEnvironment(side.tree),
        timeout=120,
    )
    if probe.returncode != 0:
        said = probe.stderr.strip().splitlines() or [f"exit {probe.returncode}"]
        problem = said[-1].replace(str(side.tree.resolve()) + os.sep, "")
        raise BenchFailed(
            f"the {side.label}'s lecture31 ({side.commit[:12]}) cannot import: {problem}"
        )
    where = Path(probe.stdout).resolve()
    if side.tree.resolve() not in where.parents:
        raise GateError(
            f"the {side.label}'s lecture31 does not import from its own tree {side.tree}"
            f" (got {where})"
        )


# pytest-benchmark warns "Not saving anything, no benchmarks have been run!" when a run selects
# no benchmark, and the project's filterwarnings = error turns that into exit 1 (a failed run):
# ignored, so such a run ends with pytest's own "no tests" status.
QUIET_BENCHMARK_WARNING = ("-W", "ignore::pytest_benchmark.logger.PytestBenchmarkWarning")


def _stop(child: subprocess.Popen[bytes]) -> None:
    """End the bench child and everything it started (its own process group)."""
    with uninterrupted():
        for sig, wait in ((signal.SIGINT, STOP_GRACE_SECONDS), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(child.pid, sig)  # the whole session: pytest and every worker it made
            except ProcessLookupError:
                return
            try:
                child.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Workers may outlive pytest by a moment (their lifelines end them); the group goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)


def runBench(
    side: Side,
    output: Path,
    *,
    selection: str,
    extra: Sequence[str] = (),
    log: Path,
    environment: Mapping[str, str] | None = None,
) -> dict:
    """One quick bench run of ``side``; its pytest-benchmark JSON. The child's output goes to
    ``log`` (shown when the run fails)."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "bench",
        "--bench-quick",
        "-p",
        "no:cacheprovider",
        "-q",
        f"--benchmark-json={output}",
        *QUIET_BENCHMARK_WARNING,
        *(["-k", selection] if selection else []),
        *extra,
    ]
    started = time.monotonic()
    # A session of its own: Ctrl-C in a terminal reaches the gate alone, which then stops
    # the bench (and its pools' workers) in order, and a kill reaches every process it made.
    with (
        log.open("wb") as sink,
        startedChild(
            command,
            stop=_stop,
            cwd=side.tree,
            env=benchEnvironment(side.tree, environment),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ) as child,
    ):
        try:
            status = child.wait(timeout=BENCH_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            _stop(child)
            raise BenchFailed(
                f"the {side.label}'s bench ran over {BENCH_TIMEOUT_SECONDS:g} s; see {log}"
            ) from None
    if status == 5:
        raise GateError(f"-k {selection!r} selects no benchmark in the {side.label}'s bench")
    if status != 0 or not output.is_file():
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise BenchFailed(
            f"the {side.label}'s bench failed (exit {status}) after"
            f" {time.monotonic() - started:.0f} s: {' / '.join(tail)}"
        )
    try:
        run: dict = json.loads(output.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BenchFailed(f"the {side.label}'s bench wrote no readable JSON: {exc}") from exc
    return run
