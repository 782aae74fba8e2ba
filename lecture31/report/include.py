"""Published copies of the tables the tools write, refreshed from their files, never typed.

    python -m lecture31.report.include            # rewrite every stale copy in the pages
    python -m lecture31.report.include --check    # exit 1 naming each stale copy, write nothing

A page marks a copy with two comments; everything between them is the file's text:

    <!-- include: results/SPEEDUPS.md -->          the whole file but its "# title" line
    <!-- include: results/SPEEDUPS.md#pipeline --> one section: what its heading holds
    <!-- include: lecture31.gate.groups:groupsTable -->  what the function returns
    ...
    <!-- end include -->

Paths are from the repository root (the working folder, or --root). A copy's headings are moved
to sit one level under the page's heading above the marker, so a file's "## pipeline" reads as
a subsection wherever it is included. ``tests/test_docs.py`` fails on a stale copy; this tool
is what fixes one (``bench/make-baseline`` and ``--write results`` only write the files).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ("PAGES", "IncludeError", "expandIncludes", "main", "sourcesOf", "staleCopies")

# The pages that may hold copies, from the repository root (a glob each).
PAGES = ("README.md", "docs/*.md", "bench/README.md", "results/README.md")

_BEGIN = re.compile(r"^<!-- include: (?P<path>[^#\s]+)(?:#(?P<section>[^\s]+))? -->$")
_END = "<!-- end include -->"
_HEADING = re.compile(r"^(#+) (.*)$")


class IncludeError(ValueError):
    """Raised by expandIncludes: a marker without its end, or a source or section not found."""


def _section(text: str, name: str | None, where: str) -> list[str]:
    lines = text.rstrip("\n").split("\n")
    if name is None:
        return lines[1:] if lines and lines[0].startswith("# ") else lines
    for start, line in enumerate(lines):
        heading = _HEADING.match(line)
        if heading and heading.group(2) == name:
            level = len(heading.group(1))
            end = next(
                (
                    i
                    for i in range(start + 1, len(lines))
                    if (h := _HEADING.match(lines[i])) and len(h.group(1)) <= level
                ),
                len(lines),
            )
            return lines[start + 1 : end]
    raise IncludeError(f"{where}: no heading {name!r}")


def _relevel(lines: list[str], pageLevel: int) -> list[str]:
    levels = [len(h.group(1)) for line in lines if (h := _HEADING.match(line))]
    if not levels:
        return lines
    shift = pageLevel + 1 - min(levels)
    out = []
    for line in lines:
        heading = _HEADING.match(line)
        out.append(
            f"{'#' * (len(heading.group(1)) + shift)} {heading.group(2)}" if heading else line
        )
    return out


def _sourceText(root: Path, source: str, where: str) -> str:
    """A file's text, or what ``module:function`` returns (a table written from a declaration,
    such as ``lecture31.gate.groups:groupsTable``: no file between the code and the page)."""
    if ":" in source:
        module, _, function = source.partition(":")
        try:
            text = getattr(importlib.import_module(module), function)()
        except (ImportError, AttributeError, TypeError) as exc:
            raise IncludeError(f"{where}: cannot call {source}: {exc}") from exc
        if not isinstance(text, str):
            raise IncludeError(f"{where}: {source}() returned {type(text).__name__}, not text")
        return text
    try:
        return (root / source).read_text(encoding="utf-8")
    except OSError as exc:
        raise IncludeError(f"{where}: cannot read {source}: {exc.strerror}") from exc


def expandIncludes(page: str, root: Path, *, name: str = "page") -> str:
    """``page`` with every marked copy replaced by its source's current text."""
    lines = page.split("\n")
    out: list[str] = []
    pageLevel = 0
    inCode = False  # a shell comment in a code block is no heading
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        inCode ^= line.startswith("```")
        heading = None if inCode else _HEADING.match(line)
        if heading:
            pageLevel = len(heading.group(1))
        begin = _BEGIN.match(line)
        i += 1
        if not begin:
            continue
        where = f"{name}:{i}"
        try:
            end = lines.index(_END, i)
        except ValueError:
            raise IncludeError(f"{where}: {line} has no {_END}") from None
        text = _sourceText(root, begin["path"], where)
        body = _section(text, begin["section"], f"{where}: {begin['path']}")
        while body and not body[0].strip():
            body.pop(0)
        while body and not body[-1].strip():
            body.pop()
        out += ["", *_relevel(body, pageLevel), "", _END]
        i = end + 1
    return "\n".join(out)


def sourcesOf(page: str) -> list[str]:
    """The files ``page`` holds copies of (``path`` or ``path#section``), in order."""
    return [
        m["path"] + (f"#{m['section']}" if m["section"] else "")
        for line in page.split("\n")
        if (m := _BEGIN.match(line))
    ]


def _pages(root: Path) -> list[Path]:
    return [path for pattern in PAGES for path in sorted(root.glob(pattern))]


def staleCopies(root: Path) -> dict[Path, str]:
    """Each page whose copies differ from their sources, with the text it should have."""
    stale = {}
    for path in _pages(root):
        text = path.read_text(encoding="utf-8")
        fresh = expandIncludes(text, root, name=str(path.relative_to(root)))
        if fresh != text:
            stale[path] = fresh
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    """0: every copy current (or now rewritten); 1: --check found a stale one; 2: a bad marker."""
    parser = argparse.ArgumentParser(
        prog="python -m lecture31.report.include",
        description="Refresh the pages' copies of results/*.md between include markers.",
        epilog="exit status: 0 every copy current or rewritten; 1 a stale copy (--check); "
        "2 a marker without its end, or a source or section not found",
    )
    parser.add_argument("--root", default=".", help="the repository root (default: .)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    root = Path(args.root)
    try:
        stale = staleCopies(root)
    except IncludeError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    for path, fresh in stale.items():
        if args.check:
            print(f"{parser.prog}: {path.relative_to(root)} is stale", file=sys.stderr)
        else:
            path.write_text(fresh, encoding="utf-8")
            print(f"{parser.prog}: refreshed {path.relative_to(root)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
