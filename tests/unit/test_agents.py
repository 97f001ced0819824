"""Adapters against transcripts recorded from the real CLIs (tests/fixtures/)."""

import json
import re
from pathlib import Path

import pytest

from metaharness.agents import adapter_for, note_rate_limit, Report
from metaharness.markers import scan

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def parse(name):
    parser = adapter_for(name.split("-")[0]).parser()
    events = [e for line in (FIXTURES / "transcripts" / name).read_text().splitlines(keepends=True) for e in parser.feed(line)]
    return parser.report, events


# transcript: (error substring or None, rate limited, turns, input tokens, output tokens, cost, tool calls, complete)
EXPECTED = {
    "claude-success.jsonl": (None, False, 2, 2500, 60, 0.014, 1, True),
    "claude-tool_error.jsonl": (None, False, 2, 2500, 50, 0.0137, 1, False),
    "claude-api_error_400.jsonl": ("API Error: 400", False, 1, 0, 0, 0.0, 0, False),
    "claude-api_error_500_retries.jsonl": ("API Error: 500", False, 1, 0, 0, 0.0, 0, False),
    "claude-max_turns.jsonl": ("reached the turn limit (4 turns)", False, 4, 3600, 90, 0.02025, 3, False),
    "claude-max_budget.jsonl": ("reached its spending limit", False, 1, 1200, 40, 0.007, 1, False),
    "codex-success.jsonl": (None, False, 1, 2500, 60, 0.0, 1, True),
    "codex-apply_patch.jsonl": (None, False, 1, 3900, 90, 0.0, 3, True),
    "codex-tool_error.jsonl": (None, False, 1, 2500, 50, 0.0, 1, False),
    "codex-api_error_400.jsonl": ("fake: bad request", False, 0, 0, 0, 0.0, 0, False),
    "codex-api_error_429.jsonl": ("429 Too Many Requests", True, 0, 0, 0, 0.0, 0, False),
    "codex-stream_failed.jsonl": ("stream disconnected", False, 0, 0, 0, 0.0, 0, False),
    "gemini-success.jsonl": (None, False, 2, 2500, 60, 0.0, 1, True),
    "gemini-tool_error.jsonl": (None, False, 1, 2500, 50, 0.0, 1, False),
    "gemini-api_error_400.jsonl": ("invalid argument", False, 0, 0, 0, 0.0, 0, False),
    "gemini-max_turns.jsonl": ("Reached max session turns", False, 0, 3600, 90, 0.0, 3, False),
    "gemini-loop_detected.jsonl": ("loop of identical tool calls", False, 0, 4800, 120, 0.0, 4, False),
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
    assert note_rate_limit(report, "Claude AI usage limit reached|1900000000")
    assert report.rate_limited and report.retry_at == 1900000000
    report = Report()
    assert note_rate_limit(report, "429 Too Many Requests; retry after 30 seconds") and report.retry_at is not None
    assert not note_rate_limit(Report(), "file not found")


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
