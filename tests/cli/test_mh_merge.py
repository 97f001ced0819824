"""mh-merge: the harnesses' branches land on a target one at a time, checked, by
fast-forward only; a conflict, a failed check or a kill -9 at any step loses nothing."""

import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import BIN, TIMEOUT

COMPLETE = "echo '<promise>COMPLETE</promise>'"


def _git(cwd, *args):
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(project):
    root = project.root
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.name", "t")
    _git(root, "config", "user.email", "t@example.com")
    (root / "NOTES.md").write_text("# Notes\n")
    (root / ".gitignore").write_text("*.md.road\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "init")
    return root


def _harness(project, harness_id, script):
    road = project.root / f"{harness_id}.md.road"
    road.write_text("- [ ] the work\n")
    r = project.run("spawn", harness_id, str(road), "--worktree", "--agent-cmd", f"{script} && {COMPLETE}", "-q")
    assert r.returncode == 0, r.stderr


def _own_file(harness_id):
    """The agent of `harness_id`: a file of its own, committed."""
    return 'echo "$MH_ID" > "$MH_ID.txt" && git add "$MH_ID.txt" && git commit -qm "$MH_ID"'


def _state(repo, *branches):
    return {b: _git(repo, "rev-parse", f"refs/heads/{b}") for b in ("main", *branches)}


def test_three_branches_land_in_order_and_main_has_all_three(project, repo):
    for harness_id in ("a", "b", "c"):
        _harness(project, harness_id, _own_file(harness_id))
    r = project.run("merge", "a", "b", "c", "--into", "main", "--verify", "test -e a.txt")
    assert r.returncode == 0, r.stderr
    assert [line.split(":")[0] for line in r.stdout.splitlines()] == ["a", "b", "c"]
    assert _git(repo, "log", "--format=%s", "main").splitlines() == ["c", "b", "a", "init"]  # rebased: linear
    assert sorted(p.name for p in repo.glob("?.txt")) == ["a.txt", "b.txt", "c.txt"]  # the checkout moved with main
    for harness_id in ("a", "b", "c"):
        record = json.loads((project.tree / harness_id / "merge.json").read_text())
        assert record["status"] == "merged" and record["into"] == "main"
        assert _git(repo, "rev-parse", f"mh/{harness_id}") == record["commit"]  # the branch is what landed
    assert "MERGED into main" in project.run("status", "--wide").stdout
    assert "merge_merged" in [e["event"] for e in project.events("a")]
    assert project.run("merge", "--all-completed", "--into", "main").stdout == ""  # nothing left to land
    r = project.run("clean")  # merged branches are merged: mh-clean removes them
    assert r.returncode == 0 and _git(repo, "branch", "--list", "--format=%(refname:short)") == "main"
    assert _git(repo, "worktree", "list").count("\n") == 0  # no scratch worktree left behind


def test_a_conflict_stops_the_queue_changing_nothing_and_names_the_file(project, repo):
    for harness_id in ("a", "b"):
        _harness(project, harness_id, f'echo "{harness_id} was here" >> NOTES.md && git commit -qam {harness_id}')
    _harness(project, "c", _own_file("c"))
    before = _state(repo, "mh/b", "mh/c")
    worktree_b = (project.root / ".harness-worktrees" / "b" / "NOTES.md").read_text()
    r = project.run("merge", "a", "b", "c", "--into", "main")
    assert r.returncode == 1
    assert r.stdout.splitlines()[1] == "b: conflict: mh/b conflicts with main in NOTES.md: nothing changed"
    assert len(r.stdout.splitlines()) == 2  # c was never tried: the queue stopped
    after = _state(repo, "mh/b", "mh/c")
    assert after["mh/b"] == before["mh/b"] and after["mh/c"] == before["mh/c"] and after["main"] != before["main"]
    assert (project.root / ".harness-worktrees" / "b" / "NOTES.md").read_text() == worktree_b
    record = json.loads((project.tree / "b" / "merge.json").read_text())
    assert (record["status"], record["files"]) == ("conflict", ["NOTES.md"])
    status = [json.loads(line) for line in project.run("status", "--json").stdout.splitlines() if '"id"' in line]
    assert "MERGE-CONFLICT" in next(s for s in status if s["id"] == "b")["alerts"]
    r = project.run("merge", "b", "c", "--into", "main", "--on-conflict", "skip")
    assert r.returncode == 1 and r.stdout.splitlines()[1].startswith("c: merged into main")


def test_a_failing_check_on_the_combined_result_leaves_main_where_it_was(project, repo):
    _harness(project, "a", _own_file("a"))
    before = _state(repo, "mh/a")
    r = project.run("merge", "a", "--into", "main", "--verify", "echo 'FAILED test_x'; exit 1")
    assert r.returncode == 1 and "a: check failed" in r.stdout and "main left where it was" in r.stdout
    assert _state(repo, "mh/a") == before
    record = json.loads((project.tree / "a" / "merge.json").read_text())
    assert record["status"] == "check_failed" and record["check"]["tail"] == "FAILED test_x\n"
    assert "CHECK FAILED" in project.run("status", "--wide").stdout


def test_no_rebase_makes_a_merge_commit_and_leaves_the_branch_as_it_was(project, repo):
    _harness(project, "a", _own_file("a"))
    (repo / "main.txt").write_text("on main\n")
    _git(repo, "add", "main.txt")
    _git(repo, "commit", "-qm", "main moved")
    branch = _git(repo, "rev-parse", "mh/a")
    r = project.run("merge", "a", "--into", "main", "--no-rebase")
    assert r.returncode == 0, r.stderr
    assert _git(repo, "log", "-1", "--format=%s", "main") == "Merge mh/a into main"
    assert _git(repo, "rev-parse", "mh/a") == branch


def test_dry_run_changes_nothing(project, repo):
    _harness(project, "a", _own_file("a"))
    before = _state(repo, "mh/a")
    r = project.run("merge", "--dry-run", "--all-completed", "--into", "main")
    assert (r.returncode, r.stdout) == (0, "a: would rebase 1 commit(s) of mh/a onto main\n")
    assert _state(repo, "mh/a") == before and not (project.tree / "a" / "merge.json").exists()


def test_the_main_checkout_s_uncommitted_changes_are_never_touched(project, repo):
    _harness(project, "a", _own_file("a"))
    (repo / "NOTES.md").write_text("# Notes\nmine, not committed\n")
    before = _state(repo, "mh/a")
    r = project.run("merge", "a", "--into", "main")
    assert r.returncode == 12 and "uncommitted changes" in r.stderr and r.stderr.count("\n") == 1
    assert (repo / "NOTES.md").read_text() == "# Notes\nmine, not committed\n" and _state(repo, "mh/a") == before


def test_bad_input(project, repo):
    _harness(project, "a", _own_file("a"))
    project.spawn("plain", COMPLETE)
    project.run("wait", "plain")
    project.spawn("live", "exec sleep 1000")
    for args, code, words in (
            (["a"], 2, "--into"), (["--into", "main"], 2, "name the harnesses"),
            (["a", "--all-completed", "--into", "main"], 2, "name the harnesses"),
            (["nope", "--into", "main"], 7, "nope"), (["../x", "--into", "main"], 2, "../x"),
            (["plain", "--into", "main"], 12, "not spawned with --worktree"), (["live", "--into", "main"], 12, "running"),
            (["a", "--into", "no-such-branch"], 2, "no branch no-such-branch"),
            (["a", "--into", "main", "--on-conflict", "spawn"], 2, "--agent")):
        r = project.run("merge", *args)
        assert r.returncode == code and words in r.stderr and r.stderr.count("\n") == 1, (args, r.stderr)
    project.run("stop", "live")


def test_a_second_mh_merge_waits_for_the_first(project, repo):
    import fcntl

    _harness(project, "a", _own_file("a"))
    lock = os.open(repo / ".git" / "mh-merge.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(lock, fcntl.LOCK_EX)  # as a running mh-merge holds it
    waiting = project.start("merge", "a", "--into", "main")
    assert "another mh-merge is landing branches" in waiting.stderr.readline()
    os.close(lock)
    assert waiting.wait(TIMEOUT) == 0 and "a: merged into main" in waiting.stdout.read()


@pytest.mark.parametrize("step", ["check", "refs/heads/main", "refs/heads/mh/a"])
def test_kill_9_at_any_step_leaves_everything_consistent_and_a_rerun_finishes(project, repo, step):
    """mh-merge killed during the check, right after main moved, right after the branch
    moved (a git reference-transaction hook does the killing)."""
    _harness(project, "a", _own_file("a"))
    before = _state(repo, "mh/a")
    pid_file = project.root / "merge.pid"
    kill = f'kill -9 "$(cat {pid_file})"'
    hook = repo / ".git" / "hooks" / "reference-transaction"
    hook.write_text(f'#!/bin/sh\n[ "$1" = committed ] && [ -n "$KILL_AT_REF" ] && grep -q " $KILL_AT_REF$" && {kill}\nexit 0\n')
    hook.chmod(0o755)
    env = {**project.env, "KILL_AT_REF": "" if step == "check" else step}
    verify = f"{kill}; sleep 60" if step == "check" else "true"
    merging = subprocess.Popen([sys.executable, str(BIN / "mh-merge"), "a", "--into", "main", "--verify", verify],
                               cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid_file.write_text(str(merging.pid))
    assert merging.wait(TIMEOUT) == -signal.SIGKILL
    after = _state(repo, "mh/a")
    if step == "check":  # nothing moved
        assert after == before
    else:  # main moved to a commit holding a's work; the branch is its old self or that commit
        assert _git(repo, "merge-base", "--is-ancestor", before["main"], after["main"]) == ""
        assert after["mh/a"] in (before["mh/a"], after["main"])
    _git(repo, "fsck", "--no-progress")
    hook.unlink()
    r = project.run("merge", "a", "--into", "main")
    assert r.returncode == 0, r.stderr
    assert (repo / "a.txt").read_text() == "a\n" and _git(repo, "rev-parse", "mh/a") == _git(repo, "rev-parse", "main")
    assert json.loads((project.tree / "a" / "merge.json").read_text())["status"] == "merged"
    assert "merge-" not in _git(repo, "worktree", "list") and not list((project.tree / ".tmp").glob("merge-*"))


def test_a_conflict_can_be_handed_to_a_resolver_harness(project, repo):
    for harness_id in ("a", "b"):
        _harness(project, harness_id, f'echo "{harness_id} was here" >> NOTES.md && git commit -qam {harness_id}')
    resolve = ('git merge -q main -m merge >/dev/null 2>&1; printf "# Notes\\na was here\\nb was here\\n" > NOTES.md'
               f' && git add NOTES.md && git commit -qm resolved && {COMPLETE}')
    r = project.run("merge", "a", "b", "--into", "main", "--on-conflict", "spawn", "--agent-cmd", resolve)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "b: conflict in NOTES.md: spawned b-resolve to resolve it" in r.stdout
    assert (repo / "NOTES.md").read_text() == "# Notes\na was here\nb was here\n"
    record = json.loads((project.tree / "b" / "merge.json").read_text())
    assert record["status"] == "merged" and record["reason"].startswith("resolved by b-resolve")
    assert _git(repo, "merge-base", "--is-ancestor", "mh/b", "main") == ""  # b's own commit is in main too


def test_mh_watch_reports_a_conflict_and_a_failed_check(project, repo):
    for harness_id in ("a", "b"):
        _harness(project, harness_id, f'echo "{harness_id} was here" >> NOTES.md && git commit -qam {harness_id}')
    _harness(project, "c", _own_file("c"))
    watcher = project.start("watch", "--json")
    project.run("merge", "a", "b", "--into", "main", "--on-conflict", "skip")
    project.run("merge", "c", "--into", "main", "--verify", "false")
    seen = {}
    while set(seen) != {"merge_conflict", "merge_check_failed"}:
        alert = json.loads(watcher.stdout.readline())
        seen[alert["event"]] = alert
    assert seen["merge_conflict"]["id"] == "b" and "NOTES.md" in seen["merge_conflict"]["reason"]
    assert seen["merge_check_failed"]["id"] == "c"
