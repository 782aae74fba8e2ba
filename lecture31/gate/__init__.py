"""The same-machine A/B regression gate: ``python -m lecture31.gate --base REF``.

    git.py      the two sides' trees: a ref in a temporary worktree, or the working tree
    trials.py   one side's own quick bench in a child process; trials in ABBA order
    groups.py   what is gated and how: the suite's pairs in groups, each with its rounds,
                instrument, trials and tolerance; the positive control
    protocol.py what each side's bench understands, asked of it before the first trial
    stages.py   the first stage of trials, the second where measures are unresolved, two looks
    decide.py   head / base per trial for each speedup and each variant's seconds, a one-sided
                t test per measure, Benjamini-Hochberg over the measures, the verdicts
    summary.py  the reviewer's markdown table
    tdist.py    Student's t, for those intervals
    commits.py  many commits in one job (worktrees on demand, trials added a few at a time)
    bisect.py   --bisect GOOD BAD: the first slower commit, by A/B runs against GOOD
    history.py  --history A..B: every commit in interleaved rounds, a PNG and a table
    changepoint.py  a measure's levels over commits and its steps (binary segmentation)
    cli.py      the command line and its exit statuses

Why: a baseline file made on another host cannot tell a 10% slowdown from a CPU model's 16%;
two commits measured in turns on one machine can (Laaber et al. 2019; asv continuous).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Lazy, as lecture31's own re-exports: ``python -m lecture31.gate`` imports this package before
# its __main__, which is what turns a gate module that cannot import into one line (exit 3).
_HOME = {
    "DEFAULT_SELECTION": "cli",
    "GROUPS": "groups",
    "Finding": "decide",
    "GateGroup": "groups",
    "Measure": "decide",
    "Verdict": "decide",
    "compareTrials": "decide",
    "main": "cli",
    "measuresOf": "decide",
}

__all__ = tuple(_HOME)

if TYPE_CHECKING:
    from .cli import DEFAULT_SELECTION as DEFAULT_SELECTION, main as main
    from .decide import (
        Finding as Finding,
        Measure as Measure,
        Verdict as Verdict,
        compareTrials as compareTrials,
        measuresOf as measuresOf,
    )
    from .groups import GROUPS as GROUPS, GateGroup as GateGroup


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value
