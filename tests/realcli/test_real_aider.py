"""The real aider (PyPI aider-chat, in a venv of its own) under `mh-spawn --agent aider`,
against the fake OpenAI chat-completions API of fake_models.py on loopback. Aider exits 0
whatever happens: these check that its output is read for what did. Skipped where aider
is not installed; .ci/run installs it (in ~/.cache/metaharness-ci/aider)."""

import os
import shutil
from pathlib import Path

import pytest

from conftest import TIMEOUT
from realcli.fake_models import serve
from realcli.test_real_claude import _carrying

AIDER = shutil.which("aider") or next(
    (str(p) for p in [Path.home() / ".cache" / "metaharness-ci" / "aider" / "bin" / "aider"] if p.exists()), None)
pytestmark = pytest.mark.skipif(AIDER is None, reason="aider is not installed (PyPI aider-chat)")


@pytest.fixture
def fake():
    server = serve()
    yield server
    server.close()


def _spawn(project, fake, scenario, *args, home):
    fake.scenario = scenario
    project.env.update(
        HOME=str(home), OPENAI_API_BASE=f"{fake.url}/v1", OPENAI_API_KEY="dummy", AIDER_GIT="false",
        AIDER_CHECK_UPDATE="false", AIDER_ANALYTICS="false", AIDER_SHOW_MODEL_WARNINGS="false",
        AIDER_EDIT_FORMAT="whole", PATH=f"{os.path.dirname(AIDER)}{os.pathsep}{project.env['PATH']}")
    return project.run("spawn", "a", str(project.roadmap("roadmap.md", tasks=1)), "--agent", "aider",
                       "--model", "openai/fake-model", "--max-iterations", "1", "--max-failures", "1",
                       "--backoff", "0", *args, timeout=TIMEOUT * 3)


def test_aider_completes_and_its_usage_is_read(project, fake, tmp_path_factory):
    r = _spawn(project, fake, "success", home=tmp_path_factory.mktemp("home"))
    result = project.result("a")
    assert r.returncode == 0 and result["status"] == "completed", (project.tree / "a" / "log").read_text()
    assert (project.root / "out.txt").read_text() == "hello\n"
    assert result["usage"]["input_tokens"] == 1000 and result["usage"]["output_tokens"] == 20
    assert _carrying(result["instance"]) == []


def test_aider_s_api_error_is_a_failed_iteration(project, fake, tmp_path_factory):
    r = _spawn(project, fake, "api_400", home=tmp_path_factory.mktemp("home"))
    assert r.returncode == 1 and "litellm.BadRequestError" in project.result("a")["reason"]


def test_a_marker_in_a_file_aider_writes_does_not_complete(project, fake, tmp_path_factory):
    r = _spawn(project, fake, "marker_in_edit", home=tmp_path_factory.mktemp("home"))
    assert r.returncode == 3 and "<promise>COMPLETE</promise>" in (project.root / "notes.txt").read_text()


def test_aider_blocked(project, fake, tmp_path_factory):
    r = _spawn(project, fake, "blocked", home=tmp_path_factory.mktemp("home"))
    assert r.returncode == 6


def test_aider_giving_up_on_a_rate_limit_is_waited_out(project, fake, tmp_path_factory):
    """Aider retries a 429 itself for about a minute before it gives up and exits 0."""
    r = _spawn(project, fake, "limit", "--detach", "--rate-limit-backoff", "600", "--account", "openai",
               home=tmp_path_factory.mktemp("home"))
    assert r.returncode == 0
    state = project.wait_for_state("a", lambda s: s["status"] == "waiting", timeout=TIMEOUT * 3)
    assert state["waiting_for"].startswith("rate limit until ")
    project.run("stop", "a")
    assert project.run("wait", "a", "-t", str(TIMEOUT)).returncode == 4
