"""The same-machine A/B regression gate: ``python -m lecture31.gate --base REF``.

    git.py      the two sides' trees: a ref in a temporary worktree, or the working tree
    trials.py   one side's own quick bench in a child process; trials in ABBA order
    decide.py   head / base per trial for each speedup and each variant's seconds, a t interval
                over the trials (Bonferroni over the measures), fail beyond the tolerance
    tdist.py    Student's t, for those intervals
    commits.py  many commits in one job (worktrees on demand, trials added a few at a time)
    bisect.py   --bisect GOOD BAD: the first slower commit, by A/B runs against GOOD
    history.py  --history A..B: every commit in interleaved rounds, a PNG and a table
    changepoint.py  a measure's levels over commits and its steps (binary segmentation)
    cli.py      the command line and its exit statuses

Why: a baseline file made on another host cannot tell a 10% slowdown from a CPU model's 16%;
two commits measured in turns on one machine can (Laaber et al. 2019; asv continuous).
"""

from .cli import DEFAULT_SELECTION, DEFAULT_TOLERANCE, DEFAULT_TRIALS, main
from .decide import Finding, Measure, compareTrials, measuresOf

__all__ = (
    "DEFAULT_SELECTION",
    "DEFAULT_TOLERANCE",
    "DEFAULT_TRIALS",
    "Finding",
    "Measure",
    "compareTrials",
    "main",
    "measuresOf",
)
