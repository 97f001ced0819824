"""The real Codex and Gemini CLIs under `mh-spawn --agent codex|gemini`, against the
scripted fake model APIs of fake_models.py on loopback: each scenario's status, exit
status, usage and events, and no process the agent started left behind. Skipped where a
CLI is not installed; .ci/run installs both."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import BIN, TIMEOUT, wait_for
from realcli.fake_models import serve
from realcli.test_real_claude import _carrying

CLIS = {"codex": shutil.which("codex"), "gemini": shutil.which("gemini")}
MODELS = {"codex": "gpt-5.5", "gemini": "gemini-2.5-pro"}
TOOL = "sh -c 'echo $$ > tool.pid; exec sleep 300'"  # a tool command that never ends


def _agents():
    return [pytest.param(agent, marks=pytest.mark.skipif(
        path is None, reason=f"the {agent} CLI is not installed (npm {'@openai/codex' if agent == 'codex' else '@google/gemini-cli'})"))
        for agent, path in CLIS.items()]


@pytest.fixture
def fake(request):
    server = serve()
    yield server
    server.close()


def _use(project, agent, server, home):
    """Point the project's environment at the real CLI and the fake API."""
    (home / ".gemini").mkdir(parents=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps(
        {"security": {"auth": {"selectedType": "gemini-api-key"}}, "general": {"maxAttempts": 1}}))
    (home / ".codex").mkdir()
    (home / ".codex" / "config.toml").write_text(
        f'model_provider = "fake"\n[model_providers.fake]\nname = "fake"\nbase_url = "{server.url}/v1"\n'
        'wire_api = "responses"\nenv_key = "FAKE_OPENAI_API_KEY"\nrequest_max_retries = 0\nstream_max_retries = 0\n')
    node = shutil.which("node")
    project.env.update(
        HOME=str(home), CODEX_HOME=str(home / ".codex"), FAKE_OPENAI_API_KEY="dummy", GEMINI_API_KEY="dummy",
        GOOGLE_GEMINI_BASE_URL=server.url, GEMINI_CLI_NO_RELAUNCH="true", GEMINI_TELEMETRY_ENABLED="false",
        PATH=os.pathsep.join([os.path.dirname(CLIS[agent]), os.path.dirname(node) if node else "", project.env["PATH"]]))


def _spawn(project, agent, *args, road=None):
    road = road or project.roadmap("roadmap.md", tasks=1)
    return project.run("spawn", "a", str(road), "--agent", agent, "--model", MODELS[agent], "--backoff", "0",
                       "--iteration-timeout", "2m", "--grace", "2", *args)


def _kinds(project):
    return [e["event"] for e in project.events("a")]


@pytest.mark.parametrize("agent", _agents())
def test_success(project, agent, fake, tmp_path_factory):
    _use(project, agent, fake, tmp_path_factory.mktemp("home"))
    road = project.roadmap("roadmap.md", tasks=1)
    r = _spawn(project, agent, road=road)
    assert r.returncode == 0, (project.tree / "a" / "log").read_text()
    assert (project.root / "out.txt").read_text() == "hello\n" and "[x]" in road.read_text()
    result = project.result("a")
    assert result["status"] == "completed" and result["usage"]["turns"] == 2 and result["usage"]["tool_calls"] == 1
    assert result["usage"]["input_tokens"] == 2000 and result["usage"]["output_tokens"] == 40
    assert {"session", "tool_call", "tool_result", "result"} <= set(_kinds(project)) and "unknown" not in _kinds(project)
    assert _carrying(result["instance"]) == []


@pytest.mark.parametrize("agent", _agents())
def test_two_iterations_with_a_message_between(project, agent, fake, tmp_path_factory):
    _use(project, agent, fake, tmp_path_factory.mktemp("home"))
    fake.scenario = "api_400"
    assert _spawn(project, agent, "--detach", "--backoff", "2").returncode == 0
    project.wait_for_state("a", lambda s: s["status"] == "waiting")  # the failed first iteration's backoff
    assert project.run("send", "a", "use sqlite").returncode == 0
    fake.scenario = "success"
    assert project.run("wait", "a", "-t", str(TIMEOUT)).returncode == 0
    assert project.result("a")["iterations"] == 2
    assert "use sqlite" in fake.bodies[-1] and "use sqlite" not in fake.bodies[0]


@pytest.mark.parametrize("agent", _agents())
@pytest.mark.parametrize("scenario, words", [("api_500", "internal error"), ("api_400", "bad request")])
def test_an_api_error_fails_the_iteration_with_its_words(project, agent, fake, tmp_path_factory, scenario, words):
    _use(project, agent, fake, tmp_path_factory.mktemp("home"))
    fake.scenario = scenario
    r = _spawn(project, agent, "--max-failures", "1")
    result = project.result("a")
    assert r.returncode == 1 and result["status"] == "failed", result
    if agent == "gemini" or scenario == "api_400":  # Codex words a 500 as its own "high demand"
        assert words in result["reason"]
    assert _carrying(result["instance"]) == []


@pytest.mark.parametrize("agent", _agents())
@pytest.mark.parametrize("scenario", ["limit_reset", "limit"])
def test_a_usage_limit_is_waited_out_not_counted(project, agent, fake, tmp_path_factory, scenario):
    _use(project, agent, fake, tmp_path_factory.mktemp("home"))
    fake.scenario = scenario
    before = time.time()
    assert _spawn(project, agent, "--detach", "--max-failures", "1", "--rate-limit-backoff", "600",
                  "--account", "acme").returncode == 0
    state = project.wait_for_state("a", lambda s: s["status"] == "waiting")
    assert state["waiting_for"].startswith("rate limit until ")
    until = json.loads((project.tree / "limits" / "acme").read_text())["until"]
    if scenario == "limit" or agent == "codex":  # Codex states no reset in its JSON without a usage-limit text
        assert until - before <= 3600 + 120
    else:
        assert abs(until - (before + 37.5)) < 15  # Gemini's "Please retry in 37.5s"
    project.run("stop", "a")
    assert project.run("wait", "a", "-t", str(TIMEOUT)).returncode == 4
    assert project.result("a")["iterations"] == 1


@pytest.mark.parametrize("agent", _agents())
@pytest.mark.parametrize("scenario", ["hang", "drip"])
def test_no_progress_after_the_headers_or_in_a_drip_is_a_stall(project, agent, fake, tmp_path_factory, scenario):
    _use(project, agent, fake, tmp_path_factory.mktemp("home"))
    fake.scenario = scenario
    r = _spawn(project, agent, "--stall-after", "3", "--on-stall", "stop")
    result = project.result("a")
    assert r.returncode == 1 and result["reason"].startswith("stalled: no output for"), result
    assert _kinds(project).count("stalled") == 1 and "unknown" not in _kinds(project)
    assert _carrying(result["instance"]) == []


@pytest.mark.parametrize("agent", _agents())
@pytest.mark.parametrize("how", ["stall", "mh-stop", "SIGINT"])
def test_a_tool_that_never_ends_ends_with_the_iteration(project, agent, fake, tmp_path_factory, how):
    _use(project, agent, fake, tmp_path_factory.mktemp("home"))
    fake.command = TOOL
    stall = ["--stall-after", "3", "--on-stall", "stop"] if how == "stall" else []
    road = project.roadmap("roadmap.md", tasks=1)
    spawn = subprocess.Popen(
        [sys.executable, str(BIN / "mh-spawn"), "a", str(road), "--agent", agent, "--model", MODELS[agent],
         "--grace", "2", "--iteration-timeout", "2m", *stall], cwd=project.root, env=project.env,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: (project.root / "tool.pid").exists() and (project.root / "tool.pid").stat().st_size,
                        project.root)
        instance = project.state("a")["instance"]
        assert int((project.root / "tool.pid").read_text()) in _carrying(instance)
        if how == "mh-stop":
            assert project.run("stop", "a").returncode == 0
        elif how == "SIGINT":
            spawn.send_signal(signal.SIGINT)
        code = spawn.wait(TIMEOUT)
    finally:
        if spawn.poll() is None:
            spawn.kill()
            spawn.wait()
    assert code == {"stall": 1, "mh-stop": 4, "SIGINT": 130}[how], spawn.stderr.read()
    assert _carrying(instance) == []


@pytest.mark.parametrize("agent", _agents())
def test_blocked(project, agent, fake, tmp_path_factory):
    _use(project, agent, fake, tmp_path_factory.mktemp("home"))
    fake.scenario = "blocked"
    r = _spawn(project, agent)
    assert r.returncode == 6 and project.result("a")["reason"] == "The roadmap asks for credentials I do not have."


@pytest.mark.parametrize("agent", _agents())
def test_the_marker_only_in_a_tool_input_does_not_complete(project, agent, fake, tmp_path_factory):
    _use(project, agent, fake, tmp_path_factory.mktemp("home"))
    fake.scenario = "marker_in_tool"
    r = _spawn(project, agent, "--max-iterations", "1")
    assert r.returncode == 3 and "<promise>COMPLETE</promise>" in (project.root / "notes.txt").read_text()
