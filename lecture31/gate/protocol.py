"""What each side's bench understands, asked of the bench itself before the first trial.

    pytest bench --collect-only -q --bench-gate-groups -k EXPR     in the side's tree
        exit 0   it knows the gate's groups, and EXPR selects something there
        exit 4   an option it does not know: ask again with the older --bench-gate, then none
        exit 5   EXPR selects no benchmark there                   -> bad input (exit 2)
        else     its bench cannot even be collected (a syntax error, an import that fails)
                                                                   -> that side failed (exit 3)

Both sides then run with the newest options both know, so they always run the same rounds: a
base from before the groups runs its quick rounds, and so does the head against it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

from .git import GateError
from .stopping import runChild
from .trials import QUIET_BENCHMARK_WARNING, BenchFailed, Side, benchEnvironment

__all__ = ("PROTOCOLS", "benchOptions", "sharedOptions")

# Newest first: the options a side's bench may know for the gate's runs.
PROTOCOLS: tuple[tuple[str, ...], ...] = (("--bench-gate-groups",), ("--bench-gate",), ())
PROBE_TIMEOUT_SECONDS = 120.0
_USAGE_ERROR, _NO_TESTS = 4, 5


def _collect(side: Side, options: Sequence[str], selection: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", "bench", "--collect-only", "-q"]
    command += ["-p", "no:cacheprovider", "--bench-quick", *QUIET_BENCHMARK_WARNING, *options]
    command += ["-k", selection] if selection else []
    try:
        return runChild(
            command,
            cwd=side.tree,
            env=benchEnvironment(side.tree),
            timeout=PROBE_TIMEOUT_SECONDS,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise BenchFailed(
            f"the {side.label}'s bench did not finish collecting in {PROBE_TIMEOUT_SECONDS:g} s"
        ) from None


def _cause(output: str) -> str:
    """The line that names what broke: pytest's 'E   ...' lines or the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    located = [line for line in lines if line.startswith(("E ", "File ", "ERROR "))]
    return " / ".join((located or lines)[-3:]) or "no output"


def benchOptions(sides: Sequence[Side], selection: str) -> tuple[list[str], dict[str, list[str]]]:
    """The newest gate options every side's bench knows (see the module docstring), and the
    benchmarks ``selection`` picks in each side's bench, by side label."""
    for options in PROTOCOLS:
        known = True
        collected: dict[str, list[str]] = {}
        for side in sides:
            probe = _collect(side, options, selection)
            if probe.returncode == 0:
                collected[side.label] = [x for x in probe.stdout.splitlines() if "::" in x]
                continue
            if probe.returncode == _NO_TESTS:
                raise GateError(
                    f"-k {selection!r} selects no benchmark in the {side.label}'s bench"
                )
            if probe.returncode == _USAGE_ERROR and "unrecognized arguments" in probe.stderr:
                known = False
                break
            if probe.returncode == _USAGE_ERROR:
                raise GateError(f"-k {selection!r}: {_cause(probe.stdout + probe.stderr)}")
            raise BenchFailed(
                f"the {side.label}'s bench ({side.commit[:12]}) cannot be collected (exit"
                f" {probe.returncode}): {_cause(probe.stdout + probe.stderr)}"
            )
        if known:
            return list(options), collected
    return [], collected


def sharedOptions(sides: Sequence[Side], selection: str) -> list[str]:
    """The options of ``benchOptions`` alone: how every side of a comparison is to run."""
    options, _ = benchOptions(sides, selection)
    return options
