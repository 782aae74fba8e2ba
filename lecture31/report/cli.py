"""``python -m lecture31.report``: read a run, print and write its tables, check it, plot it.

Exit status (every failure one line on stderr; files are written only on 0):
    0    fine (and written)
    1    a regression (with --check)
    2    unusable input, or nothing written: an unreadable run (a symlink loop too, or one that
         is not a regular file: a FIFO, a device, a directory, never opened for reading), a target
         that is not a regular file (a FIFO, a device, a directory), a write or stdout that
         failed (a full disk), or a quick or partial run that would replace a fuller table
  141    stdout closed early (``| head -1``): quietly, nothing written (not 1: that means a
         regression to --check; 141 is what a shell reports for a tool killed by SIGPIPE)

The partial-run rule: a run replaces an existing table (results/SPEEDUPS.md by default) only if
it keeps every pair and column that table holds and, unless the table was itself made from a
quick run, was not measured with --bench-quick; otherwise the tables are printed, nothing is
written, and one line says what the run lacks. --output FILE writes them elsewhere; --force
replaces the table anyway.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .._runtime.atomicwrite import checkTarget, writeAtomically
from .._runtime.stdout import StdoutLost, flushStdout, guardedStdout
from .check import DEFAULT_TOLERANCE, Verdict, gateDecisions, ungatedVariants
from .keep import replaceProblem, tableTitle
from .pairs import pairResults
from .parse import STATS, ReportError, loadRun, newestRun
from .plot import drawPlot, loadPyplot
from .records import isQuickRun, runSelection
from .render import renderMarkdown

__all__ = ("main",)

# --- command line ---------------------------------------------------------------------------

_PLOT_FORMATS = (".png", ".svg", ".pdf")

EXIT_REGRESSION = 1
EXIT_INPUT = 2
EXIT_CLOSED_STDOUT = 141  # 128 + SIGPIPE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lecture31.report",
        description="Speedup tables (Markdown) from a pytest-benchmark JSON run, and a "
        "regression check against a baseline run. Nothing is written unless every input is "
        "valid (and, with --check, the check passed); files are replaced atomically.",
        epilog="exit status: 0 fine; 1 a regression (--check); 2 unusable input or nothing "
        "written (a target that is not a regular file, a failed write, or a quick or partial "
        "run that would replace a fuller table: see --force); 141 stdout closed early",
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
        "or nothing with --check). It must be a regular file (or a symlink to one); "
        "its mode is kept",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace the existing table even with a quick run (--bench-quick) or one that "
        "lacks some of its pairs or columns (refused otherwise, exit 2)",
    )
    parser.add_argument(
        "--plot", metavar="FILE.png", help="also draw the speedups (.png, .svg or .pdf)"
    )
    return parser


def _sameFile(a: Path, b: Path) -> bool:
    """Never raises: a symlink loop (which 3.11's ``Path.resolve`` raises on) is no file."""
    try:
        return os.path.realpath(a) == os.path.realpath(b) or (
            a.exists() and b.exists() and a.samefile(b)
        )
    except (OSError, RuntimeError):
        return False


def _checkTarget(flag: str, target: Path, inputs: Sequence[Path]) -> None:
    """A regular file we may write (or create): not an input, not a FIFO, device or directory,
    not under a file, not read-only."""
    for source in inputs:
        if _sameFile(target, source):
            raise ReportError(f"{flag} {target} is an input of this report; not overwriting it")
    try:
        checkTarget(target)
    except OSError as exc:
        raise ReportError(f"{flag} {target}: {exc.strerror or exc}") from exc


def _replaceProblem(output: Path, markdown: str, run: dict, runPath: Path) -> str | None:
    """Why this run's tables must not replace what ``output`` holds (None: nothing is lost)."""
    try:
        existing = output.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ReportError(f"cannot read {output}: {exc.strerror or exc}") from exc
    problem = replaceProblem(existing, markdown, quick=isQuickRun(run), selection=runSelection(run))
    if problem is None:
        return None
    return (
        f"not replacing {output}: {runPath.name} {problem}; write its tables elsewhere with "
        "--output FILE, or replace the table anyway with --force"
    )


def _writeAll(writes: Sequence[tuple[Path, Callable[[Path], object]]]) -> None:
    """``writeAtomically``, its failure said as a ReportError (exit 2, no file changed)."""
    try:
        writeAtomically(writes)
    except OSError as exc:
        where = exc.filename or "the output"
        raise ReportError(f"cannot write {where}: {exc.strerror or exc}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    """0: fine; 1: a regression (--check); 2: unusable input or nothing written; 141: stdout
    closed early. Writes only on 0 (the module docstring has the whole list)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.check and not args.baseline:
        parser.error("--check needs --baseline BASE.json")
    try:
        with guardedStdout():
            return _report(parser, args)
    except ReportError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except StdoutLost as lost:
        if lost.closed:
            return EXIT_CLOSED_STDOUT
        print(f"{parser.prog}: error: {lost}; nothing written", file=sys.stderr)
        return EXIT_INPUT


def _report(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
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
    markdown = renderMarkdown(results, title=tableTitle(runPath.name, quick=isQuickRun(run)))
    verdicts: list[Verdict] = []
    ungated: list[str] = []
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
        ungated = ungatedVariants(results, baseline, only=args.only)
    regressions = [v.regression() for v in verdicts if v.failed]

    print(markdown)
    if args.check:
        print(f"gate: speedups by {args.stat} with 95% intervals against {args.baseline}")
        for verdict in verdicts:
            print(f"gate: {verdict}")
        if ungated:
            print(f"gate: not gated, the baseline lacks them: {', '.join(ungated)}")
    flushStdout()  # a lost stdout is found here, before anything is written
    for regression in regressions:
        print(f"REGRESSION {regression}", file=sys.stderr)
    if args.check and regressions:
        return EXIT_REGRESSION
    if output is not None and not args.force:
        problem = _replaceProblem(output, markdown, run, runPath)
        if problem is not None:
            raise ReportError(problem)
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
    flushStdout()
    return 0


if __name__ == "__main__":
    sys.exit(main())
