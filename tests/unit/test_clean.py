"""The clean core on hand-made trees: what counts as ended, whose archives are whose, and
how merged a branch is."""

import os
import subprocess

import pytest

from metaharness import clean, liveness, worktree
from metaharness.clean import Action
from metaharness.exits import Exit, MhError
from metaharness.tree import find_tree, write_json


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.setenv("MH_ROOT", str(tmp_path))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # tmp_path is in no repository
    return find_tree(create=True)


def _harness(tree, where, status="completed"):
    directory = tree / where
    directory.mkdir(parents=True)
    write_json(directory / "state.json", {"status": status, "host": liveness.this_host()})
    if status != "running":
        write_json(directory / "result.json", {"status": status})
    return directory


def test_archives_of_an_id_are_told_apart_from_those_of_an_id_it_prefixes(tree):
    _harness(tree, "a")
    _harness(tree, ".archive/a.20260101T000000Z-00000001")
    _harness(tree, "a.b")
    _harness(tree, ".archive/a.b.20260101T000000Z-00000002")
    [outcome] = clean.clean(tree, ["a"])
    assert (outcome.action, outcome.directory, outcome.archived) == (Action.REMOVED, True, 1)
    assert sorted(os.listdir(tree / ".archive")) == ["a.b.20260101T000000Z-00000002"]
    assert (tree / "a.b").is_dir() and os.listdir(tree / ".tmp") == []


def test_without_ids_every_ended_harness_goes_and_a_locked_one_stays(tree):
    _harness(tree, "done")
    _harness(tree, "dead", "running")  # nobody holds its lock
    (tree / "broken").mkdir()  # corrupt: no state.json
    live = _harness(tree, "live", "running")
    (tree.parent / ".harness-worktrees" / ".not-an-id").mkdir(parents=True)
    fd = liveness.hold_lock(live / "lock")
    try:
        outcomes = list(clean.clean(tree, None))
        assert [(o.id, o.action) for o in outcomes] == [("broken", Action.REMOVED), ("dead", Action.REMOVED),
                                                        ("done", Action.REMOVED)]
        [refused] = clean.clean(tree, ["live"], force=True)
        assert (refused.action, refused.reason) == (Action.REFUSED, "it is running")
    finally:
        os.close(fd)
    assert sorted(os.listdir(tree)) == [".archive", ".tmp", "FORMAT", "live"]


def test_dry_run_decides_but_removes_nothing(tree):
    _harness(tree, "done")
    assert [o.action for o in clean.clean(tree, None, dry_run=True)] == [Action.WOULD_REMOVE]
    assert (tree / "done" / "result.json").exists()


def test_a_named_id_with_nothing_to_remove_is_an_error_before_anything_goes(tree):
    _harness(tree, "done")
    with pytest.raises(MhError) as e:
        list(clean.clean(tree, ["done", "nope"]))
    assert e.value.code == Exit.NOT_FOUND and "nope" in str(e.value)
    assert (tree / "done").is_dir()
    with pytest.raises(MhError) as e:
        list(clean.clean(tree, ["../done"]))
    assert e.value.code == Exit.USAGE


def test_a_branch_is_merged_once_another_branch_or_a_remote_tracking_one_holds_its_commits(tmp_path):
    repo = tmp_path / "repo"
    for args in (["init", "-q", "-b", "main", str(repo)], ["-C", str(repo), "commit", "-q", "--allow-empty", "-m", "base"],
                 ["-C", str(repo), "checkout", "-q", "-b", "mh/a"],
                 ["-C", str(repo), "commit", "-q", "--allow-empty", "-m", "a1"]):
        subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], check=True)
    assert worktree.unmerged_commits(repo, "mh/a") == 1
    worktree.git(repo, "update-ref", "refs/remotes/origin/mh/a", "mh/a")  # pushed
    assert worktree.unmerged_commits(repo, "mh/a") == 0
    worktree.git(repo, "update-ref", "-d", "refs/remotes/origin/mh/a")
    worktree.git(repo, "branch", "mh/b", "mh/a")  # a pipeline stage built on it
    assert worktree.unmerged_commits(repo, "mh/a") == 0 and worktree.unmerged_commits(repo, "mh/b") == 0
    assert worktree.checked_out_at(repo, "mh/a") == [repo] and worktree.checked_out_at(repo, "mh/b") == []
