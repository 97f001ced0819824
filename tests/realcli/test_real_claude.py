"""The real Claude Code CLI under `mh-spawn --agent claude`, against a scripted fake Messages
API on 127.0.0.1. Skipped where the CLI is not installed; .ci/run installs it."""

import json
import os
import shutil
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


def test_the_real_claude_cli_completes_a_roadmap_under_mh_spawn(project, api):
    home = project.root / "home"
    home.mkdir()
    node = shutil.which("node")
    project.env.update(
        PATH=os.pathsep.join([str(Path(CLAUDE).parent), str(Path(node).parent) if node else "", project.env["PATH"]]),
        HOME=str(home), ANTHROPIC_BASE_URL=api, ANTHROPIC_API_KEY="dummy", IS_SANDBOX="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", DISABLE_TELEMETRY="1", DISABLE_AUTOUPDATER="1",
        DISABLE_ERROR_REPORTING="1",
    )
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
