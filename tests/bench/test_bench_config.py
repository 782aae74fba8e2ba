"""The benchmark suite's own switches: the large scale stays out by default, and the CI gate's
slowdown injector parses strictly and stretches only what it names."""

from __future__ import annotations

import ast
import importlib.util
import os
import pathlib
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _loadBenchConftest():
    spec = importlib.util.spec_from_file_location("bench_conftest", ROOT / "bench" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    # It imports its sibling compare.py, as pytest lets it (the folder on sys.path).
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return module


bench = _loadBenchConftest()


def _collect(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "bench",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _collected(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_the_480_sensor_benchmark_is_deselected_by_default_and_selected_on_request():
    default = _collected(_collect())
    large = _collected(_collect("--bench-large"))
    onlyLarge = _collected(_collect("-m", "large"))
    assert default and not any("_large" in item for item in default)
    assert any("_large" in item for item in large)
    assert set(large) - set(default) == set(onlyLarge)
    assert onlyLarge and all("_large" in item for item in onlyLarge)


def test_a_malformed_slowdown_spec_is_a_usage_error_naming_the_variable():
    env = dict(os.environ, LECTURE31_BENCH_SLOWDOWN="pipeline-*/correct=0.5")
    done = _collect(env=env)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert "LECTURE31_BENCH_SLOWDOWN: 'pipeline-*/correct=0.5'" in done.stderr


def test_slowdown_specs_parse_into_globs_and_factors():
    assert bench._parseSlowdowns("pipeline-*/correct=1.3, tiered-10/tiered=2") == [
        ("pipeline-*", "correct", 1.3),
        ("tiered-10", "tiered", 2.0),
    ]
    assert bench._parseSlowdowns("") == []


@pytest.mark.parametrize("spec", ["pipeline-48=1.3", "/correct=1.3", "pipeline-48/correct=x"])
def test_slowdown_specs_without_a_pair_variant_or_factor_are_rejected(spec):
    with pytest.raises(pytest.UsageError, match="PAIR/VARIANT=FACTOR"):
        bench._parseSlowdowns(spec)


def test_only_the_named_variant_is_slowed(monkeypatch):
    monkeypatch.setenv(bench.SLOWDOWN_ENV, "pipeline-*/correct=1.3")
    assert bench._slowdownFactor("pipeline-48", "correct") == 1.3
    assert bench._slowdownFactor("pipeline-48", "naive") == 1.0
    assert bench._slowdownFactor("tiered-10", "correct") == 1.0


def test_a_stretched_round_takes_the_factor_times_as_long_and_keeps_its_result():
    def work():
        time.sleep(0.05)
        return "done"

    start = time.perf_counter()
    assert bench._stretched(work, 2.0)() == "done"
    # 2 x 50 ms, with slack for a noisy machine: well above 1x, nowhere near 4x.
    assert 0.095 <= time.perf_counter() - start < 0.4


def _kindsMeasured() -> set[str]:
    """Every ``kind`` the benchmarks pass to ``measure`` (a string, or a call's string argument
    that the bench passes on as its kind)."""
    helpers = ("_naive", "_correct", "_streamed")  # test_pipeline's: (measure, ..., kind)
    kinds = set()
    for path in sorted((ROOT / "bench").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "kind":
                if isinstance(node.value, ast.Constant):
                    kinds.add(node.value.value)
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in helpers:
                kinds.add(node.args[-1].value)
    return kinds


def test_the_kinds_with_rounds_are_the_kinds_the_benchmarks_measure():
    kinds = _kindsMeasured()
    assert {"pipeline", "large", "tiers", "breaker"} <= kinds  # the walk sees the bench
    assert kinds == set(bench.ROUNDS)


@pytest.mark.parametrize("kind", sorted(bench.ROUNDS))
def test_every_kind_has_rounds_and_quick_mode_never_runs_more(kind):
    full, quick = bench.ROUNDS[kind]
    assert full.rounds >= 1 and quick.rounds >= 1
    assert quick.rounds <= full.rounds and quick.warmup <= full.warmup


def test_the_reference_is_timed_beside_every_round_in_abba_order_and_warm_ups_are_not_kept():
    order = []
    beside = bench.Beside(lambda: order.append("reference"), warmup=1)
    for _ in range(1 + 4):  # what benchmark.pedantic does: setup, the round, teardown
        beside.before()
        order.append("variant")
        beside.after()
    assert order == [
        *("reference", "variant"),  # warm-up, untimed
        *("variant", "reference"),
        *("reference", "variant"),
        *("variant", "reference"),
        *("reference", "variant"),
    ]
    assert len(beside.seconds) == 4 and all(s >= 0 for s in beside.seconds)
