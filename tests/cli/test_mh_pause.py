"""mh-pause: held between iterations (or at once with --now) until mh-resume; nothing runs meanwhile."""

import json
import os

from conftest import TIMEOUT, process_exists

COMPLETE = "echo '<promise>COMPLETE</promise>'"
# Iteration N notes that it ran, waits for go-N, and completes from its second iteration on.
GATED = ('touch "$MH_ROOT/ran-$MH_ITERATION"; while [ ! -e "$MH_ROOT/go-$MH_ITERATION" ]; do sleep 0.05; done; '
         '[ "$MH_ITERATION" -ge 2 ] && ' + COMPLETE + '; true')


def _events(project, harness_id):
    return [json.loads(line) for line in (project.tree / harness_id / "events.jsonl").read_text().splitlines()]


def test_a_pause_lets_the_iteration_finish_and_holds_the_next_until_resume(project):
    project.spawn("a", GATED, "--max-iterations", "5")
    project.wait_for_agent("a")
    r = project.run("pause", "a")
    assert r.returncode == 0 and r.stdout == "", r.stderr
    (project.root / "go-1").touch()
    (project.root / "go-2").touch()  # were iteration 2 to start, it would complete at once
    state = project.wait_for_state("a", lambda s: s["status"] == "paused")
    assert state["iteration"] == 1 and state["agent_pid"] is None
    assert "paused" in project.run("status", "a").stdout.splitlines()[1]
    assert project.run("wait", "a", "-t", "1").returncode == 124  # still live: mh-wait keeps waiting
    assert not (project.root / "ran-2").exists()  # and no iteration started meanwhile
    r = project.run("resume", "a")
    assert r.returncode == 0 and r.stdout == "a\n", r.stderr
    assert project.run("wait", "a").returncode == 0
    assert project.result("a")["iterations"] == 2
    kinds = [e["event"] for e in _events(project, "a")]
    assert kinds.index("paused") < kinds.index("resumed") < kinds.index("ended")


def test_pause_now_ends_the_running_iteration_which_then_does_not_count(project):
    project.spawn("a", GATED, "--max-iterations", "1")
    agent = project.wait_for_agent("a")
    r = project.run("pause", "a", "--now", "--wait")
    assert r.returncode == 0, r.stderr
    assert project.state("a")["status"] == "paused"
    assert not process_exists(agent)
    paused = [e for e in _events(project, "a") if e["event"] == "paused"]
    assert paused and paused[0]["now"] is True
    (project.root / "go-2").touch()
    assert project.run("resume", "a").returncode == 0
    # With --max-iterations 1, had the cut iteration counted, this would end incomplete.
    assert project.run("wait", "a").returncode == 0
    assert project.result("a")["status"] == "completed"


def test_a_paused_harness_still_stops(project):
    project.spawn("a", GATED)
    project.wait_for_agent("a")
    assert project.run("pause", "a", "--now", "--wait").returncode == 0
    r = project.run("stop", "a")
    assert r.returncode == 0, r.stderr
    assert project.result("a")["status"] == "stopped"


def test_pause_all_waits_for_every_running_harness(project):
    for harness_id in ("a", "b"):
        project.spawn(harness_id, GATED)
        project.wait_for_agent(harness_id)
    r = project.run("pause", "--all", "--now", "--wait", "-t", str(TIMEOUT))
    assert r.returncode == 0, r.stderr
    assert {project.state(i)["status"] for i in ("a", "b")} == {"paused"}
    r = project.run("resume", "--all")
    assert sorted(r.stdout.split()) == ["a", "b"]
    project.run("stop", "--all")


def test_bad_requests_fail_in_one_line_with_their_status(project):
    assert project.run("pause").returncode == 2
    r = project.run("pause", "nope", "--grace", "0")
    assert r.returncode == 7 and r.stderr.count("\n") == 1
    project.spawn("done", COMPLETE)
    assert project.run("wait", "done").returncode == 0
    r = project.run("pause", "done")
    assert r.returncode == 9 and "already ended (completed)" in r.stderr and r.stderr.count("\n") == 1
    assert not (project.tree / "done" / "control" / "pause").exists()


def test_a_pause_meant_for_an_earlier_harness_of_the_id_is_ignored(project):
    project.spawn("a", GATED)
    project.wait_for_agent("a")
    request = {"instance": "an-earlier-one", "from": "x", "time": "2026-01-01T00:00:00.000Z", "now": True}
    (project.tree / "a" / "control" / "pause").write_text(json.dumps(request))
    (project.root / "go-1").touch()
    (project.root / "go-2").touch()
    assert project.run("wait", "a").returncode == 0
    assert "paused" not in [e["event"] for e in _events(project, "a")]
    assert os.path.exists(project.tree / "a" / "control" / "pause")  # not ours to remove
