"""The same-machine A/B regression gate: ``python -m lecture31.gate --base REF``.

    git.py      the two sides' trees: a ref in a temporary worktree, or the working tree
    trials.py   one side's own quick bench in a child process; trials in ABBA order
    decide.py   head / base per trial for each speedup and each variant's seconds, a t interval
                over the trials (Bonferroni over the measures), fail beyond the tolerance
    tdist.py    Student's t, for those intervals
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
    "DEFAULT_TOLERANCE": "cli",
    "DEFAULT_TRIALS": "cli",
    "Finding": "decide",
    "Measure": "decide",
    "compareTrials": "decide",
    "main": "cli",
    "measuresOf": "decide",
}

__all__ = tuple(_HOME)

if TYPE_CHECKING:
    from .cli import (
        DEFAULT_SELECTION as DEFAULT_SELECTION,
        DEFAULT_TOLERANCE as DEFAULT_TOLERANCE,
        DEFAULT_TRIALS as DEFAULT_TRIALS,
        main as main,
    )
    from .decide import (
        Finding as Finding,
        Measure as Measure,
        compareTrials as compareTrials,
        measuresOf as measuresOf,
    )


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value
