"""mh-events: the event log as lines or JSON, filtered, and followed."""

import json

from conftest import TIMEOUT

COMPLETE = "echo '<promise>COMPLETE</promise>'"
GATED = ('while [ ! -e "$MH_HARNESS_DIR/go" ]; do sleep 0.05; done; '
         "echo '<progress>did it</progress>'; echo '<promise>COMPLETE</promise>'")


def test_events_print_as_lines_and_as_json(project):
    project.spawn("a", COMPLETE)
    project.run("wait", "a")
    lines = project.run("events", "a").stdout.splitlines()
    assert [line.split()[2] for line in lines] == ["started", "iteration_started", "iteration_ended", "ended"]
    assert lines[1].split()[1] == "#1" and "status=completed" in lines[-1]
    records = [json.loads(line) for line in project.run("events", "a", "--json").stdout.splitlines()]
    assert records == project.events("a")


def test_events_filter_by_type_iteration_and_time(project):
    project.spawn("a", 'echo "<progress>step $MH_ITERATION</progress>"; [ $MH_ITERATION = 2 ] && ' + COMPLETE + "; true")
    project.run("wait", "a")
    out = project.run("events", "a", "--type", "progress,ended", "--json").stdout.splitlines()
    assert [json.loads(line)["event"] for line in out] == ["progress", "progress", "ended"]
    out = project.run("events", "a", "--iteration", "2", "--type", "progress", "--json").stdout.splitlines()
    assert [json.loads(line)["text"] for line in out] == ["step 2"]
    assert project.run("events", "a", "--since", "1h").stdout == project.run("events", "a").stdout
    assert project.run("events", "a", "--since", "2999-01-01T00:00:00Z").stdout == ""
    r = project.run("events", "a", "--since", "yesterday")
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_follow_prints_new_events_and_returns_when_the_harness_ends(project):
    project.spawn("a", GATED)
    project.wait_for_agent("a")
    follower = project.start("events", "a", "-f", "--json")
    (project.tree / "a" / "go").touch()
    out, err = follower.communicate(timeout=TIMEOUT)
    assert follower.returncode == 0 and err == ""
    kinds = [json.loads(line)["event"] for line in out.splitlines()]
    assert kinds[-1] == "ended" and "progress" in kinds and kinds == [e["event"] for e in project.events("a")]


def test_events_of_an_unknown_harness(project):
    r = project.run("events", "nope")
    assert r.returncode == 7 and r.stderr == "mh-events: error: no such harness: nope\n"
