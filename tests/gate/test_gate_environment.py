"""The gate run from a git hook: git's variables of the caller reach no git command the gate
runs, nor its bench; the repository's index and worktree list are as they were."""

from __future__ import annotations

import json

from fakes import worktrees
from gitrepos import fakeRepo, git, runFakeGate


def test_a_hooks_git_variables_leave_the_index_and_the_worktrees_as_they_were(tmp_path):
    repo = fakeRepo(tmp_path)
    (repo / "lecture31" / "__init__.py").write_text("FAST_SECONDS = 0.006\n")
    (repo / "bench" / "extra.txt").write_text("only in the head\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "head")
    statusBefore = git(repo, "status", "--porcelain")
    indexBefore = (repo / ".git" / "index").read_bytes()
    done = runFakeGate(
        repo,
        *("--base", "HEAD~1", "--trials", "2", "-k", "", "--tolerance", "0.9"),
        *("--json", str(tmp_path / "trials.json")),
        GIT_INDEX_FILE=str(repo / ".git" / "index"),
        GIT_DIR=str(repo / ".git"),
        GIT_WORK_TREE=str(repo),
        GIT_PREFIX="bench/",
        GIT_OBJECT_DIRECTORY=str(tmp_path / "no-objects-here"),
    )
    assert done.returncode == 0, done.stderr
    assert git(repo, "status", "--porcelain") == statusBefore == ""
    assert (repo / ".git" / "index").read_bytes() == indexBefore
    assert len(worktrees(repo)) == 1
    assert not (tmp_path / "no-objects-here").exists()
    # The bench's own git calls (pytest-benchmark's commit_info) saw each side's checkout.
    commits = {
        "base": git(repo, "rev-parse", "HEAD~1").strip(),
        "head": git(repo, "rev-parse", "HEAD").strip(),
    }
    trials = json.loads((tmp_path / "trials.json").read_text())["trials"]
    assert {(t["side"], t["commit_info"].get("id")) for t in trials} == set(commits.items())
