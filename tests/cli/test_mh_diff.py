"""mh-diff: what a --worktree harness changed against its base, as a stat or in full."""

import shutil

EDIT = "echo {text} > f.txt && git commit -qam {text} && echo '<promise>COMPLETE</promise>'"


def test_mh_diff_shows_what_a_harness_changed(project, repo):
    project.run("spawn", "a", str(project.roadmap("a.md")), "--worktree", "-q", "--agent-cmd", EDIT.format(text="a"))
    r = project.run("diff", "a")
    assert r.returncode == 0 and "f.txt" in r.stdout and "1 file changed" in r.stdout
    r = project.run("diff", "a", "--full")
    assert r.returncode == 0 and "-base" in r.stdout and "+a" in r.stdout
    project.spawn("plain", "echo '<promise>COMPLETE</promise>'")
    r = project.run("diff", "plain")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no worktree" in r.stderr
    assert project.run("diff", "nope").returncode == 7


def test_uncommitted_changes_count_and_a_vanished_worktree_is_a_system_error(project, repo):
    project.run("spawn", "a", str(project.roadmap("a.md")), "--worktree", "-q", "--agent-cmd", EDIT.format(text="a"))
    worktree = project.root / ".harness-worktrees" / "a"
    (worktree / "f.txt").write_text("changed again\n")
    assert "+changed again" in project.run("diff", "a", "--full").stdout
    shutil.rmtree(worktree)
    r = project.run("diff", "a")
    assert r.returncode == 11 and r.stderr.count("\n") == 1 and "gone" in r.stderr
    r = project.run("diff", "../a")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
