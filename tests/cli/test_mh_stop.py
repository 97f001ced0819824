"""mh-stop: graceful stop requests, honoured at once."""

import json
import signal

from conftest import TIMEOUT, process_exists


def test_stop_ends_a_running_harness_within_the_grace_period(project):
    project.spawn("a", "exec sleep 1000", "--grace", "5")
    agent = project.wait_for_agent("a")
    r = project.run("stop", "a", "--reason", "enough")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    result = project.result("a")
    assert result["status"] == "stopped" and result["exit_code"] == 4 and "enough" in result["reason"]
    assert not process_exists(agent)
    assert project.run("wait", "a").returncode == 4


def test_an_agent_that_ignores_term_is_killed_after_the_grace(project):
    project.spawn("a", "trap '' TERM; echo ready; while :; do sleep 0.1; done", "--grace", "0.5")
    agent = project.wait_for_agent("a")
    assert project.run("stop", "a").returncode == 0
    meta_signal = [e for e in project.events("a") if e["event"] == "iteration_ended"][0]["signal"]
    assert meta_signal == signal.SIGKILL
    assert not process_exists(agent)


def test_stopping_a_finished_harness_is_a_success(project):
    project.spawn("a", "echo '<promise>COMPLETE</promise>'")
    project.run("wait", "a")
    assert project.run("stop", "a").returncode == 0
    assert project.result("a")["status"] == "completed"


def test_stop_during_backoff_is_honoured_at_once(project):
    project.spawn("a", "exit 1", "--backoff", "1000")
    project.wait_for_state("a", lambda s: s["status"] == "waiting")
    assert project.run("stop", "a", timeout=TIMEOUT).returncode == 0
    assert project.result("a")["status"] == "stopped"


def test_no_wait_returns_before_the_harness_has_ended(project):
    project.spawn("a", "exec sleep 1000")
    project.wait_for_agent("a")
    assert project.run("stop", "--no-wait", "a").returncode == 0
    assert project.run("wait", "a").returncode == 4


def test_stop_all_and_unknown_ids(project):
    project.spawn("a", "exec sleep 1000")
    project.spawn("b", "exec sleep 1000")
    assert project.run("stop", "--all").returncode == 0
    assert {project.result(i)["status"] for i in "ab"} == {"stopped"}
    r = project.run("stop", "--grace", "0", "zzz")
    assert (r.returncode, r.stderr) == (7, "mh-stop: error: no such harness: zzz\n")
    assert project.run("stop").returncode == 2


def test_a_stop_request_for_an_earlier_instance_does_not_stop_a_new_one(project):
    project.spawn("a", "echo '<promise>COMPLETE</promise>'")
    project.run("wait", "a")
    (project.tree / "a" / "control" / "stop").write_text('{"instance": "someone-else"}')
    gate = 'while [ ! -e "$MH_HARNESS_DIR/go" ]; do sleep 0.05; done; echo "<promise>COMPLETE</promise>"'
    project.spawn("a", gate)  # archives the old harness, stale request and all
    project.wait_for_agent("a")
    (project.tree / "a" / "control" / "stop").write_text('{"instance": "someone-else"}')
    (project.tree / "a" / "go").touch()
    assert project.run("wait", "a").returncode == 0


def test_stop_on_a_dead_harness_ends_the_agent_its_killed_supervisor_left(project):
    import os

    project.spawn("a", "exec sleep 1000", "--grace", "1")
    agent = project.wait_for_agent("a")
    project.kill_supervisor("a")
    assert process_exists(agent)
    assert project.run("stop", "a").returncode == 0
    os.waitpid(agent, 0)  # adopted by the test's subreaper; returns once it has been ended
    assert not process_exists(agent)


def test_stop_right_after_a_background_spawn_waits_for_the_harness_to_appear(project):
    road = project.roadmap("r.md")
    # The Makefile race: `mh-spawn a r.md & mh-stop a` — the stop may run before the spawn has begun.
    spawn = project.start("spawn", "a", str(road), "-q", "--agent-cmd", "exec sleep 1000")
    r = project.run("stop", "a")
    assert (r.returncode, r.stderr) == (0, "")
    assert spawn.wait(TIMEOUT) == 4
    assert project.result("a")["status"] == "stopped"


def test_stop_gives_up_on_a_harness_that_never_appears_after_its_grace(project):
    r = project.run("stop", "--grace", "0.2", "ghost")
    assert (r.returncode, r.stderr) == (7, "mh-stop: error: no such harness: ghost\n")


def test_a_live_harness_whose_spec_was_corrupted_is_still_stopped(project):
    project.spawn("a", "exec sleep 1000", "--grace", "1")
    agent = project.wait_for_agent("a")
    (project.tree / "a" / "spec.json").write_text("{not json")
    assert project.run("status", "a").stdout.split("\n")[1].split()[1] == "corrupt"
    r = project.run("stop", "a")
    assert (r.returncode, r.stderr) == (0, "")
    assert json.loads((project.tree / "a" / "result.json").read_text())["status"] == "stopped"
    assert not process_exists(agent)
