"""mh-wait: event-driven waiting and its aggregate exit status."""

import json
import os
import signal
import sys

from conftest import DEMO_AGENT, TIMEOUT

COMPLETE = "echo '<promise>COMPLETE</promise>'"


def test_three_harnesses_run_in_parallel_and_all_complete(project):
    agent = f"{sys.executable} {DEMO_AGENT}"
    for harness_id in ("a", "b", "c"):
        road = project.roadmap(f"{harness_id}.md", tasks=2)
        r = project.run("spawn", harness_id, str(road), "--agent-cmd", agent, "--detach", env={"DEMO_PAUSE": "0.3"})
        assert r.returncode == 0
    running = [json.loads(line)["status"] for line in project.run("status", "--json").stdout.splitlines()[:-1]]
    assert len(running) == 3
    r = project.run("wait", "a", "b", "c")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert all(project.result(i)["status"] == "completed" for i in "abc")


def test_one_failing_harness_makes_wait_exit_with_its_code(project):
    project.spawn("a", COMPLETE)
    project.spawn("b", "exit 1", "--max-failures", "1")
    project.spawn("c", "true", "--max-iterations", "1")
    assert project.run("wait", "a", "b", "c").returncode == 1
    assert project.run("wait", "a", "c", "b").returncode == 3  # the first non-completed, in argument order
    assert project.run("wait", "a").returncode == 0


def test_json_reports_each_outcome(project):
    project.spawn("a", COMPLETE)
    r = project.run("wait", "--json", "a")
    record = json.loads(r.stdout)
    assert record["id"] == "a" and record["status"] == "completed" and record["exit_code"] == 0


def test_any_returns_with_the_first_to_end(project):
    project.spawn("slow", "exec sleep 1000")
    project.spawn("quick", "exit 1", "--max-failures", "1")
    r = project.run("wait", "--any", "--json", "slow", "quick")
    assert r.returncode == 1
    assert [json.loads(line)["id"] for line in r.stdout.splitlines()] == ["quick"]


def test_the_deadline_exits_124_and_names_who_is_still_running(project):
    project.spawn("slow", "exec sleep 1000")
    r = project.run("wait", "--timeout", "0.3", "slow")
    assert r.returncode == 124
    assert r.stderr == "mh-wait: error: timed out waiting for slow\n"


def test_waiting_before_the_harness_exists_works_like_a_makefile_needs(project):
    waiter = project.start("wait", "late")  # no .harness tree yet at all
    project.spawn("late", COMPLETE)
    assert waiter.wait(TIMEOUT) == 0


def test_a_harness_that_never_appears_is_unknown_after_the_grace(project):
    r = project.run("wait", "--grace", "0.2", "ghost")
    assert (r.returncode, r.stderr) == (7, "mh-wait: error: no such harness: ghost\n")


def test_wait_on_a_dead_supervisor_returns_the_dead_code_instead_of_hanging(project):
    project.spawn("a", "exec sleep 1000")
    agent = project.wait_for_agent("a")
    waiter = project.start("wait", "a")
    project.kill_supervisor("a")
    assert waiter.wait(TIMEOUT) == 5
    os.killpg(agent, signal.SIGKILL)


def test_wait_all_covers_every_harness(project):
    project.spawn("a", COMPLETE)
    project.spawn("b", COMPLETE)
    assert project.run("wait", "--all").returncode == 0


def test_wait_needs_an_id(project):
    r = project.run("wait")
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_a_bad_id_is_a_usage_error(project):
    r = project.run("wait", "../x")
    assert r.returncode == 2 and "invalid harness id" in r.stderr


def test_a_zero_timeout_still_reports_harnesses_that_have_ended(project):
    project.spawn("a", COMPLETE)
    assert project.run("wait", "a").returncode == 0
    assert project.run("wait", "--timeout", "0", "a").returncode == 0


def test_any_is_not_answered_by_a_harness_that_never_appears(project):
    project.spawn("slow", "exec sleep 1000")
    r = project.run("wait", "--any", "--grace", "0.1", "--timeout", "1", "typo", "slow")
    assert r.returncode == 124 and "no such harness: typo" in r.stderr


def test_waiting_works_with_the_polling_observer(project):
    project.env["MH_POLL"] = "1"  # as on NFS, where inotify sees nothing
    waiter = project.start("wait", "late")
    follower_ready = project.roadmap("late.md")
    project.spawn("late", 'echo "<progress>p</progress>"; echo "<promise>COMPLETE</promise>"', roadmap=str(follower_ready))
    assert waiter.wait(TIMEOUT) == 0
    r = project.run("events", "late", "-f", "--type", "progress")
    assert r.returncode == 0 and "progress" in r.stdout


def test_a_result_with_an_impossible_exit_code_is_a_corrupt_harness_exit_10(project):
    project.spawn("a", COMPLETE)
    assert project.run("wait", "a").returncode == 0
    result = json.loads((project.tree / "a" / "result.json").read_text())
    (project.tree / "a" / "result.json").write_text(json.dumps({**result, "exit_code": 1e308}))
    r = project.run("wait", "a", "--json")
    assert (r.returncode, r.stderr) == (10, "")
    outcome = json.loads(r.stdout)
    assert outcome["status"] == "corrupt" and outcome["reason"].startswith("result.json: exit_code should be an integer")
