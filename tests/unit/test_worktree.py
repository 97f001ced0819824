"""Worktrees per harness: branch mh/<id> from a base, clear errors, concurrent creation."""

import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import process_exists

from metaharness import worktree
from metaharness.exits import Exit, MhError


@pytest.fixture
def repo(tmp_path):
    r = tmp_path / "repo"
    r.mkdir()
    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "t@example.com"],
                 ["config", "user.name", "t"]):
        subprocess.run(["git", "-C", str(r), *args], check=True)
    (r / "f.txt").write_text("base\n")
    subprocess.run(["git", "-C", str(r), "add", "f.txt"], check=True)
    subprocess.run(["git", "-C", str(r), "commit", "-qm", "base"], check=True)
    return r


def test_each_harness_edits_its_own_branch_and_the_checkout_is_untouched(repo, tmp_path):
    for hid in ("a", "b"):
        directory = tmp_path / "wt" / hid
        base, continued = worktree.create(repo, directory, hid, "HEAD")
        assert not continued
        (directory / "f.txt").write_text(f"{hid}\n")
        worktree.git(directory, "commit", "-qam", f"{hid} edits")
        s = worktree.describe(directory, hid, base)
        assert (s["branch"], s["ahead"], s["files_changed"], s["dirty"]) == (f"mh/{hid}", 1, 1, False)
        assert s["head"] == worktree.git(directory, "rev-parse", "HEAD").stdout.strip()
        (directory / "new.txt").write_text("untracked\n")
        assert worktree.describe(directory, hid, base)["dirty"]
    for hid in ("a", "b"):
        assert worktree.git(repo, "show", f"mh/{hid}:f.txt").stdout == f"{hid}\n"
    assert (repo / "f.txt").read_text() == "base\n"
    assert worktree.git(repo, "status", "--porcelain").stdout == ""


def test_a_stage_can_start_from_the_previous_stages_branch(repo, tmp_path):
    a = tmp_path / "wt" / "a"
    worktree.create(repo, a, "a", "HEAD")
    (a / "g.txt").write_text("from a\n")
    worktree.git(a, "add", "g.txt")
    worktree.git(a, "commit", "-qm", "a")
    b = tmp_path / "wt" / "b"
    worktree.create(repo, b, "b", "mh/a")
    assert (b / "g.txt").read_text() == "from a\n"


def test_not_a_repository_and_a_bad_base_are_usage_errors(repo, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(MhError) as e:
        worktree.repository_of(plain)
    assert e.value.code == Exit.USAGE and "git repository" in str(e.value)
    with pytest.raises(MhError) as e:
        worktree.create(repo, tmp_path / "wt" / "x", "x", "no-such-branch")
    assert e.value.code == Exit.USAGE and "no-such-branch" in str(e.value)
    assert not (tmp_path / "wt" / "x").exists()


def test_five_worktrees_created_at_once_all_succeed(repo, tmp_path):
    for round in range(4):  # git fails an add that reads another add's half-written record
        start = threading.Barrier(5)

        def create(i):
            start.wait()
            return worktree.create(repo, tmp_path / "wt" / f"h{round}-{i}", f"h{round}-{i}", "HEAD")

        with ThreadPoolExecutor(5) as pool:
            list(pool.map(create, range(5)))
    branches = worktree.git(repo, "branch", "--list", "--format=%(refname:short)", "mh/*").stdout.split()
    assert sorted(branches) == sorted(f"mh/h{r}-{i}" for r in range(4) for i in range(5))


def test_too_little_free_space_is_refused(repo, tmp_path, monkeypatch):
    monkeypatch.setattr(worktree, "MIN_FREE_BYTES", 1 << 62)
    with pytest.raises(MhError) as e:
        worktree.create(repo, tmp_path / "wt" / "x", "x", "HEAD")
    assert "free" in str(e.value) and not (tmp_path / "wt" / "x").exists()


def test_an_existing_branch_is_continued_never_reset(repo, tmp_path):
    directory = tmp_path / "wt" / "a"
    base, _ = worktree.create(repo, directory, "a", "HEAD")
    (directory / "f.txt").write_text("work\n")
    worktree.git(directory, "commit", "-qam", "work")
    (repo / "f.txt").write_text("main moved on\n")
    worktree.git(repo, "commit", "-qam", "main moves")
    again, continued = worktree.create(repo, directory, "a", "HEAD")  # worktree still there
    assert continued and again == base
    worktree.git(repo, "worktree", "remove", str(directory))
    again, continued = worktree.create(repo, directory, "a", "HEAD")  # only the branch is left
    assert continued and again == base
    assert (directory / "f.txt").read_text() == "work\n"
    assert worktree.describe(directory, "a", again)["ahead"] == 1


def test_a_foreign_directory_in_the_worktrees_place_is_refused(repo, tmp_path):
    directory = tmp_path / "wt" / "a"
    directory.mkdir(parents=True)
    with pytest.raises(MhError) as e:
        worktree.create(repo, directory, "a", "HEAD")
    assert "not the worktree of mh/a" in str(e.value)


def test_a_vanished_worktree_is_described_as_gone(repo, tmp_path):
    assert worktree.describe(tmp_path / "nowhere", "a", "HEAD")["error"] == "the worktree is gone"


def test_worktrees_inside_the_checkout_are_kept_out_of_its_git_status(repo):
    tree = repo / ".harness"
    worktree.create(repo, worktree.directory_for(tree, "a"), "a", "HEAD")
    worktree.create(repo, worktree.directory_for(tree, "b"), "b", "HEAD")
    assert worktree.git(repo, "status", "--porcelain").stdout == ""
    assert (repo / ".git" / "info" / "exclude").read_text().count("/.harness-worktrees/\n") == 1


def test_a_git_hook_that_hangs_is_killed_with_everything_it_started(repo, tmp_path, monkeypatch):
    monkeypatch.setattr(worktree, "GIT_TIMEOUT", 0.5)
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\necho $$ > {tmp_path}/hook.pid\nexec sleep 1000\n")
    hook.chmod(0o755)
    with pytest.raises(MhError) as e:
        worktree.create(repo, tmp_path / "wt" / "a", "a", "HEAD")
    assert e.value.code == Exit.SYSTEM and "no answer in 0.5s" in str(e.value)
    assert not process_exists(int((tmp_path / "hook.pid").read_text()))


def test_an_add_killed_half_way_is_undone_so_the_next_spawn_starts_clean(repo, tmp_path, monkeypatch):
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text("#!/bin/sh\nexec sleep 1000\n")
    hook.chmod(0o755)
    monkeypatch.setattr(worktree, "GIT_TIMEOUT", 0.5)
    directory = tmp_path / "wt" / "a"
    with pytest.raises(MhError):
        worktree.create(repo, directory, "a", "HEAD")
    assert not directory.exists() and not worktree.branch_exists(repo, "mh/a")
    hook.unlink()
    monkeypatch.setattr(worktree, "GIT_TIMEOUT", 600.0)
    assert worktree.create(repo, directory, "a", "HEAD")[1] is False
    assert worktree.describe(directory, "a", "HEAD")["dirty"] is False


def test_names_that_are_not_utf_8_are_described_not_fatal(repo, tmp_path):
    directory = tmp_path / "wt" / "a"
    base, _ = worktree.create(repo, directory, "a", "HEAD")
    (directory / "g\udce9.txt").write_text("latin-1 name\n")
    worktree.git(directory, "add", "-A")
    worktree.git(directory, "commit", "-qm", "latin-1")
    assert worktree.describe(directory, "a", base)["files_changed"] == 1
