"""``python -m lecture31.report``: read a run, print and write its tables, check it, plot it.

Exit status: 0 fine; 1 a regression (with --check); 2 unusable input. Writes only on 0.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .._runtime.atomicwrite import writeAtomically
from .check import DEFAULT_TOLERANCE, Verdict, gateDecisions
from .pairs import pairResults
from .parse import STATS, ReportError, loadRun, newestRun
from .plot import drawPlot, loadPyplot
from .render import renderMarkdown

__all__ = ("main",)

# --- command line ---------------------------------------------------------------------------

_PLOT_FORMATS = (".png", ".svg", ".pdf")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lecture31.report",
        description="Speedup tables (Markdown) from a pytest-benchmark JSON run, and a "
        "regression check against a baseline run. Nothing is written unless every input is "
        "valid (and, with --check, the check passed); files are replaced atomically.",
    )
    parser.add_argument("run", nargs="?", help="run JSON (default: newest under --results)")
    parser.add_argument("--results", default="results", help="results folder (default: results)")
    parser.add_argument("--baseline", help="baseline run JSON to compare speedups against")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if a pair's speedup interval lies wholly below the baseline's "
        "speedup x (1 - tolerance)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help=f"allowed relative drop in speedup for --check (default: {DEFAULT_TOLERANCE})",
    )
    parser.add_argument(
        "--stat",
        choices=STATS,
        default="median",
        help="statistic of each variant's rounds to divide (default: median; the CI gate "
        "uses min, the least disturbed round)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PATTERN",
        help="check only pairs matching this glob (repeatable), e.g. 'pipeline-*'",
    )
    parser.add_argument(
        "--output",
        default=None,
        help="where to write the Markdown ('-' writes nothing; default: RESULTS/SPEEDUPS.md, "
        "or nothing with --check)",
    )
    parser.add_argument(
        "--plot", metavar="FILE.png", help="also draw the speedups (.png, .svg or .pdf)"
    )
    return parser


def _sameFile(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def _checkTarget(flag: str, target: Path, inputs: Sequence[Path]) -> None:
    """A file we may write: not an input, not a directory, not under a file."""
    for source in inputs:
        if _sameFile(target, source):
            raise ReportError(f"{flag} {target} is an input of this report; not overwriting it")
    if target.is_dir():
        raise ReportError(f"{flag} {target} is a directory; name a file in it")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ReportError(f"{flag} {target}: {parent} is a file, not a directory")
            if not os.access(parent, os.W_OK):
                raise ReportError(f"{flag} {target}: cannot write in {parent}")
            break


def _writeAll(writes: Sequence[tuple[Path, Callable[[Path], object]]]) -> None:
    """``writeAtomically``, its failure said as a ReportError (exit 2, no file changed)."""
    try:
        writeAtomically(writes)
    except OSError as exc:
        where = exc.filename or "the output"
        raise ReportError(f"cannot write {where}: {exc.strerror or exc}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    """0: fine; 1: a regression (with --check); 2: unusable input. Writes only on 0."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.check and not args.baseline:
        parser.error("--check needs --baseline BASE.json")
    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    try:
        if not 0 <= tolerance < 1:
            raise ReportError(f"--tolerance must be in [0, 1), got {args.tolerance!r}")
        if args.tolerance is not None and not args.baseline:
            print(
                f"{parser.prog}: note: --tolerance has no effect without --baseline",
                file=sys.stderr,
            )
        if args.only and not args.baseline:
            print(f"{parser.prog}: note: --only has no effect without --baseline", file=sys.stderr)
        runPath = Path(args.run) if args.run else newestRun(args.results)
        inputs = [runPath] + ([Path(args.baseline)] if args.baseline else [])
        if args.output is None:
            output = None if args.check else Path(args.results) / "SPEEDUPS.md"
        else:
            output = None if args.output == "-" else Path(args.output)
        plotPath = Path(args.plot) if args.plot else None
        if output is not None:
            _checkTarget("--output", output, inputs)
        if plotPath is not None:
            if plotPath.suffix.lower() not in _PLOT_FORMATS:
                raise ReportError(
                    f"--plot {plotPath}: name the image with its format, e.g. {plotPath}.png "
                    f"({', '.join(_PLOT_FORMATS)})"
                )
            _checkTarget("--plot", plotPath, inputs)
            if output is not None and _sameFile(plotPath, output):
                raise ReportError("--plot and --output name the same file")
        plt = loadPyplot() if plotPath is not None else None

        run = loadRun(runPath)
        results = pairResults(run, args.stat)
        if not results:
            raise ReportError(f"{runPath} has no benchmarks with extra_info 'pair'")
        markdown = renderMarkdown(results, title=f"Speedups ({runPath.name})")
        verdicts: list[Verdict] = []
        if args.baseline:
            baselinePath = Path(args.baseline)
            baselineRun = loadRun(baselinePath)
            if _sameFile(baselinePath, runPath) or baselineRun == run:
                print(
                    f"{parser.prog}: note: the baseline is the run itself; the check cannot fail",
                    file=sys.stderr,
                )
            baseline = pairResults(baselineRun, args.stat)
            verdicts = gateDecisions(results, baseline, tolerance, only=args.only)
        regressions = [v.regression() for v in verdicts if v.failed]

        print(markdown)
        if args.check:
            print(f"gate: speedups by {args.stat} with 95% intervals against {args.baseline}")
            for verdict in verdicts:
                print(f"gate: {verdict}")
        for regression in regressions:
            print(f"REGRESSION {regression}", file=sys.stderr)
        if args.check and regressions:
            return 1
        writes: list[tuple[Path, Callable[[Path], object]]] = []
        if plotPath is not None:
            writes.append((plotPath, lambda temp: drawPlot(results, temp, plt)))
        if output is not None:
            writes.append((output, lambda temp: temp.write_text(markdown, encoding="utf-8")))
        _writeAll(writes)
        if args.check:
            print(
                f"check passed against {args.baseline} "
                f"(speedups by {args.stat}, tolerance {tolerance:.0%})"
            )
    except ReportError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
