"""mh-clean: ended harnesses, their worktrees and branches go; work that is nowhere else stays.

The `repo` fixture (conftest.py) makes the project a git repository with one commit."""

import json
import os
import signal
import subprocess
import sys

from conftest import BIN, TIMEOUT, process_exists

from metaharness.notify import wait_for_path

COMPLETE = "echo '<promise>COMPLETE</promise>'"
COMMIT = "echo {text} > f.txt && git commit -qam {text} && " + COMPLETE
UNTRACKED = "echo scratch > new.txt && echo more > other.txt && " + COMPLETE


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def _branches(repo):
    return _git(repo, "branch", "--format=%(refname:short)").split()


def _finished(project, hid, agent_cmd, *options):
    """Spawn a --worktree harness in the foreground: it has ended when this returns."""
    r = project.run("spawn", hid, str(project.roadmap(f"{hid}.md")), "--worktree", "-q", "--agent-cmd", agent_cmd, *options)
    assert r.returncode == 0, r.stderr
    return project.root / ".harness-worktrees" / hid


def _gone(project, repo, hid):
    return (not (project.tree / hid).exists() and not (project.root / ".harness-worktrees" / hid).exists()
            and f"mh/{hid}" not in _branches(repo))


def test_a_finished_harness_whose_branch_is_merged_is_removed_with_its_worktree_and_branch(project, repo):
    _finished(project, "a", COMMIT.format(text="a"))
    _git(repo, "merge", "-q", "--ff-only", "mh/a")
    r = project.run("clean")
    assert (r.returncode, r.stdout, r.stderr) == (0, "removed a: worktree .harness-worktrees/a, branch mh/a, harness directory\n", "")
    assert _gone(project, repo, "a")
    assert "/.harness-worktrees/a" not in _git(repo, "worktree", "list")
    assert (repo / "f.txt").read_text() == "a\n"
    assert not list((project.tree / ".tmp").iterdir())
    assert project.run("clean").stdout == ""  # nothing left to do is success


def test_uncommitted_changes_and_unmerged_commits_are_refused_and_kept(project, repo):
    dirty = _finished(project, "dirty", UNTRACKED)
    _finished(project, "ahead", COMMIT.format(text="ahead"))
    r = project.run("clean", "dirty", "ahead")
    assert r.returncode == 12 and r.stdout == ""
    assert r.stderr == ("mh-clean: refusing dirty: its worktree has 2 uncommitted files\n"
                        "mh-clean: refusing ahead: mh/ahead has 1 commit on no other branch\n")
    assert (dirty / "new.txt").exists() and (project.tree / "dirty" / "result.json").exists()
    assert (project.root / ".harness-worktrees" / "ahead").is_dir() and (project.tree / "ahead").is_dir()
    assert {"mh/dirty", "mh/ahead"} <= set(_branches(repo))


def test_force_removes_uncommitted_changes_and_unmerged_commits(project, repo):
    _finished(project, "dirty", UNTRACKED)
    _finished(project, "ahead", COMMIT.format(text="ahead"))
    r = project.run("clean", "--force")
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.splitlines() == ["removed ahead: worktree .harness-worktrees/ahead, branch mh/ahead, harness directory",
                                     "removed dirty: worktree .harness-worktrees/dirty, branch mh/dirty, harness directory"]
    assert _gone(project, repo, "dirty") and _gone(project, repo, "ahead")
    assert _branches(repo) == ["main"]


def test_one_refusal_does_not_stop_the_others_from_being_removed(project, repo):
    _finished(project, "ahead", COMMIT.format(text="ahead"))
    _finished(project, "idle", COMPLETE)  # its branch is still at main's commit
    r = project.run("clean")
    assert r.returncode == 12
    assert r.stdout == "removed idle: worktree .harness-worktrees/idle, branch mh/idle, harness directory\n"
    assert r.stderr == "mh-clean: refusing ahead: mh/ahead has 1 commit on no other branch\n"
    assert _gone(project, repo, "idle") and (project.tree / "ahead").is_dir()


def _snapshot(project, repo):
    files = sorted(os.path.relpath(os.path.join(d, n), repo) for d, subdirs, names in os.walk(repo)
                   if ".git" not in d.split(os.sep) for n in subdirs + names)
    refs = _git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    return files, refs, _git(repo, "worktree", "list", "--porcelain")


def test_dry_run_says_what_would_go_and_changes_nothing(project, repo):
    _finished(project, "ahead", COMMIT.format(text="ahead"))
    _finished(project, "idle", COMPLETE)
    before = _snapshot(project, repo)
    r = project.run("clean", "--dry-run")
    assert r.returncode == 12
    assert r.stdout == "would remove idle: worktree .harness-worktrees/idle, branch mh/idle, harness directory\n"
    assert r.stderr == "mh-clean: would refuse ahead: mh/ahead has 1 commit on no other branch\n"
    r = project.run("clean", "--dry-run", "--force")
    assert (r.returncode, len(r.stdout.splitlines()), r.stderr) == (0, 2, "")
    assert _snapshot(project, repo) == before
    assert len(before[0]) > 20 and "refs/heads/mh/ahead" in before[1] and "mh/idle" in before[2]


def test_a_live_harness_is_never_removed_even_named_and_forced(project, repo):
    project.spawn("live", "exec sleep 1000", "--worktree")
    project.wait_for_state("live", lambda s: s.get("worktree") and s.get("agent_pid"))
    assert project.run("clean").stdout == ""  # not a candidate without a name
    for options in ((), ("--force",), ("--force", "--dry-run")):
        r = project.run("clean", "live", *options)
        assert r.returncode == 12 and r.stdout == ""
        assert r.stderr.endswith("live: it is running\n") and r.stderr.count("\n") == 1
    assert project.state("live")["status"] == "running"
    assert (project.root / ".harness-worktrees" / "live").is_dir() and "mh/live" in _branches(repo)


def test_a_dead_harness_is_removed_after_its_orphaned_agent_is_ended(project, repo):
    project.spawn("dead", "exec sleep 1000", "--worktree")
    agent = project.wait_for_state("dead", lambda s: s.get("worktree") and s.get("agent_pid"))["agent_pid"]
    project.kill_supervisor("dead")
    assert process_exists(agent)  # orphaned, still in the worktree
    r = project.run("clean", "dead")
    assert (r.returncode, r.stderr) == (0, "")
    assert _gone(project, repo, "dead")
    assert not process_exists(agent)


def test_a_harness_without_a_worktree_and_its_archived_instances_are_removed(project, repo):
    for _ in range(2):
        r = project.run("spawn", "plain", str(project.roadmap("plain.md")), "-q", "--agent-cmd", COMPLETE)
        assert r.returncode == 0, r.stderr
    assert [p.name.split(".")[0] for p in (project.tree / ".archive").iterdir()] == ["plain"]
    r = project.run("clean", "plain")
    assert (r.returncode, r.stdout, r.stderr) == (0, "removed plain: harness directory, 1 archived instance\n", "")
    assert not (project.tree / "plain").exists() and not list((project.tree / ".archive").iterdir())


def test_a_pipeline_stage_whose_commits_are_on_the_next_stage_is_removable_and_the_last_is_not(project, repo):
    _finished(project, "a", COMMIT.format(text="a"))
    _finished(project, "b", "echo b >> f.txt && git commit -qam b && " + COMPLETE, "--base", "mh/a")
    r = project.run("clean")
    assert r.returncode == 12
    assert r.stdout == "removed a: worktree .harness-worktrees/a, branch mh/a, harness directory\n"
    assert r.stderr == "mh-clean: refusing b: mh/b has 2 commits on no other branch\n"
    assert _git(repo, "show", "mh/b:f.txt") == "a\nb\n"


def test_a_worktree_whose_harness_directory_is_gone_is_removed_and_the_branch_spawning_continues_is_fresh(project, repo):
    _finished(project, "a", COMMIT.format(text="one"))
    subprocess.run(["rm", "-r", str(project.tree / "a")], check=True)
    r = project.run("clean", "--force")
    assert (r.returncode, r.stdout) == (0, "removed a: worktree .harness-worktrees/a, branch mh/a\n")
    _finished(project, "a", COMMIT.format(text="two"))
    assert _git(repo, "log", "--format=%s", "mh/a").split() == ["two", "base"]


def test_a_branch_checked_out_in_the_main_checkout_is_never_deleted(project, repo):
    _finished(project, "a", COMPLETE)
    _git(repo, "worktree", "remove", str(project.root / ".harness-worktrees" / "a"))
    _git(repo, "checkout", "-q", "mh/a")
    r = project.run("clean", "a", "--force")
    assert r.returncode == 12 and r.stderr == f"mh-clean: refusing a: mh/a is checked out in {repo}\n"
    assert (project.tree / "a").is_dir() and "mh/a" in _branches(repo)


def test_when_git_fails_the_harness_is_kept_and_what_went_before_is_reported(project, repo):
    _finished(project, "a", COMPLETE)
    _finished(project, "b", COMPLETE)
    _git(repo, "worktree", "lock", str(project.root / ".harness-worktrees" / "b"))
    r = project.run("clean", "--json")
    assert r.returncode == 11 and r.stderr.startswith("mh-clean: error: git worktree: ") and r.stderr.count("\n") == 1
    assert [(o["id"], o["action"]) for o in json.loads(r.stdout)] == [("a", "removed")]
    assert (project.tree / "b" / "result.json").exists() and "mh/b" in _branches(repo)


def test_json_lists_one_object_per_id(project, repo):
    _finished(project, "ahead", COMMIT.format(text="ahead"))
    _finished(project, "idle", COMPLETE)
    r = project.run("clean", "--json")
    assert r.returncode == 12 and r.stderr.count("\n") == 1
    assert json.loads(r.stdout) == [
        {"id": "ahead", "action": "refused", "reason": "mh/ahead has 1 commit on no other branch",
         "worktree": str(project.root / ".harness-worktrees" / "ahead"), "branch": "mh/ahead"},
        {"id": "idle", "action": "removed", "reason": None,
         "worktree": str(project.root / ".harness-worktrees" / "idle"), "branch": "mh/idle"},
    ]
    assert len(r.stdout.splitlines()) == 2
    assert json.loads(project.run("clean", "--json", "--dry-run", "--force").stdout)[0]["action"] == "would_remove"


def test_bad_and_unknown_ids_are_errors_and_nothing_is_removed(project, repo):
    _finished(project, "idle", COMPLETE)
    r = project.run("clean", "../x")
    assert r.returncode == 2 and r.stdout == "" and r.stderr.startswith("mh-clean: error: invalid harness id '../x'")
    assert r.stderr.count("\n") == 1
    r = project.run("clean", "idle", "nope")
    assert (r.returncode, r.stdout, r.stderr) == (7, "", "mh-clean: error: no such harness: nope\n")
    assert (project.tree / "idle").is_dir() and "mh/idle" in _branches(repo)


def test_without_a_tree_there_is_nothing_to_clean(project):
    assert (project.run("clean").returncode, project.run("clean", "--json").stdout) == (0, "[]\n")
    r = project.run("clean", "a")
    assert (r.returncode, r.stderr) == (7, "mh-clean: error: no such harness: a\n")


def test_two_cleaners_at_once_refuse_nothing_and_leave_nothing(project, repo):
    for hid in ("a", "b", "c", "d"):
        _finished(project, hid, COMPLETE)
    cleaners = [project.start("clean") for _ in range(2)]
    for cleaner in cleaners:
        assert cleaner.wait(TIMEOUT) == 0, cleaner.stderr.read()
    removed = sorted(line.split(":")[0] for c in cleaners for line in c.stdout.read().splitlines())
    assert removed == ["removed a", "removed b", "removed c", "removed d"]
    assert all(_gone(project, repo, hid) for hid in "abcd")


def test_a_refused_dead_harness_keeps_its_agent(project, repo):
    project.spawn("dead", "echo wip > new.txt; exec sleep 1000", "--worktree")
    agent = project.wait_for_state("dead", lambda s: s.get("worktree") and s.get("agent_pid"))["agent_pid"]
    project.kill_supervisor("dead")
    try:
        assert wait_for_path(project.root / ".harness-worktrees" / "dead" / "new.txt", TIMEOUT)
        r = project.run("clean", "dead")
        assert r.returncode == 12 and "uncommitted" in r.stderr
        assert process_exists(agent)  # refusing changes nothing, processes included
    finally:
        os.killpg(agent, signal.SIGKILL)


def test_dry_run_judges_a_pipeline_as_the_real_run_will(project, repo):
    _finished(project, "a", COMMIT.format(text="a"))
    _finished(project, "b", COMPLETE, "--base", "mh/a")  # no commits of its own: it holds only a's
    dry = project.run("clean", "--dry-run")
    real = project.run("clean")
    assert dry.returncode == real.returncode == 12
    assert dry.stdout.replace("would remove", "removed") == real.stdout == \
        "removed a: worktree .harness-worktrees/a, branch mh/a, harness directory\n"
    assert dry.stderr.replace("would refuse", "refusing") == real.stderr == \
        "mh-clean: refusing b: mh/b has 1 commit on no other branch\n"


def test_the_base_of_a_live_harness_is_never_removed(project, repo):
    _finished(project, "a", COMPLETE)
    project.spawn("z", "exec sleep 1000")
    project.spawn("b", COMPLETE, "--worktree", "--base", "mh/a", "--after", "a,z")
    project.wait_for_state("b", lambda s: s.get("status") == "pending")
    r = project.run("clean", "a", "--force")
    assert (r.returncode, r.stderr) == (12, "mh-clean: refusing a: b, which is live, starts from mh/a\n")
    assert "mh/a" in _branches(repo)


def test_cleaning_from_inside_a_worktree_being_removed_works(project, repo):
    _finished(project, "e", COMPLETE)
    _finished(project, "f", COMPLETE)
    inside = project.root / ".harness-worktrees" / "e"
    r = subprocess.run([sys.executable, str(BIN / "mh-clean")], cwd=inside, env=project.env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 2 and _gone(project, repo, "e") and _gone(project, repo, "f")


def test_older_than_removes_only_harnesses_that_ended_that_long_ago(project):
    project.spawn("old", COMPLETE)
    assert project.run("wait", "old").returncode == 0
    result = json.loads((project.tree / "old" / "result.json").read_text())
    result["ended"] = "2020-01-01T00:00:00.000Z"  # as if it ended years ago
    (project.tree / "old" / "result.json").write_text(json.dumps(result))
    project.spawn("new", COMPLETE)
    assert project.run("wait", "new").returncode == 0
    r = project.run("clean", "--older-than", "30d")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("removed old: ") and "new" not in r.stdout
    assert not (project.tree / "old").exists() and (project.tree / "new").is_dir()
    assert project.run("clean", "--older-than", "0").stdout.startswith("removed new: ")


def test_older_than_with_named_ids_is_a_usage_error(project):
    r = project.run("clean", "a", "--older-than", "1d")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--older-than" in r.stderr


def test_a_queue_item_s_harness_is_kept_until_its_worker_has_settled_the_item(project):
    from metaharness import queue

    [name] = project.run("queue", "add", str(project.roadmap("item.md", tasks=1))).stdout.split()
    claimed = queue.claim(project.tree, "w1")  # a worker holds it: its harness ends, not yet settled
    assert claimed["item"] == name
    harness_id = queue.harness_for(name)
    r = project.run("spawn", harness_id, str(project.roadmap("item.md", tasks=1)), "--agent-cmd", COMPLETE,
                    "--run", name)
    assert r.returncode == 0, r.stderr
    assert project.run("clean").stdout == "" and (project.tree / harness_id).is_dir()
    queue.finish(project.tree, name, True, "done")
    assert project.run("clean").stdout.startswith(f"removed {harness_id}: ")
