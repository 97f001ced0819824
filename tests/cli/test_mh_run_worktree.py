"""mh-run with `worktree: true`: pipeline stages build on each other's branches, and race
and voting winners are reported by branch."""

import json
import subprocess
import textwrap

COMMIT = "echo {text} >> f.txt && git commit -qam {text} && echo '<promise>COMPLETE</promise>'"


def _plan(project, text):
    for road in ("a.md", "b.md", "c.md"):
        project.roadmap(road)
    (project.root / "plan.yaml").write_text(textwrap.dedent(text))


def _run(project):
    r = project.run("run", "plan.yaml", "--json")
    return r, json.loads(r.stdout) if r.stdout else None


def _log(repo, branch):
    return subprocess.run(["git", "-C", str(repo), "log", "--format=%s", branch],
                          capture_output=True, text=True, check=True).stdout.split()


def test_pipeline_stages_start_from_the_previous_stages_branch(project, repo):
    _plan(project, f"""
        strategy: pipeline
        defaults: {{worktree: true}}
        harnesses:
          - {{id: a, roadmap: a.md, agent_cmd: "{COMMIT.format(text='a')}"}}
          - {{id: b, roadmap: b.md, agent_cmd: "{COMMIT.format(text='b')}"}}
          - {{id: c, roadmap: c.md, agent_cmd: "{COMMIT.format(text='c')}"}}
    """)
    r, record = _run(project)
    assert r.returncode == 0, r.stderr
    assert _log(repo, "mh/c") == ["c", "b", "a", "base"]
    assert (repo / "f.txt").read_text() == "base\n"
    assert [record["harnesses"][i]["worktree"]["ahead"] for i in "abc"] == [1, 1, 1]
    assert json.loads((project.tree / "c" / "spec.json").read_text())["worktree"]["base"] == "mh/b"


def test_a_race_winner_is_reported_by_branch(project, repo):
    _plan(project, f"""
        strategy: race
        defaults: {{worktree: true, grace: 1}}
        harnesses:
          - {{id: a, roadmap: a.md, agent_cmd: "exec sleep 1000"}}
          - {{id: b, roadmap: b.md, agent_cmd: "{COMMIT.format(text='b')}"}}
    """)
    r = project.run("run", "plan.yaml")
    assert r.returncode == 0, r.stderr
    assert "mh-run: winner: b (branch mh/b: git merge mh/b)" in r.stderr.splitlines()
    record = json.loads(next((project.tree / "runs").glob("*/run.json")).read_text())
    assert (record["winner"], record["winner_branch"]) == ("b", "mh/b")
    assert _log(repo, "mh/b") == ["b", "base"]


def test_voting_scores_each_candidate_in_its_own_worktree(project, repo):
    (repo / "sub").mkdir()  # the candidates work, and are scored, in their worktree's sub/
    score = "echo {n} > score && git add score && git commit -qm {n} && echo '<promise>COMPLETE</promise>'"
    _plan(project, f"""
        strategy: voting
        min_votes: 3
        score_cmd: "cat score"
        defaults: {{worktree: true, workdir: sub}}
        harnesses:
          - {{id: a, roadmap: a.md, agent_cmd: "{score.format(n=3)}"}}
          - {{id: b, roadmap: b.md, agent_cmd: "{score.format(n=7)}"}}
          - {{id: c, roadmap: c.md, agent_cmd: "{score.format(n=5)}"}}
    """)
    r, record = _run(project)
    assert r.returncode == 0, r.stderr
    assert [record["harnesses"][i]["score"] for i in "abc"] == [3.0, 7.0, 5.0]
    assert (record["winner"], record["winner_branch"]) == ("b", "mh/b")
    assert subprocess.run(["git", "-C", str(repo), "show", "mh/b:sub/score"], capture_output=True, text=True).stdout == "7\n"


def test_worktree_mistakes_in_a_plan_are_refused_before_anything_starts(project, repo, tmp_path_factory):
    plain = tmp_path_factory.mktemp("plain")
    for text, message in (
        ("harnesses:\n  - {id: a, roadmap: a.md, agent_cmd: x, base: main}\n", "plan.yaml:2: harnesses (a).base: needs worktree: true"),
        ("harnesses:\n  - {id: a, roadmap: a.md, agent_cmd: x, worktree: true, base: nope}\n", "--base nope: no such commit"),
        (f"harnesses:\n  - {{id: a, roadmap: a.md, agent_cmd: x, worktree: true, workdir: {plain}}}\n", "not in one"),
        ("harnesses:\n  - {id: a, roadmap: a.md, agent_cmd: x, worktree: true}\n"
         "  - {id: b, roadmap: b.md, agent_cmd: x, worktree: true, base: mh/a}\n", "(b): --base mh/a: no such commit"),
    ):
        _plan(project, text)
        r = project.run("run", "plan.yaml")
        assert r.returncode == 2 and message in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert not (project.tree / "a").exists()
