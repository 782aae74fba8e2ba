"""The README and docs/ say only what is true: every file they name exists, every option of
every command they show is an option of that command, and the gate's figures are its defaults."""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from lecture31 import cli, tiers
from lecture31._runtime.exits import exitMarkdownCells
from lecture31.demos import clustermeasure
from lecture31.gate import cli as gateCli
from lecture31.gate.groups import GROUPS, groupsTable
from lecture31.report import cli as reportCli, include
from lecture31.report.check import BACKSTOP_TOLERANCE
from lecture31.report.include import expandIncludes

ROOT = Path(__file__).resolve().parent.parent
PAGES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "bench" / "README.md",
    ROOT / "results" / "README.md",
]

# A path in backticks that starts at one of the repository's top-level folders.
_PATH = re.compile(r"`((?:lecture31|bench|tests|docs|tools|results|\.ci)/[^`\s]*)`")
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
_PLACEHOLDER = re.compile(r"NNNN|<|\*|\{|X\b|NAME|MACHINE|RUN|BASE")


def pageIds(pages):
    return [str(page.relative_to(ROOT)) for page in pages]


@pytest.mark.parametrize("page", PAGES, ids=pageIds(PAGES))
def test_every_file_a_page_names_exists(page):
    text = page.read_text(encoding="utf-8")
    missing = []
    for found in _PATH.findall(text):
        path = found.split("::")[0].rstrip(".,;:")
        if not _PLACEHOLDER.search(path) and not (ROOT / path).exists():
            missing.append(path)
    for link in _LINK.findall(text):
        if "://" in link or _PLACEHOLDER.search(link):
            continue
        if not (page.parent / link).exists():
            missing.append(link)
    assert missing == []


def _options(parser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


@cache
def _pytestOptions() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout


def _known(command: str) -> set[str] | str:
    """The options of ``command`` (a set), or the text they must appear in (a str)."""
    if command.startswith("python -m lecture31.report"):
        return _options(reportCli._parser())
    if command.startswith("python -m lecture31.gate"):
        return _options(gateCli._parser())
    if command.startswith("python -m lecture31.cluster"):
        return _options(clustermeasure._parser())
    if command.startswith("python -m lecture31.demos."):
        module = command.split()[2].split(".")[-1]
        source = ROOT / "lecture31" / "demos" / f"{module}.py"
        return source.read_text(encoding="utf-8") if source.is_file() else ""
    if command.startswith(("python -m lecture31", "lecture31 ")):
        return _options(cli._parser())
    if command.startswith(("pytest bench", "python -m pytest bench")):
        return _pytestOptions()
    if command.startswith("bench/"):
        tool = ROOT / command.split()[0].rstrip(".,:;`")
        return tool.read_text(encoding="utf-8") if tool.is_file() else ""
    raise AssertionError(f"no rule for {command!r}")


_COMMAND = re.compile(
    r"(?:^|`)((?:python -m (?:lecture31[\w.]*|pytest bench)|pytest bench|bench/[\w-]+)[^`\n#]*)",
    re.M,
)


def commandsOf(text: str) -> list[str]:
    return [match.strip() for match in _COMMAND.findall(text)]


@pytest.mark.parametrize("page", PAGES, ids=pageIds(PAGES))
def test_every_option_a_page_shows_belongs_to_its_command(page):
    unknown = []
    for command in commandsOf(page.read_text(encoding="utf-8")):
        known = _known(command)
        for option in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", command):
            if option not in known:
                unknown.append(f"{command!r}: {option}")
    assert unknown == []


def test_the_command_finder_reads_code_blocks_and_inline_commands():
    text = (
        "```sh\npython -m lecture31 tiers --seed 1   # a comment --nothing\n```\n"
        "and `pytest bench -m large`"
    )
    assert commandsOf(text) == ["python -m lecture31 tiers --seed 1", "pytest bench -m large"]


def test_an_option_that_does_not_exist_is_caught():
    assert "--no-such-option" not in _known("python -m lecture31.gate --base main")


def test_the_gate_page_shows_every_group_as_declared():
    page = (ROOT / "docs" / "ci-gate.md").read_text(encoding="utf-8")
    assert "<!-- include: lecture31.gate.groups:groupsTable -->" in page  # kept current below
    table = groupsTable()
    for group in GROUPS:
        [row] = [line for line in table.splitlines() if line.startswith(f"| {group.name} |")]
        assert f"| `{group.selection}` |" in row
        assert f"{group.tolerance:.1%}".replace(".0%", "%") in row
    assert table in expandIncludes(page, ROOT)


def test_the_gate_pages_defaults_and_sample_lines_are_the_gates():
    gatePage = (ROOT / "docs" / "ci-gate.md").read_text(encoding="utf-8")
    assert f"default {gateCli.DEFAULT_BUDGET_MINUTES:g} minutes" in gatePage
    assert f"at `--trials` (default {gateCli.OTHER_TRIALS})" in gatePage
    assert f"`--tolerance` (default {gateCli.OTHER_TOLERANCE:.0%})" in gatePage
    samples = [line for line in gatePage.splitlines() if line.startswith("gate: held ")]
    samples += [line for line in gatePage.splitlines() if line.startswith("REGRESSION ")]
    assert samples
    for line in samples:  # each sample names its group's own tolerance
        pair = line.split()[2]  # gate: VERDICT PAIR ..., REGRESSION VERDICT PAIR ...
        [group] = [g for g in GROUPS if pair == g.name or pair.startswith(f"{g.name}-")]
        assert f"tolerance {group.tolerance:.1%}" in line, line


def test_the_backstop_tolerance_the_pages_give_is_the_one_ci_uses():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "--check" in ci and "--tolerance" not in ci  # the report's own BACKSTOP_TOLERANCE
    gatePage = (ROOT / "docs" / "ci-gate.md").read_text(encoding="utf-8")
    assert f"`BACKSTOP_TOLERANCE` ({BACKSTOP_TOLERANCE:.0%})" in gatePage


def test_the_readmes_tier_table_has_a_row_per_workload_in_order():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    header = "| workload | recommended, 5 of 5 | speedups over inline in those runs |"
    table = readme.split(header, 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `([^`]+)`", table, flags=re.MULTILINE)
    assert rows == list(tiers.WORKLOADS)


# --- published copies: every table a page shows from results/ is that file's text ------------


def test_every_published_copy_equals_the_file_it_comes_from():
    stale = include.staleCopies(ROOT)
    assert [str(path.relative_to(ROOT)) for path in stale] == [], (
        "run `python -m lecture31.report.include` to refresh them"
    )


def test_the_readme_and_scale_out_copy_the_tables_the_tools_write():
    assert include.sourcesOf((ROOT / "README.md").read_text(encoding="utf-8")) == [
        "results/SPEEDUPS.md"
    ]
    assert include.sourcesOf((ROOT / "docs" / "scale-out.md").read_text(encoding="utf-8")) == [
        "results/cluster-model.md"
    ]


def _outsideCopies(text: str) -> list[str]:
    lines, inside = [], False
    for line in text.split("\n"):
        if line.startswith("<!-- include: "):
            inside = True
        elif line == "<!-- end include -->":
            inside = False
        elif not inside:
            lines.append(line)
    return lines


@pytest.mark.parametrize("page", PAGES, ids=pageIds(PAGES))
def test_no_page_holds_a_hand_copy_of_a_results_table_row(page):
    rows = {
        line
        for source in (ROOT / "results").glob("*.md")
        if source.name != "README.md"
        for line in source.read_text(encoding="utf-8").split("\n")
        if line.startswith("| ") and not line.startswith(("| pair ", "| :", "| sensors "))
    }
    copied = [line for line in _outsideCopies(page.read_text(encoding="utf-8")) if line in rows]
    assert copied == [], "mark the copy with <!-- include: ... --> instead"


def test_the_store_pools_size_is_named_not_written_out():
    """A pool-size change (the gate's calibration patches one) re-makes the tables, no prose."""
    from lecture31.pipeline import STORE_THREADS

    stale = re.compile(
        rf"\b{STORE_THREADS}[ -]threads?\b|ms / {STORE_THREADS}\b|T = {STORE_THREADS}\b"
    )
    sources = [*PAGES, *sorted((ROOT / "lecture31").rglob("*.py"))]
    found = [
        f"{path.relative_to(ROOT)}: {match.group()}"
        for path in sources
        for match in stale.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []


# --- exit statuses: each command's table in code, its row in docs/reliability.md ---------------


def _exitRow(command: str) -> tuple[str, ...]:
    page = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    [row] = [line for line in page.splitlines() if line.startswith(f"| `{command}` |")]
    return tuple(cell.strip() for cell in row.strip("|").split(" | ")[1:])


@pytest.mark.parametrize(
    ("command", "statuses"),
    [
        ("python -m lecture31", cli.EXIT_STATUSES),
        ("python -m lecture31.report", reportCli.EXIT_STATUSES),
        ("python -m lecture31.gate", gateCli.EXIT_STATUSES),
    ],
)
def test_the_documented_exit_statuses_are_the_commands_own(command, statuses):
    assert _exitRow(command) == exitMarkdownCells(statuses)


@pytest.mark.parametrize("module", [cli, reportCli, gateCli])
def test_every_exit_status_is_in_the_commands_help(module):
    help = " ".join(module._parser().format_help().split())
    for status, meaning in module.EXIT_STATUSES.items():
        assert f"{status} {meaning}" in help


def test_the_help_says_how_a_workload_that_times_out_or_raises_exits():
    meanings = cli.EXIT_STATUSES
    assert "--workload batch (or its module's import) overran --timeout" in meanings[cli.EXIT_FAULT]
    assert "--workload that cannot run on every tier or that raised" in meanings[cli.EXIT_USAGE]
