"""Nothing an agent started outlives its iteration, however it detached itself; a killed
supervisor's agent is ended whole by mh-stop, a new spawn and mh-clean --force; a zombie
supervisor is dead."""

import json
import os
import signal

from conftest import process_exists, wait_for

# Writes the pid of a TERM-ignoring sleeper in a session of its own (as Claude Code and
# Gemini CLI run their tools), then of a daemon double-forked into another session, then waits.
DETACHING_AGENT = (
    "setsid sh -c 'trap \"\" TERM; echo $$ > detached.pid; exec sleep 1000' & "
    "setsid sh -c 'sleep 1000 & echo $! > daemon.pid'; "
    "while [ ! -s detached.pid ] || [ ! -s daemon.pid ]; do sleep 0.05; done; "
)


def _pids(project, *names):
    """The pids the agent wrote to NAME.pid, once it has written them all."""
    files = [project.root / f"{name}.pid" for name in names]
    assert wait_for(lambda: all(f.exists() and f.stat().st_size for f in files), project.root)
    return [int(f.read_text()) for f in files]


def _gone(pids):
    """Every pid has exited (a zombie waiting for the test's subreaper counts as exited): the
    verb that ended them returned only once they had."""
    return not any(process_exists(p) for p in pids)


def test_a_detached_grandchild_ends_with_the_iteration_that_started_it(project):
    road = project.roadmap("r.md", tasks=1)
    r = project.run("spawn", "a", str(road), "-q", "--grace", "0.5",
                    "--agent-cmd", DETACHING_AGENT + "echo '<promise>COMPLETE</promise>'")
    assert (r.returncode, r.stderr) == (0, "")
    detached, daemon = _pids(project, "detached", "daemon")
    assert not process_exists(detached) and not process_exists(daemon)  # gone before mh-spawn returned


def test_mh_stop_mid_iteration_ends_what_the_agent_detached(project):
    project.spawn("a", DETACHING_AGENT + "echo ready; exec sleep 1000", "--grace", "0.5")
    project.wait_for_agent("a")
    pids = _pids(project, "detached", "daemon")
    assert project.run("stop", "a").returncode == 0
    assert project.result("a")["status"] == "stopped"
    assert not any(process_exists(p) for p in pids)


def test_a_harness_spawned_by_an_agent_is_not_swept_with_its_iteration(project):
    inner = project.roadmap("inner.md", tasks=1)
    project.run("spawn", "outer", str(project.roadmap("outer.md", tasks=1)), "-q", "--agent-cmd",
                f"mh-spawn inner {inner} --detach -q --agent-cmd 'exec sleep 1000'; echo '<promise>COMPLETE</promise>'")
    assert project.result("outer")["status"] == "completed"
    state = project.wait_for_state("inner", lambda s: s.get("agent_pid"))
    assert project.run("status", "inner").stdout.split("\n")[1].split()[1] == "running"
    assert project.run("stop", "inner").returncode == 0
    assert not process_exists(state["agent_pid"])


def test_mh_stop_after_kill_9_ends_the_whole_group_even_members_ignoring_term(project):
    # The reproduction: the leader exits at once on TERM, a member ignores it.
    project.spawn("t", "sh -c 'trap \"\" TERM; echo $$ > member.pid; sleep 1000'; echo done", "--grace", "1")
    agent = project.wait_for_agent("t")
    member = _pids(project, "member")[0]
    project.kill_supervisor("t")
    r = project.run("stop", "t")
    assert (r.returncode, r.stderr) == (0, "")
    assert _gone([agent, member])


def test_mh_stop_after_kill_9_ends_what_the_agent_detached_and_a_second_stop_finds_nothing(project):
    project.spawn("t", DETACHING_AGENT + "exec sleep 1000", "--grace", "0.5")
    project.wait_for_agent("t")
    pids = _pids(project, "detached", "daemon")
    project.kill_supervisor("t")
    assert project.run("stop", "t").returncode == 0
    assert _gone(pids)
    assert project.run("stop", "t").returncode == 0


def test_spawning_over_a_dead_id_ends_the_old_agent_first(project):
    project.spawn("t", DETACHING_AGENT + "exec sleep 1000", "--grace", "0.5")
    old_agent = project.wait_for_agent("t")
    pids = _pids(project, "detached", "daemon") + [old_agent]
    project.kill_supervisor("t")
    project.spawn("t", "echo '<promise>COMPLETE</promise>'")
    assert _gone(pids)
    assert project.run("wait", "t").returncode == 0


def test_a_zombie_supervisor_is_dead_and_its_id_can_be_spawned_again(project):
    project.spawn("z", "exec sleep 1000", "--grace", "0.5")
    agent = project.wait_for_agent("z")
    supervisor = project.state("z")["pid"]
    os.kill(supervisor, signal.SIGKILL)  # and do not reap it: the zombie stays until we do
    try:
        os.waitid(os.P_PID, supervisor, os.WEXITED | os.WNOWAIT)  # it has died; we have not reaped it
        with open(f"/proc/{supervisor}/stat") as f:
            assert ") Z" in f.read()  # still a zombie: nobody reaped it
        assert project.run("status", "z").stdout.split("\n")[1].split()[1] == "dead"
        r = project.spawn("z", "echo '<promise>COMPLETE</promise>'")
        assert r.stderr == ""
        assert project.run("wait", "z").returncode == 0
        assert _gone([agent])
    finally:
        os.waitpid(supervisor, 0)




def test_a_waiter_the_agent_detached_is_ended_though_it_holds_a_lock_open(project):
    project.spawn("other", "exec sleep 1000")
    project.wait_for_agent("other")
    road = project.roadmap("r.md", tasks=1)
    agent = ("setsid sh -c 'exec mh-wait other' & echo $! > waiter.pid; "
             "until ls -l /proc/$!/fd 2>/dev/null | grep -q /other/lock; do sleep 0.05; done; "  # it waits now
             "echo '<promise>COMPLETE</promise>'")
    r = project.run("spawn", "a", str(road), "-q", "--grace", "0.5", "--agent-cmd", agent)
    assert (r.returncode, r.stderr) == (0, "")
    assert _gone(_pids(project, "waiter"))  # mh-wait opened other/lock read-only: not a supervisor
    assert project.state("other")["status"] == "running"


def test_stopping_a_dead_harness_leaves_the_harness_its_agent_spawned_running(project):
    inner = project.roadmap("inner.md", tasks=1)
    project.spawn("outer", f"mh-spawn inner {inner} --detach -q --agent-cmd 'exec sleep 1000'; exec sleep 1000",
                  "--grace", "0.5")
    outer_agent = project.wait_for_agent("outer")
    inner_agent = project.wait_for_agent("inner")
    project.kill_supervisor("outer")
    r = project.run("stop", "outer")
    assert (r.returncode, r.stderr) == (0, "")
    assert _gone([outer_agent]) and not _gone([inner_agent])
    assert project.run("stop", "inner").returncode == 0
    assert _gone([inner_agent])


def test_an_agent_program_not_on_path_fails_the_harness_at_once(project, tmp_path):
    """Started through a shell, a missing program would only be an exit 127, and the
    harness would try again until its iteration limit: it is looked up first, as
    subprocess did, and the harness fails on the first iteration saying which."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    road = project.roadmap("r.md", tasks=1)
    r = project.run("spawn", "a", str(road), "-q", "--agent", "claude", "--max-iterations", "3", "--backoff", "0",
                    env={"PATH": str(empty)})
    assert r.returncode == 70, r.stderr
    result = json.loads((project.tree / "a" / "result.json").read_text())
    assert (result["status"], result["iterations"]) == ("failed", 1)
    assert "No such file or directory: 'claude'" in result["reason"]
