"""mh-resume: lifts a pause; on a harness not paused it changes nothing."""

from test_mh_pause import GATED

COMPLETE = "echo '<promise>COMPLETE</promise>'"


def test_resuming_a_harness_that_is_not_paused_changes_nothing(project):
    project.spawn("a", GATED)
    project.wait_for_agent("a")
    r = project.run("resume", "a")
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
    assert project.state("a")["status"] == "running"
    project.run("stop", "a")


def test_resume_of_an_ended_or_unknown_harness_is_refused_in_one_line(project):
    project.spawn("done", COMPLETE)
    assert project.run("wait", "done").returncode == 0
    r = project.run("resume", "done")
    assert r.returncode == 9 and r.stderr.count("\n") == 1
    r = project.run("resume", "nope", "--grace", "0")
    assert r.returncode == 7 and r.stderr.count("\n") == 1
    assert project.run("resume").returncode == 2


def test_a_resume_wakes_the_supervisor_at_once(project):
    project.spawn("a", GATED)
    project.wait_for_agent("a")
    assert project.run("pause", "a", "--now", "--wait").returncode == 0
    (project.root / "go-2").touch()
    assert project.run("resume", "a").returncode == 0
    state = project.wait_for_state("a", lambda s: s["status"] != "paused")
    assert state["status"] in ("running", "completed")
    assert project.run("wait", "a").returncode == 0
