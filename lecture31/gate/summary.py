"""The reviewer's summary of a gate run: one markdown table, the host and the trials.

    ## lecture31 gate: held / REGRESSED / BLIND
    base REF (commit) against head REF (commit), on CPU x cores, Python; trials; minutes
    the positive control's line
    | group | measure | base | head | change | interval | verdict | resolves |

Written by ``--markdown PATH`` and appended to ``$GITHUB_STEP_SUMMARY`` when that is set (GitHub
Actions shows it on the run's page); CI prints it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .decide import Finding, Verdict
from .groups import CONTROL_FACTOR

__all__ = ("controlLine", "hostLine", "markdownSummary")


def hostLine(machineInfo: Mapping) -> str:
    """``AMD EPYC 7B13 x 2 cores, CPython 3.11.7``, from a run's pytest-benchmark machine_info."""
    found = machineInfo.get("cpu")
    cpu: Mapping = found if isinstance(found, Mapping) else {}
    brand = cpu.get("brand_raw") or machineInfo.get("processor") or "unknown CPU"
    cores = cpu.get("count", "?")
    python = (
        f"{machineInfo.get('python_implementation', 'Python')}"
        f" {machineInfo.get('python_version', '?')}"
    )
    return f"{brand} x {cores} cores, {python}"


def controlLine(found: Finding | None) -> tuple[str, bool]:
    """The positive control's line, and whether the gate is blind (it was not caught)."""
    expected = f"the head's control is {CONTROL_FACTOR - 1:.0%} slower by design"
    if found is None:
        return f"not measured (a side's bench has no gate-control): {expected}", False
    figures = (
        f"{found.change:+.1%} (interval {found.intervalText}, tolerance {found.tolerance:.1%})"
    )
    if found.verdict is Verdict.REGRESSED:
        return f"caught: {expected}, measured {figures}", False
    return (
        f"NOT caught: {expected}, measured {figures}: the gate is blind on this host, now,"
        " and its verdicts prove nothing",
        True,
    )


def _figure(value: float, kind: str) -> str:
    return f"{value:.4g} s" if kind == "seconds" else f"{value:.3g}x"


def _row(finding: Finding) -> str:
    measure = finding.measure
    change = finding.change
    direction = "slower" if measure.kind == "seconds" else "less speedup"
    changeText = f"{abs(change):.1%} {direction if change > 0 else 'better'}"
    verdict = f"**{finding.verdict}**" if finding.failed else str(finding.verdict)
    return (
        f"| {finding.group} | {measure.name} | {_figure(finding.base, measure.kind)} |"
        f" {_figure(finding.head, measure.kind)} | {changeText} |"
        f" {finding.intervalText} | {verdict} | {finding.resolutionText} |"
    )


def markdownSummary(
    *,
    verdict: str,
    sides: str,
    host: str,
    trials: str,
    control: str,
    findings: Sequence[Finding],
    notes: Sequence[str] = (),
) -> str:
    """The whole summary as markdown text (see the module docstring)."""
    counts = {v: sum(1 for f in findings if f.verdict is v) for v in Verdict}
    tally = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    lines = [
        f"## lecture31 gate: {verdict}",
        "",
        f"{sides}, on {host}; {trials}.",
        "",
        f"Positive control: {control}",
        "",
        f"{len(findings)} measures: {tally}. *interval*: head / base at each finding's"
        " Bonferroni level; *resolves*: the smallest slowdown this run would have flagged.",
        "",
        "| group | measure | base | head | change | interval | verdict | resolves |",
        "| :--- | :--- | ---: | ---: | ---: | ---: | :--- | ---: |",
        *(_row(f) for f in findings),
    ]
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"
