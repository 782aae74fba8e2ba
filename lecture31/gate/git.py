"""The two sides' source trees: a ref checked out in a temporary worktree, or the working tree.

resolveCommit(repo, "main~3")          the commit a ref names, or GateError (exit 2)
checkedOut(repo, commit)               a detached worktree in a temporary folder, removed
                                       on the way out whatever happens (error, Ctrl-C)
checkedOutOn(stack, repo, commit)      the same, entered on an ExitStack without a gap for a
                                       signal between the checkout and its removal's record
workingTreeProblem(repo)               why the working tree cannot be measured as it is,
                                       or None (a merge or rebase in progress, conflicts)
gitFreeEnvironment()                   the caller's environment without GIT_*: every git
                                       command here, and every bench child, gets it
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = (
    "GateError",
    "checkedOut",
    "checkedOutOn",
    "commonDir",
    "gitFreeEnvironment",
    "repoRoot",
    "resolveCommit",
    "workingTreeProblem",
)

from .stopping import cleanUp, signalsHeld

GIT_TIMEOUT_SECONDS = 120  # a checkout of this repository takes well under a second


class GateError(Exception):
    """Raised for input the gate cannot work with (an unknown ref, no bench): exit 2, one line."""


def gitFreeEnvironment(environment: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environment`` (default: ours) without a single ``GIT_*`` variable.

    Run from a git hook, the caller has GIT_INDEX_FILE, GIT_DIR, GIT_WORK_TREE, GIT_PREFIX...
    set for *its* repository: passed on, ``git worktree add`` writes the base's index over the
    repository's own, and pytest-benchmark's ``git`` calls read the wrong tree. Each command
    names its repository with ``-C`` and needs nothing else from git's variables, so none is
    set in their place.
    """
    source = os.environ if environment is None else environment
    return {name: value for name, value in source.items() if not name.startswith("GIT_")}


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        # Held for the whole command (git is quick): a signal cannot cut a git command short,
        # nor leave one running unseen; it arrives when the command is done.
        with signalsHeld():
            done = subprocess.run(
                ["git", "-C", str(repo), *args],
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT_SECONDS,
                env=gitFreeEnvironment(),
            )
    except FileNotFoundError as exc:
        raise GateError("git is not installed or not on PATH") from exc
    if check and done.returncode != 0:
        message = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise GateError(f"git {' '.join(args)} failed: {message}")
    return done


def repoRoot(start: Path) -> Path:
    """The top of the git checkout that holds ``start``."""
    done = _git(start, "rev-parse", "--show-toplevel", check=False)
    if done.returncode != 0:
        raise GateError(f"{start} is not inside a git checkout")
    return Path(done.stdout.strip())


def commonDir(repo: Path) -> Path:
    """The git folder every worktree of ``repo`` shares (``.git`` of the main checkout)."""
    found = Path(_git(repo, "rev-parse", "--git-common-dir").stdout.strip())
    return found if found.is_absolute() else (repo / found).resolve()


def resolveCommit(repo: Path, ref: str) -> str:
    """The full id of the commit ``ref`` names in ``repo``."""
    if not ref or ref.startswith("-"):
        raise GateError(f"--base/--head must name a commit, got {ref!r}")
    done = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if done.returncode != 0:
        shallow = _git(repo, "rev-parse", "--is-shallow-repository", check=False).stdout.strip()
        hint = " (this clone is shallow: fetch more history)" if shallow == "true" else ""
        raise GateError(f"unknown ref {ref!r}: no such commit in {repo}{hint}")
    return done.stdout.strip()


def workingTreeProblem(repo: Path) -> str | None:
    """Why the working tree cannot be measured as the head, or None if it can."""
    gitDir = Path(_git(repo, "rev-parse", "--absolute-git-dir").stdout.strip())
    for marker, what in (
        ("MERGE_HEAD", "a merge"),
        ("rebase-merge", "a rebase"),
        ("rebase-apply", "a rebase"),
        ("CHERRY_PICK_HEAD", "a cherry-pick"),
    ):
        if (gitDir / marker).exists():
            return f"the working tree is in the middle of {what}; finish or abort it first"
    conflicts = _git(repo, "diff", "--name-only", "--diff-filter=U").stdout.split()
    if conflicts:
        return f"the working tree has unresolved conflicts in {', '.join(conflicts)}"
    return None


@contextlib.contextmanager
def checkedOut(repo: Path, commit: str, label: str) -> Iterator[Path]:
    """``commit`` checked out (detached) in a temporary worktree; removed on the way out.

    A signal during the checkout waits for it (``signalsHeld``), then unwinds through the
    cleanup: git's add, killed half-way, would leave a worktree locked ("initializing") that
    neither ``worktree remove --force`` nor ``prune`` removes.
    """
    folder: Path | None = None
    try:
        with signalsHeld():
            folder = Path(tempfile.mkdtemp(prefix=f"lecture31-gate-{label}-"))
            _git(repo, "worktree", "add", "--detach", "--quiet", str(folder / "tree"), commit)
        yield folder / "tree"
    finally:
        # Removed however we leave: the worktree's record in repo/.git too, not only the files;
        # --force twice removes a worktree even if it is locked.
        if folder is not None:
            cleanUp(lambda: _remove(repo, folder))


def checkedOutOn(stack: contextlib.ExitStack, repo: Path, commit: str, label: str) -> Path:
    """``stack.enter_context(checkedOut(...))`` with the stop signals held until the removal
    is registered on ``stack``: a signal's handler running between ``__enter__`` and that
    registration would leave the new worktree behind, removed by nothing."""
    with signalsHeld():
        return stack.enter_context(checkedOut(repo, commit, label))


def _remove(repo: Path, folder: Path) -> None:
    _git(repo, "worktree", "remove", "--force", "--force", str(folder / "tree"), check=False)
    shutil.rmtree(folder, ignore_errors=True)
    _git(repo, "worktree", "prune", check=False)
