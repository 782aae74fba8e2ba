"""The speedup report: exact numbers from the checked-in pytest-benchmark fixture.

The fixture is in the format the bench writes: every paired benchmark names its pair's reference
(``extra_info['reference']``), and fan-out's extra column is declared (``columns``).
"""

import copy
import json
import math
import os
import statistics
import sys
import types
from pathlib import Path

import pytest

from lecture31 import report
from lecture31.report import PairResult, ReportError, VariantResult, pairs

FIXTURE = Path(__file__).parent.parent / "fixtures" / "run_small.json"


@pytest.fixture
def run():
    return report.loadRun(FIXTURE)


@pytest.fixture
def results(run):
    return report.pairResults(run)


def _byPair(results):
    return {r.pair: r for r in results}


def _writeRun(path, run):
    path.write_text(json.dumps(run), encoding="utf-8")
    return path


def _scaleFast(run, pair, factor):
    """A copy of ``run`` whose fast variant of ``pair`` is ``factor`` times slower."""
    changed = copy.deepcopy(run)
    for bench in changed["benchmarks"]:
        info = bench["extra_info"]
        if info.get("pair") == pair and info["variant"] != info["reference"]:
            bench["stats"]["median"] *= factor
    return changed


# --- maths ----------------------------------------------------------------------------------


def test_pairs_are_grouped_from_extra_info_and_unpaired_benchmarks_are_ignored(results):
    assert [r.pair for r in results] == [
        "tiered-10",
        "tiered-40",
        "pipeline-12",
        "pipeline-24",
        "pipeline-48",
        "fanout-15",
        "breaker-closed-sync",
        "breaker-open-async",
    ]


def test_speedup_is_slow_time_over_fast_time(results):
    tiered = _byPair(results)["tiered-10"]
    assert (tiered.referenceName, tiered.variantName) == ("sequential", "tiered")
    assert tiered.speedup == pytest.approx(0.8 / 0.11)
    assert _byPair(results)["pipeline-48"].speedup == pytest.approx(7.0)


def test_ideal_speedup_and_efficiency_come_from_the_critical_path_bound(results):
    pipeline = _byPair(results)["pipeline-12"]
    assert pipeline.idealSpeedup == pytest.approx(0.36 / 0.14)
    assert pipeline.efficiency == pytest.approx(0.14 / 0.15)
    assert pipeline.efficiency == pytest.approx(pipeline.speedup / pipeline.idealSpeedup)


def test_pairs_without_a_bound_have_no_ideal_or_efficiency(results):
    fanout = _byPair(results)["fanout-15"]
    assert fanout.idealSpeedup is None
    assert fanout.efficiency is None
    shards = [v.columns["shards responded"] for v in fanout.variants]
    assert shards == [4.4, 5.6]


def test_breaker_overhead_is_the_extra_time_per_call(results):
    assert _byPair(results)["breaker-closed-sync"].overheadPerCall == pytest.approx(0.3e-6)
    assert _byPair(results)["breaker-open-async"].comparison == "breaker"


def test_comparison_name_is_the_pair_without_its_scale(results):
    assert {r.comparison for r in results} == {"tiered", "pipeline", "fanout", "breaker"}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(3.2, "3.200 s"), (0.11, "110.0 ms"), (4.7e-4, "470.00 us"), (3e-7, "300 ns")],
)
def test_durations_are_printed_with_a_readable_unit(seconds, text):
    assert report.formatSeconds(seconds) == text


def test_speedups_can_divide_minimums_instead_of_medians(run):
    # The fixture's rounds span median +- 2%, so min = 0.98 x median for every benchmark.
    byMin = _byPair(report.pairResults(run, "min"))
    assert byMin["tiered-10"].referenceSeconds == pytest.approx(0.8 * 0.98)
    assert byMin["tiered-10"].speedup == pytest.approx(0.8 / 0.11)
    assert byMin["tiered-10"].stat == "min"


def test_unknown_statistic_is_rejected(run):
    with pytest.raises(ReportError, match="stat must be one of median, min, mean"):
        report.pairResults(run, "p99")


# --- rendering ------------------------------------------------------------------------------


def test_markdown_has_one_table_per_comparison_with_exact_rows(results):
    markdown = report.renderMarkdown(results)
    assert [line for line in markdown.splitlines() if line.startswith("## ")] == [
        "## tiered",
        "## pipeline",
        "## fanout",
        "## breaker",
    ]
    assert "| tiered-10 | 10 | 800.0 ms | 110.0 ms | 7.27x | 8.00x | 0.91 |" in markdown
    assert "| tiered-40 | 40 | 3.200 s | 400.0 ms | 8.00x | 10.00x | 0.80 |" in markdown
    assert "| pipeline-12 | 12 | 360.0 ms | 150.0 ms | 2.40x | 2.57x | 0.93 |" in markdown
    assert "| pipeline-24 | 24 | 600.0 ms | 160.0 ms | 3.75x | 4.14x | 0.91 |" in markdown
    assert "| pipeline-48 | 48 | 1.120 s | 160.0 ms | 7.00x | 7.47x | 0.94 |" in markdown
    assert "| fanout-15 | 15 | 7.500 s | 12.500 s | 0.60x | 4.40 / 5.60 |" in markdown
    # A per-call pair is an overhead: the breaker takes 4x the bare call's time, not "0.25x".
    assert (
        "| breaker-closed-sync | 1000 | 100.00 us | 400.00 us | 4.00x | 1000 | 100 ns | 400 ns "
        "| 300 ns |" in markdown
    )
    assert "| breaker / bare time (overhead) |" in markdown


def test_markdown_headers_name_the_variants(results):
    markdown = report.renderMarkdown(results)
    assert (
        "| pair | scale | naive median | correct median | speedup | ideal speedup | efficiency |"
        in markdown
    )


def test_plot_series_cover_comparisons_measured_at_several_scales(results):
    series = report.plotSeries(results)
    assert set(series) == {"tiered", "pipeline"}  # breaker pairs share one scale
    assert series["pipeline"]["scale"] == [12.0, 24.0, 48.0]
    assert series["pipeline"]["speedup"] == pytest.approx([2.4, 3.75, 7.0])
    assert series["pipeline"]["ideal"] == pytest.approx([0.36 / 0.14, 0.6 / 0.145, 1.12 / 0.15])


# --- the regression check -------------------------------------------------------------------


def test_unchanged_run_passes_the_check(results):
    assert report.checkRegressions(results, results, 0.15) == []


def test_thirty_percent_slower_fast_variant_is_caught_at_tolerance_015(run, results):
    slower = report.pairResults(_scaleFast(run, "pipeline-48", 1.3))
    [regression] = report.checkRegressions(slower, results, 0.15)
    assert regression.pair == "pipeline-48"
    assert regression.baselineSpeedup == pytest.approx(7.0)
    assert regression.runSpeedup == pytest.approx(7.0 / 1.3)


def test_thirty_percent_slowdown_slips_through_the_default_tolerance(run, results):
    # 1 - 1/1.3 = 23% < 25%: why CI passes a tighter tolerance.
    slower = report.pairResults(_scaleFast(run, "pipeline-48", 1.3))
    assert report.checkRegressions(slower, results) == []


def test_only_patterns_restrict_which_pairs_are_checked(run, results):
    slower = report.pairResults(_scaleFast(run, "tiered-10", 2.0))
    assert report.checkRegressions(slower, results, 0.15, only=["pipeline-*"]) == []
    assert len(report.checkRegressions(slower, results, 0.15, only=["tiered-*"])) == 1


def test_pair_missing_from_the_run_is_an_error_not_a_pass(results):
    partial = [r for r in results if r.pair != "pipeline-24"]
    with pytest.raises(ReportError, match="missing from the run: pipeline-24"):
        report.checkRegressions(partial, results, 0.15)


def test_tolerance_outside_zero_to_one_is_rejected(results):
    with pytest.raises(ReportError, match="tolerance must be in"):
        report.checkRegressions(results, results, 1.5)


def test_regression_message_names_the_pair_and_both_speedups():
    text = str(report.Regression("pipeline-48", 7.0, 5.0, 0.15))
    assert text.startswith("pipeline-48: speedup 5.00x is 29% below the baseline's 7.00x")
    assert "floor 5.95x" in text


# --- bad input ------------------------------------------------------------------------------


def test_missing_file_is_a_report_error(tmp_path):
    with pytest.raises(ReportError, match="cannot read"):
        report.loadRun(tmp_path / "nope.json")


def test_malformed_json_is_a_report_error_naming_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ReportError, match=r"bad\.json is not valid JSON"):
        report.loadRun(bad)


def test_json_without_benchmarks_is_not_a_run(tmp_path):
    with pytest.raises(ReportError, match="not a pytest-benchmark run"):
        report.loadRun(_writeRun(tmp_path / "x.json", {"hello": 1}))


def test_pair_with_an_unknown_variant_names_the_pair(run):
    broken = copy.deepcopy(run)
    broken["benchmarks"][0]["extra_info"]["variant"] = "turbo"
    with pytest.raises(
        ReportError, match=r"pair 'tiered-10' has no .* \(variants: tiered, turbo\)"
    ):
        report.pairResults(broken)


def test_non_numeric_median_names_the_benchmark(run):
    broken = copy.deepcopy(run)
    broken["benchmarks"][0]["stats"]["median"] = "fast"
    with pytest.raises(ReportError, match=r"stats\.median is 'fast'"):
        report.pairResults(broken)


def test_zero_median_is_rejected_rather_than_dividing_by_it(run):
    broken = copy.deepcopy(run)
    broken["benchmarks"][1]["stats"]["median"] = 0
    with pytest.raises(ReportError, match="expected a positive number"):
        report.pairResults(broken)


def test_newest_run_is_the_most_recently_written(tmp_path):
    machine = tmp_path / "Linux-CPython-3.11-64bit"
    machine.mkdir()
    old = _writeRun(machine / "0001_old.json", {"benchmarks": []})
    new = _writeRun(machine / "0002_new.json", {"benchmarks": []})
    os.utime(old, ns=(2_000_000_000, 2_000_000_000))
    os.utime(new, ns=(3_000_000_000, 3_000_000_000))
    assert report.newestRun(tmp_path) == new


def test_no_runs_at_all_says_how_to_make_one(tmp_path):
    with pytest.raises(ReportError, match="--benchmark-save"):
        report.newestRun(tmp_path)


# --- command line ---------------------------------------------------------------------------


def test_cli_prints_and_writes_the_tables(tmp_path, capsys):
    output = tmp_path / "SPEEDUPS.md"
    assert report.main([str(FIXTURE), "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "| pipeline-48 | 48 | 1.120 s | 160.0 ms | 7.00x | 7.47x | 0.94 |" in printed
    assert output.read_text(encoding="utf-8") + "\n" == printed


def test_cli_default_is_the_newest_run_and_speedups_md_under_results(tmp_path, capsys):
    machine = tmp_path / "Linux-CPython-3.11-64bit"
    machine.mkdir()
    (machine / "0001_base.json").write_bytes(FIXTURE.read_bytes())
    assert report.main(["--results", str(tmp_path)]) == 0
    assert "## pipeline" in (tmp_path / "SPEEDUPS.md").read_text(encoding="utf-8")
    assert "0001_base.json" in capsys.readouterr().out


def test_cli_check_exits_1_naming_the_pair_and_both_numbers(run, tmp_path, capsys):
    slower = _writeRun(tmp_path / "slow.json", _scaleFast(run, "pipeline-48", 1.3))
    argv = [str(slower), "--baseline", str(FIXTURE), "--check", "--tolerance", "0.15"]
    assert report.main([*argv, "--output", "-"]) == 1
    err = capsys.readouterr().err
    assert "REGRESSION pipeline-48: speedup 5.38x" in err
    assert "baseline's 7.00x" in err


def test_cli_stat_min_labels_the_columns_and_checks_by_minimum(run, tmp_path, capsys):
    # Only the slowest rounds got slower: the minimum (the least disturbed round) is unchanged.
    noisy = copy.deepcopy(run)
    for bench in noisy["benchmarks"]:
        bench["stats"]["median"] *= 1.0 if bench["extra_info"].get("variant") != "correct" else 1.4
    path = _writeRun(tmp_path / "noisy.json", noisy)
    argv = [str(path), "--baseline", str(FIXTURE), "--check", "--tolerance", "0.15"]
    assert report.main([*argv, "--output", "-", "--stat", "min"]) == 0
    assert "| pair | scale | naive min | correct min |" in capsys.readouterr().out
    assert report.main([*argv, "--output", "-"]) == 1


def test_cli_check_passes_on_an_unchanged_run(capsys):
    argv = [str(FIXTURE), "--baseline", str(FIXTURE), "--check", "--output", "-"]
    assert report.main(argv) == 0
    out = capsys.readouterr().out
    assert "check passed" in out
    # run_small.json kept no rounds: each verdict says it decided on the point.
    assert "gate: ok   pipeline-48: 7.00x (no rounds) against the baseline's 7.00x" in out


def test_cli_check_without_baseline_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        report.main([str(FIXTURE), "--check"])
    assert exit_info.value.code == 2
    assert "--check needs --baseline" in capsys.readouterr().err


def test_cli_malformed_json_is_one_clear_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2", encoding="utf-8")
    assert report.main([str(bad), "--output", "-"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m lecture31.report: error:")
    assert "Traceback" not in err


def test_cli_plot_without_matplotlib_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    argv = [str(FIXTURE), "--output", "-", "--plot", str(tmp_path / "s.png")]
    assert report.main(argv) == 2
    assert "pip install -e '.[plot]'" in capsys.readouterr().err


class _FakeAxes:
    def __init__(self):
        self.title, self.lines, self.errorbars, self.bars = None, [], [], []

    def plot(self, xs, ys, *args, **kwargs):
        self.lines.append((list(xs), list(ys), kwargs.get("label")))

    def errorbar(self, xs, ys, *args, yerr=None, **kwargs):
        self.errorbars.append((list(xs), list(ys), yerr, kwargs.get("label")))

    def bar(self, xs, heights, width, *args, yerr=None, **kwargs):
        self.bars.append((list(xs), list(heights), yerr, kwargs.get("label")))

    def set_title(self, title):
        self.title = title

    def __getattr__(self, name):  # set_xlabel, set_ylim, legend: nothing to check
        return lambda *args, **kwargs: None


def _fakeMatplotlib(monkeypatch):
    """A stand-in for matplotlib (an optional extra CI does not install) that records calls."""
    drawn = {"axes": [], "saved": None, "backend": None}

    def savefig(path, **kwargs):
        drawn["saved"] = path
        Path(path).write_bytes(b"fake image")

    figure = types.SimpleNamespace(tight_layout=lambda: None, savefig=savefig)

    def subplots(rows, cols, **kwargs):
        drawn["axes"] = [_FakeAxes() for _ in range(rows * cols)]
        return figure, [drawn["axes"][row * cols : (row + 1) * cols] for row in range(rows)]

    pyplot = types.ModuleType("matplotlib.pyplot")
    pyplot.subplots, pyplot.close = subplots, lambda fig: None
    matplotlib = types.ModuleType("matplotlib")
    matplotlib.use = lambda backend: drawn.__setitem__("backend", backend)
    matplotlib.pyplot = pyplot
    monkeypatch.setitem(sys.modules, "matplotlib", matplotlib)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", pyplot)
    return drawn


def test_cli_plot_draws_measured_and_ideal_speedup_per_scaled_comparison(monkeypatch, tmp_path):
    drawn = _fakeMatplotlib(monkeypatch)
    target = tmp_path / "s.png"
    assert report.main([str(FIXTURE), "--output", "-", "--plot", str(target)]) == 0
    assert drawn["backend"] == "Agg"  # headless: CI has no display
    assert target.read_bytes() == b"fake image"  # drawn beside it, then renamed into place
    assert sorted(tmp_path.iterdir()) == [target]
    # The scaled comparisons as lines, then the others as bars: every comparison, in rows of 3.
    assert [ax.title for ax in drawn["axes"]] == ["tiered", "pipeline", "fanout", "breaker"] + [
        None
    ] * 2
    pipeline = drawn["axes"][1]
    [measured] = pipeline.errorbars
    [ideal] = pipeline.lines
    assert measured[0] == [12.0, 24.0, 48.0]
    assert measured[1] == pytest.approx([2.4, 3.75, 7.0])
    assert measured[2] == [[0.0] * 3, [0.0] * 3]  # this run kept no rounds: no interval to draw
    assert measured[3] == "measured (95% interval)"
    assert ideal[2] == "ideal (critical path)"


def test_pair_result_is_immutable():
    result = PairResult(
        "tiered", "tiered-10", 10, VariantResult("sequential", 0.8), (VariantResult("tiered", 0.1),)
    )
    with pytest.raises(AttributeError):
        result.pair = "tiered-40"  # type: ignore[misc]


# --- the current format: a named reference, more than two variants ---------------------------


def _tierMatrix(run):
    """The fixture plus a three-variant pair per tiered scale: threads only, processes only,
    both (``tiered``), against ``sequential``."""
    current = copy.deepcopy(run)
    extra = []
    for bench in current["benchmarks"]:
        info = bench["extra_info"]
        if info.get("variant") == "tiered":
            for variant, factor, ideal in (("threads", 3.0, 4.0), ("processes", 2.0, None)):
                twin = copy.deepcopy(bench)
                twin["fullname"] += f"-{variant}"
                twin["extra_info"] = dict(info, variant=variant)
                twin["extra_info"].pop("idealSeconds", None)
                if ideal is not None:
                    twin["extra_info"]["idealSpeedup"] = ideal
                twin["stats"]["median"] *= factor
                extra.append(twin)
    current["benchmarks"] += extra
    return current


def test_a_benchmark_that_names_no_reference_is_an_error_naming_it(run):
    current = copy.deepcopy(run)
    del current["benchmarks"][1]["extra_info"]["reference"]
    with pytest.raises(
        ReportError, match=r"test_tiered\[tiered-10\]': extra_info.reference is None"
    ):
        report.pairResults(current)


def test_the_reference_is_whatever_the_benchmarks_name(run):
    # Name the tiered variant as the reference: the speedup turns over.
    current = copy.deepcopy(run)
    for bench in current["benchmarks"]:
        if bench["extra_info"].get("pair") == "tiered-10":
            bench["extra_info"]["reference"] = "tiered"
    tiered = _byPair(report.pairResults(current))["tiered-10"]
    assert (tiered.referenceName, tiered.variantName) == ("tiered", "sequential")
    assert tiered.speedup == pytest.approx(0.11 / 0.8)


def test_a_pair_whose_benchmarks_name_different_references_is_an_error(run):
    current = copy.deepcopy(run)
    current["benchmarks"][0]["extra_info"]["reference"] = "tiered"
    with pytest.raises(ReportError, match="pair 'tiered-10': its benchmarks name different"):
        report.pairResults(current)


def test_a_pair_without_its_reference_benchmark_is_an_error_naming_both(run):
    current = copy.deepcopy(run)
    del current["benchmarks"][0]  # tiered-10 sequential
    with pytest.raises(ReportError, match="'tiered-10' has no benchmark of its reference variant"):
        report.pairResults(current)


def test_partial_pairing_leaves_incomplete_pairs_out(run):
    current = copy.deepcopy(run)
    del current["benchmarks"][0]
    pairs = [r.pair for r in report.pairResults(current, partial=True)]
    assert "tiered-10" not in pairs and "tiered-40" in pairs


def test_a_pair_with_three_variants_keeps_the_reference_first_and_the_rest_in_run_order(run):
    tiered = _byPair(report.pairResults(_tierMatrix(run)))["tiered-10"]
    assert [v.variant for v in tiered.variants] == ["sequential", "tiered", "threads", "processes"]
    assert tiered.speedupOf("threads") == pytest.approx(0.8 / 0.33)
    assert tiered.idealSpeedupOf("threads") == 4.0  # stated, not derived
    assert tiered.idealSpeedupOf("processes") is None
    assert tiered.efficiencyOf("threads") == pytest.approx((0.8 / 0.33) / 4.0)


def test_pairs_with_more_than_two_variants_render_as_a_matrix(run):
    markdown = report.renderMarkdown(report.pairResults(_tierMatrix(run)))
    section = markdown[markdown.index("## tiered") : markdown.index("## pipeline")]
    assert "| pair | scale | sequential median | tiered | threads | processes |" in section
    assert (
        "| tiered-10 | 10 | 800.0 ms | 7.27x (ideal 8.00x) | 2.42x (ideal 4.00x) | 3.64x |"
        in section
    )
    # Other comparisons keep their two-variant table.
    assert "| pipeline-48 | 48 | 1.120 s | 160.0 ms | 7.00x | 7.47x | 0.94 |" in markdown


def test_matrices_plot_as_grouped_bars_and_not_as_lines(run):
    results = report.pairResults(_tierMatrix(run))
    assert set(report.plotSeries(results)) == {"pipeline"}
    bars = report.plotBars(results)["tiered"]
    assert bars.pairs == ["tiered-10", "tiered-40"]
    assert bars.reference == "sequential"
    assert list(bars.speedup) == ["tiered", "threads", "processes"]
    assert bars.speedup["processes"] == pytest.approx([0.8 / 0.22, 3.2 / 0.8])
    assert bars.ideal["threads"] == [4.0, 4.0]


def test_the_check_covers_every_variant_and_names_the_one_that_fell(run):
    baseline = report.pairResults(_tierMatrix(run))
    slower = _tierMatrix(run)
    for bench in slower["benchmarks"]:
        if bench["extra_info"].get("variant") == "processes":
            bench["stats"]["median"] *= 1.5
    regressions = report.checkRegressions(report.pairResults(slower), baseline, 0.15)
    assert [(r.pair, r.variant) for r in regressions] == [
        ("tiered-10", "processes"),
        ("tiered-40", "processes"),
    ]
    assert str(regressions[0]).startswith("tiered-10/processes: speedup 2.42x is 33% below")


def test_a_variant_missing_from_the_run_is_an_error_not_a_pass(run):
    baseline = report.pairResults(_tierMatrix(run))
    partial = _tierMatrix(run)
    partial["benchmarks"] = [
        b
        for b in partial["benchmarks"]
        if b["fullname"] != "bench/test_x.py::test_tiered[tiered-10]-threads"
    ]
    with pytest.raises(ReportError, match="'tiered-10': variants in the baseline but missing"):
        report.checkRegressions(report.pairResults(partial), baseline, 0.15)


def test_speedup_changes_put_the_compared_runs_speedup_beside_this_one(run, results):
    faster = report.pairResults(_scaleFast(run, "pipeline-48", 0.5))
    changes = {c.pair: c for c in report.speedupChanges(faster, results)}
    assert changes["pipeline-48"].speedup == pytest.approx(14.0)
    assert changes["pipeline-48"].comparedSpeedup == pytest.approx(7.0)
    assert changes["pipeline-48"].change == pytest.approx(1.0)
    assert changes["tiered-10"].change == pytest.approx(0.0)
    lines = report.renderSummary(list(changes.values())[:1], compared="0001_base.json")
    assert lines == [
        "speedups now, and in 0001_base.json:",
        "tiered-10 tiered    7.27x over sequential (ideal 8.00x), was 7.27x (+0%)",
    ]


def test_a_pair_the_compared_run_lacks_is_said_so():
    one = PairResult("x", "x-1", 1, VariantResult("a", 2.0), (VariantResult("b", 1.0),))
    [change] = report.speedupChanges([one], [])
    assert change.comparedSpeedup is None and change.change is None
    assert report.renderSummary([change], compared="old.json")[1].endswith(
        "2.00x over a, not in the compared run"
    )


def test_cli_plot_draws_a_matrix_as_bars_beside_the_scaled_lines(monkeypatch, tmp_path, run):
    drawn = _fakeMatplotlib(monkeypatch)
    matrix = _writeRun(tmp_path / "matrix.json", _tierMatrix(run))
    target = tmp_path / "s.svg"
    assert report.main([str(matrix), "--output", "-", "--plot", str(target)]) == 0
    titles = [ax.title for ax in drawn["axes"]]
    assert titles == ["pipeline", "tiered", "fanout", "breaker", None, None]  # lines, then bars
    tiered = drawn["axes"][1]
    assert [label for *_, label in tiered.bars] == ["tiered", "threads", "processes"]
    assert tiered.lines[0][2] is None  # the ideal ticks of the first variant
    assert target.read_bytes() == b"fake image"


# --- the writer's half of the format ---------------------------------------------------------


def test_extra_info_is_written_with_the_reference_and_checked():
    from lecture31.report.records import FormatError, extraInfo

    info = extraInfo(pair="p-1", variant="b", scale=1, reference="a", calls=10)
    assert info == {"pair": "p-1", "variant": "b", "scale": 1, "reference": "a", "calls": 10}
    with pytest.raises(FormatError, match="reference must be a non-empty string"):
        extraInfo(pair="p-1", variant="b", scale=1, reference="")
    with pytest.raises(FormatError, match="scale must be an int >= 1, got True"):
        extraInfo(pair="p-1", variant="b", scale=True, reference="a")
    with pytest.raises(FormatError, match="columns must map column labels"):
        extraInfo(pair="p-1", variant="b", scale=1, reference="a", columns={"x": 3})


# --- intervals from the rounds (stats.data) and the gate's decision -------------------------

STATS_FIXTURE = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "stats_rounds.json").read_text(encoding="utf-8")
)
PAIRS_OF_FIXTURE = {"pipeline-48": ("naive", "correct"), "tiered-10": ("sequential", "tiered")}


def _roundsBench(pair, variant, reference, rounds, **extra):
    """A benchmark entry whose stats are computed from ``rounds``, as pytest-benchmark does."""
    ordered = sorted(rounds)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return {
        "name": f"test_{variant}[{pair}]",
        "fullname": f"bench/test_x.py::test_{variant}[{pair}]",
        "extra_info": {"pair": pair, "variant": variant, "reference": reference, "scale": 1}
        | extra,
        "stats": {
            "min": ordered[0],
            "median": median,
            "mean": sum(rounds) / len(rounds),
            "rounds": len(rounds),
            "data": list(rounds),
        },
    }


def _roundsRun(host="baseline-host", fastFactor=1.0):
    """pipeline-48 and tiered-10 with the per-round seconds of tests/fixtures/stats_rounds.json."""
    benchmarks = []
    for pair, (slow, fast) in PAIRS_OF_FIXTURE.items():
        rounds = STATS_FIXTURE["runs"][f"{pair} {host}"]
        benchmarks.append(_roundsBench(pair, slow, slow, rounds["slowRounds"]))
        stretched = [s * fastFactor for s in rounds["fastRounds"]]
        benchmarks.append(_roundsBench(pair, fast, slow, stretched))
    return {"benchmarks": benchmarks}


def _expectedText(pair, stat, host="baseline-host"):
    [row] = [
        e
        for e in STATS_FIXTURE["expected"]
        if e["run"] == f"{pair} {host}" and e["stat"] == stat and not e["paired"]
    ]
    return row["text"]


@pytest.mark.parametrize("stat", ["median", "min"])
@pytest.mark.parametrize("host", ["baseline-host", "other-host"])
def test_the_table_prints_each_speedup_with_the_fixtures_exact_interval(stat, host):
    markdown = report.renderMarkdown(report.pairResults(_roundsRun(host), stat))
    for pair in PAIRS_OF_FIXTURE:
        [row] = [line for line in markdown.splitlines() if line.startswith(f"| {pair} |")]
        assert f"| {_expectedText(pair, stat, host)} |" in row


def test_the_same_run_always_prints_the_same_text():
    first = report.renderMarkdown(report.pairResults(_roundsRun()))
    pairs._cachedInterval.cache_clear()
    assert report.renderMarkdown(report.pairResults(_roundsRun())) == first


def test_a_matrix_prints_an_interval_for_every_variant():
    rounds = STATS_FIXTURE["runs"]["pipeline-48 baseline-host"]
    run = {
        "benchmarks": [
            _roundsBench("pipeline-48", "naive", "naive", rounds["slowRounds"]),
            _roundsBench("pipeline-48", "correct", "naive", rounds["fastRounds"]),
            # Twice the time every round: the same resamples, so exactly half of every ratio.
            _roundsBench("pipeline-48", "half", "naive", [2 * s for s in rounds["fastRounds"]]),
        ]
    }
    markdown = report.renderMarkdown(report.pairResults(run))
    assert "| pipeline-48 | 1 | 1.119 s | 6.23x (6.11-6.37) | 3.11x (3.06-3.18) |" in markdown


def test_a_run_without_rounds_prints_and_checks_the_point(results):
    # run_small.json predates stats.data: no interval anywhere, and the old one-number rule.
    assert all(r.intervalOf(v.variant) is None for r in results for v in r.others)
    assert "| tiered-10 | 10 | 800.0 ms | 110.0 ms | 7.27x |" in report.renderMarkdown(results)


def test_when_only_one_variant_kept_its_rounds_the_pair_falls_back_to_the_point():
    run = _roundsRun()
    del run["benchmarks"][0]["stats"]["data"]
    [pipeline, tiered] = report.pairResults(run)
    assert pipeline.intervalOf("correct") is None
    assert pipeline.speedupText("correct") == "6.23x"
    assert tiered.speedupText("tiered") == "6.88x (6.85-6.92)"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("fast", "stats.data is str"),
        ([], "stats.data is list with no rounds"),
        ([0.1, "x", 0.1], "stats.data[1] is 'x', expected positive seconds"),
        ([0.1, -0.1, 0.1], "stats.data[1] is -0.1"),
        ([0.1, float("nan"), 0.1], "stats.data[1] is nan"),
        ([0.1, True, 0.1], "stats.data[1] is True"),
        ([0.1, 0.1], "stats.data holds 2 rounds but stats.rounds is 3"),
        ([0.1, 0.2, 0.3], "the median of stats.data is 0.2 but stats.median is 0.1"),
    ],
)
def test_bad_round_data_is_a_report_error_naming_the_benchmark(data, words):
    bench = _roundsBench("tiny-1", "slow", "slow", [0.1, 0.1, 0.1])
    bench["stats"]["data"] = data
    with pytest.raises(ReportError) as caught:
        report.parseBenchmarks({"benchmarks": [bench]})
    assert str(caught.value).startswith("benchmark 'bench/test_x.py::test_slow[tiny-1]': ")
    assert words in str(caught.value)


def test_the_gate_fails_a_fifteen_percent_slowdown_whose_whole_interval_is_below_the_floor():
    baseline = report.pairResults(_roundsRun(), "min")
    slowed = report.pairResults(_roundsRun(fastFactor=1.15), "min")
    [regression, _] = report.checkRegressions(slowed, baseline, 0.10)
    assert regression.pair == "pipeline-48"
    assert regression.interval is not None
    assert regression.interval.high < regression.floor
    text = str(regression)
    assert text.startswith(f"pipeline-48: speedup {regression.interval} is ")
    assert "below the baseline's 6.26x; the whole interval is below the floor " in text
    assert "floor 5.63x (tolerance 10%)" in text


def test_the_gate_passes_a_low_point_whose_interval_still_reaches_the_floor():
    baseline = report.pairResults(_roundsRun())
    rounds = STATS_FIXTURE["runs"]["pipeline-48 baseline-host"]["slowRounds"]
    # Widely spread fast rounds: the median round is below the floor, the quick ones are not.
    spread = [0.17, 0.18, 0.19, 0.22, 0.23, 0.24, 0.25]
    run = {
        "benchmarks": [
            _roundsBench("pipeline-48", "naive", "naive", rounds),
            _roundsBench("pipeline-48", "correct", "naive", spread),
        ]
    }
    [now] = report.pairResults(run)
    [verdict] = report.gateDecisions([now], baseline, 0.18, only=["pipeline-*"])
    assert now.speedup < verdict.decision.floor <= now.intervalOf("correct").high
    assert not verdict.failed
    assert report.checkRegressions([now], baseline, 0.18, only=["pipeline-*"]) == []
    assert str(verdict) == (
        f"ok   pipeline-48: {now.intervalOf('correct')} against the baseline's 6.23x, floor 5.11x"
    )


def test_a_baseline_without_rounds_is_compared_by_its_point():
    # The run's rounds give the interval; the baseline only ever contributes its point.
    old = _roundsRun()
    for bench in old["benchmarks"]:
        del bench["stats"]["data"]
    baseline = report.pairResults(old)
    slowed = report.pairResults(_roundsRun(fastFactor=1.15))
    verdicts = report.gateDecisions(slowed, baseline, 0.10)
    assert [v.failed for v in verdicts] == [True, True]
    assert [v.decision.baselineSpeedup for v in verdicts] == [r.speedup for r in baseline]
    assert all(v.decision.interval.low < v.decision.interval.high for v in verdicts)


def test_the_summary_prints_the_interval_beside_the_speedup():
    lines = report.renderSummary(report.speedupChanges(report.pairResults(_roundsRun())))
    assert lines[0].startswith("pipeline-48 correct    6.23x (6.11-6.37) over naive")


def test_the_cli_check_prints_one_verdict_per_gated_variant(tmp_path, capsys):
    base = _writeRun(tmp_path / "base.json", _roundsRun())
    slowed = _writeRun(tmp_path / "slow.json", _roundsRun(fastFactor=1.3))
    argv = ["--baseline", str(base), "--check", "--tolerance", "0.18", "--stat", "min"]
    assert report.main([str(slowed), *argv, "--output", "-"]) == 1
    captured = capsys.readouterr()
    assert "gate: FAIL pipeline-48: 4.81x (4.76-4.88) against the baseline's 6.26x" in captured.out
    assert "REGRESSION pipeline-48: speedup 4.81x (4.76-4.88) is 23% below" in captured.err
    assert "REGRESSION tiered-10: speedup 5.32x (5.29-5.34) is 23% below" in captured.err
    assert report.main([str(base), *argv, "--output", "-"]) == 0
    out = capsys.readouterr().out
    assert "gate: ok   tiered-10: 6.91x (6.88-6.94) against the baseline's 6.91x" in out


# --- a variant the baseline lacks (a new design, before the baseline is refreshed) -----------


def _withStreamed(run, factor=0.8):
    """``run`` plus a third pipeline-48 variant, ``streamed``, each round ``factor`` x correct's."""
    rounds = STATS_FIXTURE["runs"]["pipeline-48 baseline-host"]["fastRounds"]
    grown = copy.deepcopy(run)
    grown["benchmarks"].append(
        _roundsBench("pipeline-48", "streamed", "naive", [factor * s for s in rounds])
    )
    return grown


def test_a_variant_only_the_run_has_is_listed_not_gated_and_the_rest_are_named():
    baseline = report.pairResults(_roundsRun(), "min")
    run = report.pairResults(_withStreamed(_roundsRun(), factor=5.0), "min")  # far slower
    verdicts = report.gateDecisions(run, baseline, 0.10)
    assert [(v.pair, v.variant, v.failed) for v in verdicts] == [
        ("pipeline-48", "correct", False),
        ("tiered-10", "tiered", False),
    ]
    assert str(verdicts[0]).startswith("ok   pipeline-48/correct: ")  # which of the two
    assert report.ungatedVariants(run, baseline) == ["pipeline-48/streamed"]
    assert report.ungatedVariants(run, baseline, only=["tiered-*"]) == []
    assert report.ungatedVariants(baseline, baseline) == []


def test_once_the_baseline_has_the_variant_it_is_gated_like_the_others():
    baseline = report.pairResults(_withStreamed(_roundsRun()), "min")
    slowed = report.pairResults(_withStreamed(_roundsRun(), factor=0.8 * 1.3), "min")
    verdicts = {(v.pair, v.variant): v for v in report.gateDecisions(slowed, baseline, 0.10)}
    assert verdicts["pipeline-48", "streamed"].failed
    assert not verdicts["pipeline-48", "correct"].failed
    assert report.ungatedVariants(slowed, baseline) == []


def test_the_cli_check_passes_a_run_with_a_new_variant_and_says_it_is_not_gated(tmp_path, capsys):
    base = _writeRun(tmp_path / "base.json", _roundsRun())
    grown = _writeRun(tmp_path / "grown.json", _withStreamed(_roundsRun()))
    argv = ["--baseline", str(base), "--check", "--tolerance", "0.09", "--stat", "min"]
    assert report.main([str(grown), *argv, "--only", "pipeline-*", "--output", "-"]) == 0
    out = capsys.readouterr().out
    assert "gate: ok   pipeline-48/correct: " in out
    assert "gate: not gated, the baseline lacks them: pipeline-48/streamed" in out
    assert "| pipeline-48 | 1 | " in out  # the matrix row, streamed beside correct


# --- variants timed beside their reference (interleaved rounds) -----------------------------


def _bench(pair, variant, rounds, **extra):
    """One benchmark of the current format that kept its rounds."""
    return {
        "fullname": f"bench/test_tiers.py::test_tier[{pair}-{variant}]",
        "stats": {
            "median": statistics.median(rounds),
            "min": min(rounds),
            "mean": statistics.fmean(rounds),
            "rounds": len(rounds),
            "data": list(rounds),
        },
        "extra_info": {
            "pair": pair,
            "variant": variant,
            "scale": 8,
            "reference": "inline",
            "comparison": "tiers",
            **extra,
        },
    }


# The machine's speed wandered from round to round; every round, threads took half of inline's
# time beside it. The reference variant's own rounds ran at other moments.
LOAD = [1.0, 1.6, 0.8, 1.3, 2.0, 0.9, 1.1]
BESIDE = [0.2 * x for x in LOAD]


def _pairedRun(**threadsExtra):
    return {
        "benchmarks": [
            _bench("tiers-w", "inline", [0.3, 0.25, 0.2, 0.35, 0.22, 0.21, 0.4]),
            _bench(
                "tiers-w",
                "threads",
                [0.1 * x for x in LOAD],
                referenceRounds=BESIDE,
                **threadsExtra,
            ),
            _bench("tiers-w", "processes", [0.12, 0.15, 0.11, 0.2, 0.13, 0.12, 0.14]),
        ]
    }


def test_a_variant_timed_beside_its_reference_is_divided_round_by_round():
    [pair] = report.pairResults(_pairedRun())
    assert pair.speedupOf("threads") == pytest.approx(2.0)
    interval = pair.intervalOf("threads")
    assert interval.low == pytest.approx(2.0) and interval.high == pytest.approx(2.0)
    # Without referenceRounds: the reference variant's own median over the variant's.
    assert pair.speedupOf("processes") == pytest.approx(0.25 / 0.13)
    assert pair.intervalOf("processes").high > pair.intervalOf("processes").low
    assert "2.00x (2.00-2.00)" in report.renderMarkdown([pair])


def test_by_min_a_paired_variant_divides_the_mins_of_its_rounds():
    [pair] = report.pairResults(_pairedRun(), stat="min")
    assert pair.speedupOf("threads") == pytest.approx(min(BESIDE) / (0.1 * min(LOAD)))


def test_reference_rounds_must_pair_with_the_variant_s_rounds():
    with pytest.raises(report.ReportError, match=r"referenceRounds holds 2 rounds but stats\.data"):
        report.pairResults(
            {
                "benchmarks": [
                    _bench("tiers-w", "inline", [0.2, 0.3]),
                    _bench("tiers-w", "threads", [0.1, 0.1, 0.1], referenceRounds=[0.2, 0.2]),
                ]
            }
        )


@pytest.mark.parametrize("bad", [[], [0.2, -1.0], "0.2", [True], [math.nan]])
def test_malformed_reference_rounds_are_named(bad):
    run = {"benchmarks": [_bench("tiers-w", "threads", [0.1], referenceRounds=bad)]}
    with pytest.raises(report.ReportError, match=r"extra_info\.referenceRounds is"):
        report.pairResults(run)


def test_every_plotted_speedup_carries_its_interval():
    bars = report.plotBars(report.pairResults(_pairedRun()))["tiers"]
    assert bars.low["threads"] == pytest.approx([2.0]) and bars.high["threads"] == pytest.approx(
        [2.0]
    )
    assert bars.low["processes"][0] < bars.speedup["processes"][0] < bars.high["processes"][0]


def test_without_rounds_the_plot_has_no_interval_to_draw(results):
    series = report.plotSeries(results)["pipeline"]
    assert all(math.isnan(v) for v in series["low"] + series["high"])
