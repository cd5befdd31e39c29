"""Git through the SDK: clone a local repository, status, branches, commit, push, pull."""

from __future__ import annotations

from typing import Any

import pytest
from daytona import DaytonaError

from tests.integration_tests.daytona_support import emu, sdk, sdk_sandbox  # noqa: F401

SETUP = """
set -e
git init -q --bare -b main /home/daytona/remote.git
git init -q -b main /home/daytona/seed
cd /home/daytona/seed
echo one > a.txt
git add a.txt
git -c user.name=Seed -c user.email=seed@x commit -q -m first
git remote add origin /home/daytona/remote.git
git push -q origin main
"""


def test_git_round_trip_with_a_local_remote(sdk_sandbox: Any) -> None:
    res = sdk_sandbox.process.exec(SETUP)
    assert res.exit_code == 0, res.result
    git = sdk_sandbox.git
    git.clone("file:///home/daytona/remote.git", "work")
    status = git.status("work")
    assert status.current_branch == "main" and status.file_status == []
    sdk_sandbox.fs.upload_file(b"two\n", "work/b.txt")
    sdk_sandbox.fs.upload_file(b"changed\n", "work/a.txt")
    by_name = {f.name: f for f in git.status("work").file_status}
    assert by_name["b.txt"].worktree == "Untracked"
    assert by_name["a.txt"].worktree == "Modified"
    git.create_branch("work", "feature")
    git.checkout_branch("work", "feature")
    branches = git.branches("work")
    assert sorted(branches.branches) == ["feature", "main"]
    git.add("work", ["."])
    assert {f.staging for f in git.status("work").file_status} == {"Added", "Modified"}
    commit = git.commit("work", "second", "Ann", "ann@example.com")
    assert len(commit.sha) == 40
    with pytest.raises(DaytonaError, match="upstream"):
        git.push("work")  # feature has no upstream: git says so
    git.checkout_branch("work", "main")
    sdk_sandbox.process.exec("cd work && git merge -q feature")
    git.push("work")
    log = sdk_sandbox.process.exec("git --git-dir=remote.git log --format=%s main").result
    assert log.split() == ["second", "first"]
    # A second clone pulls what the first pushed later.
    git.clone("/home/daytona/remote.git", "other")
    sdk_sandbox.fs.upload_file(b"three\n", "work/c.txt")
    git.add("work", ["c.txt"])
    git.commit("work", "third", "Ann", "ann@example.com")
    git.push("work")
    git.pull("other")
    assert sdk_sandbox.fs.download_file("other/c.txt") == b"three\n"
    assert git.status("other").behind == 0
    git.delete_branch("work", "feature")
    assert git.branches("work").branches == ["main"]


def test_git_errors_are_clear(sdk_sandbox: Any) -> None:
    with pytest.raises(DaytonaError, match="not a git repository"):
        sdk_sandbox.git.status("/tmp")
    with pytest.raises(DaytonaError, match=r"does not exist|not found|Could not read"):
        sdk_sandbox.git.clone("file:///home/daytona/no-such-repo.git", "nope")
