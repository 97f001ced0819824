"""Adapters against transcripts recorded from the real CLIs (tests/fixtures/)."""

import json
import re
import time
from pathlib import Path

import pytest

from metaharness.agents import (
    Report,
    adapter_for,
    note_rate_limit,
)
from metaharness.agents.resets import CLOCK_SLACK_SECONDS, stated_reset
from metaharness.markers import scan

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def parse(name, now=None, lines=None):
    """Parse a recorded transcript (or `lines`), as if at `now` if given."""
    parser = adapter_for(name.split("-")[0]).parser()
    if now is not None:
        parser.clock = lambda: now
    lines = lines if lines is not None else (FIXTURES / "transcripts" / name).read_text().splitlines(keepends=True)
    events = [e for line in lines for e in parser.feed(line)]
    return parser.report, events


def meta(name):
    return json.loads((FIXTURES / "transcripts" / name.replace(".jsonl", ".meta.json")).read_text())


# transcript: (error substring or None, rate limited, turns (model replies), input tokens, output tokens, cost, tool calls, complete)
EXPECTED = {
    "claude-success.jsonl": (None, False, 2, 2500, 60, 0.014, 1, True),
    "claude-tool_error.jsonl": (None, False, 2, 2500, 50, 0.0137, 1, False),
    "claude-api_error_400.jsonl": ("API Error: 400", False, 1, 0, 0, 0.0, 0, False),
    "claude-api_error_500_retries.jsonl": ("API Error: 500", False, 1, 0, 0, 0.0, 0, False),
    "claude-max_turns.jsonl": ("reached the turn limit (4 turns)", False, 3, 3600, 90, 0.02025, 3, False),
    "claude-max_budget.jsonl": ("reached its spending limit", False, 1, 1200, 40, 0.007, 1, False),
    "codex-success.jsonl": (None, False, 2, 2500, 60, 0.0, 1, True),
    "codex-apply_patch.jsonl": (None, False, 3, 3900, 90, 0.0, 3, True),
    "codex-tool_error.jsonl": (None, False, 2, 2500, 50, 0.0, 1, False),
    "codex-api_error_400.jsonl": ("fake: bad request", False, 0, 0, 0, 0.0, 0, False),
    "codex-api_error_429.jsonl": ("429 Too Many Requests", True, 0, 0, 0, 0.0, 0, False),
    "codex-stream_failed.jsonl": ("stream disconnected", False, 0, 0, 0, 0.0, 0, False),
    "claude-rate_limit.jsonl": ("You've hit your session limit", True, 1, 0, 0, 0.0, 0, False),
    "codex-rate_limit.jsonl": ("hit your usage limit", True, 0, 0, 0, 0.0, 0, False),
    "gemini-rate_limit.jsonl": ("exceeded your current quota", True, 0, 0, 0, 0.0, 0, False),
    "gemini-success.jsonl": (None, False, 2, 2500, 60, 0.0, 1, True),
    "gemini-tool_error.jsonl": (None, False, 2, 2500, 50, 0.0, 1, False),
    "gemini-api_error_400.jsonl": ("invalid argument", False, 0, 0, 0, 0.0, 0, False),
    "gemini-max_turns.jsonl": ("Reached max session turns", False, 3, 3600, 90, 0.0, 3, False),
    "gemini-loop_detected.jsonl": ("loop of identical tool calls", False, 4, 4800, 120, 0.0, 4, False),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_recorded_transcript_parses_into_its_metrics(name):
    error, limited, turns, tokens_in, tokens_out, cost, tools, complete = EXPECTED[name]
    report, events = parse(name)
    meta = json.loads((FIXTURES / "transcripts" / name.replace(".jsonl", ".meta.json")).read_text())
    assert report.saw_result
    assert (report.error is None) == (error is None) and (error or "") in (report.error or "")
    assert report.is_error == (error is not None)
    assert (report.rate_limited, report.turns, report.input_tokens, report.output_tokens, report.tool_calls) == (
        limited, turns, tokens_in, tokens_out, tools)
    assert report.cost_usd == pytest.approx(cost, abs=1e-4)
    assert scan(report.final_text).complete == complete == bool(meta.get("marker_in_final_text"))
    assert events[0]["event"] == "session" and events[-1]["event"] == "result"
    assert {e["event"] for e in events} <= {"session", "text", "tool_call", "tool_result", "result", "retry", "error", "reasoning"}


def test_a_run_killed_before_its_result_has_no_result():
    report, events = parse("claude-never_stops_tool_loop.jsonl")
    assert not report.saw_result and report.tool_calls == 30 and events[-1]["event"] in ("tool_call", "tool_result")


def test_the_echoed_prompt_and_tool_inputs_are_not_the_final_text():
    report, _ = parse("gemini-api_error_400.jsonl")  # its prompt, echoed, names the marker
    assert "<promise>" not in report.final_text
    parser = adapter_for("claude").parser()
    line = json.dumps({"type": "assistant", "message": {"content": [
        {"type": "tool_use", "name": "Bash", "input": {"command": "echo '<promise>COMPLETE</promise>'"}}]}})
    parser.feed(line)
    assert not scan(parser.report.final_text).complete


@pytest.mark.parametrize("agent", ["claude", "codex", "gemini"])
def test_garbage_and_unknown_lines_are_recorded_and_parsing_goes_on(agent):
    parser = adapter_for(agent).parser()
    assert parser.feed("not json at all\n") == [{"event": "unparsed", "line": "not json at all"}]
    assert parser.feed('{"type": "assistant", "mess') [0]["event"] == "unparsed"  # truncated
    assert parser.feed("[1, 2]\n")[0]["event"] == "unparsed"
    assert parser.feed('{"type": "brand_new_thing", "x": 1}\n') == [{"event": "unknown", "type": "brand_new_thing"}]
    broken = {"claude": "assistant", "codex": "item.completed", "gemini": "tool_use"}[agent]
    assert parser.feed(json.dumps({"type": broken}))[0]["event"] == "malformed"  # a known type missing its body
    assert parser.feed("\n") == []


def test_rate_limit_reset_times_are_read_when_given():
    report = Report()
    assert note_rate_limit(report, "Claude AI usage limit reached|1900000000", now=1800000000)
    assert report.rate_limited and report.retry_at == 1900000000
    report = Report()
    assert note_rate_limit(report, "429 Too Many Requests; retry after 30 seconds", now=1800000000)
    assert report.retry_at == 1800000030
    assert not note_rate_limit(Report(), "file not found")


@pytest.fixture
def local_zone(monkeypatch):
    """Set the process's local time zone (a POSIX TZ string needs no zone database)."""
    def set_zone(tz):
        monkeypatch.setenv("TZ", tz)
        time.tzset()
    yield set_zone
    monkeypatch.undo()
    time.tzset()


def _recorded(name):
    """When the CLI printed its transcript, and the reset the fake API gave it."""
    m = meta(name)
    return m["recorded_at"] + m["duration_s"], m["fake_answer"]


def test_claude_s_rate_limit_event_gives_the_exact_reset():
    now, answer = _recorded("claude-rate_limit.jsonl")
    report, events = parse("claude-rate_limit.jsonl", now)
    assert report.rate_limited and report.retry_at == answer["anthropic-ratelimit-unified-reset"]
    assert report.retry_at - now == pytest.approx(3600, abs=5)
    assert {"event": "error", "message": "five_hour limit rejected, resets 2026-11-30 09:30:00 UTC"} in events


def test_without_the_event_claude_s_result_text_gives_the_end_of_the_stated_minute(local_zone):
    local_zone("EST+5")  # the text names its zone, (UTC): the local one must not matter
    now, answer = _recorded("claude-rate_limit.jsonl")
    lines = [line for line in (FIXTURES / "transcripts" / "claude-rate_limit.jsonl").read_text().splitlines()
             if '"rate_limit_event"' not in line]
    report, _ = parse("claude-rate_limit.jsonl", now, lines)
    assert "resets 9:30am (UTC)" in report.error
    reset = answer["anthropic-ratelimit-unified-reset"]  # 09:30:00: the text says 9:30, so 09:31 is safe
    assert report.rate_limited and report.retry_at == reset // 60 * 60 + 60


def test_codex_s_try_again_at_is_local_time_to_the_minute(local_zone):
    local_zone("UTC0")  # as recorded
    now, answer = _recorded("codex-rate_limit.jsonl")
    report, _ = parse("codex-rate_limit.jsonl", now)
    assert "try again at 9:30 AM." in report.error
    assert report.rate_limited and report.retry_at == answer["body"]["error"]["resets_at"] // 60 * 60 + 60


def test_codex_s_clock_time_already_past_today_is_tomorrow_s(local_zone):
    local_zone("IST-5:30")  # 9:30 AM here was 04:00 UTC, hours before the recording at 08:30 UTC
    now, _ = _recorded("codex-rate_limit.jsonl")
    report, _ = parse("codex-rate_limit.jsonl", now)
    tomorrow = time.strftime("%Y-%m-%d %H:%M", time.gmtime(report.retry_at))
    assert tomorrow == "2026-12-01 04:01" and 19 * 3600 < report.retry_at - now < 20 * 3600


def test_gemini_s_please_retry_in_gives_the_delay():
    now, _ = _recorded("gemini-rate_limit.jsonl")
    report, _ = parse("gemini-rate_limit.jsonl", now)
    assert "Please retry in 37.680249766s" in report.error and "Suggested retry after 37s" in report.error
    assert report.rate_limited and report.retry_at == pytest.approx(now + 37.680249766)


NOW = 1796027144.0  # 2026-11-30 08:25:44 UTC


@pytest.mark.parametrize("text, expected", [
    ("or try again at Dec 1st, 2026 9:24 AM.", "2026-12-01 09:25:00"),  # Codex, not today: dated
    ("Try again at 11:02 PM.", "2026-11-30 23:03:00"),
    ("You've hit your weekly limit · resets Dec 3, 9am (Europe/Paris)", "2026-12-03 08:01:00"),
    ("You've hit your Opus limit · resets Jan 3, 2027, 9:30am (America/New_York)", "2027-01-03 14:31:00"),
    ("You've hit your session limit · resets 3pm (Mars/Olympus_Mons)", None),  # unknown zone: no guess, backoff
    ("You've hit your session limit · resets 3pm (UTC)", "2026-11-30 15:01:00"),  # UTC needs no tzdata
    ("Please retry in 500ms.", "2026-11-30 08:25:44"),
    ("Claude AI usage limit reached|1900000000", "2030-03-17 17:46:40"),  # far ahead: the supervisor bounds the wait
    ("Try again at 8:22 AM.", None),  # minutes ago: already reset, so the generic backoff decides
    ("Claude AI usage limit reached|1796020000", None),  # in the past
    ("Try again later.", None),
    ("try again at 13:05 PM", None),
])
def test_stated_resets_are_read_in_every_form_the_clis_use(local_zone, text, expected):
    local_zone("UTC0")
    got = stated_reset(text, NOW)
    assert (got and time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(got))) == expected


def test_a_clock_time_just_before_midnight_read_just_after_is_past(local_zone):
    local_zone("UTC0")
    midnight = 1796083200.0  # 2026-12-01 00:00:00 UTC
    assert stated_reset("try again at 11:59 PM.", midnight + 30) is None  # yesterday's, not tonight's
    assert stated_reset("try again at 11:59 PM.", midnight + CLOCK_SLACK_SECONDS + 61) == midnight + 86400


def test_a_rejected_limit_whose_reset_has_passed_leaves_the_wait_to_the_backoff():
    now, answer = _recorded("claude-rate_limit.jsonl")
    lines = (FIXTURES / "transcripts" / "claude-rate_limit.jsonl").read_text().splitlines()
    report, _ = parse("claude-rate_limit.jsonl", answer["anthropic-ratelimit-unified-reset"] + 600, lines)
    assert report.rate_limited and report.retry_at is None  # neither the event's time nor the text's is ahead


def test_an_allowed_rate_limit_event_is_no_limit():
    parser = adapter_for("claude").parser()
    info = {"status": "allowed", "resetsAt": 1900000000, "rateLimitType": "five_hour"}
    assert parser.feed(json.dumps({"type": "rate_limit_event", "rate_limit_info": info})) == []
    assert not parser.report.rate_limited and parser.report.retry_at is None


def _help_options(text):
    """Every --long option a help text names, with `--x[-file]` meaning both --x and --x-file."""
    found = set()
    for long, suffix in re.findall(r"(--[A-Za-z][\w-]*)(\[-[\w-]+\])?", text):
        found.add(long)
        if suffix:
            found.add(long + suffix[1:-1])
    return found | set(re.findall(r"(?<![\w-])(-[A-Za-z])\b", text))


@pytest.mark.parametrize("agent, help_file", [("claude", "claude-help.txt"), ("codex", "codex-exec-help.txt"),
                                              ("gemini", "gemini-help.txt")])
def test_adapters_pass_only_options_the_real_cli_accepts(agent, help_file):
    accepted = _help_options((FIXTURES / "help" / help_file).read_text())
    for meta in (FIXTURES / "transcripts").glob(f"{agent}-*.meta.json"):  # flags proven by recorded real runs
        accepted |= {a for a in json.loads(meta.read_text())["argv"] if a.startswith("-")}
    options = {"model": "m", "max_turns": 3, "allowed_tools": "Bash Edit", "budget_left_usd": 1.5,
               "resume_session_id": "abc", "permission_mode": None, "agent_args": []}
    for mode in (None, "workspace-write" if agent == "codex" else "plan" if agent == "claude" else "auto_edit"):
        argv = adapter_for(agent).invocation({**options, "permission_mode": mode}, "prompt", "/tmp/prompt").argv
        flags = {a.split("=")[0] for a in argv[1:] if a.startswith("-") and a != "-"}
        assert flags <= accepted, flags - accepted


def test_the_text_parser_keeps_only_what_the_markers_need_however_much_is_printed():
    from metaharness.agents.cmd import TextParser
    from metaharness.markers import scan

    parser = TextParser()
    for i in range(200_000):
        parser.feed(f"line {i} of a very chatty agent\n")
    for line in ["  <promise>BLOCKED</promise>\n", "\n", "the API key is missing\n", "more chatter\n"]:
        parser.feed(line)
    text = parser.report.final_text
    assert len(text) < 100
    assert scan(text).blocked_reason == "the API key is missing" and not scan(text).complete
    parser.feed("<promise>COMPLETE</promise>")
    assert scan(parser.report.final_text).complete


@pytest.mark.parametrize("resets_at", [1e308, -1e300, "Infinity"])
def test_an_absurd_reset_in_a_rate_limit_event_is_logged_as_malformed_never_a_crash(resets_at):
    from metaharness.agents.claude import ClaudeParser

    event = {"type": "rate_limit_event", "rate_limit_info": {"status": "rejected", "resetsAt": resets_at}}
    line = json.dumps(event).replace('"Infinity"', "Infinity")
    events = ClaudeParser().feed(line)
    assert all(e["event"] in ("malformed", "error", "unknown") for e in events)


def test_claude_s_other_lines_are_known_not_unknown():
    lines = [
        '{"type":"system","subtype":"task_started","description":"explore the repo","session_id":"s"}\n',
        '{"type":"system","subtype":"task_notification","status":"completed","summary":"found 3 files","session_id":"s"}\n',
        '{"type":"system","subtype":"status","status":"compacting","session_id":"s"}\n',
        '{"type":"system","subtype":"thinking_tokens","tokens":120,"session_id":"s"}\n',
        '{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
        '"text":"a"}},"session_id":"s"}\n',
        '{"type":"rate_limit_event","rate_limit_info":{"status":"allowed","resetsAt":1796031000},"session_id":"s"}\n',
    ]
    _, events = parse("claude-x", lines=lines)
    assert [e["event"] for e in events] == ["task", "task"]
    assert events[0] == {"event": "task", "state": "started", "about": "explore the repo"}
    assert events[1]["about"] == "found 3 files"


AIDER_EDIT = """\
I'll create the file with the marker the tests look for.

notes.md
```
<promise>COMPLETE</promise>
```

Tokens: 2.5k sent, 60 received. Cost: $0.0042 message, $0.0042 session.
Applied edit to notes.md
"""


def test_aider_markers_in_the_files_it_writes_do_not_count_and_its_usage_does():
    report, _ = parse("aider-x", lines=AIDER_EDIT.splitlines(keepends=True))
    assert "COMPLETE" not in report.final_text and not report.is_error
    assert (report.input_tokens, report.output_tokens, report.cost_usd, report.turns) == (2500, 60, 0.0042, 1)
    report, _ = parse("aider-x", lines=(AIDER_EDIT + "<promise>COMPLETE</promise>\n").splitlines(keepends=True))
    assert "<promise>COMPLETE</promise>" in report.final_text  # said outside the file: it counts


@pytest.mark.parametrize("line, limited", [
    ("litellm.BadRequestError: OpenAIException - Error code: 400 - {'error': {'message': 'bad request'}}", False),
    ("litellm.APIConnectionError: OpenAIException - Connection error.", False),
    ("The API provider has rate limited you. Try again later or check your quotas.", True),
    ("litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached", True),
])
def test_aider_s_errors_and_rate_limits_fail_the_iteration_though_it_exits_0(line, limited):
    report, _ = parse("aider-x", lines=["Aider v0.86.1\n", line + "\n", "Tokens: 100 sent, 0 received.\n"])
    assert report.is_error and report.error == line.strip() and report.rate_limited == limited


def test_codex_resumes_with_only_the_flags_exec_resume_accepts():
    accepted = _help_options((FIXTURES / "help" / "codex-exec-resume-help.txt").read_text())
    for mode in (None, "workspace-write"):
        argv = adapter_for("codex").invocation({"model": "m", "resume_session_id": "abc", "permission_mode": mode,
                                                "agent_args": []}, "prompt", "/tmp/prompt").argv
        assert argv[1:3] == ["exec", "resume"] and argv[-2:] == ["abc", "-"]
        flags = {a.split("=")[0] for a in argv[3:] if a.startswith("-") and a != "-"}
        assert flags <= accepted, flags - accepted
