"""Which groups a gate run measures, and the -k of each of its bench runs.

scopeSelection(--group, -k)       what the command line asks for, before the groups are known
plannedGroups(nodeids, ...)       the declared groups the bench's collected ids reach, at the
                                  command line's overrides; what none selects is 'other'
runSelection(groups, -k)          one run's -k: its groups' selections, narrowed by the user's
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from .git import GateError
from .groups import (
    CONTROL,
    GROUPS,
    OTHER,
    GateGroup,
    groupsOf,
    matchingGroups,
    otherGroup,
    selectionOf,
)

__all__ = ("DEFAULT_SELECTION", "plannedGroups", "runSelection", "scopeSelection")

# Every group of the suite; -k narrows it. The trials and tolerances are each group's own.
DEFAULT_SELECTION = selectionOf(GROUPS)


def plannedGroups(
    nodeids: Sequence[str],
    *,
    trials: int | None,
    tolerance: float | None,
    otherTrials: int,
    otherTolerance: float,
) -> tuple[GateGroup, ...]:
    """The groups this run measures: those the selection reaches, at the command line's
    overrides (``trials``: every group exactly that many, no second stage); what no group
    selects forms the group 'other'."""
    reached = {g.name for n in nodeids for g in groupsOf(n)}
    groups = [g for g in GROUPS if g.name in reached]
    if any(not groupsOf(n) for n in nodeids):
        groups.append(
            otherGroup(
                trials=trials or otherTrials,
                tolerance=otherTolerance if tolerance is None else tolerance,
            )
        )
    overrides: dict = {}
    if trials is not None:
        overrides.update(trials=trials, moreTrials=0)
    if tolerance is not None:
        overrides.update(tolerance=tolerance)
    return tuple(dataclasses.replace(g, **overrides) for g in groups)


def runSelection(groups: Sequence[GateGroup], userSelection: str | None) -> str:
    """The -k of one run: its groups' selections, narrowed by the user's -k."""
    if any(g.name == OTHER for g in groups):
        return userSelection or ""
    expression = selectionOf([g for g in groups if g.name != CONTROL.name])
    if userSelection:
        expression = f"({expression}) and ({userSelection})" if expression else userSelection
    if any(g.name == CONTROL.name for g in groups):
        expression = f"({expression}) or ({CONTROL.selection})" if expression else CONTROL.selection
    return expression


def scopeSelection(groupPatterns: Sequence[str] | None, userSelection: str | None) -> str:
    """The selection --group and -k ask for, before the groups are known."""
    if groupPatterns:
        chosen = matchingGroups(list(groupPatterns))
        if not chosen:
            raise GateError(f"--group {' '.join(groupPatterns)} names no group")
        expression = selectionOf(chosen)
        return f"({expression}) and ({userSelection})" if userSelection else expression
    if userSelection is not None:
        return str(userSelection)
    return DEFAULT_SELECTION
