"""mh-spawn --after: a harness pending until its dependencies have completed."""

from conftest import TIMEOUT

from metaharness.tree import parse_iso

COMPLETE = "echo '<promise>COMPLETE</promise>'"
GATED = 'while [ ! -e "$MH_HARNESS_DIR/go" ]; do sleep 0.05; done; ' + COMPLETE


def _event(project, harness_id, kind):
    return next(e for e in project.events(harness_id) if e["event"] == kind)


def test_a_dependent_waits_pending_and_starts_after_its_dependency_completed(project):
    project.spawn("b", COMPLETE, "--after", "a")  # a does not exist yet: b waits for it to appear
    state = project.wait_for_state("b", lambda s: s["status"] == "pending")
    assert state["waiting_for"] == "after a"
    project.spawn("a", GATED)
    project.wait_for_agent("a")
    (project.tree / "a" / "go").touch()
    assert project.run("wait", "b").returncode == 0
    assert parse_iso(_event(project, "b", "iteration_started")["t"]) >= parse_iso(_event(project, "a", "ended")["t"])


def test_a_failed_dependency_fails_its_dependents_with_the_reason(project):
    project.spawn("a", "exit 1", "--max-failures", "1")
    project.spawn("b", COMPLETE, "--after", "a")
    assert project.run("wait", "b").returncode == 1
    result = project.result("b")
    assert result["iterations"] == 0 and result["reason"].startswith("dependency a did not complete (failed")


def test_dependency_cycles_are_refused_and_named(project):
    project.spawn("a", COMPLETE, "--after", "b")
    project.wait_for_state("a", lambda s: s["status"] == "pending")
    r = project.run("spawn", "b", str(project.roadmap()), "--agent-cmd", "true", "--after", "a")
    assert (r.returncode, r.stderr) == (2, "mh-spawn: error: dependency cycle: b -> a -> b\n")
    r = project.run("spawn", "c", str(project.roadmap()), "--agent-cmd", "true", "--after", "c")
    assert (r.returncode, r.stderr) == (2, "mh-spawn: error: dependency cycle: c -> c\n")


def test_a_pending_harness_can_be_stopped(project):
    project.spawn("b", COMPLETE, "--after", "never")
    project.wait_for_state("b", lambda s: s["status"] == "pending")
    assert project.run("stop", "b", timeout=TIMEOUT).returncode == 0
    assert project.result("b")["status"] == "stopped"
