"""`pytest bench --benchmark-compare` on any machine (issue 9), run for real on a tiny benchmark.

Each test builds a throwaway project from this repository's own pytest settings and conftests
(so warnings are errors, as in the real suite), one tiny pair of benchmarks, and a results/
folder holding a hand-written baseline; then runs `pytest bench` on it in a subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pytest_benchmark.utils import get_machine_id

ROOT = Path(__file__).resolve().parents[2]
MACHINE_ID = get_machine_id()

TINY_BENCHMARK = """
def _work(n):
    return sum(range(n))


def test_slow(measure):
    measure(pair="tiny-1", variant="slow", reference="slow", scale=1, kind="breaker",
            target=lambda: _work(20000))


def test_fast(measure):
    measure(pair="tiny-1", variant="fast", reference="slow", scale=1, kind="breaker",
            target=lambda: _work(2000), idealSpeedup=10.0)
"""

OTHER_MACHINE = {
    "node": "",
    "machine": "x86_64",
    "system": platform.system(),
    "release": "1.0-elsewhere",
    "python_implementation": platform.python_implementation(),
    "python_version": "3.11.0",
    "cpu": {"brand_raw": "Other CPU 9000", "count": 64, "flags": ["sse"]},
}


def _stats(seconds: float) -> dict:
    return {
        "min": seconds,
        "max": seconds,
        "mean": seconds,
        "stddev": 0.0,
        "rounds": 5,
        "median": seconds,
        "iqr": 0.0,
        "q1": seconds,
        "q3": seconds,
        "iqr_outliers": 0,
        "stddev_outliers": 0,
        "outliers": "0;0",
        "ld15iqr": seconds,
        "hd15iqr": seconds,
        "ops": 1 / seconds,
        "total": 5 * seconds,
        "iterations": 1,
    }


def _baseline(machineInfo: dict) -> dict:
    """A saved run of the tiny pair: slow 1 ms, fast 0.5 ms, so its speedup is exactly 2.00x."""
    benchmarks = []
    for variant, seconds in (("slow", 1e-3), ("fast", 5e-4)):
        benchmarks.append(
            {
                "group": "tiny-1",
                "name": f"test_{variant}",
                "fullname": f"bench/test_tiny.py::test_{variant}",
                "params": None,
                "param": None,
                "extra_info": {
                    "pair": "tiny-1",
                    "variant": variant,
                    "scale": 1,
                    "reference": "slow",
                },
                "options": {},
                "stats": _stats(seconds),
            }
        )
    return {
        "machine_info": machineInfo,
        "commit_info": {"project": "lecture31"},
        "benchmarks": benchmarks,
        "datetime": "2026-01-01T00:00:00",
        "version": "5.1.0",
    }


@pytest.fixture
def project(tmp_path):
    """A copy of the suite's settings and conftests with one tiny benchmark pair."""
    for name in ("pyproject.toml", "conftest.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "bench").mkdir()
    for name in ("conftest.py", "compare.py"):
        shutil.copy(ROOT / "bench" / name, tmp_path / "bench" / name)
    (tmp_path / "bench" / "test_tiny.py").write_text(TINY_BENCHMARK, encoding="utf-8")
    (tmp_path / "results").mkdir()
    return tmp_path


def _save(project: Path, machineId: str, name: str, run: dict) -> Path:
    folder = project / "results" / machineId
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(run), encoding="utf-8")
    return path


def _bench(project: Path, *args: str, quick: bool = True) -> subprocess.CompletedProcess:
    rounds = ["--bench-quick"] if quick else []
    return subprocess.run(
        [sys.executable, "-m", "pytest", "bench", *rounds, "-p", "no:cacheprovider", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _otherVersion() -> str:
    major, minor = sys.version_info[:2]
    return f"{major}.{minor + 1}"


def _assertClean(done: subprocess.CompletedProcess) -> str:
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "INTERNALERROR" not in output and "Traceback" not in output, output
    assert "2 passed" in done.stdout, output
    return output


@pytest.mark.slow
@pytest.mark.parametrize("compare", ["--benchmark-compare", "--benchmark-compare=0001"])
def test_a_baseline_from_another_machine_is_compared_with_a_short_note(project, compare):
    _save(project, MACHINE_ID, "0001_baseline.json", _baseline(OTHER_MACHINE))
    output = _assertClean(_bench(project, compare))
    assert "The compared run comes from another machine:" in output
    assert "CPU: Other CPU 9000 x 64, here " in output
    here = f"{platform.python_implementation()} {platform.python_version()}"
    assert f"Python: CPython 3.11.0, here {here}" in output
    [others] = [line for line in output.splitlines() if "also different:" in line]
    assert "CPU flags" in others and "kernel" in others
    assert "Raw seconds do not carry across machines; the speedups below do." in output
    assert "Benchmark machine_info is different" not in output  # no JSON dump
    # pytest-benchmark's own table compares against the saved run...
    assert "(0001_baselin)" in output
    # ...and the summary puts the saved run's speedup beside this run's.
    assert re.search(
        r"tiny-1 fast\s+\d+\.\d\dx \(\d+\.\d\d-\d+\.\d\d\) over slow \(ideal 10\.00x\), "
        r"was 2\.00x \([+-]\d+%\)",
        output,
    )


@pytest.mark.slow
def test_with_no_run_for_this_machine_id_the_closest_committed_run_is_compared(project):
    system, implementation = platform.system(), platform.python_implementation()
    closeId = f"{system}-{implementation}-{_otherVersion()}-64bit"
    _save(project, closeId, "0001_baseline.json", _baseline(OTHER_MACHINE))
    _save(project, "Plan9-OtherPython-3.11-64bit", "0002_far.json", _baseline(OTHER_MACHINE))
    output = _assertClean(_bench(project, "--benchmark-compare"))
    assert f"no saved run for this machine id ({MACHINE_ID})" in output
    assert f"the closest committed run, {closeId}/0001_baseline.json" in output
    assert "--benchmark-save=NAME" in output
    assert "was 2.00x" in output


@pytest.mark.slow
@pytest.mark.parametrize("held", [[], ["Plan9-OtherPython-3.11-64bit"]])
def test_with_nothing_comparable_the_benchmarks_run_and_one_line_says_how_to_save(project, held):
    for machineId in held:
        _save(project, machineId, "0001_far.json", _baseline(OTHER_MACHINE))
    output = _assertClean(_bench(project, "--benchmark-compare"))
    [line] = [line for line in output.splitlines() if "nothing to compare with" in line]
    assert f"for this machine id ({MACHINE_ID})" in line
    assert ("Plan9-OtherPython-3.11-64bit (1 run)" if held else "no saved runs") in line
    assert "--benchmark-save=NAME" in line
    assert re.search(r"tiny-1 fast\s+\d+\.\d\dx \(\d+\.\d\d-\d+\.\d\d\) over slow", output)
    assert "was " not in output


@pytest.mark.slow
def test_every_run_ends_with_the_speedup_of_each_pair(project):
    output = _assertClean(_bench(project))
    summary = output[output.index("lecture31: speedups") :]
    [line] = [line for line in summary.splitlines() if line.startswith("tiny-1")]
    found = re.search(r"(\d+\.\d\d)x \((\d+\.\d\d)-(\d+\.\d\d)\) over slow", line)
    speedup, low, high = (float(g) for g in found.groups())
    assert speedup > 1.5  # ten times the work; any machine shows well above 1x
    assert low <= speedup <= high  # the seeded bootstrap interval over this session's rounds
    assert "(ideal 10.00x)" in line


@pytest.mark.slow
def test_quick_runs_keep_every_round_in_the_json_and_in_a_saved_run(project):
    # The report's intervals and the CI gate's decision are computed from stats.data.
    _assertClean(_bench(project, "--benchmark-json=quick.json", "--benchmark-save=quick"))
    [saved] = (project / "results" / MACHINE_ID).glob("*_quick.json")
    for path in (project / "quick.json", saved):
        benchmarks = json.loads(path.read_text(encoding="utf-8"))["benchmarks"]
        assert [len(b["stats"]["data"]) for b in benchmarks] == [
            b["stats"]["rounds"] for b in benchmarks
        ]
        assert all(b["stats"]["rounds"] >= 5 for b in benchmarks)


@pytest.mark.slow
def test_a_session_that_ran_only_one_variant_says_there_is_no_speedup(project):
    done = _bench(project, "-k", "test_fast")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no pair was measured with its reference variant in this session" in done.stdout


# --- the pure helpers, without a subprocess --------------------------------------------------


def _loadBenchCompare():
    spec = importlib.util.spec_from_file_location("bench_compare", ROOT / "bench" / "compare.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _loadBenchCompare()


def test_closest_run_keeps_os_and_implementation_and_prefers_the_nearest_version(tmp_path):
    for machineId in (
        "Linux-CPython-3.11-64bit",
        "Linux-CPython-3.13-64bit",
        "Linux-PyPy-3.12-64bit",
        "Darwin-CPython-3.12-64bit",
    ):
        folder = tmp_path / machineId
        folder.mkdir()
        (folder / "0001_a.json").write_text("{}", encoding="utf-8")
        (folder / "0002_b.json").write_text("{}", encoding="utf-8")
    pattern = "[0-9][0-9][0-9][0-9]_*.json"
    # 3.11 and 3.13 are equally near 3.12: the newer wins; the newest run of that folder.
    closest = bench.closestRun(tmp_path, "Linux-CPython-3.12-64bit", pattern)
    assert closest == tmp_path / "Linux-CPython-3.13-64bit" / "0002_b.json"
    assert bench.closestRun(tmp_path, "Linux-CPython-3.10-64bit", "0001*.json") == (
        tmp_path / "Linux-CPython-3.11-64bit" / "0001_a.json"
    )
    assert bench.closestRun(tmp_path, "Windows-CPython-3.12-64bit", pattern) is None


def test_machine_note_names_cpu_and_python_and_groups_the_rest():
    here = {
        "python_implementation": "CPython",
        "python_version": "3.12.1",
        "release": "6.1",
        "cpu": {"brand_raw": "AMD EPYC", "count": 2, "flags": ["a"], "hz_actual": [1, 0]},
    }
    there = {
        "python_implementation": "CPython",
        "python_version": "3.11.7",
        "release": "6.18",
        "cpu": {"brand_raw": "AMD EPYC", "count": 2, "flags": ["b"], "hz_actual": [2, 0]},
    }
    assert bench.machineNote(here, here) == []
    assert bench.machineNote(here, there) == [
        "The compared run comes from another machine:",
        "  CPU: AMD EPYC x 2 (the same here)",
        "  Python: CPython 3.11.7, here CPython 3.12.1",
        "  also different: kernel, CPU flags, clock",
        "  Raw seconds do not carry across machines; the speedups below do.",
    ]


def _usageError(done: subprocess.CompletedProcess) -> str:
    """pytest's usage error: exit 4, one ERROR line, and no benchmark ran."""
    assert done.returncode == 4, done.stdout + done.stderr
    assert "passed" not in done.stdout and "Traceback" not in done.stdout + done.stderr
    [line] = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert line.startswith("ERROR: --benchmark-compare=")
    return line


@pytest.mark.slow
@pytest.mark.parametrize("compare", [f"{MACHINE_ID}/0009", "9999"])
def test_a_compare_target_that_names_no_run_is_one_line_before_anything_runs(project, compare):
    _save(project, MACHINE_ID, "0001_baseline.json", _baseline(OTHER_MACHINE))
    start = time.monotonic()
    line = _usageError(_bench(project, f"--benchmark-compare={compare}"))
    assert time.monotonic() - start < 60  # no bench ran; a subprocess and its imports only
    assert f"--benchmark-compare={compare}: no saved run" in line
    # It says what there is, and does not contradict itself ("none from the same OS").
    assert f"results/ holds {MACHINE_ID}: 0001_baseline" in line
    assert "none from the same OS" not in line


@pytest.mark.slow
@pytest.mark.parametrize("path", ["results/nope.json", "/no/such/run.json", "a/b/c"])
def test_a_compare_path_that_is_no_file_is_one_line_before_anything_runs(project, path):
    line = _usageError(_bench(project, f"--benchmark-compare={path}"))
    assert f"--benchmark-compare={path}: no such file" in line


@pytest.mark.slow
@pytest.mark.parametrize("form", ["relative", "absolute"])
def test_a_compare_path_is_compared_and_summarised(project, form):
    saved = _save(project, MACHINE_ID, "0001_baseline.json", _baseline(OTHER_MACHINE))
    path = saved.relative_to(project) if form == "relative" else saved
    output = _assertClean(_bench(project, f"--benchmark-compare={path}"))
    assert "(0001_baselin)" in output  # pytest-benchmark compared with it...
    # ...and the summary read the same file (it used to look in results/results/...).
    assert f"speedups now, and in {MACHINE_ID}/0001_baseline.json:" in output
    assert re.search(r"tiny-1 fast\s+\d+\.\d\dx .* was 2\.00x \([+-]\d+%\)", output)
    assert "no speedup summary" not in output


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["", "file://"])
def test_a_storage_outside_the_working_directory_compares_as_results_does(
    project, tmp_path_factory, scheme
):
    # pytest-benchmark #217 (issue 18 item 4): an absolute storage, as CI caches use, crashed
    # --benchmark-compare with an INTERNALERROR (relative_to in its machine_info warning).
    storage = tmp_path_factory.mktemp("ci-cache") / "benchmarks"
    folder = storage / MACHINE_ID
    folder.mkdir(parents=True)
    (folder / "0001_baseline.json").write_text(json.dumps(_baseline(OTHER_MACHINE)), "utf-8")
    assert not storage.is_relative_to(project)
    output = _assertClean(
        _bench(project, f"--benchmark-storage={scheme}{storage}", "--benchmark-compare")
    )
    assert "The compared run comes from another machine:" in output
    assert "(0001_baselin)" in output
    assert re.search(r"tiny-1 fast\s+\d+\.\d\dx .* was 2\.00x", output)
    assert not (project / "results" / MACHINE_ID).exists()  # nothing went to ./results


@pytest.mark.slow
@pytest.mark.parametrize("quick", [True, False])
def test_every_run_records_its_rounds_and_selection_for_the_report(project, quick):
    args = ["--benchmark-json=run.json", "--benchmark-save=x", "-k", "tiny"]
    _assertClean(_bench(project, *args, quick=quick))
    [saved] = (project / "results" / MACHINE_ID).glob("*_x.json")
    for path in (project / "run.json", saved):
        run = json.loads(path.read_text(encoding="utf-8"))
        assert run["lecture31"] == {"quick": quick, "selection": "-k tiny"}
