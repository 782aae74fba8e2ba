"""What writing a run's tables over an existing table would lose: the report says, and refuses.

    existing SPEEDUPS.md --tableCells--> {pair: {column, ...}}   (the cells that hold a value)
    this run's Markdown  --tableCells--> {pair: {column, ...}}
    lost    = the pairs, and the columns of a pair, the existing table has and this one lacks
    quicker = this run used --bench-quick's rounds and the existing table did not
    replaceProblem(...) -> one sentence saying both, or None when nothing would be lost

A quick or partial run (``pytest bench --bench-quick -k breaker --benchmark-save=x``) is the
newest run, so a bare ``python -m lecture31.report`` would otherwise rewrite the committed
table with the breaker table alone. Pure functions of two texts; the command line decides.
"""

from __future__ import annotations

__all__ = ("QUICK_MARK", "isQuickTable", "replaceProblem", "tableCells", "tableTitle")

# In the title of a table made from a quick run: "# Speedups (0002_x.json, quick rounds)".
QUICK_MARK = "quick rounds"
_SHOWN = 5  # names listed before "and N more"


def tableTitle(runName: str, *, quick: bool) -> str:
    """The heading of a run's tables, marked when its rounds were --bench-quick's."""
    return f"Speedups ({runName}, {QUICK_MARK})" if quick else f"Speedups ({runName})"


def isQuickTable(markdown: str) -> bool:
    """The table says (in its title) that it was made from a quick run."""
    first = markdown.lstrip().partition("\n")[0]
    return first.startswith("# ") and f", {QUICK_MARK})" in first


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _holdsValue(cell: str) -> bool:
    return any(part.strip() not in ("", "-") for part in cell.split("/"))


def tableCells(markdown: str) -> dict[str, set[str]]:
    """Each pair row of the Markdown tables (first column ``pair``), with the columns whose cell
    holds a value (not ``-``). Text that holds no such table gives ``{}``."""
    found: dict[str, set[str]] = {}
    header: list[str] | None = None
    for line in markdown.splitlines():
        if not line.lstrip().startswith("|"):
            header = None  # the table, if any, ended
            continue
        cells = _cells(line)
        if header is None:
            header = cells
        elif header[0] == "pair" and not all(cell and set(cell) <= set(":-") for cell in cells):
            found.setdefault(cells[0], set()).update(
                label
                for label, cell in zip(header[1:], cells[1:], strict=False)
                if _holdsValue(cell)
            )
    return found


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def replaceProblem(existing: str, new: str, *, quick: bool, selection: str = "") -> str | None:
    """Why the tables ``new`` (of a run, ``quick`` or not) should not replace ``existing``.

    None when ``existing`` holds no pair table, or when ``new`` keeps every pair and column it
    has and is no quicker. Else one clause per problem, e.g. "was measured with quick rounds
    (--bench-quick) and lacks 13 of its 17 pairs (fanout-15, pipeline-12, ... and 8 more)".
    """
    old = tableCells(existing)
    if not old:
        return None
    fresh = tableCells(new)
    problems = []
    if quick and not isQuickTable(existing):
        how = f"--bench-quick {selection}".strip()
        problems.append(f"was measured with quick rounds ({how})")
    missing = sorted(pair for pair in old if pair not in fresh)
    if missing:
        lacking = f"lacks {len(missing)} of its {len(old)} pairs ({_listed(missing)})"
        if selection and not quick:
            lacking += f" (selected with {selection})"
        problems.append(lacking)
    thinner = [
        f"{pair}: {', '.join(sorted(old[pair] - fresh[pair]))}"
        for pair in sorted(old)
        if pair in fresh and old[pair] - fresh[pair]
    ]
    if thinner:
        pairs = "pair" if len(thinner) == 1 else "pairs"
        problems.append(f"lacks columns of {len(thinner)} {pairs} ({_listed(thinner)})")
    return " and ".join(problems) or None
