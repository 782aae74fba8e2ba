"""A command's exit statuses, declared once as data: its ``--help`` epilog and the docs'
table (docs/reliability.md, checked by tests/test_docs.py) are both read from it."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

__all__ = ("exitEpilog", "exitMarkdownCells")


def exitEpilog(statuses: Mapping[int, str], *, width: int = 79) -> str:
    """The ``exit status`` block of a ``--help`` (for a RawDescriptionHelpFormatter)."""
    lines = ["exit status (every failure is one line on stderr):"]
    for status, meaning in statuses.items():
        lines += textwrap.wrap(
            meaning, width, initial_indent=f"  {status:<4} ", subsequent_indent=" " * 7
        )
    return "\n".join(lines)


def exitMarkdownCells(statuses: Mapping[int, str]) -> tuple[str, str, str, str]:
    """The cells of the docs' table row: statuses 0, 1 and 2, then every other one."""
    other = ", ".join(f"{s} {m}" for s, m in statuses.items() if s not in (0, 1, 2))
    return statuses.get(0, ""), statuses.get(1, ""), statuses.get(2, ""), other
