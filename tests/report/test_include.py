"""The include step: a marked copy becomes its source's text, one section or the whole file."""

from __future__ import annotations

import pytest

from lecture31.report.include import IncludeError, expandIncludes, main

SOURCE = "# Speedups (run.json)\n\n## fanout\n\n| a |\n\n## pipeline\n\n| b |\n| c |\n"


@pytest.fixture
def root(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "SPEEDUPS.md").write_text(SOURCE, encoding="utf-8")
    return tmp_path


def test_a_whole_file_copy_drops_the_title_and_nests_its_headings_under_the_pages(root):
    page = "## Results\n\n<!-- include: results/SPEEDUPS.md -->\nold\n<!-- end include -->\nafter"
    assert expandIncludes(page, root) == (
        "## Results\n\n<!-- include: results/SPEEDUPS.md -->\n\n### fanout\n\n| a |\n\n"
        "### pipeline\n\n| b |\n| c |\n\n<!-- end include -->\nafter"
    )


def test_a_section_copy_holds_what_its_heading_holds(root):
    page = "<!-- include: results/SPEEDUPS.md#fanout -->\n<!-- end include -->"
    assert expandIncludes(page, root) == (
        "<!-- include: results/SPEEDUPS.md#fanout -->\n\n| a |\n\n<!-- end include -->"
    )


def test_expanding_twice_changes_nothing(root):
    page = "# P\n<!-- include: results/SPEEDUPS.md -->\n<!-- end include -->\n"
    once = expandIncludes(page, root)
    assert expandIncludes(once, root) == once


@pytest.mark.parametrize(
    "page",
    [
        "<!-- include: results/SPEEDUPS.md -->\nno end",
        "<!-- include: results/NOPE.md -->\n<!-- end include -->",
        "<!-- include: results/SPEEDUPS.md#nope -->\n<!-- end include -->",
    ],
)
def test_a_marker_without_its_end_or_source_is_an_error(root, page):
    with pytest.raises(IncludeError):
        expandIncludes(page, root)


def test_check_names_a_stale_page_and_writes_nothing_then_the_tool_refreshes_it(root, capsys):
    readme = root / "README.md"
    readme.write_text("<!-- include: results/SPEEDUPS.md#fanout -->\n| old |\n<!-- end include -->")
    assert main(["--root", str(root), "--check"]) == 1
    assert "README.md is stale" in capsys.readouterr().err
    assert "| old |" in readme.read_text()
    assert main(["--root", str(root)]) == 0
    assert main(["--root", str(root), "--check"]) == 0
    assert "| a |" in readme.read_text()


def test_a_function_source_copies_what_it_returns(root):
    page = "<!-- include: lecture31.gate.groups:groupsTable -->\nold\n<!-- end include -->"
    expanded = expandIncludes(page, root)
    assert "| breaker | `test_breaker` |" in expanded
    assert "old" not in expanded


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("lecture31.no_such_module:table", "cannot call lecture31.no_such_module:table"),
        ("lecture31.gate.groups:noSuchTable", "cannot call lecture31.gate.groups:noSuchTable"),
        ("lecture31.gate.groups:GROUPS", "cannot call"),  # a tuple: not callable
    ],
)
def test_a_function_source_that_cannot_be_called_is_named(root, source, said):
    page = f"<!-- include: {source} -->\n<!-- end include -->"
    with pytest.raises(IncludeError, match=said):
        expandIncludes(page, root)
