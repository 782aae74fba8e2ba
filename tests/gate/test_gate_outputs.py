"""The gate's outputs: a bad --json or --keep-runs is found before the first trial (exit 2, one
line, in seconds); the default JSON is a private file that never follows a planted symlink and
does not pile up; a JSON that cannot be written at the end never hides the verdict."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time

import pytest
from fakes import worktrees
from gitrepos import ROOT, cleanEnvironment, fakeRepo, runFakeGate

from lecture31.gate.outputs import KEPT_RECORDS


def _fifo(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    return tmp_path / "fifo"


def _loop(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    return tmp_path / "a"


def _folder(tmp_path):
    (tmp_path / "folder").mkdir()
    return tmp_path / "folder"


def _file(tmp_path):
    (tmp_path / "file").write_text("not a folder\n")
    return tmp_path / "file"


BAD_JSON = {
    "a FIFO": (_fifo, "is a FIFO"),
    "a directory": (_folder, "is a directory"),
    "a symlink loop": (_loop, "many levels of symbolic links"),
    "a missing folder": (lambda tmp: tmp / "missing" / "trials.json", "no folder"),
    "under a file": (lambda tmp: _file(tmp) / "trials.json", "not a directory"),
}
BAD_RUNS = {
    "a FIFO": (_fifo, "not a folder"),
    "a file": (_file, "not a folder"),
    "a symlink loop": (_loop, "many levels of symbolic links"),
    "a missing parent": (lambda tmp: tmp / "missing" / "runs", "no folder"),
}


def _refusedFast(repo, *args):
    started = time.monotonic()
    done = runFakeGate(repo, "--base", "main", "--trials", "2", "-k", "", *args, timeout=60)
    assert time.monotonic() - started < 15
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr  # no trial ran
    assert len(worktrees(repo)) == 1
    return done.stderr


@pytest.mark.parametrize("case", sorted(BAD_JSON))
def test_a_bad_json_path_is_refused_before_the_first_trial(tmp_path, case):
    make, words = BAD_JSON[case]
    target = make(tmp_path)
    said = _refusedFast(fakeRepo(tmp_path), "--json", str(target))
    assert f"--json {target}" in said and words in said


@pytest.mark.parametrize("case", sorted(BAD_RUNS))
def test_a_bad_keep_runs_folder_is_refused_before_the_first_trial(tmp_path, case):
    make, words = BAD_RUNS[case]
    target = make(tmp_path)
    said = _refusedFast(fakeRepo(tmp_path), "--keep-runs", str(target))
    assert f"--keep-runs {target}" in said and words in said


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only folders")
def test_a_json_in_a_read_only_folder_is_refused_before_the_first_trial(tmp_path):
    (tmp_path / "ro").mkdir(mode=0o500)
    said = _refusedFast(fakeRepo(tmp_path), "--json", str(tmp_path / "ro" / "trials.json"))
    assert "cannot write in" in said


def test_the_default_json_is_a_private_file_and_a_planted_symlink_is_not_followed(tmp_path):
    repo = fakeRepo(tmp_path)
    temp, victim = tmp_path / "temp", tmp_path / "victim"
    temp.mkdir()
    victim.mkdir()
    (temp / f"lecture31-gate-{os.getuid()}").symlink_to(victim)  # planted by "another user"
    done = runFakeGate(
        repo, "--base", "main", "--trials", "2", "-k", "", "--tolerance", "0.9", TMPDIR=str(temp)
    )
    assert done.returncode == 0, done.stderr
    assert list(victim.iterdir()) == []
    [written] = [p for p in temp.iterdir() if p.suffix == ".json"]
    assert f"every trial in {written}" in done.stderr
    assert stat.S_IMODE(written.lstat().st_mode) == 0o600 and written.name.startswith("lecture31-")


def test_default_jsons_do_not_pile_up_in_the_private_folder(tmp_path):
    repo = fakeRepo(tmp_path)
    temp = tmp_path / "temp"
    private = temp / f"lecture31-gate-{os.getuid()}"
    private.mkdir(parents=True, mode=0o700)
    for index in range(KEPT_RECORDS + 5):
        old = private / f"gate-2000{index:04d}-000000-x.json"
        old.write_text("{}\n")
        os.utime(old, (1e9 + index, 1e9 + index))
    done = runFakeGate(
        repo, "--base", "main", "--trials", "2", "-k", "", "--tolerance", "0.9", TMPDIR=str(temp)
    )
    assert done.returncode == 0, done.stderr
    kept = sorted(private.iterdir(), key=lambda p: p.stat().st_mtime)
    assert len(kept) == KEPT_RECORDS
    assert f"every trial in {kept[-1]}" in done.stderr  # the new one, kept
    assert kept[0].name == "gate-20000006-000000-x.json"  # the six oldest went
    assert stat.S_IMODE(private.stat().st_mode) == 0o700


@pytest.mark.parametrize(("slower", "status"), [(False, 2), (True, 1)])
def test_a_json_that_cannot_be_written_at_the_end_never_hides_the_verdict(tmp_path, slower, status):
    repo = fakeRepo(tmp_path)
    if slower:
        (repo / "lecture31" / "__init__.py").write_text("FAST_SECONDS = 0.015\n")  # 3x slower
    temp, target = tmp_path / "temp", tmp_path / "trials.json"
    temp.mkdir()
    child = subprocess.Popen(
        [
            *(sys.executable, "-m", "lecture31.gate", "--base", "main", "--trials", "4"),
            *("-k", "", "--tolerance", "0.5", "--json", str(target)),
        ],
        cwd=repo,
        env=cleanEnvironment(PYTHONPATH=str(ROOT), TMPDIR=str(temp)),
        stderr=subprocess.PIPE,
        text=True,
    )
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(child.stderr), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not any("trial 1: " in line for line in said) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.mkfifo(target)  # checked fine at the start; a FIFO by the end
        child.wait(timeout=120)
        reader.join(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()
    assert child.returncode == status, "".join(said)
    verdict = "REGRESSION" if slower else "every measure held"
    [verdictAt] = [i for i, line in enumerate(said) if verdict in line][-1:]
    [errorAt] = [i for i, line in enumerate(said) if f"cannot write --json {target}" in line]
    assert verdictAt < errorAt and "is a FIFO" in said[errorAt]
    [instead] = [p for p in (temp / f"lecture31-gate-{os.getuid()}").iterdir()]
    assert f"every trial in {instead} instead" in said[errorAt]
    assert stat.S_ISFIFO(target.lstat().st_mode)  # left as it was
    assert len(worktrees(repo)) == 1
