"""mh-spawn: the supervised loop, its limits, its exit statuses and its bad input."""

import json
import os
import shutil
import signal
import sys

import pytest

from conftest import DEMO_AGENT, TIMEOUT, process_exists

from metaharness.notify import wait_for_path

COMPLETE = "echo '<promise>COMPLETE</promise>'"


def test_a_demo_agent_works_through_its_roadmap_box_by_box(project):
    road = project.roadmap(tasks=3)
    r = project.run("spawn", "a", str(road), "--agent-cmd", f"{sys.executable} {DEMO_AGENT}", env={"DEMO_PAUSE": "0"})
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert road.read_text().count("[x]") == 3
    result = project.result("a")
    assert result["status"] == "completed" and result["iterations"] == 3 and result["progress"] == {"done": 3, "total": 3}
    kinds = [e["event"] for e in project.events("a")]
    assert kinds.count("iteration_started") == 3 and kinds.count("progress") == 3 and kinds[-1] == "ended"
    assert sorted(os.listdir(project.tree / "a" / "iterations" / "0001")) == ["answer", "meta.json", "output", "prompt", "stderr"]


def test_the_agent_sees_its_identity_and_the_prompt_on_stdin_and_in_a_file(project):
    road = project.roadmap()
    script = ('cat > "$MH_HARNESS_DIR/stdin-copy"; '
              'env | grep ^MH_ | sort > "$MH_HARNESS_DIR/env-copy"; ' + COMPLETE)
    assert project.run("spawn", "a", str(road), "--agent-cmd", script).returncode == 0
    directory = project.tree / "a"
    env = dict(line.split("=", 1) for line in (directory / "env-copy").read_text().splitlines())
    assert env["MH_ID"] == "a" and env["MH_ITERATION"] == "1" and env["MH_ROOT"] == str(project.root)
    assert env["MH_HARNESS_DIR"] == str(directory) and env["MH_ROADMAP"] == str(road)
    assert env["MH_INSTANCE"] == project.result("a")["instance"]
    prompt = (directory / "iterations" / "0001" / "prompt").read_text()
    assert (directory / "stdin-copy").read_text() == prompt == open(env["MH_PROMPT_FILE"]).read()
    assert "iteration 1 of at most 50" in prompt and "- [ ] task 1" in prompt


def test_checking_every_box_completes_without_a_marker(project):
    road = project.roadmap(tasks=1)
    r = project.run("spawn", "a", str(road), "--agent-cmd", "sed -i 's/\\[ \\]/[x]/' \"$MH_ROADMAP\"")
    assert r.returncode == 0
    assert project.result("a")["reason"] == "every roadmap task is checked"


def test_an_already_finished_roadmap_completes_without_running_the_agent(project):
    road = project.roadmap(tasks=2, done=2)
    r = project.run("spawn", "a", str(road), "--agent-cmd", "exit 1")
    assert r.returncode == 0 and project.result("a")["iterations"] == 0


def test_reaching_max_iterations_is_incomplete_exit_3(project):
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", "true", "--max-iterations", "2")
    assert r.returncode == 3
    assert project.result("a")["status"] == "incomplete" and project.result("a")["iterations"] == 2


def test_a_completion_marker_on_the_last_allowed_iteration_counts(project):
    script = f'[ "$MH_ITERATION" = 2 ] && {COMPLETE}; true'
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", script, "--max-iterations", "2")
    assert r.returncode == 0


def test_consecutive_failures_end_the_harness_failed_exit_1(project):
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", "exit 7", "--max-failures", "3",
                    "--backoff", "0.01")
    assert r.returncode == 1
    result = project.result("a")
    assert result["status"] == "failed" and result["iterations"] == 3 and "exit 7" in result["reason"]


def test_a_success_resets_the_failure_count(project):
    script = f'case $MH_ITERATION in 1|3) exit 1;; 4) {COMPLETE};; esac'
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", script, "--max-failures", "2", "--backoff", "0")
    assert r.returncode == 0 and project.result("a")["iterations"] == 4


def test_backoff_doubles_between_failures_and_is_recorded(project):
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", "exit 1", "--max-failures", "3",
                    "--backoff", "0.2")
    assert r.returncode == 1
    times = [e["t"] for e in project.events("a") if e["event"] == "iteration_started"]
    from metaharness.tree import parse_iso
    gaps = [parse_iso(b) - parse_iso(a) for a, b in zip(times, times[1:])]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4  # lower bounds only: the delays were honoured


def test_an_iteration_timeout_is_a_failure_and_the_agent_is_ended(project):
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", "echo $$ >> \"$MH_HARNESS_DIR/pids\"; exec sleep 1000",
                    "--iteration-timeout", "0.3", "--max-failures", "2", "--backoff", "0", "--grace", "1")
    assert r.returncode == 1
    meta = json.loads((project.tree / "a" / "iterations" / "0001" / "meta.json").read_text())
    assert meta["failed"] and "iteration timeout" in meta["cut_short"]
    for pid in (project.tree / "a" / "pids").read_text().split():
        assert not process_exists(int(pid))


def test_the_wall_clock_timeout_ends_the_harness_with_124(project):
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", "exec sleep 1000", "--timeout", "0.5", "--grace", "1")
    assert r.returncode == 124
    assert project.result("a")["status"] == "timeout"


def test_a_blocked_agent_ends_the_harness_blocked_with_its_reason(project):
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", "echo '<promise>BLOCKED</promise> need a DB password'")
    assert r.returncode == 6
    assert project.result("a")["status"] == "blocked" and project.result("a")["reason"] == "need a DB password"


def test_detach_prints_the_id_and_the_harness_runs_on(project):
    project.spawn("a", COMPLETE)
    assert project.run("wait", "a").returncode == 0


@pytest.mark.parametrize("bad", ["../x", "a/b", "", "x" * 300, "shared", ".x", "-x"])
def test_bad_ids_are_refused_with_one_line_and_nothing_created(project, bad):
    r = project.run("spawn", "--agent-cmd", "true", "--", bad, str(project.roadmap()))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("mh-spawn: error: invalid harness id") and r.stderr.count("\n") == 1
    assert not (project.root / "x").exists() and not (project.root.parent / "x").exists()
    assert not project.tree.exists() or sorted(os.listdir(project.tree)) == [".archive", ".tmp", "FORMAT"]


def test_a_missing_roadmap_is_a_usage_error(project):
    r = project.run("spawn", "a", "nope.md", "--agent-cmd", "true")
    assert (r.returncode, r.stderr) == (2, "mh-spawn: error: cannot read roadmap nope.md: No such file or directory\n")
    assert not (project.tree / "a").exists()


def test_an_unreadable_roadmap_is_a_usage_error(project):
    road = project.root / "bin.md"
    road.write_bytes(b"\xff\xfe\x00 not utf-8")
    r = project.run("spawn", "a", str(road), "--agent-cmd", "true")
    assert (r.returncode, r.stderr) == (2, f"mh-spawn: error: cannot read roadmap {road}: not UTF-8 text (byte 0xff at offset 0)\n")


def test_a_fifo_as_the_roadmap_is_refused_at_once_instead_of_hanging(project):
    os.mkfifo(project.root / "road.md")
    r = project.run("spawn", "a", "road.md", "--agent-cmd", "true")  # a hang fails by the run's timeout
    assert (r.returncode, r.stdout, r.stderr) == (2, "", "mh-spawn: error: cannot read roadmap road.md: not a regular file (a FIFO)\n")
    assert not project.tree.exists()


def test_a_roadmap_over_1_mib_is_refused_naming_the_limit(project):
    road = project.root / "big.md"
    road.write_text("- [ ] t\n" + "x" * 1024 * 1024)
    r = project.run("spawn", "a", "big.md", "--agent-cmd", "true")
    assert (r.returncode, r.stderr) == (2, "mh-spawn: error: cannot read roadmap big.md: larger than the limit of 1 MiB\n")
    assert not project.tree.exists()


def test_a_roadmap_of_headings_only_is_refused_rather_than_run_to_the_iteration_limit(project):
    (project.root / "empty.md").write_text("# Roadmap\n\n")
    r = project.run("spawn", "a", "empty.md", "--agent-cmd", "true")
    assert (r.returncode, r.stderr) == (
        2, "mh-spawn: error: roadmap empty.md asks for nothing: it has no '- [ ]' task and no text besides headings\n")
    assert not project.tree.exists()


@pytest.mark.parametrize("args, message", [
    (["--max-iterations", "0"], "not a positive integer"),
    (["--timeout", "soon"], "not a duration"),
    (["--agent", "gpt"], "invalid choice"),
    (["--agent", "claude"], "--agent-cmd is for the cmd agent"),
    (["--budget-usd", "0"], "argument --budget-usd: not a number more than 0"),
])
def test_bad_options_are_usage_errors(project, args, message):
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", "true", *args)
    assert r.returncode == 2 and message in r.stderr and r.stderr.count("\n") == 1


def test_the_cmd_agent_needs_a_command(project):
    r = project.run("spawn", "a", str(project.roadmap()))
    assert r.returncode == 2 and "--agent-cmd" in r.stderr


def test_a_second_spawn_of_a_live_id_is_refused_and_harms_nothing(project):
    project.spawn("a", "exec sleep 1000")
    instance = project.state("a")["instance"]
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", "true")
    assert r.returncode == 8 and "already running" in r.stderr
    assert project.state("a")["instance"] == instance


def test_concurrent_spawns_of_one_id_have_exactly_one_winner(project):
    road = str(project.roadmap())
    procs = [project.start("spawn", "a", road, "--agent-cmd", "exec sleep 1000", "--detach") for _ in range(6)]
    outcomes = [(p.wait(TIMEOUT), *p.communicate()) for p in procs]
    assert sorted(code for code, _, _ in outcomes) == [0] + [8] * 5
    assert [out for code, out, _ in outcomes if code == 0] == ["a\n"]
    assert os.listdir(project.tree / ".tmp") == []


def test_spawning_a_finished_id_again_archives_the_old_harness(project):
    project.spawn("a", COMPLETE)
    assert project.run("wait", "a").returncode == 0
    old = project.result("a")["instance"]
    project.spawn("a", COMPLETE)
    assert project.run("wait", "a").returncode == 0
    assert project.result("a")["instance"] != old
    assert (project.tree / ".archive" / f"a.{old}" / "result.json").exists()


def test_spawning_a_finished_id_again_works_when_someone_removed_the_archive(project):
    project.spawn("a", COMPLETE)
    assert project.run("wait", "a").returncode == 0
    old = project.result("a")["instance"]
    shutil.rmtree(project.tree / ".archive")
    project.spawn("a", COMPLETE)
    assert project.run("wait", "a").returncode == 0
    assert (project.tree / ".archive" / f"a.{old}" / "result.json").exists()


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_to_a_foreground_spawn_ends_the_agent_group_and_records_interrupted(project, sig, code):
    proc = project.start("spawn", "a", str(project.roadmap()), "--agent-cmd",
                         "sleep 1000 & echo $! > \"$MH_HARNESS_DIR/child\"; wait", "--grace", "2")
    agent = project.wait_for_agent("a")
    proc.send_signal(sig)
    assert proc.wait(TIMEOUT) == code
    result = project.result("a")
    assert result["status"] == "interrupted" and result["exit_code"] == code
    child = int((project.tree / "a" / "child").read_text())
    assert not process_exists(agent) and not process_exists(child)
    assert project.supervisor_pids() == []


def test_kill_9_of_a_supervisor_reads_as_dead_and_loses_no_files(project):
    project.spawn("a", "exec sleep 1000")
    agent = project.wait_for_agent("a")
    project.kill_supervisor("a")
    status = json.loads(project.run("status", "--json").stdout.splitlines()[0])
    assert status["status"] == "dead"
    r = project.run("wait", "a")
    assert r.returncode == 5
    for name in ("spec.json", "state.json", "events.jsonl", "log", "iterations/0001/prompt"):
        assert (project.tree / "a" / name).exists()
    os.killpg(agent, signal.SIGKILL)


def test_an_agent_that_echoes_its_prompt_does_not_complete_by_accident(project):
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", "cat", "--max-iterations", "1")
    assert r.returncode == 3 and project.result("a")["status"] == "incomplete"


def test_sighup_to_a_foreground_spawn_exits_129(project):
    proc = project.start("spawn", "a", str(project.roadmap()), "--agent-cmd", "exec sleep 1000", "--grace", "2")
    project.wait_for_agent("a")
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(TIMEOUT) == 129
    assert project.result("a")["exit_code"] == 129


def test_a_mh_root_that_does_not_exist_is_a_usage_error(project):
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", "true",
                    env={"MH_ROOT": str(project.root / "typo")})
    assert r.returncode == 2 and "MH_ROOT" in r.stderr and not (project.root / "typo").exists()


def test_spawn_removes_builds_abandoned_by_a_killed_spawn(project):
    project.spawn("a", COMPLETE)
    abandoned = project.tree / ".tmp" / "x.20200101T000000Z-00000000"
    (abandoned / "inbox").mkdir(parents=True)
    os.utime(abandoned, (0, 0))
    project.spawn("b", COMPLETE)
    assert not abandoned.exists()


def test_a_signal_while_the_harness_is_being_created_still_records_interrupted(project):
    proc = project.start("spawn", "a", str(project.roadmap()), "--agent-cmd", "exec sleep 1000")
    assert wait_for_path(project.tree / "a", TIMEOUT)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(TIMEOUT) == 143
    assert project.result("a")["status"] == "interrupted"


def test_an_agent_with_a_lot_of_output_is_drained(project):
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd",
                    "seq 200000; echo '<promise>COMPLETE</promise>'")
    assert r.returncode == 0
    assert (project.tree / "a" / "iterations" / "0001" / "output").read_text().count("\n") == 200001


def test_respawning_a_dead_harness_ends_the_agent_its_killed_supervisor_left(project):
    project.spawn("a", "exec sleep 1000")
    agent = project.wait_for_agent("a")
    project.kill_supervisor("a")
    project.spawn("a", COMPLETE)
    os.waitpid(agent, 0)  # adopted by the test's subreaper; returns once it was ended
    assert not process_exists(agent)
    assert project.run("wait", "a").returncode == 0


def test_a_prompt_template_of_ones_own_gets_every_variable(project):
    template = project.root / "tpl.md"
    template.write_text("id={{HARNESS_ID}} it={{ITERATION}}/{{MAX_ITERATIONS}} done={{PROGRESS}} "
                        "path={{ROADMAP_PATH}}\n{{ROADMAP}}\nmsgs={{MESSAGES}}\nlast={{LAST_OUTCOME}} {{NOT_A_VARIABLE}}\n")
    road = project.roadmap(tasks=1)
    script = f'[ "$MH_ITERATION" = 2 ] && {COMPLETE}; true'
    r = project.run("spawn", "a", str(road), "--agent-cmd", script, "--prompt-template", str(template))
    assert r.returncode == 0
    second = (project.tree / "a" / "iterations" / "0002" / "prompt").read_text()
    assert second == (f"id=a it=2/50 done=0/1 path={road}\n# Roadmap\n\n- [ ] task 1\nmsgs=(none)\n"
                      "last=the agent exited 0 {{NOT_A_VARIABLE}}\n")


def test_an_unreadable_prompt_template_is_a_usage_error(project):
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", "true", "--prompt-template", "nope.md")
    assert r.returncode == 2 and "cannot read prompt template" in r.stderr


def test_a_fifo_as_the_prompt_template_is_refused_at_once_not_read(project):
    os.mkfifo(project.root / "template.md")
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", "true", "--prompt-template", "template.md",
                    timeout=20)
    assert (r.returncode, r.stderr) == (2, "mh-spawn: error: cannot read prompt template template.md: "
                                           "not a regular file (a FIFO)\n")
    assert not (project.tree / "a").exists()


def test_the_generic_agent_reports_usage_with_a_marker_and_budgets_count_it(project):
    agent = 'echo \'working <usage cost_usd="0.30" input_tokens="1000" output_tokens="200" tool_calls="2"/>\''
    r = project.run("spawn", "u", str(project.roadmap("u.md")), "--agent-cmd", agent, "--budget-usd", "1",
                    "--max-iterations", "10", "--backoff", "0")
    assert r.returncode == 3, r.stderr  # incomplete: the budget ran out
    result = project.result("u")
    assert result["iterations"] == 4 and "of the $1 budget" in result["reason"]
    assert result["usage"]["cost_usd"] == 1.2 and result["usage"]["input_tokens"] == 4000
    row = project.run("status", "u").stdout.splitlines()[1]
    assert "$1.2000" in row and "4.8k" in row
