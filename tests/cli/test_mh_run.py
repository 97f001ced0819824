"""mh-run: plans, validation, strategies, cancellation and resume."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from conftest import BIN, TIMEOUT, wait_for

COMPLETE = "echo '<promise>COMPLETE</promise>'"
GATED = 'while [ ! -e "$MH_HARNESS_DIR/go" ]; do sleep 0.05; done; ' + COMPLETE


def _plan(project, text, name="plan.yaml"):
    for road in ("a.md", "b.md", "c.md"):
        project.roadmap(road)
    path = project.root / name
    path.write_text(textwrap.dedent(text))
    return path


def _run(project, *args):
    r = project.run("run", *args, "--json")
    return r, (json.loads(r.stdout) if r.stdout else None)


def test_parallel_runs_everything_and_dependents_after_their_dependencies(project):
    _plan(project, f"""
        strategy: parallel
        defaults: {{agent_cmd: "{COMPLETE}"}}
        harnesses:
          - {{id: a, roadmap: a.md}}
          - {{id: b, roadmap: b.md, depends: [a]}}
          - {{id: c, roadmap: c.md, max_iterations: 3}}
    """)
    r, record = _run(project, "plan.yaml")
    assert r.returncode == 0, r.stderr
    assert {k: v["status"] for k, v in record["harnesses"].items()} == {"a": "completed", "b": "completed", "c": "completed"}
    assert project.state("c")["iteration"] == 1 and json.loads((project.tree / "c" / "spec.json").read_text())["max_iterations"] == 3
    assert json.loads((project.tree / "b" / "spec.json").read_text())["after"] == ["a"]
    assert (project.tree / "runs" / record["run_id"] / "run.json").exists()


def test_a_failure_is_the_runs_exit_and_fail_fast_cancels_the_rest(project):
    _plan(project, """
        strategy: parallel
        fail_fast: true
        harnesses:
          - {id: a, roadmap: a.md, agent_cmd: "exit 1", max_failures: 1}
          - {id: b, roadmap: b.md, agent_cmd: "exec sleep 1000", grace: 1}
    """)
    r, record = _run(project, "plan.yaml")
    assert r.returncode == 1
    assert record["harnesses"]["a"]["status"] == "failed" and record["harnesses"]["b"]["status"] == "cancelled"
    assert project.result("b")["status"] == "stopped"


def test_a_pipeline_passes_artifacts_on_and_stops_at_a_failed_stage(project):
    publish = "echo spec > s.txt && mh-artifact publish s.txt && " + COMPLETE
    _plan(project, f"""
        strategy: pipeline
        harnesses:
          - {{id: a, roadmap: a.md, agent_cmd: "{publish}"}}
          - {{id: b, roadmap: b.md, agent_cmd: "exit 1", max_failures: 1}}
          - {{id: c, roadmap: c.md, agent_cmd: "{COMPLETE}"}}
    """)
    r, record = _run(project, "plan.yaml")
    assert r.returncode == 1
    assert "a/s.txt (version 1" in (project.tree / "b" / "iterations" / "0001" / "prompt").read_text()
    assert record["harnesses"]["c"]["status"] == "failed"
    assert project.result("c")["reason"].startswith("dependency b did not complete") and project.result("c")["iterations"] == 0


def test_a_race_has_one_winner_and_the_others_are_cancelled(project):
    _plan(project, f"""
        strategy: race
        harnesses:
          - {{id: a, roadmap: a.md, agent_cmd: "exec sleep 1000", grace: 1}}
          - {{id: b, roadmap: b.md, agent_cmd: "{COMPLETE}"}}
          - {{id: c, roadmap: c.md, agent_cmd: "exec sleep 1000", grace: 1}}
    """)
    r, record = _run(project, "plan.yaml")
    assert r.returncode == 0 and record["winner"] == "b"
    assert record["harnesses"]["a"]["status"] == record["harnesses"]["c"]["status"] == "cancelled"


def test_voting_scores_the_candidates_and_picks_the_best(project):
    for name, score in (("w1", 3), ("w2", 7), ("w3", 5)):
        (project.root / name).mkdir()
        (project.root / name / "score").write_text(f"{score}\n")
    _plan(project, f"""
        strategy: voting
        min_votes: 3
        score_cmd: "cat score"
        defaults: {{agent_cmd: "{COMPLETE}"}}
        harnesses:
          - {{id: a, roadmap: a.md, workdir: w1}}
          - {{id: b, roadmap: b.md, workdir: w2}}
          - {{id: c, roadmap: c.md, workdir: w3}}
    """)
    r, record = _run(project, "plan.yaml")
    assert r.returncode == 0 and record["winner"] == "b"
    assert [record["harnesses"][i]["score"] for i in "abc"] == [3.0, 7.0, 5.0]


@pytest.mark.parametrize("text, message", [
    ("strategy: parallel\nharnesses:\n  - {id: a, roadmap: a.md, agent_cmd: x, agnet: y}\n",
     "plan.yaml:3: harnesses[0] (a).agnet: unknown key"),
    ("harnesses:\n  - {id: a, roadmap: nope.md, agent_cmd: x}\n", "plan.yaml:2: harnesses[0] (a).roadmap: "),
    ("harnesses:\n  - {id: a, roadmap: a.md, agent_cmd: x}\n  - {id: a, roadmap: b.md, agent_cmd: x}\n",
     "plan.yaml:3: harnesses[1] (a).id: duplicate id"),
    ("harnesses:\n  - {id: a, roadmap: a.md, agent: gpt}\n", "harnesses[0] (a).agent: unknown agent 'gpt'"),
    ("harnesses:\n  - {id: a, roadmap: a.md, agent_cmd: x, depends: [b]}\n  - {id: b, roadmap: b.md, agent_cmd: x, depends: [a]}\n",
     "dependency cycle: a -> b -> a"),
    ("strategy: voting\nharnesses:\n  - {id: a, roadmap: a.md, agent_cmd: x}\n", "min_votes: voting needs min_votes"),
    ("strategy: sideways\nharnesses:\n  - {id: a, roadmap: a.md, agent_cmd: x}\n", "plan.yaml:1: strategy: 'sideways' is not one of"),
    ("harnesses: [\n", "not valid YAML"),
    ("budget_usd: -1\nharnesses:\n  - {id: a, roadmap: a.md, agent_cmd: x}\n", "plan.yaml:1: budget_usd: not a number more"),
    ("budget_tokens: lots\nharnesses:\n  - {id: a, roadmap: a.md, agent_cmd: x}\n", "plan.yaml:1: budget_tokens: not a positive"),
])
def test_bad_plans_are_refused_naming_file_line_and_field(project, text, message):
    _plan(project, text)
    r = project.run("run", "plan.yaml")
    assert r.returncode == 2 and message in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert not (project.tree / "a").exists()


def test_dependencies_can_come_from_a_roadmaps_front_matter(project):
    _plan(project, f"""
        harnesses:
          - {{id: a, roadmap: a.md, agent_cmd: "{COMPLETE}"}}
          - {{id: b, roadmap: fm.md, agent_cmd: "{COMPLETE}"}}
    """)
    (project.root / "fm.md").write_text("---\ndepends: [a]\n---\n- [ ] t\n")
    r, _ = _run(project, "plan.yaml")
    assert r.returncode == 0 and json.loads((project.tree / "b" / "spec.json").read_text())["after"] == ["a"]


def test_ctrl_c_stops_the_runs_harnesses_and_resume_does_not_redo_completed_ones(project):
    (project.root / "gated.sh").write_text(GATED + "\n")
    _plan(project, f"""
        harnesses:
          - {{id: a, roadmap: a.md, agent_cmd: "{COMPLETE}"}}
          - {{id: b, roadmap: b.md, agent_cmd: "sh gated.sh", grace: 1}}
    """)
    runner = project.start("run", "plan.yaml")
    project.wait_for_agent("b")
    assert project.run("wait", "a").returncode == 0
    runner.send_signal(signal.SIGINT)
    assert runner.wait(TIMEOUT) == 130
    assert project.result("b")["status"] == "stopped"
    [run_file] = (project.tree / "runs").glob("*/run.json")
    assert json.loads(run_file.read_text())["status"] == "interrupted"
    first_a = project.result("a")["instance"]
    (project.root / "gated.sh").write_text(COMPLETE + "\n")
    r, record = _run(project, "plan.yaml", "--resume")
    assert r.returncode == 0, r.stderr
    assert project.result("a")["instance"] == first_a  # kept, not redone
    assert project.result("b")["instance"] != json.loads(run_file.read_text())["harnesses"]["a"]["instance"]
    assert {k: v["status"] for k, v in record["harnesses"].items()} == {"a": "completed", "b": "completed"}


def test_resume_without_an_earlier_run_is_a_usage_error(project):
    _plan(project, "harnesses:\n  - {id: a, roadmap: a.md, agent_cmd: x}\n")
    r = project.run("run", "plan.yaml", "--resume")
    assert r.returncode == 2 and "no run" in r.stderr


def test_dependents_of_a_failure_can_be_skipped_instead_of_failed(project):
    _plan(project, f"""
        on_dependency_failure: skip
        harnesses:
          - {{id: a, roadmap: a.md, agent_cmd: "exit 1", max_failures: 1}}
          - {{id: b, roadmap: b.md, agent_cmd: "{COMPLETE}", depends: [a]}}
          - {{id: c, roadmap: c.md, agent_cmd: "{COMPLETE}"}}
    """)
    r, record = _run(project, "plan.yaml")
    assert r.returncode == 1  # a itself failed
    assert [record["harnesses"][i]["status"] for i in "abc"] == ["failed", "skipped", "completed"]


def test_resume_after_kill_9_adopts_a_harness_that_still_runs(project):
    import os

    (project.root / "gated.sh").write_text(GATED + "\n")
    _plan(project, """
        harnesses:
          - {id: b, roadmap: b.md, agent_cmd: "sh gated.sh"}
    """)
    runner = project.start("run", "plan.yaml")
    project.wait_for_agent("b")
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait(TIMEOUT)
    instance = project.state("b")["instance"]
    resumed = project.start("run", "plan.yaml", "--resume", "--json")
    (project.tree / "b" / "go").touch()
    out, err = resumed.communicate(timeout=TIMEOUT)
    assert resumed.returncode == 0, err
    record = json.loads(out)
    assert record["harnesses"]["b"]["instance"] == instance and record["harnesses"]["b"]["status"] == "completed"


def test_voting_can_rank_by_duration_first(project):
    slow = "sleep 0.5; " + COMPLETE
    _plan(project, f"""
        strategy: voting
        min_votes: 2
        score_by: [duration, score]
        harnesses:
          - {{id: a, roadmap: a.md, agent_cmd: "{slow}"}}
          - {{id: b, roadmap: b.md, agent_cmd: "{COMPLETE}"}}
    """)
    r, record = _run(project, "plan.yaml")
    assert r.returncode == 0 and record["winner"] == "b"
    assert record["harnesses"]["a"]["duration_s"] > record["harnesses"]["b"]["duration_s"]


def test_cancelled_racers_report_what_stopping_them_saved(project):
    _plan(project, f"""
        strategy: race
        harnesses:
          - {{id: a, roadmap: a.md, agent_cmd: "exec sleep 1000", grace: 1, max_iterations: 7, budget_usd: 2}}
          - {{id: b, roadmap: b.md, agent_cmd: "{COMPLETE}"}}
    """)
    r, record = _run(project, "plan.yaml")
    assert r.returncode == 0
    assert record["harnesses"]["a"]["saved_at_most"] == {"iterations": 6, "usd": 2.0}


def test_option_values_mh_spawn_would_refuse_are_refused_before_anything_starts(project):
    _plan(project, """
        harnesses:
          - {id: a, roadmap: a.md, agent_cmd: "true"}
          - {id: b, roadmap: b.md, agent_cmd: "true", max_iterations: 0}
    """)
    r = project.run("run", "plan.yaml")
    assert r.returncode == 2 and "plan.yaml:4: harnesses[1] (b).max_iterations: " in r.stderr, r.stderr
    assert "'0'" in r.stderr and "--max-iterations" not in r.stderr
    assert r.stderr.count("\n") == 1 and not (project.tree / "a").exists()


def test_a_harness_command_beats_a_default_agent(project):
    _plan(project, f"""
        defaults: {{agent: claude}}
        harnesses:
          - {{id: a, roadmap: a.md, agent_cmd: "{COMPLETE}"}}
    """)
    r, _ = _run(project, "plan.yaml")
    assert r.returncode == 0 and json.loads((project.tree / "a" / "spec.json").read_text())["agent"] == "cmd"


def test_a_pipeline_stage_sees_how_the_stage_before_it_ended(project):
    _plan(project, f"""
        strategy: pipeline
        harnesses:
          - {{id: a, roadmap: a.md, agent_cmd: "{COMPLETE}"}}
          - {{id: b, roadmap: b.md, agent_cmd: "{COMPLETE}"}}
    """)
    r, record = _run(project, "plan.yaml")
    assert r.returncode == 0 and record["totals"] == {"turns": 0, "input_tokens": 0, "output_tokens": 0,
                                                       "cost_usd": 0, "estimated_cost_usd": 0, "tool_calls": 0}
    assert "- a: completed: the agent printed the completion marker" in (
        project.tree / "b" / "iterations" / "0001" / "prompt").read_text()


def test_a_dependent_listed_first_does_not_starve_its_dependency_of_the_only_slot(project):
    _plan(project, f"""
        max_parallel: 1
        harnesses:
          - {{id: b, roadmap: b.md, agent_cmd: "{COMPLETE}", depends: [a]}}
          - {{id: a, roadmap: a.md, agent_cmd: "{COMPLETE}"}}
    """)
    r, record = _run(project, "plan.yaml")
    assert r.returncode == 0 and {v["status"] for v in record["harnesses"].values()} == {"completed"}


@pytest.mark.parametrize("text, message", [
    ("harnesses:\n  - {id: a, roadmap: a.md, agent_cmd: x, depends: }\n  - {id: , roadmap: b.md, agent_cmd: x}\n",
     "harnesses[1].id: should be a string"),
    ("strategy: !foo x\nharnesses:\n  - {id: a, roadmap: a.md, agent_cmd: x}\n", "strategy: cannot read this value"),
    ("harnesses:\n  - {id: a, roadmap: a.md, agent_cmd: x, timeout: true}\n", "harnesses[0] (a)"),
])
def test_odd_yaml_is_refused_in_one_line(project, text, message):
    _plan(project, text)
    r = project.run("run", "plan.yaml")
    assert r.returncode == 2 and message in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_sigterm_stops_the_runs_harnesses_like_ctrl_c(project):
    (project.root / "gated.sh").write_text(GATED + "\n")
    _plan(project, """
        harnesses:
          - {id: b, roadmap: b.md, agent_cmd: "sh gated.sh", grace: 1}
    """)
    runner = project.start("run", "plan.yaml")
    project.wait_for_agent("b")
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(TIMEOUT) == 143
    assert project.result("b")["status"] == "stopped"


@pytest.mark.parametrize("field, message", [
    ("agent_cmd: 'true', workdir: nowhere", "harnesses[1] (b).workdir: {root}/nowhere is not a directory"),
    ("agent_cmd: 'true', workdir: a.md", "harnesses[1] (b).workdir: {root}/a.md is not a directory"),
    ("agent_cmd: 'true', prompt_template: none.md", "harnesses[1] (b).prompt_template: cannot read {root}/none.md"),
    ("agent_cmd: 'true', prompt_template: latin1.md", "harnesses[1] (b).prompt_template: cannot read {root}/latin1.md"),
    ("agent_cmd: 'true', budget_usd: 0", "harnesses[1] (b).budget_usd: not a number more than 0"),
    ("agent: cmd", "harnesses[1] (b).agent: the cmd agent needs agent_cmd"),
])
def test_check_and_run_refuse_what_mh_spawn_would_refuse_before_anything_starts(project, field, message):
    (project.root / "latin1.md").write_bytes(b"caf\xe9\n")
    _plan(project, f"""
        harnesses:
          - {{id: a, roadmap: a.md, agent_cmd: "exec sleep 1000", grace: 1}}
          - {{id: b, roadmap: b.md, {field}}}
    """)
    for args in (("--check",), ()):
        r = project.run("run", "plan.yaml", *args)
        assert r.returncode == 2 and r.stderr.startswith(f"mh-run: error: {project.root}/plan.yaml:4: "), r.stderr
        assert message.format(root=project.root) in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert not (project.tree / "a").exists() and not (project.tree / "runs").exists()


@pytest.mark.parametrize("roadmap, message", [
    ("latin1.md", "harnesses[0] (a).roadmap: cannot read roadmap {root}/latin1.md: not UTF-8"),
    ("folder", "harnesses[0] (a).roadmap: cannot read roadmap {root}/folder: not a regular file"),
    ("fifo", "harnesses[0] (a).roadmap: cannot read roadmap {root}/fifo: not a regular file"),
    ("title.md", "harnesses[0] (a).roadmap: roadmap {root}/title.md asks for nothing"),
])
def test_a_roadmap_mh_spawn_cannot_read_is_refused_by_the_check(project, roadmap, message):
    import os

    (project.root / "latin1.md").write_bytes(b"- [ ] caf\xe9\n")
    (project.root / "folder").mkdir()
    os.mkfifo(project.root / "fifo")
    (project.root / "title.md").write_text("# Only a title\n")
    _plan(project, f"harnesses:\n  - {{id: a, roadmap: {roadmap}, agent_cmd: 'true'}}\n")
    r = project.run("run", "plan.yaml", "--check")
    assert r.returncode == 2 and message.format(root=project.root) in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_a_spawn_refused_after_others_started_fails_the_run_with_1_and_records_it(project):
    (project.root / "wb").mkdir()
    _plan(project, f"""
        max_parallel: 1
        harnesses:
          - {{id: a, roadmap: a.md, agent_cmd: "rmdir wb && {COMPLETE}"}}
          - {{id: b, roadmap: b.md, agent_cmd: "true", workdir: wb}}
    """)
    r = project.run("run", "plan.yaml")
    assert r.returncode == 1 and r.stderr.endswith(
        f"mh-run: error: cannot spawn b: workdir {project.root}/wb is not a directory\n"), r.stderr
    [run_file] = (project.tree / "runs").glob("*/run.json")
    record = json.loads(run_file.read_text())
    assert record["status"] == "failed" and record["exit_code"] == 1
    assert record["harnesses"]["b"]["status"] == "failed" and "not a directory" in record["harnesses"]["b"]["reason"]


def test_a_plan_id_taken_by_a_live_harness_is_refused_before_anything_starts(project):
    project.spawn("b", GATED)
    _plan(project, f"""
        harnesses:
          - {{id: a, roadmap: a.md, agent_cmd: "{COMPLETE}"}}
          - {{id: b, roadmap: b.md, agent_cmd: "{COMPLETE}"}}
    """)
    for args in (("--check",), ()):
        r = project.run("run", "plan.yaml", *args)
        assert r.returncode == 8 and r.stderr == (
            "mh-run: error: harness b is already running, outside this run (mh-stop it first)\n"), r.stderr
    assert not (project.tree / "a").exists() and not (project.tree / "runs").exists()
    (project.tree / "b" / "go").touch()


@pytest.mark.parametrize("text, line, field", [
    ("harnesses:\n  - id: a\n    roadmap: a.md\n    agent_cmd: 'true'\n\n\n    grace: 1x\n", 7, "harnesses[0] (a).grace"),
    ("defaults:\n  agent_cmd: 'true'\n  grace: 1x\nharnesses:\n  - {id: a, roadmap: a.md}\n", 3, "defaults.grace"),
])
def test_a_bad_option_value_names_the_plans_line_and_field_not_the_flag(project, text, line, field):
    _plan(project, text)
    r = project.run("run", "plan.yaml", "--check")
    assert r.returncode == 2 and r.stderr.startswith(
        f"mh-run: error: {project.root}/plan.yaml:{line}: {field}: not a duration: '1x'"), r.stderr
    assert "--grace" not in r.stderr and r.stderr.count("\n") == 1


def test_option_values_that_look_like_flags_reach_the_agent(project):
    _plan(project, f"""
        harnesses:
          - {{id: a, roadmap: a.md, agent_cmd: "{COMPLETE}", model: --fast, agent_arg: [--verbose]}}
    """)
    r, _ = _run(project, "plan.yaml")
    spec = json.loads((project.tree / "a" / "spec.json").read_text())
    assert r.returncode == 0 and spec["model"] == "--fast" and spec["agent_args"] == ["--verbose"], r.stderr


def test_a_fifo_as_the_plan_is_refused_at_once_not_read(project):
    os.mkfifo(project.root / "plan.yaml")
    for args in (["--check", "plan.yaml"], ["plan.yaml"]):
        r = project.run("run", *args, timeout=20)
        assert r.returncode == 2 and r.stderr.endswith("plan.yaml: not a regular file (a FIFO)\n")


def test_a_chain_of_30_harnesses_runs_under_a_low_open_files_limit(project):
    import resource

    # h0 starts once every harness exists, then each ends in turn, so mh-run waits on many
    # live harnesses many times: a fresh waiter per end would need ~N^2/2 fds, not 2N.
    n, limit = 30, 128
    lines = [f'  - {{id: h0, roadmap: a.md, agent_cmd: "while [ ! -d $MH_HARNESS_DIR/../h{n - 1} ]; do sleep 0.05; done; {COMPLETE}"}}']
    lines += [f"  - {{id: h{i}, roadmap: a.md, depends: [h{i - 1}]}}" for i in range(1, n)]
    _plan(project, f'defaults: {{agent_cmd: "{COMPLETE}"}}\nharnesses:\n' + "\n".join(lines) + "\n")

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    r = subprocess.run([sys.executable, str(BIN / "mh-run"), "plan.yaml", "--json"], cwd=project.root, env=project.env,
                       capture_output=True, text=True, timeout=TIMEOUT * 2, check=False, preexec_fn=low_limit)
    assert r.returncode == 0, r.stderr
    assert {v["status"] for v in json.loads(r.stdout)["harnesses"].values()} == {"completed"}


def test_a_second_mh_run_of_a_running_run_exits_8_and_touches_nothing(project):
    (project.root / "gated.sh").write_text(GATED + "\n")
    _plan(project, """
        harnesses:
          - {id: b, roadmap: b.md, agent_cmd: "sh gated.sh"}
    """)
    runner = project.start("run", "plan.yaml", "--json")
    project.wait_for_agent("b")
    [run_dir] = (project.tree / "runs").iterdir()
    instance = project.state("b")["instance"]
    for args in (("--resume",), ()):
        r = project.run("run", "plan.yaml", *args)
        assert (r.returncode, r.stdout, r.stderr) == (8, "", f"mh-run: error: run {run_dir.name} is already running\n")
    (project.tree / "b" / "go").touch()
    out, err = runner.communicate(timeout=TIMEOUT)
    assert runner.returncode == 0, err
    assert json.loads(out)["harnesses"]["b"] == json.loads((run_dir / "run.json").read_text())["harnesses"]["b"]
    assert project.result("b")["instance"] == instance and (run_dir / "lock").exists()
    r, _ = _run(project, "plan.yaml", "--resume")  # the lock died with the first run
    assert r.returncode == 0, r.stderr


def test_a_harness_started_by_mh_run_runs_its_hooks_in_the_plans_directory_and_has_its_own_command_line(project):
    sub = project.root / "sub"
    sub.mkdir()
    (sub / "a.md").write_text("- [ ] t\n")
    (sub / "plan.yaml").write_text(f'harnesses:\n  - {{id: a, roadmap: a.md, agent_cmd: "{COMPLETE}"}}\n')
    hooks = project.tree / "hooks"
    hooks.mkdir(parents=True)
    (hooks / "on-start").write_text(f'#!/bin/sh\npwd > {project.root}/hook-cwd\n')
    (hooks / "on-start").chmod(0o755)
    r = project.run("run", "sub/plan.yaml")
    assert (r.returncode, r.stderr.count("error")) == (0, 0)
    assert project.wait_for_state("a", lambda s: True) and wait_for(
        lambda: (project.root / "hook-cwd").exists() and (project.root / "hook-cwd").stat().st_size, project.root)
    assert (project.root / "hook-cwd").read_text().strip() == str(sub)


def test_a_spawn_that_fails_with_a_system_error_fails_the_run_with_11_and_records_it(project):
    _plan(project, f"""
        harnesses:
          - {{id: a, roadmap: a.md, agent_cmd: "{COMPLETE}"}}
    """)
    project.tree.mkdir()
    (project.tree / "FORMAT").write_text("1\n")
    (project.tree / ".tmp").write_text("not a directory")  # no harness can be built
    r, record = _run(project, "plan.yaml")
    assert r.returncode == 11 and r.stderr.startswith("mh-run: error: cannot spawn a: "), r.stderr
    assert (record or json.loads(next((project.tree / "runs").glob("*/run.json")).read_text()))["status"] == "failed"


def test_a_plans_budget_is_shared_by_all_its_harnesses_and_kept_across_a_resume(project):
    spend = 'echo \'<usage cost_usd="0.30" output_tokens="10"/>\''
    _plan(project, f"""
        budget_usd: 1
        defaults:
          agent_cmd: {json.dumps(spend)}
          max_iterations: 50
          loop_after: 50
        harnesses:
          - {{id: a, roadmap: a.md}}
          - {{id: b, roadmap: b.md, budget_group: [extra]}}
    """)
    project.run("budget", "set", "extra", "--usd", "100")
    r, record = _run(project, "plan.yaml", "--run-id", "nightly")
    assert r.returncode == 3, r.stderr  # both incomplete: the run's budget is spent
    assert record["budget"] == "nightly"
    for harness_id in ("a", "b"):
        assert "budget nightly spent" in project.result(harness_id)["reason"]
    assert json.loads((project.tree / "b" / "spec.json").read_text())["budget_groups"] == ["extra", "nightly"]
    spent = sum(project.result(h)["usage"]["cost_usd"] for h in ("a", "b"))
    assert 1.0 <= spent <= 1.0 + 2 * 0.30 + 1e-9
    budgets = {b["name"]: b for b in map(json.loads, project.run("budget", "ls", "--json").stdout.splitlines())}
    assert budgets["nightly"]["usd"] == 1 and abs(budgets["nightly"]["spent_usd"] - spent) < 1e-6
    r, _ = _run(project, "plan.yaml", "--run-id", "nightly", "--resume")  # the spend is remembered
    assert r.returncode == 3 and all(project.result(h)["iterations"] == 0 for h in ("a", "b"))
