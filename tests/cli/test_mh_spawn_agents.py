"""mh-spawn --agent claude|codex|gemini|aider, end to end, with a stand-in executable named
like the real CLI that replays transcripts recorded from it (tests/fixtures/)."""

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import FIXTURES


def _calls(log):
    return [json.loads(p.read_text()) for p in sorted(log.iterdir(), key=lambda p: int(p.stem))]


@pytest.mark.parametrize("agent, transcript", [
    ("claude", "claude-success.jsonl"), ("codex", "codex-success.jsonl"), ("gemini", "gemini-success.jsonl"),
    ("codex", "codex-apply_patch.jsonl"),
])
def test_a_successful_run_completes_and_its_events_and_usage_are_recorded(project, agent, transcript):
    log = project.fake_cli(agent, transcript)
    r = project.run("spawn", "a", str(project.roadmap()), "--agent", agent, "--model", "some-model")
    assert (r.returncode, r.stderr) == (0, "")
    [call] = _calls(log)
    prompt = (project.tree / "a" / "iterations" / "0001" / "prompt").read_text()
    assert call["stdin"] == prompt  # the prompt travels on stdin, never in argv
    assert prompt not in call["argv"] and "some-model" in call["argv"]
    kinds = {e["event"] for e in project.events("a")}
    assert {"session", "tool_call", "tool_result", "text", "result"} <= kinds
    result = project.result("a")
    assert result["status"] == "completed" and result["usage"]["tool_calls"] >= 1 and result["usage"]["input_tokens"] > 0
    shown = project.run("logs", "a", "--iteration", "1").stdout
    assert "-> " in shown and "== result" in shown and "{" not in shown.split("\n")[0]  # human-readable, not JSON
    # Stored once as it came and once as a person reads it, beside the supervisor's lines.
    iteration = project.tree / "a" / "iterations" / "0001"
    assert sorted(p.name for p in iteration.iterdir()) == ["answer", "meta.json", "output", "prompt", "stderr"]
    assert shown in (project.tree / "a" / "log").read_text()


def test_claude_gets_its_headless_flags_and_the_bootstrap_file(project):
    log = project.fake_cli("claude", "claude-success.jsonl")
    project.run("spawn", "a", str(project.roadmap()), "--agent", "claude", "--max-turns", "7",
                "--allowed-tools", "Bash Edit", "--budget-usd", "2")
    argv = _calls(log)[0]["argv"]
    assert argv[1:6] == ["-p", "--output-format", "stream-json", "--verbose", "--append-system-prompt-file"]
    assert "<promise>COMPLETE</promise>" in open(argv[6]).read()
    assert argv[argv.index("--max-turns") + 1] == "7" and argv[argv.index("--allowedTools") + 1] == "Bash Edit"
    assert argv[argv.index("--max-budget-usd") + 1] == "2.0000"


def test_codex_reads_the_prompt_from_stdin(project):
    log = project.fake_cli("codex", "codex-success.jsonl")
    project.run("spawn", "a", str(project.roadmap()), "--agent", "codex")
    argv = _calls(log)[0]["argv"]
    assert argv[1:4] == ["exec", "--json", "--skip-git-repo-check"] and argv[-1] == "-"


def test_claude_can_resume_the_previous_session(project):
    log = project.fake_cli("claude", "claude-tool_error.jsonl", "claude-success.jsonl")
    assert project.run("spawn", "a", str(project.roadmap()), "--agent", "claude", "--resume-session").returncode == 0
    first, second = _calls(log)
    assert "--resume" not in first["argv"]
    assert second["argv"][second["argv"].index("--resume") + 1] == "f74decc8-c6fb-41d8-bcf0-58b15e17c807"


def test_codex_resumes_with_exec_resume_and_gemini_with_resume(project):
    log = project.fake_cli("codex", "codex-tool_error.jsonl", "codex-success.jsonl")
    assert project.run("spawn", "c", str(project.roadmap("c.md")), "--agent", "codex", "--resume-session",
                       "--permission-mode", "workspace-write").returncode == 0
    first, second = _calls(log)
    assert first["argv"][1:3] == ["exec", "--json"] and "-s" in first["argv"]
    assert second["argv"][1:4] == ["exec", "resume", "--json"] and "-s" not in second["argv"]
    assert 'sandbox_mode="workspace-write"' in second["argv"]
    assert second["argv"][-2:] == ["01a2080d-09d1-7082-a1fc-473304dff7d2", "-"]  # the first run's thread
    for call in (first, second):
        assert call["stdin"].startswith("You are agent")
    json_log = project.root / "fake-log"
    for p in json_log.iterdir():
        p.unlink()
    project.fake_cli("gemini", "gemini-tool_error.jsonl", "gemini-success.jsonl")
    assert project.run("spawn", "g", str(project.roadmap("g.md")), "--agent", "gemini", "--resume-session").returncode == 0
    first, second = _calls(json_log)
    assert "--resume" not in first["argv"]
    assert second["argv"][second["argv"].index("--resume") + 1] == "d22a3939-d4e8-46f8-a661-1e98a7e3008b"


@pytest.mark.parametrize("agent, transcript, reason", [
    ("claude", "claude-max_turns.jsonl", "reached the turn limit (4 turns)"),
    ("claude", "claude-api_error_400.jsonl", "API Error: 400"),
    ("codex", "codex-stream_failed.jsonl", "stream disconnected"),
    ("gemini", "gemini-api_error_400.jsonl", "invalid argument"),
    ("gemini", "gemini-loop_detected.jsonl", "loop of identical tool calls"),
])
def test_error_results_are_failed_iterations_with_their_reason(project, agent, transcript, reason):
    project.fake_cli(agent, transcript)
    r = project.run("spawn", "a", str(project.roadmap()), "--agent", agent, "--max-failures", "2", "--backoff", "0")
    assert r.returncode == 1
    result = project.result("a")
    assert result["status"] == "failed" and reason in result["reason"] and result["iterations"] == 2


def test_the_marker_inside_a_tool_input_does_not_complete(project, tmp_path):
    lines = (FIXTURES / "transcripts" / "claude-tool_error.jsonl").read_text().splitlines()
    call = json.loads(lines[1])
    call["message"]["content"][0]["input"]["command"] = "echo '<promise>COMPLETE</promise>'"
    lines[1] = json.dumps(call)
    sneaky = tmp_path / "claude-marker_in_tool_input.jsonl"
    sneaky.write_text("\n".join(lines) + "\n")
    project.fake_cli("claude", sneaky)
    r = project.run("spawn", "a", str(project.roadmap()), "--agent", "claude", "--max-iterations", "1")
    assert r.returncode == 3 and project.result("a")["status"] == "incomplete"


def test_an_iteration_that_does_nothing_is_not_a_success(project, tmp_path):
    lines = (FIXTURES / "transcripts" / "claude-success.jsonl").read_text().splitlines()
    result = json.loads(lines[-1])
    result["result"] = "I don't see a request. What would you like me to do?"
    idle = tmp_path / "claude-idle.jsonl"
    idle.write_text("\n".join([lines[0], json.dumps(result)]) + "\n")
    project.fake_cli("claude", idle)
    r = project.run("spawn", "a", str(project.roadmap()), "--agent", "claude", "--max-failures", "2", "--backoff", "0")
    assert r.returncode == 1 and "no progress" in project.result("a")["reason"]
    assert sum(e["event"] == "no_progress" for e in project.events("a")) == 2


def test_spending_the_usd_budget_ends_the_harness_incomplete(project):
    project.fake_cli("claude", "claude-tool_error.jsonl")  # costs $0.0137 a run, never completes
    r = project.run("spawn", "a", str(project.roadmap()), "--agent", "claude", "--budget-usd", "0.02")
    assert r.returncode == 3
    result = project.result("a")
    assert result["iterations"] == 2 and result["reason"] == "spent $0.0275 of the $0.02 budget"
    status = json.loads(project.run("status", "--json").stdout.splitlines()[0])
    assert status["usage"]["cost_usd"] == pytest.approx(0.02745, abs=1e-4)


def test_spending_the_token_budget_ends_the_harness_incomplete(project):
    project.fake_cli("codex", "codex-tool_error.jsonl")  # 2550 tokens a run
    r = project.run("spawn", "a", str(project.roadmap()), "--agent", "codex", "--budget-tokens", "5000")
    assert r.returncode == 3 and "5100 tokens of the 5000 token budget" in project.result("a")["reason"]


def test_a_rate_limit_waits_instead_of_counting_a_failure(project):
    project.fake_cli("codex", "codex-api_error_429.jsonl", "codex-api_error_429.jsonl", "codex-success.jsonl")
    r = project.run("spawn", "a", str(project.roadmap()), "--agent", "codex", "--max-failures", "1",
                    "--max-iterations", "1", "--rate-limit-backoff", "0.05")
    assert r.returncode == 0
    waits = [e for e in project.events("a") if e["event"] == "rate_limited"]
    assert [w["wait_s"] for w in waits] == [0.1, 0.1]  # 0.05 then 0.1, doubling, rounded to 0.1s
    assert project.result("a")["iterations"] == 3


def test_status_shows_a_rate_limit_wait_and_usage(project):
    project.fake_cli("codex", "codex-api_error_429.jsonl")
    r = project.run("spawn", "a", str(project.roadmap()), "--agent", "codex", "--detach", "--rate-limit-backoff", "1h")
    assert r.returncode == 0
    project.wait_for_state("a", lambda s: s["status"] == "waiting")
    row = project.run("status").stdout.splitlines()[1]
    assert "waiting (rate limit until " in row
    assert project.run("stop", "a").returncode == 0


def _next_attempt(state):
    return datetime.fromisoformat(state["next_attempt"].replace("Z", "+00:00")).timestamp()


def _rewritten(tmp_path, name, old, new):
    """A recorded transcript with one stated reset replaced (the recording's is long past)."""
    text = (FIXTURES / "transcripts" / name).read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    (tmp_path / name.replace(".jsonl", ".meta.json")).write_text((FIXTURES / "transcripts" / name.replace(
        ".jsonl", ".meta.json")).read_text())
    return path


def test_claude_s_stated_reset_is_waited_for_not_the_backoff(project, tmp_path):
    reset = int(time.time()) + 60  # far enough ahead to be reached under any load; the test does not wait for it
    limited = _rewritten(tmp_path, "claude-rate_limit.jsonl", '"resetsAt":1796031000', f'"resetsAt":{reset}')
    project.fake_cli("claude", limited, "claude-success.jsonl")
    r = project.run("spawn", "a", str(project.roadmap()), "--agent", "claude", "--detach", "--rate-limit-backoff", "1h")
    assert (r.returncode, r.stderr) == (0, "")
    state = project.wait_for_state("a", lambda s: s["status"] == "waiting")
    assert _next_attempt(state) == pytest.approx(reset, abs=0.01)  # not an hour away
    assert state["waiting_for"].startswith("rate limit until ")
    [wait] = [e for e in project.events("a") if e["event"] == "rate_limited"]
    assert 0 < wait["wait_s"] <= 60
    assert project.run("stop", "a").returncode == 0  # waiting it out is the real-Claude tier's test
    assert {"event": "error", "message": f"five_hour limit rejected, resets "
            f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(reset))}", "iteration": 1} in [
        {k: v for k, v in e.items() if k != "t"} for e in project.events("a")]


def _codex_clock(t, now):
    """How Codex states a reset: local time to the minute, dated unless it is today."""
    if t.date() == now.date():
        return t.strftime("%I:%M %p").lstrip("0")
    return t.strftime(f"%b {t.day}{'th' if 11 <= t.day <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(t.day % 10, 'th')}"
                      ", %Y ") + t.strftime("%I:%M %p").lstrip("0")


def test_codex_s_try_again_at_is_waited_for_in_local_time(project, tmp_path):
    zone = timezone(timedelta(hours=5, minutes=30))
    project.env["TZ"] = "IST-5:30"  # POSIX for UTC+5:30: a half-hour zone, and not this machine's
    now = datetime.now(zone)
    stated = (now + timedelta(minutes=3)).replace(second=0, microsecond=0)
    limited = _rewritten(tmp_path, "codex-rate_limit.jsonl", "try again at 9:30 AM",
                         f"try again at {_codex_clock(stated, now)}")
    project.fake_cli("codex", limited)
    r = project.run("spawn", "a", str(project.roadmap()), "--agent", "codex", "--detach", "--rate-limit-backoff", "1h")
    assert (r.returncode, r.stderr) == (0, "")
    state = project.wait_for_state("a", lambda s: s["status"] == "waiting")
    assert _next_attempt(state) == pytest.approx(stated.timestamp() + 60, abs=0.01)  # the end of the stated minute
    assert project.run("stop", "a").returncode == 0


def test_gemini_s_please_retry_in_is_waited_for(project):
    project.fake_cli("gemini", "gemini-rate_limit.jsonl")
    before = time.time()
    r = project.run("spawn", "a", str(project.roadmap()), "--agent", "gemini", "--detach", "--rate-limit-backoff", "1h")
    assert (r.returncode, r.stderr) == (0, "")
    state = project.wait_for_state("a", lambda s: s["status"] == "waiting")
    assert before + 37.68 <= _next_attempt(state) + 0.001 <= time.time() + 37.69  # "Please retry in 37.680249766s"
    assert project.run("stop", "a").returncode == 0


def test_status_shows_turns_tokens_cost_and_the_last_tool_with_a_footer(project):
    project.fake_cli("claude", "claude-success.jsonl")
    project.run("spawn", "a", str(project.roadmap()), "--agent", "claude")
    lines = project.run("status").stdout.splitlines()
    assert "2.6k" in lines[1] and "$0.0140" in lines[1] and "Bash: echo hello" in lines[1]
    assert lines[-1] == "total: 1 harness, 2 turns, 2.6k tokens, $0.0140"


def test_aider_gets_the_prompt_as_a_message_file(project, tmp_path):
    reply = tmp_path / "aider-reply.txt"
    reply.write_text("Applied edit to app.py\n<promise>COMPLETE</promise>\n")
    log = project.fake_cli("aider", reply)
    assert project.run("spawn", "a", str(project.roadmap()), "--agent", "aider").returncode == 0
    argv = _calls(log)[0]["argv"]
    message_file = argv[argv.index("--message-file") + 1]
    assert message_file.endswith("iterations/0001/prompt") and "--yes-always" in argv


def test_the_models_words_are_kept_whole_in_the_log_and_previewed_in_the_events(project, tmp_path):
    long = "I'll create the file. " + "Here is my plan in great detail. " * 100
    recorded = (FIXTURES / "transcripts" / "claude-success.jsonl").read_text()
    transcript = tmp_path / "long.jsonl"
    transcript.write_text(recorded.replace("\"I'll create the file.\"", json.dumps(long), 1))
    project.fake_cli("claude", transcript)
    r = project.run("spawn", "a", str(project.roadmap()), "--agent", "claude")
    assert r.returncode == 0
    [first] = [e for e in project.events("a") if e["event"] == "text"][:1]
    assert len(first["text"]) <= 200 and first["text"].startswith("I'll create the file.")
    assert long.strip() in (project.tree / "a" / "log").read_text()


def _fake_aider(project, body):
    """A stand-in `aider` printing what the real one prints (and exiting 0, as it does)."""
    bin_dir = project.root / "aider-bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "aider").write_text(f"#!/bin/sh\ncat <<'OUT'\nAider v0.86.1\n{body}\nOUT\nexit 0\n")
    (bin_dir / "aider").chmod(0o755)
    project.env["PATH"] = f"{bin_dir}:{project.env['PATH']}"


def test_aider_s_api_error_fails_the_iteration_though_it_exits_0(project):
    _fake_aider(project, "litellm.BadRequestError: OpenAIException - Error code: 400")
    r = project.run("spawn", "a", str(project.roadmap()), "--agent", "aider", "--max-failures", "2", "--backoff", "0")
    assert r.returncode == 1 and "litellm.BadRequestError" in project.result("a")["reason"]


def test_aider_giving_up_on_a_rate_limit_is_waited_out_not_counted(project):
    _fake_aider(project, "The API provider has rate limited you. Try again later or check your quotas.")
    project.run("spawn", "a", str(project.roadmap()), "--agent", "aider", "--max-iterations", "1",
                "--rate-limit-backoff", "600", "--detach")
    state = project.wait_for_state("a", lambda s: s["status"] == "waiting")
    assert state["waiting_for"].startswith("rate limit until ")
    project.run("stop", "a")


def test_a_marker_in_a_file_aider_writes_does_not_complete(project):
    _fake_aider(project, "notes.md\n```\n<promise>COMPLETE</promise>\n```\nApplied edit to notes.md")
    r = project.run("spawn", "a", str(project.roadmap()), "--agent", "aider", "--max-iterations", "1")
    assert r.returncode == 3 and project.result("a")["status"] == "incomplete"
