"""The real Claude Code CLI under `mh-spawn --agent claude`, against a scripted fake Messages
API on 127.0.0.1. Skipped where the CLI is not installed; .ci/run installs it."""

import json
import os
import shutil
import signal
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest

from conftest import wait_for
from realcli.fake_anthropic import serve

CLAUDE = shutil.which("claude")
pytestmark = pytest.mark.skipif(CLAUDE is None, reason="the claude CLI is not installed (npm @anthropic-ai/claude-code)")


@pytest.fixture
def api():
    server = serve()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _use_claude(project, api, home=None, **credentials):
    """Point the project's environment at the real CLI and the fake API (an API key by default)."""
    if home is None:
        home = project.root / "home"
        home.mkdir()
    node = shutil.which("node")
    project.env.update(
        PATH=os.pathsep.join([str(Path(CLAUDE).parent), str(Path(node).parent) if node else "", project.env["PATH"]]),
        HOME=str(home), ANTHROPIC_BASE_URL=api, IS_SANDBOX="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", DISABLE_TELEMETRY="1", DISABLE_AUTOUPDATER="1",
        DISABLE_ERROR_REPORTING="1", **(credentials or {"ANTHROPIC_API_KEY": "dummy"}),
    )


def test_the_real_claude_cli_completes_a_roadmap_under_mh_spawn(project, api):
    _use_claude(project, api)
    road = project.roadmap("roadmap.md", tasks=1)
    r = project.run("spawn", "a", str(road), "--agent", "claude", "--max-turns", "5", "--iteration-timeout", "2m")
    assert r.returncode == 0, (project.tree / "a" / "log").read_text()
    assert (project.root / "out.txt").read_text() == "hello\n" and "[x]" in road.read_text()
    events = project.events("a")
    kinds = [e["event"] for e in events]
    assert {"session", "tool_call", "tool_result", "result", "progress"} <= set(kinds)
    call = next(e for e in events if e["event"] == "tool_call")
    assert call["name"] == "Bash" and "echo hello" in call["input"]
    result = project.result("a")
    assert result["status"] == "completed" and result["usage"]["turns"] == 2 and result["usage"]["input_tokens"] > 0
    status = json.loads(project.run("status", "--json").stdout.splitlines()[0])
    assert status["last_tool"].startswith("Bash: echo hello")


def test_the_real_claude_cli_completes_inside_the_sandbox(project, api, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")  # outside the project: only ~/.claude in it is writable inside
    _use_claude(project, api, home=home)
    road = project.roadmap("roadmap.md", tasks=1)
    r = project.run("spawn", "a", str(road), "--agent", "claude", "--max-turns", "5", "--iteration-timeout", "2m",
                    "--sandbox", "bwrap")
    assert r.returncode == 0, (project.tree / "a" / "log").read_text()
    assert (project.root / "out.txt").read_text() == "hello\n" and "[x]" in road.read_text()
    assert project.result("a")["usage"]["turns"] == 2
    assert (home / ".claude").is_dir()  # where it keeps its sessions: bound into the sandbox, writable


def test_the_real_claude_cli_s_usage_limit_is_waited_out_until_the_reset_it_states(project):
    reset = int(time.time()) + 20  # the fake refuses every message until then; reached well before, even under load
    server = serve(rate_limit_reset=reset)
    try:
        # Only a subscriber's Claude Code reads the unified rate-limit headers.
        _use_claude(project, f"http://127.0.0.1:{server.server_address[1]}",
                    CLAUDE_CODE_OAUTH_TOKEN="sk-ant-oat01-fake")
        road = project.roadmap("roadmap.md", tasks=1)
        r = project.run("spawn", "a", str(road), "--agent", "claude", "--max-turns", "5", "--iteration-timeout", "2m",
                        "--rate-limit-backoff", "1h", "--detach")
        assert (r.returncode, r.stderr) == (0, "")
        state = project.wait_for_state("a", lambda s: s["status"] == "waiting")
        until = datetime.fromisoformat(state["next_attempt"].replace("Z", "+00:00")).timestamp()
        assert until == pytest.approx(reset, abs=0.01)  # the stated reset, not the hour of backoff
        assert project.run("wait", "a").returncode == 0, (project.tree / "a" / "log").read_text()
    finally:
        server.shutdown()
    result = project.result("a")
    assert result["status"] == "completed" and result["iterations"] == 2 and "[x]" in road.read_text()
    [limited] = [e for e in project.events("a") if e["event"] == "rate_limited"]
    assert limited["iteration"] == 1 and 0 < limited["wait_s"] <= 20


def _carrying(instance):
    """Pids of processes whose environment holds MH_INSTANCE=instance: what the agent started."""
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if f"MH_INSTANCE={instance}".encode() in f.read().split(b"\0"):
                    with open(f"/proc/{name}/stat") as s:
                        if s.read().rsplit(") ", 1)[1][0] != "Z":
                            found.append(int(name))
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.mark.parametrize("how", ["mh-stop", "stall"])
def test_the_tool_commands_of_the_real_claude_cli_end_with_the_iteration(project, how):
    # Claude Code runs its Bash tool in a session of its own, outside the agent's group.
    server = serve(command="sh -c 'echo $$ > tool.pid; exec sleep 300'")
    try:
        _use_claude(project, f"http://127.0.0.1:{server.server_address[1]}")
        road = project.roadmap("roadmap.md", tasks=1)
        stall = ["--stall-after", "3", "--on-stall", "stop"] if how == "stall" else []
        r = project.run("spawn", "a", str(road), "--agent", "claude", "--max-turns", "5", "--grace", "2",
                        "--iteration-timeout", "2m", "--detach", *stall)
        assert (r.returncode, r.stderr) == (0, "")
        assert wait_for(lambda: (project.root / "tool.pid").exists() and (project.root / "tool.pid").stat().st_size,
                        project.root)
        tool = int((project.root / "tool.pid").read_text())
        instance = project.state("a")["instance"]
        assert tool in _carrying(instance)
        with open(f"/proc/{tool}/stat") as f:
            assert int(f.read().rsplit(") ", 1)[1].split()[2]) != project.state("a")["agent_pid"]  # not in its group
        if how == "mh-stop":
            assert project.run("stop", "a").returncode == 0
        assert project.run("wait", "a").returncode in (1, 4)
    finally:
        server.shutdown()
    assert _carrying(instance) == []


@contextmanager
def _claude_against(project, scenario):
    """The project pointed at the real CLI and a fake API playing `scenario`, Claude's own
    retries off; the server ends with the block."""
    server = serve(scenario=scenario)
    try:
        _use_claude(project, f"http://127.0.0.1:{server.server_address[1]}", ANTHROPIC_API_KEY="dummy",
                    CLAUDE_CODE_MAX_RETRIES="0")
        yield server
    finally:
        server.closing.set()
        server.shutdown()


def _scenario(project, scenario, *args, tasks=1):
    with _claude_against(project, scenario):
        r = project.run("spawn", "a", str(project.roadmap("roadmap.md", tasks=tasks)), "--agent", "claude",
                        "--max-turns", "5", "--iteration-timeout", "2m", "--grace", "2", "--backoff", "0", *args)
    return r, project.result("a")


@pytest.mark.parametrize("scenario, words", [("api_500", "500"), ("api_400", "400")])
def test_an_api_error_fails_the_real_claude_iteration(project, scenario, words):
    r, result = _scenario(project, scenario, "--max-failures", "1")
    assert r.returncode == 1 and words in result["reason"], result
    assert _carrying(result["instance"]) == []


@pytest.mark.parametrize("scenario", ["hang", "drip"])
def test_no_progress_from_the_real_claude_is_a_stall(project, scenario):
    r, result = _scenario(project, scenario, "--stall-after", "3", "--on-stall", "stop")
    assert r.returncode == 1 and result["reason"].startswith("stalled: no output for"), result
    kinds = [e["event"] for e in project.events("a")]
    assert kinds.count("stalled") == 1 and "unknown" not in kinds
    assert _carrying(result["instance"]) == []


def test_the_real_claude_blocked(project):
    r, result = _scenario(project, "blocked")
    assert r.returncode == 6 and result["reason"] == "The roadmap asks for credentials I do not have."


@pytest.mark.parametrize("scenario", ["marker_in_tool", "marker_in_preamble"])
def test_the_real_claude_s_marker_outside_its_answer_does_not_complete(project, scenario):
    r, result = _scenario(project, scenario, "--max-iterations", "1")
    assert r.returncode == 3 and result["status"] == "incomplete", result


def test_the_real_claude_s_second_iteration_carries_a_message(project):
    with _claude_against(project, "api_400") as server:
        r = project.run("spawn", "a", str(project.roadmap("roadmap.md", tasks=1)), "--agent", "claude", "--max-turns",
                        "5", "--iteration-timeout", "2m", "--backoff", "2", "--detach")
        assert r.returncode == 0
        project.wait_for_state("a", lambda s: s["status"] == "waiting")
        assert project.run("send", "a", "use sqlite").returncode == 0
        server.scenario = "success"  # type: ignore[attr-defined]
        assert project.run("wait", "a", "-t", "120").returncode == 0
    assert project.result("a")["iterations"] == 2
    assert "use sqlite" in (project.tree / "a" / "iterations" / "0002" / "prompt").read_text()


def test_the_real_claude_s_429_without_a_reset_is_backed_off_not_counted(project):
    with _claude_against(project, "limit"):
        r = project.run("spawn", "a", str(project.roadmap("roadmap.md", tasks=1)), "--agent", "claude", "--max-turns",
                        "5", "--iteration-timeout", "2m", "--max-failures", "1", "--rate-limit-backoff", "600",
                        "--account", "acme", "--detach")
        assert r.returncode == 0
        state = project.wait_for_state("a", lambda s: s["status"] == "waiting", timeout=120)
        assert state["waiting_for"].startswith("rate limit until ")
        assert (project.tree / "limits" / "acme").is_file()
        project.run("stop", "a")
        assert project.run("wait", "a", "-t", "60").returncode == 4
    assert project.result("a")["iterations"] == 1 and _carrying(project.result("a")["instance"]) == []


def test_ctrl_c_to_the_real_claude_s_harness_mid_tool_leaves_nothing_behind(project):
    import subprocess
    import sys

    from conftest import BIN

    server = serve(command="sh -c 'echo $$ > tool.pid; exec sleep 300'")
    try:
        _use_claude(project, f"http://127.0.0.1:{server.server_address[1]}")
        spawn = subprocess.Popen(
            [sys.executable, str(BIN / "mh-spawn"), "a", str(project.roadmap("roadmap.md", tasks=1)), "--agent",
             "claude", "--max-turns", "5", "--grace", "2", "--iteration-timeout", "2m"], cwd=project.root,
            env=project.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            assert wait_for(lambda: (project.root / "tool.pid").exists() and (project.root / "tool.pid").stat().st_size,
                            project.root)
            instance = project.state("a")["instance"]
            spawn.send_signal(signal.SIGINT)
            assert spawn.wait(60) == 130, spawn.stderr.read()
        finally:
            if spawn.poll() is None:
                spawn.kill()
                spawn.wait()
    finally:
        server.shutdown()
    assert _carrying(instance) == [] and project.result("a")["status"] == "interrupted"
