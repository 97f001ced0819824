"""Codex CLI: `codex exec --json ... -`, the prompt read from stdin, which is then closed
(codex waits for stdin to end before it starts).

JSON lines: thread.started (the session), turn.started, item.started / item.completed
(agent_message, reasoning, command_execution, file_change, mcp_tool_call, web_search),
turn.completed (usage) or turn.failed (the error). `error` lines also report retries that
later succeed, so only turn.failed fails the run. Codex reports tokens, not cost, nor its
model: the cost is estimated (prices.py) for the model the harness names. At a usage
limit the turn fails with "You've hit your usage limit. ... try again at 9:25 AM." (local
time, to the minute; "Dec 1st, 2026 9:25 AM" when not today): the API's resets_at itself
never reaches the JSON.
"""

from __future__ import annotations

from metaharness import jsonio
from metaharness.agents import Invocation, JsonLinesParser, preview

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any


def _message(text: str) -> str:
    """Codex wraps API errors as a JSON string; dig out the human message."""
    try:
        return str(jsonio.loads(text)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return text


class CodexParser(JsonLinesParser):
    def handle(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        kind, report = record.get("type"), self.report
        if kind == "thread.started":
            report.session_id = record.get("thread_id")
            return [{"event": "session", "session_id": report.session_id, "model": None}]
        if kind in ("turn.started", "item.updated"):
            return []
        if kind == "item.started":
            item = record["item"]
            if item.get("type") == "command_execution":
                return [self.tool_call("shell", item.get("command", ""))]
            if item.get("type") == "mcp_tool_call":
                return [self.tool_call(f"{item.get('server')}/{item.get('tool')}", item.get("arguments"))]
            return []
        if kind == "item.completed":
            return self._completed(record["item"])
        if kind == "turn.completed":
            usage = record.get("usage") or {}
            report.saw_result = True
            report.input_tokens += int(usage.get("input_tokens") or 0)
            report.cached_input_tokens += int(usage.get("cached_input_tokens") or 0)
            report.output_tokens += int(usage.get("output_tokens") or 0)
            return [{"event": "result", "subtype": "success", "is_error": False, "turns": report.turns,
                     "input_tokens": report.input_tokens, "output_tokens": report.output_tokens}]
        if kind == "turn.failed":
            report.saw_result = True
            self.fail(_message(str((record.get("error") or {}).get("message", "turn failed"))))
            return [{"event": "result", "subtype": "turn_failed", "is_error": True, "turns": report.turns,
                     "error": report.error}]
        if kind == "error":
            return [{"event": "error", "message": _message(str(record.get("message", "")))}]
        return [{"event": "unknown", "type": str(kind)}]

    def _completed(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        kind = item.get("type")
        if kind == "agent_message":
            self.report.final_text = item.get("text", "")
            return [{"event": "text", "text": self.report.final_text}]
        if kind == "reasoning":
            return [{"event": "reasoning", "text": preview(item.get("text", ""))}]
        if kind == "command_execution":
            failed = item.get("status") == "failed" or item.get("exit_code") not in (0, None)
            return [{"event": "tool_result", "is_error": failed, "output": preview(item.get("aggregated_output", ""))}]
        if kind == "file_change":
            return [self.tool_call("apply_patch", [f"{c.get('kind')} {c.get('path')}" for c in item.get("changes") or []])]
        if kind == "web_search":
            return [self.tool_call("web_search", item.get("query", ""))]
        if kind == "mcp_tool_call":
            return [{"event": "tool_result", "is_error": item.get("status") == "failed", "output": preview(item.get("result", ""))}]
        return [{"event": "unknown", "type": f"item/{kind}"}]


class CodexAdapter:
    name = "codex"
    structured = True

    def invocation(self, options: dict[str, Any], prompt: str, prompt_file: str) -> Invocation:
        session = options.get("resume_session_id")
        # `codex exec resume SESSION -` continues a session; it has no -s: the sandbox mode goes in as config.
        argv = ["codex", "exec"] + (["resume"] if session else []) + ["--json", "--skip-git-repo-check"]
        mode = options.get("permission_mode")
        if not mode:
            argv.append("--dangerously-bypass-approvals-and-sandbox")
        else:
            argv += ["-c", f'sandbox_mode="{mode}"'] if session else ["-s", mode]
        if options.get("model"):
            argv += ["-m", options["model"]]
        return Invocation(argv + list(options.get("agent_args") or []) + ([session] if session else []) + ["-"],
                          stdin=prompt.encode())

    def parser(self) -> CodexParser:
        return CodexParser()


ADAPTER = CodexAdapter()
