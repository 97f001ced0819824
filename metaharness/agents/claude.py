"""Claude Code in headless mode: `claude -p --output-format stream-json --verbose`.

The prompt goes on stdin (a huge argv is fragile); the standing instructions go in
through --append-system-prompt-file. stream-json lines: `system` (init: session, model,
tools; api_retry), `assistant` (one line per content block: text or tool_use), `user`
(tool_result), and a final `result` carrying subtype, is_error, num_turns, the final text,
total_cost_usd and usage. API errors arrive as subtype "success" with is_error true, so
is_error is checked first. Per-message usage counts are placeholders: totals come from
the result. A subscriber's usage limit comes first as a `rate_limit_event` whose
rate_limit_info has status "rejected" and resetsAt (epoch seconds), then as an error result
with api_error_status 429 and the text "You've hit your session limit · resets 3pm (UTC)".
"""

from __future__ import annotations

import os
import time

from metaharness.agents import Invocation, JsonLinesParser, preview
from metaharness.agents.resets import future
from metaharness.prompt import TEMPLATES

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any

# System lines that say nothing a person follows: status changes, thinking token counts.
_QUIET_SYSTEM = frozenset({"status", "thinking_tokens", "compact_boundary", "hook_response"})
_FAILED_SUBTYPES = {
    "error_max_turns": "reached the turn limit",
    "error_max_budget_usd": "reached its spending limit",
    "error_during_execution": "failed during execution",
}


class ClaudeParser(JsonLinesParser):
    def handle(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        kind, report = record.get("type"), self.report
        if kind == "system":
            subtype = record.get("subtype")
            if subtype == "init":
                report.session_id, report.model = record.get("session_id"), record.get("model")
                return [{"event": "session", "session_id": report.session_id, "model": report.model,
                         "tools": len(record.get("tools") or [])}]
            if subtype == "api_retry":
                return [{"event": "retry", "attempt": record.get("attempt"), "status": record.get("error_status"),
                         "message": record.get("error")}]
            if subtype in ("task_started", "task_notification"):  # a subagent (the Task tool) started or ended
                return [{"event": "task", "state": subtype.removeprefix("task_"),
                         "about": preview(record.get("description") or record.get("summary") or record.get("status") or "")}]
            if subtype in _QUIET_SYSTEM:
                return []
            return [{"event": "unknown", "type": f"system/{subtype}"}]
        if kind == "assistant":
            events = []
            for block in record["message"].get("content") or []:
                if block.get("type") == "text":
                    events.append({"event": "text", "text": block["text"]})
                elif block.get("type") == "tool_use":
                    events.append(self.tool_call(block["name"], block.get("input")))
            return events
        if kind == "user":
            content = record["message"].get("content")
            return [
                {"event": "tool_result", "is_error": bool(block.get("is_error")), "output": preview(block.get("content", ""))}
                for block in (content if isinstance(content, list) else [])
                if isinstance(block, dict) and block.get("type") == "tool_result"
            ]
        if kind == "result":
            return [self._result(record)]
        if kind == "rate_limit_event":
            return self._rate_limit(record["rate_limit_info"])
        if kind == "stream_event":  # --include-partial-messages: a token at a time; the whole block follows
            return []
        return [{"event": "unknown", "type": str(kind)}]

    def _rate_limit(self, info: dict[str, Any]) -> list[dict[str, Any]]:
        """Keep the reset of a rejected limit: the structured time beats the result's text."""
        status = info.get("status")
        if status not in ("rejected", "allowed_warning"):
            return []  # Claude Code reports every change, "allowed" included
        resets = [float(info[k]) for k in ("resetsAt", "overageResetsAt") if isinstance(info.get(k), (int, float))]
        if status == "rejected" and resets:
            self.reset_stated = True  # to the second; the result's text has it only to the minute
            self.report.retry_at = future(min(resets), self.clock())  # whichever comes first frees the next request
        when = time.strftime(", resets %Y-%m-%d %H:%M:%S UTC", time.gmtime(min(resets))) if resets else ""
        return [{"event": "error", "message": f"{info.get('rateLimitType') or 'usage'} limit {status}{when}"}]

    def _result(self, record: dict[str, Any]) -> dict[str, Any]:
        report = self.report
        usage = record.get("usage") or {}
        report.saw_result = True
        report.cost_usd = round(float(record.get("total_cost_usd") or 0.0), 6)
        # modelUsage covers every model the run used (subagents too); usage is the fallback.
        per_model = [m for m in (record.get("modelUsage") or {}).values() if isinstance(m, dict)]
        if per_model:
            report.input_tokens = sum(int(m.get(k) or 0) for m in per_model
                                      for k in ("inputTokens", "cacheReadInputTokens", "cacheCreationInputTokens"))
            report.output_tokens = sum(int(m.get("outputTokens") or 0) for m in per_model)
        else:
            report.input_tokens = sum(int(usage.get(k) or 0) for k in
                                      ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
            report.output_tokens = int(usage.get("output_tokens") or 0)
        result_text = record.get("result")
        report.final_text = result_text if isinstance(result_text, str) else ""
        subtype = record.get("subtype")
        if record.get("is_error") or subtype != "success":
            details = "; ".join(str(e) for e in record.get("errors") or [])
            reason = _FAILED_SUBTYPES.get(str(subtype), "")
            reason = f"{reason} ({record.get('num_turns')} turns)" if subtype == "error_max_turns" else reason
            self.fail(", ".join(r for r in (reason, details or report.final_text) if r) or f"error result ({subtype})",
                      rate_limited=record.get("api_error_status") in (429, 529))
        return {"event": "result", "subtype": subtype, "is_error": report.is_error, "turns": report.turns,
                "duration_ms": record.get("duration_ms"), "cost_usd": report.cost_usd,
                "input_tokens": report.input_tokens, "output_tokens": report.output_tokens, "error": report.error}


class ClaudeAdapter:
    name = "claude"
    structured = True

    def invocation(self, options: dict[str, Any], prompt: str, prompt_file: str) -> Invocation:
        bootstrap = os.path.join(TEMPLATES, "bootstrap.md")
        argv = ["claude", "-p", "--output-format", "stream-json", "--verbose",
                "--append-system-prompt-file", str(bootstrap),
                "--permission-mode", options.get("permission_mode") or "bypassPermissions"]
        if options.get("model"):
            argv += ["--model", options["model"]]
        if options.get("max_turns"):
            argv += ["--max-turns", str(options["max_turns"])]
        if options.get("allowed_tools"):
            argv += ["--allowedTools", options["allowed_tools"]]
        if options.get("budget_left_usd") is not None:
            argv += ["--max-budget-usd", f"{options['budget_left_usd']:.4f}"]
        if options.get("resume_session_id"):
            argv += ["--resume", options["resume_session_id"]]
        return Invocation(argv + list(options.get("agent_args") or []), stdin=prompt.encode())

    def parser(self) -> ClaudeParser:
        return ClaudeParser()


ADAPTER = ClaudeAdapter()
