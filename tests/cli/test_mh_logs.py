"""mh-logs: the readable log, one iteration's output made readable, and following."""

from conftest import TIMEOUT


def test_the_log_interleaves_supervisor_lines_and_agent_output(project):
    project.spawn("a", 'echo "hello from $MH_ITERATION"; [ $MH_ITERATION = 2 ] && echo "<promise>COMPLETE</promise>"; true')
    project.run("wait", "a")
    lines = project.run("logs", "a").stdout.splitlines()
    assert lines[0].startswith("--- ") and "iteration 1 started" in lines[0]
    assert "hello from 1" in lines and "hello from 2" in lines
    assert lines[-1].endswith("completed: the agent printed the completion marker")
    assert project.run("logs", "a", "--iteration", "2").stdout == "hello from 2\n<promise>COMPLETE</promise>\n"


def test_a_missing_iteration_is_an_error(project):
    project.spawn("a", "echo '<promise>COMPLETE</promise>'")
    project.run("wait", "a")
    r = project.run("logs", "a", "--iteration", "9")
    assert (r.returncode, r.stderr) == (7, "mh-logs: error: harness a has no iteration 9\n")


def test_follow_streams_until_the_harness_ends(project):
    gated = 'echo first; while [ ! -e "$MH_HARNESS_DIR/go" ]; do sleep 0.05; done; echo last; echo "<promise>COMPLETE</promise>"'
    project.spawn("a", gated)
    project.wait_for_agent("a")
    follower = project.start("logs", "a", "-f")
    (project.tree / "a" / "go").touch()
    out, _ = follower.communicate(timeout=TIMEOUT)
    assert follower.returncode == 0
    assert out.index("first") < out.index("last") and out.rstrip().endswith("completed: the agent printed the completion marker")


def test_following_a_future_iteration_waits_for_it(project):
    gated = ('[ $MH_ITERATION = 1 ] && { while [ ! -e "$MH_HARNESS_DIR/go" ]; do sleep 0.05; done; exit 0; }; '
             'echo "second here"; echo "<promise>COMPLETE</promise>"')
    project.spawn("a", gated)
    project.wait_for_agent("a")
    follower = project.start("logs", "a", "-f", "--iteration", "2")
    (project.tree / "a" / "go").touch()
    out, _ = follower.communicate(timeout=TIMEOUT)
    assert follower.returncode == 0 and out == "second here\n<promise>COMPLETE</promise>\n"
