"""mh-spawn --worktree: each harness on its own branch, from a base, after its dependencies."""

import json
import os
import signal
import subprocess
import sys

from conftest import BIN, TIMEOUT

from metaharness.notify import wait_for_path

EDIT = ("echo {text} > f.txt && git commit -qam {text} && echo '<promise>COMPLETE</promise>'")


def _show(repo, ref):
    return subprocess.run(["git", "-C", str(repo), "show", ref], capture_output=True, text=True, check=True).stdout


def test_two_harnesses_edit_one_file_on_their_own_branches(project, repo):
    for hid in ("a", "b"):
        r = project.run("spawn", hid, str(project.roadmap(f"{hid}.md")), "--worktree", "-q",
                        "--agent-cmd", EDIT.format(text=hid))
        assert r.returncode == 0, r.stderr
        wt = project.result(hid)["worktree"]
        assert (wt["branch"], wt["ahead"], wt["files_changed"], wt["dirty"]) == (f"mh/{hid}", 1, 1, False)
    assert _show(repo, "mh/a:f.txt") == "a\n" and _show(repo, "mh/b:f.txt") == "b\n"
    assert (repo / "f.txt").read_text() == "base\n"


def test_a_pipeline_stage_starts_from_the_previous_stages_branch(project, repo):
    b = project.start("spawn", "b", str(project.roadmap("b.md")), "--worktree", "--base", "mh/a", "--after", "a", "-q",
                      "--agent-cmd", "grep -q a f.txt && echo '<promise>COMPLETE</promise>'")
    r = project.run("spawn", "a", str(project.roadmap("a.md")), "--worktree", "-q", "--agent-cmd", EDIT.format(text="a"))
    assert r.returncode == 0, r.stderr
    assert b.wait(60) == 0
    assert project.result("b")["worktree"]["ahead"] == 0


def test_worktree_errors_are_usage_errors(project, repo, tmp_path_factory):
    plain = tmp_path_factory.mktemp("not-a-repo")
    r = project.run("spawn", "a", str(project.roadmap()), "--worktree", "--base", "nope", "--agent-cmd", "true")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "nope" in r.stderr
    r = project.run("spawn", "a", str(project.roadmap()), "--worktree", "--workdir", str(plain), "--agent-cmd", "true")
    assert r.returncode == 2 and "git repository" in r.stderr
    r = project.run("spawn", "a", str(project.roadmap()), "--base", "main", "--agent-cmd", "true")
    assert r.returncode == 2 and "--worktree" in r.stderr
    assert not (project.tree / "a").exists()


def test_spawning_an_id_again_continues_its_branch(project, repo):
    for text in ("one", "two"):
        r = project.run("spawn", "a", str(project.roadmap("a.md")), "--worktree", "-q", "--agent-cmd", EDIT.format(text=text))
        assert r.returncode == 0, r.stderr
    wt = project.result("a")["worktree"]
    assert (wt["ahead"], wt["files_changed"]) == (2, 1)
    log = subprocess.run(["git", "-C", str(repo), "log", "--format=%s", "mh/a"], capture_output=True, text=True).stdout
    assert log.split() == ["two", "one", "base"]


def test_mh_status_shows_branch_commits_ahead_and_dirty(project, repo):
    project.run("spawn", "a", str(project.roadmap("a.md")), "--worktree", "-q", "--agent-cmd", EDIT.format(text="a"))
    project.spawn("plain", "echo '<promise>COMPLETE</promise>'")
    r = project.run("status")
    assert "BRANCH" in r.stdout.splitlines()[0]
    assert "mh/a +1 clean" in r.stdout
    (project.root / ".harness-worktrees" / "a" / "scratch.txt").write_text("not committed\n")
    records = {rec["id"]: rec for rec in map(json.loads, project.run("status", "--json").stdout.splitlines()) if "id" in rec}
    wt = records["a"]["worktree"]
    assert (wt["branch"], wt["ahead"], wt["files_changed"], wt["dirty"]) == ("mh/a", 1, 1, True)
    assert records["plain"]["worktree"] is None
    assert "mh/a +1 dirty" in project.run("status", "a").stdout
    assert "BRANCH" not in project.run("status", "plain").stdout


def test_ctrl_c_while_the_worktree_is_made_leaves_a_whole_worktree_and_an_interrupted_harness(project, repo):
    # git runs the post-checkout hook while adding a worktree: hold it there.
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f'#!/bin/sh\ntouch {project.root}/in-hook\nwhile [ ! -e {project.root}/go ]; do sleep 0.05; done\n')
    hook.chmod(0o755)
    proc = subprocess.Popen([sys.executable, str(BIN / "mh-spawn"), "a", str(project.roadmap("a.md")), "--worktree",
                             "--agent-cmd", EDIT.format(text="a")], cwd=repo, env=project.env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, process_group=0)
    project._started.append(proc)
    assert wait_for_path(project.root / "in-hook", TIMEOUT)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl+C sends the terminal's foreground group
    (project.root / "go").touch()
    assert proc.wait(TIMEOUT) == 130
    assert project.result("a")["status"] == "interrupted"
    hook.unlink()
    r = project.run("spawn", "a", str(project.roadmap("a.md")), "--worktree", "-q", "--agent-cmd", EDIT.format(text="a"))
    assert r.returncode == 0, r.stderr
    assert project.result("a")["worktree"]["ahead"] == 1


def test_ids_that_cannot_name_a_branch_and_bases_no_dependency_makes_are_usage_errors(project, repo):
    r = project.run("spawn", "x.lock", str(project.roadmap()), "--worktree", "--agent-cmd", "true")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not a valid git branch name" in r.stderr
    r = project.run("spawn", "b", str(project.roadmap()), "--worktree", "--base", "mh/typo", "--after", "a",
                    "--agent-cmd", "true")
    assert r.returncode == 2 and "mh/typo" in r.stderr
    assert not (project.tree / "x.lock").exists() and not (project.tree / "b").exists()


def test_the_agent_runs_in_the_worktrees_copy_of_workdir_whatever_git_variables_it_inherits(project, repo):
    (repo / "sub").mkdir()
    (repo / "sub" / "g.txt").write_text("g\n")
    subprocess.run(["git", "-C", str(repo), "add", "sub"], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "sub"], check=True)
    agent = "pwd > where && git add where && git commit -qm where && echo '<promise>COMPLETE</promise>'"
    r = project.run("spawn", "a", str(project.roadmap("a.md")), "--worktree", "--workdir", "sub", "-q", "--agent-cmd", agent,
                    env={"GIT_DIR": str(repo / ".git"), "GIT_WORK_TREE": str(repo)})  # as inside a git hook
    assert r.returncode == 0, r.stderr
    assert _show(repo, "mh/a:sub/where").strip() == str(project.root / ".harness-worktrees" / "a" / "sub")
    assert project.result("a")["worktree"]["ahead"] == 1
    assert subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True).stdout == ""
