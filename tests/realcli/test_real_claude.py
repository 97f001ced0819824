"""The real Claude Code CLI under `mh-spawn --agent claude`, against a scripted fake Messages
API on 127.0.0.1. Skipped where the CLI is not installed; .ci/run installs it."""

import json
import os
import shutil
import time
from datetime import datetime
from pathlib import Path

import pytest

from realcli.fake_anthropic import serve

CLAUDE = shutil.which("claude")
pytestmark = pytest.mark.skipif(CLAUDE is None, reason="the claude CLI is not installed (npm @anthropic-ai/claude-code)")


@pytest.fixture
def api():
    server = serve()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _use_claude(project, api, **credentials):
    """Point the project's environment at the real CLI and the fake API (an API key by default)."""
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


def test_the_real_claude_cli_s_usage_limit_is_waited_out_until_the_reset_it_states(project):
    reset = int(time.time()) + 8  # the fake refuses every message until then
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
    assert limited["iteration"] == 1 and 0 < limited["wait_s"] <= 8
