"""mh-status: the table, the JSON, and what readers derive (dead, corrupt)."""

import json
import os
import signal

COMPLETE = "echo '<promise>COMPLETE</promise>'"


def test_the_table_shows_every_column_for_each_harness(project):
    project.spawn("a", COMPLETE)
    project.run("wait", "a")
    project.spawn("b", "exec sleep 1000")
    project.wait_for_agent("b")
    r = project.run("status")
    assert r.returncode == 0 and r.stderr == ""
    header, row_a, row_b = r.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "ITER", "PROGRESS", "TASK", "AGE", "BEAT", "PID",
                              "TURNS", "TOKENS", "COST", "LAST", "TOOL", "ALERTS"]
    assert row_a.split()[:4] == ["a", "completed", "1", "0/2"]
    assert row_b.split()[:6] == ["b", "running", "1", "0/2", "task", "1"]
    assert row_b.split()[8] == str(project.state("b")["pid"])


def test_json_has_one_object_per_harness(project):
    project.spawn("a", COMPLETE)
    project.run("wait", "a")
    line, totals = project.run("status", "--json").stdout.splitlines()
    record = json.loads(line)
    assert record["id"] == "a" and record["status"] == "completed" and record["exit_code"] == 0
    assert record["progress"] == {"done": 0, "total": 2} and record["pid"] is None
    assert json.loads(totals) == {"totals": {"harnesses": 1, "turns": 0, "input_tokens": 0, "output_tokens": 0,
                                             "cost_usd": 0, "estimated_cost_usd": 0, "tool_calls": 0}}


def test_an_empty_project_prints_nothing(project):
    r = project.run("status")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_a_killed_supervisor_is_shown_dead_at_once(project):
    project.spawn("a", "exec sleep 1000")
    agent = project.wait_for_agent("a")
    project.kill_supervisor("a")
    row = project.run("status").stdout.splitlines()[1].split()
    assert row[1] == "dead" and row[-1] == "DEAD"
    os.killpg(agent, signal.SIGKILL)


def test_a_corrupt_state_file_is_shown_corrupt_and_the_others_still_listed(project):
    project.spawn("a", COMPLETE)
    project.run("wait", "a")
    project.spawn("b", COMPLETE)
    project.run("wait", "b")
    (project.tree / "a" / "result.json").unlink()
    (project.tree / "a" / "state.json").write_text('{"status": "runn')
    r = project.run("status", "--json")
    assert r.returncode == 0
    records = {json.loads(line)["id"]: json.loads(line) for line in r.stdout.splitlines()[:-1]}
    assert records["a"]["status"] == "corrupt" and records["a"]["reason"]
    assert records["b"]["status"] == "completed"


def test_a_tree_of_a_newer_format_is_refused(project):
    project.tree.mkdir()
    (project.tree / "FORMAT").write_text("99\n")
    r = project.run("status")
    assert r.returncode == 10 and r.stderr.count("\n") == 1 and "newer" in r.stderr


def test_unknown_ids_are_an_error(project):
    r = project.run("status", "nope")
    assert r.returncode == 7


def test_a_state_file_with_wrong_kinds_of_values_is_shown_corrupt(project):
    project.spawn("a", "exec sleep 1000")
    project.wait_for_agent("a")
    state = project.state("a")
    state.update(progress=3, task=5)
    (project.tree / "a" / "state.json").write_text(json.dumps(state))
    r = project.run("status", "--json")
    assert r.returncode == 0 and json.loads(r.stdout.splitlines()[0])["status"] == "corrupt"
    assert project.run("status").returncode == 0


def test_a_silent_agent_shows_as_stalled_with_the_silence_so_far(project):
    project.spawn("a", "echo hi; exec sleep 1000", "--stall-after", "0.2", "--on-stall", "none")
    state = project.wait_for_state("a", lambda s: bool(s.get("stalled_since")))
    record = json.loads(project.run("status", "--json").stdout.splitlines()[0])
    assert record["alerts"][0].startswith("STALLED ") and state["status"] == "running"


def test_watch_off_a_terminal_prints_a_line_per_change_and_quits_on_ctrl_c(project):
    import re
    import signal

    viewer = project.start("status", "--watch")  # before the tree exists: it says so, and waits
    assert viewer.stdout.readline() == f"mh-status --watch: waiting for {project.tree} to be made (Ctrl+C quits)\n"
    project.spawn("a", COMPLETE)
    assert project.run("wait", "a").returncode == 0
    seen = []
    while not seen or " completed " not in seen[-1]:  # a line each time a's status, iteration or progress moves
        seen.append(viewer.stdout.readline())
    viewer.send_signal(signal.SIGINT)
    assert viewer.wait(30) == 0
    assert re.fullmatch(r"\d\d:\d\d:\d\d a completed iteration 1 0/2: the agent printed the completion marker\n",
                        seen[-1])
    assert all(line.split()[1] == "a" for line in seen)


def test_watch_and_json_do_not_mix(project):
    assert project.run("status", "--watch", "--json").returncode == 2


def test_a_recycled_pid_cannot_make_a_dead_harness_look_alive(project):
    project.spawn("a", "exec sleep 1000")
    agent = project.wait_for_agent("a")
    project.kill_supervisor("a")
    state = project.state("a")
    state["pid"] = os.getpid()  # a live process now holds the recorded pid number...
    (project.tree / "a" / "state.json").write_text(json.dumps(state))  # ...with another start time
    assert json.loads(project.run("status", "--json").stdout.splitlines()[0])["status"] == "dead"
    assert project.run("wait", "a").returncode == 5
    os.killpg(agent, signal.SIGKILL)
    project.spawn("a", COMPLETE)  # the id is free: a stranger's pid does not hold it


def test_a_result_with_a_wrong_kind_of_usage_is_corrupt_and_the_others_still_shown(project):
    for harness_id in ("a", "b"):
        project.spawn(harness_id, COMPLETE)
        project.run("wait", harness_id)
    result = project.result("a")
    result["usage"] = "abc"  # jq '.usage="abc"' result.json
    (project.tree / "a" / "result.json").write_text(json.dumps(result))
    r = project.run("status", "--json")
    assert (r.returncode, r.stderr) == (0, "")
    records = {json.loads(line)["id"]: json.loads(line) for line in r.stdout.splitlines()[:-1]}
    assert records["a"]["status"] == "corrupt"
    assert records["a"]["reason"] == "result.json: usage should be an object, not 'abc'"
    assert records["b"]["status"] == "completed"
    r = project.run("status")
    assert r.returncode == 0 and r.stdout.splitlines()[1].split()[:2] == ["a", "corrupt"]
