"""A quick or partial run never replaces a fuller table unless asked (issue 21).

``pytest bench --bench-quick -k breaker --benchmark-save=x`` makes the newest run, so a bare
``python -m lecture31.report`` used to rewrite results/SPEEDUPS.md with the breaker table alone.
The pure rule (lecture31.report.keep) first, then the command line in a scratch results folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lecture31 import report
from lecture31.report.keep import isQuickTable, replaceProblem, tableCells, tableTitle
from lecture31.report.records import RUN_INFO, isQuickRun, runInfo, runSelection

FIXTURE = Path(__file__).parent.parent / "fixtures" / "run_small.json"
MACHINE = "Linux-CPython-3.11-64bit"
PROG = "python -m lecture31.report: "

TABLE = """# Speedups (0001_baseline.json)

## tiered

| pair | scale | sequential median | tiered | threads |
| :--- | ---: | ---: | ---: | ---: |
| tiered-10 | 10 | 757.4 ms | 6.70x (6.64-6.80) | 6.81x (6.74-6.89) |

## breaker

| pair | scale | bare median | breaker median | speedup |
| :--- | ---: | ---: | ---: | ---: |
| breaker-closed-sync | 2000 | 144.67 us | 818.67 us | 0.18x |
| breaker-open-sync | 2000 | 140.87 us | 2.4 ms | 0.06x |
"""


# --- the rule, pure ---------------------------------------------------------------------------


def test_table_cells_are_each_pair_row_with_the_columns_that_hold_a_value():
    cells = tableCells(TABLE.replace("6.81x (6.74-6.89)", "-"))
    assert cells == {
        "tiered-10": {"scale", "sequential median", "tiered"},
        "breaker-closed-sync": {"scale", "bare median", "breaker median", "speedup"},
        "breaker-open-sync": {"scale", "bare median", "breaker median", "speedup"},
    }
    assert tableCells("# the committed table\n") == {}
    assert tableCells("| a | b |\n| --- | --- |\n| 1 | 2 |\n") == {}  # not a pair table


def test_the_same_table_or_a_fuller_one_replaces_freely():
    assert replaceProblem(TABLE, TABLE, quick=False) is None
    fuller = TABLE + "| breaker-open-async | 2000 | 1 us | 2 us | 0.50x |\n"
    assert replaceProblem(TABLE, fuller, quick=False) is None
    assert replaceProblem("# not a table\n", "", quick=True) is None


def test_a_run_lacking_pairs_says_which():
    breakerOnly = TABLE.replace("| tiered-10 |", "| nothing |")
    assert replaceProblem(TABLE, breakerOnly, quick=False) == "lacks 1 of its 3 pairs (tiered-10)"


def test_a_run_lacking_a_variant_says_which_column():
    thinner = TABLE.replace("6.81x (6.74-6.89)", "-")
    assert replaceProblem(TABLE, thinner, quick=False) == (
        "lacks columns of 1 pair (tiered-10: threads)"
    )


def test_a_quick_run_over_a_full_table_says_so_but_over_a_quick_table_does_not():
    problem = replaceProblem(TABLE, TABLE, quick=True, selection="-k breaker")
    assert problem == "was measured with quick rounds (--bench-quick -k breaker)"
    quickTable = TABLE.replace("(0001_baseline.json)", "(0002_x.json, quick rounds)")
    assert isQuickTable(quickTable) and not isQuickTable(TABLE)
    assert replaceProblem(quickTable, TABLE, quick=True) is None


def test_many_missing_pairs_are_listed_then_counted():
    rows = "".join(f"| p-{i} | 1 | 1 s | 1 s | 1.00x |\n" for i in range(9))
    old = "| pair | scale | a | b | speedup |\n| :--- | ---: | ---: | ---: | ---: |\n" + rows
    assert replaceProblem(old, "", quick=False) == (
        "lacks 9 of its 9 pairs (p-0, p-1, p-2, p-3, p-4 and 4 more)"
    )


def test_the_run_records_its_rounds_and_selection_and_an_old_run_reads_as_full():
    run = {RUN_INFO: runInfo(quick=True, selection="-k breaker"), "benchmarks": []}
    assert isQuickRun(run) and runSelection(run) == "-k breaker"
    assert not isQuickRun({"benchmarks": []}) and runSelection({"benchmarks": []}) == ""
    assert not isQuickRun({RUN_INFO: {"quick": "yes"}})  # only a real True counts
    assert tableTitle("0002_x.json", quick=True) == "Speedups (0002_x.json, quick rounds)"


# --- the command line -------------------------------------------------------------------------


@pytest.fixture
def committed(tmp_path, monkeypatch):
    """results/<machine>/0001_full.json and the results/SPEEDUPS.md it made; cwd = tmp."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "results" / MACHINE
    folder.mkdir(parents=True)
    full = folder / "0001_full.json"
    full.write_bytes(FIXTURE.read_bytes())
    assert report.main([str(full)]) == 0
    table = tmp_path / "results" / "SPEEDUPS.md"
    assert "## pipeline" in table.read_text(encoding="utf-8")
    return table


def _saveRun(name: str, *, keep: str = "", quick: bool = False, selection: str = "") -> Path:
    run = json.loads(FIXTURE.read_text(encoding="utf-8"))
    run["benchmarks"] = [
        b for b in run["benchmarks"] if b["extra_info"].get("pair", "").startswith(keep)
    ]
    if quick or selection:
        run[RUN_INFO] = runInfo(quick=quick, selection=selection)
    path = Path("results") / MACHINE / name
    path.write_text(json.dumps(run), encoding="utf-8")
    return path


def test_a_quick_partial_newest_run_does_not_replace_the_committed_table(committed, capsys):
    before = committed.read_bytes()
    capsys.readouterr()
    _saveRun("0002_x.json", keep="breaker", quick=True, selection="-k breaker")
    assert report.main([]) == 2
    captured = capsys.readouterr()
    assert committed.read_bytes() == before
    assert captured.err == (
        PROG + "error: not replacing results/SPEEDUPS.md: 0002_x.json was measured with quick "
        "rounds (--bench-quick -k breaker) and lacks 6 of its 8 pairs (fanout-15, pipeline-12, "
        "pipeline-24, pipeline-48, tiered-10 and 1 more); write its tables elsewhere with "
        "--output FILE, or replace the table anyway with --force\n"
    )
    assert captured.out.startswith("# Speedups (0002_x.json, quick rounds)")  # still shown


def test_a_full_run_that_lacks_pairs_is_refused_too(committed, capsys):
    _saveRun("0002_partial.json", keep="pipeline", selection="-k pipeline")
    assert report.main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "lacks 5 of its 8 pairs (breaker-closed-sync, " in err
    assert "(selected with -k pipeline)" in err and "quick" not in err


def test_force_replaces_and_output_writes_elsewhere(committed, capsys):
    run = _saveRun("0002_x.json", keep="breaker", quick=True)
    assert report.main([str(run), "--output", "results/breaker.md"]) == 0
    assert "## breaker" in Path("results/breaker.md").read_text(encoding="utf-8")
    assert "## pipeline" in committed.read_text(encoding="utf-8")
    assert report.main([str(run), "--force"]) == 0
    table = committed.read_text(encoding="utf-8")
    assert table.startswith("# Speedups (0002_x.json, quick rounds)")
    assert "## pipeline" not in table


def test_a_quick_run_of_every_pair_is_refused_but_replaces_a_quick_table(committed, capsys):
    run = _saveRun("0002_quick.json", quick=True)
    assert report.main([str(run)]) == 2
    assert "was measured with quick rounds (--bench-quick);" in capsys.readouterr().err
    assert report.main([str(run), "--force"]) == 0
    again = _saveRun("0003_quick.json", quick=True)
    assert report.main([str(again)]) == 0  # quick over quick loses nothing
    assert committed.read_text(encoding="utf-8").startswith("# Speedups (0003_quick.json, quick")


def test_check_runs_and_reports_a_regression_before_the_rule(committed, capsys):
    slower = json.loads(FIXTURE.read_text(encoding="utf-8"))
    for bench in slower["benchmarks"]:
        if bench["extra_info"].get("variant") == "correct":
            bench["stats"]["median"] *= 2
    slower["benchmarks"] = [b for b in slower["benchmarks"] if "pipeline" in str(b)]
    Path("slow.json").write_text(json.dumps(slower), encoding="utf-8")
    base = f"results/{MACHINE}/0001_full.json"
    argv = ["slow.json", "--baseline", base, "--check", "--only", "pipeline-*"]
    assert report.main([*argv, "--output", str(committed)]) == 1
    assert "REGRESSION pipeline-12" in capsys.readouterr().err
    inode = committed.stat().st_ino
    assert report.main([base, "--baseline", base, "--check", "--output", str(committed)]) == 0
    assert committed.stat().st_ino != inode  # a full run that passes is written (renamed in)
