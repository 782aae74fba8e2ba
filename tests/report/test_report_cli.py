"""The report's command line never loses data and never prints a traceback (issue 9).

Every case runs in a scratch copy of a results folder with a committed SPEEDUPS.md in it, and
checks the files byte for byte afterwards: a command that fails changes nothing.
"""

from __future__ import annotations

import copy
import errno
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lecture31 import report

FIXTURE = Path(__file__).parent.parent / "fixtures" / "run_small.json"
COMMITTED = "# the committed table\n"
PROG = "python -m lecture31.report: "


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """tmp/results/<machine>/0001_run.json, tmp/results/SPEEDUPS.md; cwd = tmp."""
    machine = tmp_path / "results" / "Linux-CPython-3.11-64bit"
    machine.mkdir(parents=True)
    (machine / "0001_run.json").write_bytes(FIXTURE.read_bytes())
    (tmp_path / "results" / "SPEEDUPS.md").write_text(COMMITTED, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _fails(tree: Path, capsys, argv: list[str], expected: str, code: int = 2) -> str:
    """Run the CLI; it must exit ``code`` with one line on stderr and leave every file as is."""
    before = _snapshot(tree)
    assert report.main(argv) == code
    err = capsys.readouterr().err
    assert _snapshot(tree) == before
    if code == 2:
        assert err.count("\n") == 1, err
        assert err.startswith(PROG + "error: ")
    assert expected in err
    return err


RUN = "results/Linux-CPython-3.11-64bit/0001_run.json"


def _write(tree: Path, name: str, content) -> str:
    path = tree / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
    return name


def _fixture() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


# --- data loss ------------------------------------------------------------------------------


def test_a_missing_baseline_writes_nothing(tree, capsys):
    _fails(tree, capsys, [RUN, "--baseline", "/missing.json", "--check"], "cannot read /missing")


def test_a_check_that_finds_a_regression_writes_nothing(tree, capsys):
    slower = _fixture()
    for bench in slower["benchmarks"]:
        if bench["extra_info"].get("variant") == "correct":
            bench["stats"]["median"] *= 2
    base = _write(tree, "slow.json", slower)
    # The README's command, which has no --output -: the committed table stays.
    _fails(tree, capsys, [base, "--baseline", RUN, "--check"], "REGRESSION pipeline-12", code=1)


def test_a_passing_check_leaves_the_committed_table_alone_unless_asked(tree, capsys):
    assert report.main([RUN, "--baseline", RUN, "--check"]) == 0
    assert (tree / "results" / "SPEEDUPS.md").read_text(encoding="utf-8") == COMMITTED
    capsys.readouterr()
    assert report.main([RUN, "--baseline", RUN, "--check", "--output", "out.md"]) == 0
    assert (tree / "out.md").read_text(encoding="utf-8").startswith("# Speedups (0001_run.json)")


@pytest.mark.parametrize("tolerance", ["-1", "1", "nan"])
def test_a_tolerance_outside_zero_to_one_writes_nothing(tree, capsys, tolerance):
    _fails(tree, capsys, [RUN, "--baseline", RUN, "--tolerance", tolerance], "--tolerance must be")


def test_only_patterns_that_match_nothing_write_nothing(tree, capsys):
    other = _fixture()
    other["benchmarks"][0]["stats"]["median"] *= 1.01
    base = _write(tree, "base.json", other)
    _fails(tree, capsys, [RUN, "--baseline", base, "--only", "nope-*"], "no pairs matching")


def test_plot_without_matplotlib_writes_nothing(tree, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    _fails(tree, capsys, [RUN, "--plot", "s.png"], "pip install -e '.[plot]'")


def test_output_onto_the_run_itself_is_refused(tree, capsys):
    _fails(tree, capsys, [RUN, "--output", RUN], "is an input of this report")


def test_output_onto_the_baseline_is_refused(tree, capsys):
    base = _write(tree, "base.json", _fixture())
    _fails(tree, capsys, [RUN, "--baseline", base, "--output", base], "is an input")


@pytest.mark.parametrize("flag", ["--output", "--plot"])
def test_a_directory_as_target_is_refused(tree, capsys, flag):
    (tree / "figures.png").mkdir()
    _fails(tree, capsys, [RUN, flag, "figures.png"], "is a directory")


@pytest.mark.parametrize("flag", ["--output", "--plot"])
def test_a_target_under_a_file_is_refused(tree, capsys, flag):
    _write(tree, "afile", "x")
    _fails(tree, capsys, [RUN, flag, "afile/deeper/out.png"], "afile is a file, not a directory")


def test_plot_without_an_image_suffix_is_refused_rather_than_renamed(tree, capsys):
    _fails(tree, capsys, [RUN, "--plot", "results"], "name the image with its format")


# --- tracebacks -----------------------------------------------------------------------------


def test_a_binary_file_is_one_line(tree, capsys):
    name = _write(tree, "speedups.png", b"\x89PNG\r\n\x1a\n\xff\xfe")
    _fails(tree, capsys, [name], "speedups.png is not a text file")


def test_deeply_nested_json_is_one_line(tree, capsys):
    name = _write(tree, "deep.json", "[" * 100_000 + "]" * 100_000)
    _fails(tree, capsys, [name], "nested too deeply")


def test_extra_info_that_is_not_an_object_is_one_line_naming_the_benchmark(tree, capsys):
    broken = _fixture()
    broken["benchmarks"][2]["extra_info"] = ["pair", "tiered-40"]
    name = _write(tree, "broken.json", broken)
    _fails(
        tree, capsys, [name], "'bench/test_x.py::test_tiered[sequential-40]': extra_info is list"
    )


def test_a_non_numeric_shards_column_is_one_line_naming_the_benchmark(tree, capsys):
    broken = _fixture()
    for bench in broken["benchmarks"]:
        if "meanShardsResponded" in bench["extra_info"]:
            bench["extra_info"]["meanShardsResponded"] = "lots"
    name = _write(tree, "broken.json", broken)
    _fails(tree, capsys, [name], "extra_info.meanShardsResponded is 'lots', expected a number")


def test_a_benchmark_that_is_not_an_object_is_one_line(tree, capsys):
    broken = _fixture()
    broken["benchmarks"][0] = 7
    _fails(tree, capsys, [_write(tree, "b.json", broken)], "a benchmark entry is int")


@pytest.mark.parametrize("check", [False, True])
def test_bad_round_data_is_one_line_naming_the_benchmark_even_in_the_baseline(tree, capsys, check):
    broken = _fixture()
    stats = broken["benchmarks"][2]["stats"]
    stats["data"] = [stats["median"]] * (stats["rounds"] - 1) + ["slow"]
    name = _write(tree, "broken.json", broken)
    argv = [RUN, "--baseline", name, "--check"] if check else [name]
    _fails(
        tree,
        capsys,
        argv,
        "'bench/test_x.py::test_tiered[sequential-40]': stats.data[4] is 'slow', "
        "expected positive seconds",
    )


# --- said out loud --------------------------------------------------------------------------


def test_tolerance_without_a_baseline_is_said_to_do_nothing(tree, capsys):
    assert report.main([RUN, "--tolerance", "0.1", "--output", "-"]) == 0
    err = capsys.readouterr().err
    assert err == PROG + "note: --tolerance has no effect without --baseline\n"


def test_a_baseline_that_is_the_run_itself_is_said_to_pass_trivially(tree, capsys):
    copyOfRun = _write(tree, "copy.json", copy.deepcopy(_fixture()))
    for baseline in (RUN, copyOfRun):
        assert report.main([RUN, "--baseline", baseline, "--check"]) == 0
        err = capsys.readouterr().err
        assert err == PROG + "note: the baseline is the run itself; the check cannot fail\n"


def test_a_successful_write_replaces_the_table_and_leaves_no_temporary_file(tree, capsys):
    assert report.main([]) == 0
    table = (tree / "results" / "SPEEDUPS.md").read_text(encoding="utf-8")
    assert table.startswith("# Speedups (0001_run.json)")
    assert sorted(p.name for p in (tree / "results").iterdir()) == [
        "Linux-CPython-3.11-64bit",
        "SPEEDUPS.md",
    ]


# --- what it writes to (issue 21): only temporary files, FIFOs and symlinks made here ---------


def test_the_committed_table_keeps_its_mode(tree, capsys):
    table = tree / "results" / "SPEEDUPS.md"
    table.chmod(0o644)
    assert report.main([]) == 0
    assert table.read_text(encoding="utf-8").startswith("# Speedups (0001_run.json)")
    assert stat.S_IMODE(table.stat().st_mode) == 0o644


def test_output_through_a_symlink_writes_its_target_and_keeps_the_link(tree, capsys):
    (tree / "keep").mkdir()
    real = tree / "keep" / "table.md"
    real.write_text("old\n", encoding="utf-8")
    real.chmod(0o640)
    (tree / "link.md").symlink_to(real)
    assert report.main([RUN, "--output", "link.md"]) == 0
    assert (tree / "link.md").is_symlink()
    assert real.read_text(encoding="utf-8").startswith("# Speedups (0001_run.json)")
    assert stat.S_IMODE(real.stat().st_mode) == 0o640


@pytest.mark.timeout(30)  # opening a FIFO for writing would block: the check must not open it
@pytest.mark.parametrize("how", ["fifo", "symlink to a fifo"])
def test_a_fifo_as_output_is_refused_and_stays_a_fifo(tree, capsys, how):
    os.mkfifo(tree / "pipe")
    target = "pipe"
    if how != "fifo":
        (tree / "out.md").symlink_to(tree / "pipe")
        target = "out.md"
    _fails(tree, capsys, [RUN, "--output", target], f"--output {target}: is a FIFO, not a regular")
    assert stat.S_ISFIFO(os.stat(tree / "pipe").st_mode)


def test_a_read_only_output_is_refused_or_as_root_written_keeping_its_mode(tree, capsys):
    locked = tree / "locked.md"
    locked.write_text("old\n", encoding="utf-8")
    locked.chmod(0o444)
    if os.geteuid() == 0:
        assert report.main([RUN, "--output", "locked.md"]) == 0
        assert locked.read_text(encoding="utf-8").startswith("# Speedups")
        assert stat.S_IMODE(locked.stat().st_mode) == 0o444
    else:
        _fails(tree, capsys, [RUN, "--output", "locked.md"], "locked.md: is read-only")


def _loop(tree: Path, name: str) -> str:
    (tree / name).symlink_to(tree / f"{name}.other")
    (tree / f"{name}.other").symlink_to(tree / name)
    return name


@pytest.mark.parametrize("where", ["run", "output", "results"])
def test_a_symlink_loop_is_one_line_and_exit_2(tree, capsys, where):
    if where == "run":
        argv = [_loop(tree, "a")]
    elif where == "output":
        argv = [RUN, "--output", _loop(tree, "a")]
    else:
        argv = [f"--results={tree / 'results'}"]
        _loop(tree / "results" / "Linux-CPython-3.11-64bit", "0002_loop.json")
    _fails(tree, capsys, argv, "Too many levels of symbolic links")


def test_a_symlink_loop_as_the_run_exits_2_from_the_command_line(tree):
    # Not 1, which --check reads as a regression.
    done = subprocess.run(
        [sys.executable, "-m", "lecture31.report", _loop(tree, "a")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == PROG + "error: cannot read a: Too many levels of symbolic links\n"


# --- stdout that is gone ----------------------------------------------------------------------


class _FullStdout(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_stdout_on_a_full_disk_is_one_line_and_nothing_is_written(tree, capsys, monkeypatch):
    before = _snapshot(tree)
    monkeypatch.setattr(sys, "stdout", _FullStdout())
    assert report.main([]) == 2
    err = capsys.readouterr().err
    assert err == PROG + "error: cannot write to stdout: No space left on device; nothing written\n"
    assert _snapshot(tree) == before


_WITH_NO_ROOM = (
    "import os, resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0)); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def _reportProcess(tree: Path, *argv: str, stdout, room: bool = False) -> subprocess.Popen:
    start = [sys.executable] if room else [sys.executable, "-c", _WITH_NO_ROOM]
    return subprocess.Popen(
        [*start, "-m", "lecture31.report", *argv],
        cwd=tree,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


def test_stdout_to_a_file_that_cannot_grow_is_one_line_nonzero_and_nothing_written(tree):
    # RLIMIT_FSIZE = 0: every write to the file fails (EFBIG), as /dev/full fails with ENOSPC.
    before = _snapshot(tree)
    with (tree / "out.txt").open("w") as out:
        process = _reportProcess(tree, stdout=out)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert err == PROG + "error: cannot write to stdout: File too large; nothing written\n"
    assert _snapshot(tree) == {**before, "out.txt": b""}


def test_a_closed_pipe_ends_quietly_with_141_and_nothing_written(tree):
    before = _snapshot(tree)
    process = _reportProcess(tree, stdout=subprocess.PIPE, room=True)
    process.stdout.close()  # `| head -0`: the reader is gone before the first line
    err = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=60) == 141
    assert err == ""
    assert _snapshot(tree) == before
