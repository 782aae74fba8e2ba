"""Markdown tables and the plain-text summary of a run's pairs: pure functions of PairResults."""

from __future__ import annotations

from collections.abc import Sequence

from .pairs import PairResult, SpeedupChange, VariantResult

__all__ = ("formatSeconds", "isMatrix", "renderMarkdown", "renderSummary")


def formatSeconds(seconds: float) -> str:
    """A duration with a unit that keeps three significant figures readable."""
    magnitude = abs(seconds)
    if magnitude >= 1:
        return f"{seconds:.3f} s"
    if magnitude >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    if magnitude >= 1e-6:
        return f"{seconds * 1e6:.2f} us"
    return f"{seconds * 1e9:.0f} ns"


def _optional(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _columnLabels(rows: Sequence[PairResult]) -> list[str]:
    return list(dict.fromkeys(label for r in rows for v in r.variants for label in v.columns))


def _columnCell(variants: Sequence[VariantResult | None], label: str) -> str:
    return " / ".join(
        _optional(None if v is None else v.columns.get(label), ".2f") for v in variants
    )


def _table(headers: list[str], body: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("| :--- | " + " | ".join("---:" for _ in headers[1:]) + " |")
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return lines


def _pairTable(rows: Sequence[PairResult]) -> list[str]:
    """Two variants per pair: both times, the speedup, the bound and any extra columns."""
    slow, fast, stat = rows[0].referenceName, rows[0].variantName, rows[0].stat
    withCalls = any(r.calls for r in rows)
    # Pairs timed per call (the breaker against a bare call) measure what the fast variant
    # costs, not what it buys: say how many times the reference's time it takes.
    ratio = f"{fast} / {slow} time (overhead)" if withCalls else "speedup"
    headers = ["pair", "scale", f"{slow} {stat}", f"{fast} {stat}", ratio]
    withIdeal = any(r.idealSpeedup is not None for r in rows)
    if withIdeal:
        headers += ["ideal speedup", "efficiency"]
    if withCalls:
        headers += ["calls", f"{slow} per call", f"{fast} per call", "overhead per call"]
    labels = _columnLabels(rows)
    headers += [f"{label} ({slow} / {fast})" for label in labels]
    body = []
    for r in rows:
        cells = [
            r.pair,
            str(r.scale),
            formatSeconds(r.referenceSeconds),
            formatSeconds(r.variantSeconds),
            _costText(r) if withCalls else r.speedupText(r.variantName),
        ]
        if withIdeal:
            cells += [_optional(r.idealSpeedup, ".2f") + "x" * (r.idealSpeedup is not None)]
            cells += [_optional(r.efficiency, ".2f")]
        if withCalls:
            cells += ["-"] * 4
            if r.calls and r.overheadPerCall is not None:
                cells[-4:] = [
                    str(r.calls),
                    formatSeconds(r.referenceSeconds / r.calls),
                    formatSeconds(r.variantSeconds / r.calls),
                    formatSeconds(r.overheadPerCall),
                ]
        cells += [_columnCell(r.variants, label) for label in labels]
        body.append(cells)
    return _table(headers, body)


def _costText(r: PairResult) -> str:
    """The fast variant's time over the reference's, ``5.66x (4.76-5.88)``: the speedup turned
    round, its interval with it."""
    interval = r.intervalOf(r.variantName)
    if interval is None:
        return f"{1 / r.speedup:.2f}x"
    return f"{1 / interval.point:.2f}x ({1 / interval.high:.2f}-{1 / interval.low:.2f})"


def _matrixTable(rows: Sequence[PairResult]) -> list[str]:
    """More than two variants: one row per pair, one column per variant, speedup (and ideal)."""
    reference, stat = rows[0].reference.variant, rows[0].stat
    names = list(dict.fromkeys(v.variant for r in rows for v in r.others))
    headers = ["pair", "scale", f"{reference} {stat}", *names]
    withCalls = any(v.calls for r in rows for v in r.variants)
    if withCalls:
        headers.append(f"per call ({' / '.join([reference, *names])})")
    labels = _columnLabels(rows)
    headers += [f"{label} ({' / '.join([reference, *names])})" for label in labels]
    body = []
    for r in rows:
        cells = [r.pair, str(r.scale), formatSeconds(r.reference.seconds)]
        present = {v.variant for v in r.others}
        for name in names:
            if name not in present:
                cells.append("-")
                continue
            ideal = r.idealSpeedupOf(name)
            shown = r.speedupText(name)
            cells.append(shown if ideal is None else f"{shown} (ideal {ideal:.2f}x)")
        row: list[VariantResult | None] = [r.reference]
        row += [r.variant(n) if n in present else None for n in names]
        if withCalls:
            cells.append(
                " / ".join(
                    "-" if v is None or not v.calls else formatSeconds(v.seconds / v.calls)
                    for v in row
                )
            )
        cells += [_columnCell(row, label) for label in labels]
        body.append(cells)
    return _table(headers, body)


def isMatrix(rows: Sequence[PairResult]) -> bool:
    """A comparison whose pairs have more than two variants (or disagree on them)."""
    return len({tuple(v.variant for v in r.variants) for r in rows}) > 1 or any(
        len(r.others) > 1 for r in rows
    )


def renderMarkdown(results: Sequence[PairResult], *, title: str | None = None) -> str:
    """One Markdown table per comparison, rows by scale; a matrix where pairs have >2 variants."""
    lines = [f"# {title}", ""] if title else []
    for comparison in dict.fromkeys(r.comparison for r in results):
        rows = [r for r in results if r.comparison == comparison]
        lines += [f"## {comparison}", ""]
        lines += _matrixTable(rows) if isMatrix(rows) else _pairTable(rows)
        lines.append("")
    return "\n".join(lines)


def renderSummary(changes: Sequence[SpeedupChange], *, compared: str | None = None) -> list[str]:
    """Plain-text lines: each variant's speedup, and the compared run's beside it if any."""
    if not changes:
        return []
    width = max(len(f"{c.pair} {c.variant}") for c in changes)
    lines = [] if compared is None else [f"speedups now, and in {compared}:"]
    for c in changes:
        shown = f"{c.speedup:6.2f}x" if c.interval is None else f"{c.interval.point:6.2f}x"
        if c.interval is not None:
            shown += f" ({c.interval.low:.2f}-{c.interval.high:.2f})"
        line = f"{c.pair + ' ' + c.variant:<{width}}  {shown} over {c.reference}"
        if c.idealSpeedup is not None:
            line += f" (ideal {c.idealSpeedup:.2f}x)"
        if compared is not None:
            if c.comparedSpeedup is None or c.change is None:
                line += ", not in the compared run"
            else:
                line += f", was {c.comparedSpeedup:.2f}x ({c.change:+.0%})"
        lines.append(line)
    return lines
