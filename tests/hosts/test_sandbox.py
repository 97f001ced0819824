"""--sandbox bwrap: the agent can write only where it works, its harness directory and a
/tmp of its own; stop, messages and checks still reach it. CI installs bubblewrap;
elsewhere these skip."""

import os
import socket

from conftest import TIMEOUT
from hosts.emulated import needs_bwrap

pytestmark = needs_bwrap

COMPLETE = "echo '<promise>COMPLETE</promise>'"


def _tries(target):
    """Shell that tries to write `target` and notes whether it could."""
    return f'if touch {target} 2>/dev/null; then echo "wrote {target}" >> "$MH_ROOT/report"; ' \
           f'else echo "refused {target}" >> "$MH_ROOT/report"; fi; '


def test_the_agent_writes_where_it_works_and_nowhere_else(project, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")  # outside the project, which is the agent's to write
    project.env["HOME"] = str(home)
    agent = (_tries("here.txt") + _tries("$HOME/planted") + _tries("/etc/planted") + _tries("/var/tmp/planted")
             + _tries("/tmp/private") + _tries('"$MH_HARNESS_DIR/note"') + COMPLETE)
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", agent, "--sandbox", "bwrap")
    assert r.returncode == 0, (project.tree / "a" / "log").read_text()
    lines = (project.root / "report").read_text().splitlines()
    assert lines[0] == "wrote here.txt" and (project.root / "here.txt").exists()
    assert lines[1] == f"refused {home}/planted" and not (home / "planted").exists()
    assert lines[2:4] == ["refused /etc/planted", "refused /var/tmp/planted"]
    assert lines[4] == "wrote /tmp/private" and not os.path.exists("/tmp/private")  # a /tmp of its own
    assert lines[5].startswith("wrote ") and (project.tree / "a" / "note").exists()


def test_mh_send_and_mh_stop_reach_a_sandboxed_agent(project):
    # Iteration 1 waits for a go; iteration 2 completes if the message reached its prompt.
    agent = ('if [ "$MH_ITERATION" = 1 ]; then while [ ! -e "$MH_ROOT/go" ]; do sleep 0.05; done; exit 0; fi; '
             'grep -q "use sqlite" "$MH_PROMPT_FILE" && ' + COMPLETE)
    project.spawn("a", agent, "--sandbox", "bwrap")
    project.wait_for_agent("a")
    assert project.run("send", "a", "use sqlite").returncode == 0
    (project.root / "go").touch()
    assert project.run("wait", "a", "-t", str(TIMEOUT)).returncode == 0
    project.spawn("b", 'echo $$ > "$MH_ROOT/inner"; exec sleep 1000', "--sandbox", "bwrap", "--grace", "1")
    project.wait_for_agent("b")
    assert project.run("stop", "b").returncode == 0
    assert project.run("wait", "b", "-t", str(TIMEOUT)).returncode == 4
    assert project.result("b")["status"] == "stopped"
    inner = int((project.root / "inner").read_text())
    assert inner < 10  # it had a pid namespace of its own


def test_a_check_runs_outside_and_sees_what_the_sandboxed_agent_wrote(project):
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", f"echo done > result.txt; {COMPLETE}",
                    "--sandbox", "bwrap", "--verify", "grep -q done result.txt")
    assert r.returncode == 0 and project.result("a")["check"]["passed"]


def test_sandbox_net_off_cuts_the_agent_off_the_network(project):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    connect = f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 5)\""
    try:
        for net, expected in (("on", "reached"), ("off", "cut off")):
            agent = f'if {connect} 2>/dev/null; then echo reached; else echo "cut off"; fi > "$MH_ROOT/net-{net}"; {COMPLETE}'
            r = project.run("spawn", f"n{net}", str(project.roadmap(f"{net}.md")), "--agent-cmd", agent,
                            "--sandbox", "bwrap", "--sandbox-net", net)
            assert r.returncode == 0, r.stderr
            assert (project.root / f"net-{net}").read_text().strip() == expected
    finally:
        server.close()
