"""Trusting the work: --verify gates a claimed completion, blocking hooks (before-start,
before-complete, before-remove) can refuse, and a dependent's prompt carries what its
dependencies answered."""

import json
import os
import textwrap

from conftest import TIMEOUT, wait_for

COMPLETE = "echo '<promise>COMPLETE</promise>'"
# Claims completion every time; the work is really done only from its second iteration on.
EAGER = f'{COMPLETE}; [ -e "$MH_ROOT/attempted" ] && touch "$MH_ROOT/done"; touch "$MH_ROOT/attempted"'
CHECK = 'test -e "$MH_ROOT/done" || { echo "FAILED test_feature: done is missing"; exit 1; }'


def _hook(project, name, body):
    hooks = project.tree / "hooks"
    hooks.mkdir(parents=True, exist_ok=True)
    path = hooks / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o755)


def test_a_claim_the_check_refutes_is_retried_with_the_check_s_output_in_the_prompt(project):
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", EAGER, "--verify", CHECK, "--backoff", "0")
    assert r.returncode == 0, r.stderr
    result = project.result("a")
    assert result["iterations"] == 2 and result["reason"].endswith("(verified)")
    assert result["check"]["passed"] and result["check"]["command"] == CHECK and result["check"]["iteration"] == 2
    second = (project.tree / "a" / "iterations" / "0002" / "prompt").read_text()
    assert "the check `" in second and "FAILED test_feature: done is missing" in second
    kinds = [e["event"] for e in project.events("a")]
    assert kinds.count("verify_started") == 2 and kinds.count("verify_failed") == 1 and kinds.count("verify_passed") == 1
    assert (project.tree / "a" / "iterations" / "0001" / "verify").read_text() == "FAILED test_feature: done is missing\n"


def test_a_check_that_never_passes_leaves_the_harness_incomplete(project):
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", COMPLETE, "--verify", "echo nope; exit 3",
                    "--max-iterations", "3", "--backoff", "0")
    assert r.returncode == 3
    result = project.result("a")
    assert result["status"] == "incomplete" and result["iterations"] == 3
    assert result["check"] == {**result["check"], "passed": False, "exit_code": 3, "tail": "nope\n"}
    record = json.loads(project.run("status", "--json", "a").stdout.splitlines()[0])
    assert record["check"]["passed"] is False and "CHECK-FAILED" in record["alerts"]
    assert "CHECK-FAILED" in project.run("status").stdout


def test_all_boxes_checked_is_a_claim_the_check_judges_too(project):
    tick = 'sed -i "s/- \\[ \\]/- [x]/" "$MH_ROADMAP"'
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", tick, "--verify", "false",
                    "--max-iterations", "2", "--backoff", "0")
    assert r.returncode == 3 and project.result("a")["check"]["passed"] is False


def test_a_check_that_hangs_is_killed_with_its_children(project):
    check = 'sleep 1000 & echo $! > "$MH_ROOT/child"; echo $$ > "$MH_ROOT/check"; wait'
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", COMPLETE, "--verify", check,
                    "--verify-timeout", "1", "--max-iterations", "1")
    assert r.returncode == 3
    check_record = project.result("a")["check"]
    assert check_record["exit_code"] is None and check_record["ended_by"] == "timed out after 1s"
    for name in ("child", "check"):
        pid = int((project.root / name).read_text())
        assert _ends(pid), f"the check's {name} outlived it"


def _ends(pid):
    """Whether process `pid` has ended, or ends within TIMEOUT (its pidfd turns readable)."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], TIMEOUT)[0])
    finally:
        os.close(fd)


def test_mh_stop_during_a_long_check_ends_it_at_once(project):
    project.spawn("a", COMPLETE, "--verify", 'echo $$ > "$MH_ROOT/check"; exec sleep 1000')
    assert wait_for(lambda: (project.root / "check").exists(), project.root)
    assert project.run("stop", "a").returncode == 0
    assert project.run("wait", "a", "-t", str(TIMEOUT)).returncode == 4
    assert project.result("a")["status"] == "stopped"
    assert _ends(int((project.root / "check").read_text()))


def test_before_start_refusing_means_no_agent_ever_runs(project):
    _hook(project, "before-start", 'echo "installing"; echo "npm ci failed: no network" >&2; exit 1\n')
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", f'touch "$MH_ROOT/ran"; {COMPLETE}')
    assert r.returncode == 1
    result = project.result("a")
    assert result["reason"] == "hooks/before-start refused (exit 1): npm ci failed: no network"
    assert result["iterations"] == 0 and not (project.root / "ran").exists()
    assert "installing" in (project.tree / "a" / "log").read_text()


def test_before_start_runs_in_the_working_directory_before_the_first_iteration(project):
    _hook(project, "before-start", 'echo "from the hook" > prepared.txt\n')
    work = project.root / "work"
    work.mkdir()
    r = project.run("spawn", "a", str(project.roadmap()), "--workdir", str(work),
                    "--agent-cmd", f'cat prepared.txt > "$MH_ROOT/seen"; {COMPLETE}')
    assert r.returncode == 0 and (project.root / "seen").read_text() == "from the hook\n"


def test_before_complete_can_veto_a_completion(project):
    _hook(project, "before-complete", '[ "$MH_ITERATION" -ge 2 ] || { echo "changelog entry missing" >&2; exit 1; }\n')
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", COMPLETE, "--backoff", "0")
    assert r.returncode == 0 and project.result("a")["iterations"] == 2
    prompt = (project.tree / "a" / "iterations" / "0002" / "prompt").read_text()
    assert "hooks/before-complete refused (exit 1): changelog entry missing" in prompt
    assert any(e["event"] == "hook_refused" and e["hook"] == "before-complete" for e in project.events("a"))


def test_a_pipeline_stage_s_prompt_carries_the_previous_stage_s_final_answer(project):
    answer = "The API lives in api.py; endpoints: /users, /orders."
    plan = project.root / "plan.yaml"
    for road in ("a.md", "b.md"):
        project.roadmap(road)
    plan.write_text(textwrap.dedent(f"""
        strategy: pipeline
        harnesses:
          - {{id: design, roadmap: a.md, agent_cmd: "echo '{answer}'; {COMPLETE}", verify: "true"}}
          - {{id: build, roadmap: b.md, agent_cmd: "{COMPLETE}"}}
    """))
    r = project.run("run", "plan.yaml")
    assert r.returncode == 0, r.stderr
    prompt = (project.tree / "build" / "iterations" / "0001" / "prompt").read_text()
    assert f"  > {answer}" in prompt and "Its check `true` passed." in prompt
    final = project.result("design")["final_answer"]
    assert final["text"].startswith(answer) and not final["cut"]
    assert open(final["path"]).read() == final["text"]


def test_a_long_final_answer_is_bounded_and_points_to_the_whole(project):
    long_answer = "python3 -c \"print('x' * 10000)\"; " + COMPLETE
    project.spawn("a", long_answer)
    assert project.run("wait", "a", "-t", str(TIMEOUT)).returncode == 0
    final = project.result("a")["final_answer"]
    assert final["cut"] and len(final["text"]) == 4000 and final["chars"] > 10000
    project.spawn("b", COMPLETE, "--after", "a")
    assert project.run("wait", "b", "-t", str(TIMEOUT)).returncode == 0
    prompt = (project.tree / "b" / "iterations" / "0001" / "prompt").read_text()
    assert f"its last 4000 of {final['chars']} characters; the whole of it: {final['path']}" in prompt


def test_before_remove_can_refuse_mh_clean(project, tmp_path):
    import subprocess

    repo = project.root
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "0"],
                   cwd=repo, check=True)
    r = project.run("spawn", "a", str(project.roadmap()), "--worktree", "--agent-cmd", COMPLETE)
    assert r.returncode == 0, r.stderr
    _hook(project, "before-remove", 'echo "keep $MH_ID: not yet reviewed" >&2; exit 1\n')
    r = project.run("clean", "a")
    assert r.returncode == 12 and "hooks/before-remove refused (exit 1): keep a: not yet reviewed" in r.stderr
    assert (project.tree / "a").is_dir()
    _hook(project, "before-remove", 'exit 0\n')
    assert project.run("clean", "a").returncode == 0 and not (project.tree / "a").exists()


def test_verify_and_sandbox_options_are_checked(project):
    for args, message in ((["--verify-timeout", "0"], "--verify-timeout"), (["--sandbox", "docker"], "--sandbox"),
                          (["--sandbox-net", "off"], "--sandbox-net off needs --sandbox bwrap")):
        r = project.run("spawn", "x", str(project.roadmap()), "--agent-cmd", "true", *args)
        assert r.returncode == 2 and message in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert not (project.tree / "x").exists()


def test_a_sandbox_without_bubblewrap_is_refused_in_one_line(project):
    r = project.run("spawn", "x", str(project.roadmap()), "--agent-cmd", "true", "--sandbox", "bwrap",
                    env={"PATH": "/nonexistent"})
    assert (r.returncode, r.stderr) == (2, "mh-spawn: error: --sandbox bwrap needs bubblewrap, which is not "
                                           "installed (Debian: apt-get install bubblewrap)\n")
    assert not (project.tree / "x").exists()


def test_a_race_is_won_by_the_first_verified_completion_not_the_first_claim(project):
    for road in ("a.md", "b.md"):
        project.roadmap(road)
    after_fast = 'while [ ! -e "$MH_ROOT/.harness/fast/result.json" ]; do sleep 0.05; done; '
    (project.root / "plan.yaml").write_text(textwrap.dedent(f"""
        strategy: race
        harnesses:
          - {{id: fast, roadmap: a.md, agent_cmd: {json.dumps(COMPLETE)}, verify: "false", max_iterations: 1}}
          - {{id: slow, roadmap: b.md, agent_cmd: {json.dumps(after_fast + COMPLETE)}, verify: "true"}}
    """))
    r = project.run("run", "plan.yaml", "--json")
    assert r.returncode == 0, r.stderr
    record = json.loads(r.stdout)
    assert record["winner"] == "slow" and record["harnesses"]["fast"]["status"] == "incomplete"


def test_a_roadmap_already_all_checked_is_still_verified(project):
    road = project.roadmap(done=2)
    r = project.run("spawn", "a", str(road), "--agent-cmd", "true", "--verify", "false", "--max-iterations", "1")
    assert r.returncode == 3 and project.result("a")["check"]["passed"] is False
    r = project.run("spawn", "b", str(project.roadmap("b.md", done=2)), "--agent-cmd", "true")
    assert r.returncode == 0 and project.result("b")["iterations"] == 0  # without a check: done already
