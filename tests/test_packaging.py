"""The package as users install it: a wheel built from the tree holds every module, py.typed and
the console script, and everything the README runs imports from it alone."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What the README and the command lines import; each must come from the installed wheel.
USED = (
    "lecture31",
    "lecture31.cli",
    "lecture31.report.cli",
    "lecture31.demos.clustermeasure",
    "lecture31.demos.breakerspacing",
    "lecture31.demos.fanoutcensoring",
    "lecture31.demos.footprint",
    "lecture31.demos.coldstart",
)


def test_a_wheel_from_the_tree_holds_every_module_and_imports_alone(tmp_path):
    source = tmp_path / "source"  # built from a copy: the build writes beside its sources
    shutil.copytree(
        ROOT / "lecture31", source / "lecture31", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "--wheel-dir",
            str(tmp_path / "dist"),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = (tmp_path / "dist").glob("lecture31-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    tree = {p.relative_to(ROOT).as_posix() for p in (ROOT / "lecture31").rglob("*.py")}
    assert tree <= names, sorted(tree - names)
    assert "lecture31/py.typed" in names
    entryPoints = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "lecture31 = lecture31.cli:main" in zipfile.ZipFile(wheel).read(entryPoints).decode()

    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--quiet",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    probe = (
        "import importlib, sys\n"
        f"for name in {USED!r}:\n"
        "    module = importlib.import_module(name)\n"
        f"    assert module.__file__.startswith({str(site)!r}), module.__file__\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip() == "ok", done.stderr
