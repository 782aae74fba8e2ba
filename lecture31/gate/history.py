"""``--history A..B``: every commit of a range measured on this machine, in interleaved rounds,
and each measure's steps marked.

    commits  A, A+1, ..., B   (first parents, A included; MAX_COMMITS at most)
    round 1: c3 c0 c5 ...     every commit once, in a shuffled order (seeded: HISTORY_SEED + r)
    round 2: c1 c4 c0 ...     so a slow minute of the host lands on different commits each round
    ...      (--rounds N)
    per measure: each commit's level and interval, the steps (lecture31.gate.changepoint)
    out: DIR/history.md (a table, the steps), DIR/history.png (needs the plot extra), --json

A commit whose bench fails or lacks the gate's bench is dropped (said, and listed in the
table's notes); a measure is analysed over the commits that have it in every round.
Exit status: 0 measured (steps are findings, not failures); 2 bad input; 3 fewer than two
commits could be measured; 130 Ctrl-C; 143 SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from .._runtime.atomicwrite import writeAtomically
from ..report.parse import ReportError
from ..report.plot import loadPyplot
from .changepoint import Level, changePoints, levels
from .commits import Commits, Unmeasurable, firstParentCommits, say, subjectOf
from .decide import FAMILY_ALPHA, Measure
from .git import GateError, repoRoot, resolveCommit
from .protocol import sharedOptions
from .trials import BenchFailed, Side

__all__ = ("DEFAULT_ROUNDS", "HISTORY_SEED", "MAX_COMMITS", "historyOf", "runHistory")

# ~20 commits x 6 rounds x ~8 s a run (-k 'pipeline and 48') is ~16 min on 2 cores; more commits
# is a job for --bisect.
MAX_COMMITS = 21
# Rounds are the replicates of the step test: 6 give a t with 5 degrees of freedom, enough for a
# 5% step at the pipeline pairs' 2-10% noise per run; fewer than 3 cannot test at all.
DEFAULT_ROUNDS = 6
MIN_ROUNDS, MAX_ROUNDS = 3, 50
HISTORY_SEED = 31


def _commits(repo: Path, span: str) -> list[str]:
    start, dots, end = span.partition("..")
    if not dots or not start or not end or end.startswith("."):
        raise GateError(f"--history wants a range A..B, got {span!r}")
    first = resolveCommit(repo, start)
    commits = [first, *firstParentCommits(repo, first, resolveCommit(repo, end))]
    if len(commits) > MAX_COMMITS:
        raise GateError(
            f"--history {span} has {len(commits)} commits, more than {MAX_COMMITS}: narrow it"
            " (or --bisect)"
        )
    return commits


def historyOf(runs: dict[str, list[dict[Measure, float]]], *, tolerance: float) -> list[dict]:
    """Per measure, over the commits that have it in every round: levels and steps.

    ``runs[commit][round]`` are one commit's measures, commits in history order."""
    measures = sorted(
        {m for rounds in runs.values() for run in rounds for m in run},
        key=lambda m: (m.pair, m.kind, m.variant),
    )
    pairs = len({m.pair for m in measures}) or 1
    found = []
    for measure in measures:
        having = [c for c, rounds in runs.items() if rounds and all(measure in r for r in rounds)]
        if len(having) < 2:
            continue
        columns = [[run[measure] for run in runs[c]] for c in having]
        values = [list(row) for row in zip(*columns, strict=True)]
        alpha = FAMILY_ALPHA / pairs
        steps = changePoints(values, alpha=alpha, tolerance=tolerance)
        found.append(
            {"measure": measure, "commits": having, "levels": levels(values), "steps": steps}
        )
    return found


def _markdown(found: list[dict], subjects: dict[str, str], notes: list[str], rounds: int) -> str:
    commits = list(subjects)
    lines = [
        f"# Each measure over {len(commits)} commits ({rounds} interleaved rounds)",
        "",
        "Each cell: the measure's level (round effects taken out) and its 95% interval; **bold**"
        " where a step starts (binary segmentation, paired t over rounds, Bonferroni).",
        "",
        "| commit | subject | " + " | ".join(f["measure"].name for f in found) + " |",
        "| :--- | :--- |" + " ---: |" * len(found),
    ]
    for commit in commits:
        cells = []
        for f in found:
            if commit not in f["commits"]:
                cells.append("-")
                continue
            index = f["commits"].index(commit)
            level: Level = f["levels"][index]
            cell = f"{level.value:.4g} ({level.low:.4g}-{level.high:.4g})"
            step = next((s for s in f["steps"] if s.index == index), None)
            cells.append(cell if step is None else f"**{cell} step {step.ratio - 1:+.1%}**")
        subject = subjects[commit].replace("|", "\\|")[:60]
        lines.append(f"| {commit[:12]} | {subject} | " + " | ".join(cells) + " |")
    lines += ["", "Steps:", ""]
    stepLines = [
        f"- {f['measure'].name}: at {f['commits'][s.index][:12]} {s.ratio - 1:+.1%} (p {s.p:.2g})"
        for f in found
        for s in f["steps"]
    ]
    lines += stepLines or ["- none"]
    lines += [f"- note: {note}" for note in notes]
    return "\n".join(lines) + "\n"


def _draw(found: list[dict], path: Path, plt) -> None:
    """One panel per measure: each commit's level with its interval, steps as dashed lines."""
    columns = 3 if len(found) > 4 else max(1, len(found))
    rows = -(-len(found) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(found) :]:
        ax.set_visible(False)
    for ax, f in zip(axes.flat, found, strict=False):
        xs = list(range(len(f["commits"])))
        values = [lv.value for lv in f["levels"]]
        errors = [
            [lv.value - lv.low for lv in f["levels"]],
            [lv.high - lv.value for lv in f["levels"]],
        ]
        ax.errorbar(xs, values, yerr=errors, fmt="o-", capsize=3, markersize=4)
        for step in f["steps"]:
            ax.axvline(step.index - 0.5, color="tab:red", linestyle="--")
            ax.annotate(
                f"{step.ratio - 1:+.1%}",
                (step.index - 0.5, max(values)),
                color="tab:red",
                fontsize=8,
            )
        ax.set_title(f["measure"].name, fontsize=9)
        ax.set_xticks(xs, [c[:7] for c in f["commits"]], rotation=60, fontsize=7)
        ax.set_ylabel("seconds" if f["measure"].kind == "seconds" else "speedup (x)")
    figure.tight_layout()
    figure.savefig(path, dpi=110, format="png")
    plt.close(figure)


def _measure(
    commits: Commits, chain: list[str], rounds: int, notes: list[str]
) -> dict[str, list[dict[Measure, float]]]:
    sides: dict[str, Side] = {}
    for commit in chain:
        try:
            sides[commit] = commits.side(commit)
        except Unmeasurable as exc:
            notes.append(f"{commit[:12]} dropped: {exc}")
            say(notes[-1])
    extra = sharedOptions(list(sides.values()), commits.selection)
    runs: dict[str, list[dict[Measure, float]]] = {c: [] for c in sides}
    for number in range(1, rounds + 1):
        order = [c for c in chain if c in sides]
        random.Random(HISTORY_SEED + number).shuffle(order)
        for place, commit in enumerate(order, start=1):
            say(f"history: round {number} of {rounds}, run {place} of {len(order)}: {commit[:12]}")
            name = f"round-{number:02d}-{commit[:12]}"
            try:
                runs[commit].append(commits.run(sides[commit], name, extra=extra).measures)
            except Unmeasurable as exc:
                notes.append(f"{commit[:12]} dropped in round {number}: {exc}")
                say(notes[-1])
                del sides[commit], runs[commit]
    if len(runs) < 2:
        raise BenchFailed(f"fewer than two commits could be measured: {'; '.join(notes)}")
    return runs


def runHistory(args: argparse.Namespace) -> int:
    """``--history A..B``: measure, analyse, write the table, the PNG and the JSON."""
    started = time.monotonic()
    rounds = DEFAULT_ROUNDS if args.rounds is None else args.rounds
    if not MIN_ROUNDS <= rounds <= MAX_ROUNDS:
        raise GateError(f"--rounds must be between {MIN_ROUNDS} and {MAX_ROUNDS}, got {rounds}")
    try:
        plt = loadPyplot()
    except ReportError as exc:
        raise GateError(f"--history draws a PNG: {exc}") from exc
    repo = repoRoot(Path.cwd())
    chain = _commits(repo, args.history)
    # Without --out, a fresh private folder (a random name, 0700): never a predictable path in
    # the shared temporary folder.
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="lecture31-history-"))
    out.mkdir(parents=True, exist_ok=True)
    say(f"history of {len(chain)} commits, {rounds} rounds, -k {args.selection!r}")
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lecture31-history-") as temporary:
        runsDir = Path(args.keep_runs or temporary)
        runsDir.mkdir(parents=True, exist_ok=True)
        with Commits(repo, selection=args.selection, stat=args.stat, runs=runsDir) as commits:
            runs = _measure(commits, chain, rounds, notes)
            records = commits.records
    found = historyOf(runs, tolerance=args.tolerance)
    subjects = {c: subjectOf(repo, c) for c in chain if c in runs}
    markdown = _markdown(found, subjects, notes, rounds)
    record = {
        "range": args.history,
        "commits": [{"commit": c, "subject": s} for c, s in subjects.items()],
        "selection": args.selection,
        "stat": args.stat,
        "tolerance": args.tolerance,
        "rounds": rounds,
        "measures": [
            {
                "measure": f["measure"].name,
                "commits": f["commits"],
                "levels": [[lv.value, lv.low, lv.high] for lv in f["levels"]],
                "steps": [
                    {"commit": f["commits"][s.index], "ratio": s.ratio, "p": s.p}
                    for s in f["steps"]
                ],
            }
            for f in found
        ],
        "notes": notes,
        "runs": records,
        "seconds": time.monotonic() - started,
    }
    jsonPath = Path(args.json) if args.json else out / "history.json"
    text = json.dumps(record, indent=1) + "\n"
    writeAtomically(
        [
            (jsonPath, lambda temporary: temporary.write_text(text, encoding="utf-8")),
            (out / "history.md", lambda temporary: temporary.write_text(markdown, "utf-8")),
            (out / "history.png", lambda temporary: _draw(found, temporary, plt)),
        ]
    )
    for f in found:
        for step in f["steps"]:
            commit = f["commits"][step.index]
            print(
                f"history: step in {f['measure'].name} at {commit[:12]} {subjects[commit]}:"
                f" {step.ratio - 1:+.1%} (p {step.p:.2g})"
            )
    if not any(f["steps"] for f in found):
        print(f"history: no step in {len(found)} measures over {len(subjects)} commits")
    say(
        f"{len(records)} runs, {record['seconds'] / 60:.1f} min; {out / 'history.md'},"
        f" {out / 'history.png'}, {jsonPath}"
    )
    return 0
