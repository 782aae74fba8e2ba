"""bench/make-baseline checks what it needs before it writes anything: a clean tree (CI takes
the baseline's commit as the gate's base) and the plot extra."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clone(tmp_path):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    target = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(target)], check=True, timeout=60)
    shutil.copy(ROOT / "bench" / "make-baseline", target / "bench" / "make-baseline")
    subprocess.run(
        [
            "git",
            "-C",
            str(target),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qam",
            "this tree's make-baseline",
            "--allow-empty",
        ],
        check=True,
        timeout=60,
    )
    return target


def makeBaseline(clone):
    return subprocess.run(
        ["bash", "bench/make-baseline", "-k", "nothing_is_run"],
        cwd=clone,
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(clone)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_dirty_tree_is_refused_before_anything_is_written(clone):
    (clone / "lecture31" / "fanout" / "__init__.py").write_text("# changed, not committed\n")
    before = {p: p.read_bytes() for p in (clone / "results").rglob("*") if p.is_file()}
    done = makeBaseline(clone)
    assert done.returncode == 2, done.stderr
    assert "the tree has uncommitted changes; commit them first" in done.stderr
    after = {p: p.read_bytes() for p in (clone / "results").rglob("*") if p.is_file()}
    assert after == before
