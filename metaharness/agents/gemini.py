"""Gemini CLI in headless mode: `gemini -p TEXT --output-format stream-json`.

-p text is appended to stdin, so the prompt goes on stdin and -p only says to follow it.
stream-json lines: init (session, model), message (the user's prompt echoed, then the
assistant's reply as delta chunks to concatenate), tool_use, tool_result, error (warnings
such as "Loop detected"), result (status, error, stats). The final text is the reply after
the last tool call. Gemini ends a loop of identical tool calls itself and reports success;
that is not a finished iteration. Its exit status on an API error is the HTTP status mod 256.
A quota error's result carries Google's "Please retry in 37.68s." and Gemini CLI's own
"Suggested retry after 37s." (from the RetryInfo detail).
"""

from __future__ import annotations

from metaharness.agents import Invocation, JsonLinesParser, preview

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any

FOLLOW_STDIN = "Carry out the instructions given above."


class GeminiParser(JsonLinesParser):
    def __init__(self) -> None:
        super().__init__()
        self._reply: list[str] = []
        self._loop_stopped = False

    def _flush(self) -> list[dict[str, Any]]:
        text = "".join(self._reply)
        self._reply = []
        if text:
            self.report.final_text = text
            return [{"event": "text", "text": text}]
        return []

    def handle(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        kind, report = record.get("type"), self.report
        if kind == "init":
            report.session_id, report.model = record.get("session_id"), record.get("model")
            return [{"event": "session", "session_id": report.session_id, "model": report.model}]
        if kind == "message":
            if record.get("role") == "assistant":
                self._reply.append(str(record.get("content", "")))
            return []  # the user's message is our own prompt echoed: never scanned for markers
        if kind == "tool_use":
            events = self._flush()
            report.final_text = ""  # only the reply after the last tool call is final
            return events + [self.tool_call(record["tool_name"], record.get("parameters"))]
        if kind == "tool_result":
            return [{"event": "tool_result", "is_error": record.get("status") != "success",
                     "output": preview(record.get("output") or (record.get("error") or {}).get("message", ""))}]
        if kind == "error":
            self._loop_stopped |= "loop detected" in str(record.get("message", "")).lower()
            return [{"event": "error", "message": record.get("message"), "severity": record.get("severity")}]
        if kind == "result":
            return self._flush() + [self._result(record)]
        return [{"event": "unknown", "type": str(kind)}]

    def _result(self, record: dict[str, Any]) -> dict[str, Any]:
        report, stats = self.report, record.get("stats") or {}
        report.saw_result = True
        report.input_tokens = int(stats.get("input_tokens") or 0)
        report.output_tokens = int(stats.get("output_tokens") or 0)
        report.cached_input_tokens = int(stats.get("cached") or 0)
        for model, counts in (stats.get("models") or {}).items():  # priced per model (prices.py)
            if isinstance(counts, dict):
                report.tokens_by_model[str(model)] = [int(counts.get(k) or 0) for k in ("input_tokens", "cached", "output_tokens")]
        if record.get("status") != "success":
            self.fail(str((record.get("error") or {}).get("message") or f"status {record.get('status')}"))
        elif self._loop_stopped:
            self.fail("gemini stopped a loop of identical tool calls")
        return {"event": "result", "subtype": record.get("status"), "is_error": report.is_error, "turns": report.turns,
                "duration_ms": stats.get("duration_ms"), "input_tokens": report.input_tokens,
                "output_tokens": report.output_tokens, "error": report.error}


class GeminiAdapter:
    name = "gemini"
    structured = True

    def invocation(self, options: dict[str, Any], prompt: str, prompt_file: str) -> Invocation:
        argv = ["gemini", "-p", FOLLOW_STDIN, "--output-format", "stream-json", "--skip-trust",
                "--approval-mode", options.get("permission_mode") or "yolo"]
        if options.get("model"):
            argv += ["-m", options["model"]]
        if options.get("resume_session_id"):  # a session's UUID, as its init line gave it
            argv += ["--resume", options["resume_session_id"]]
        return Invocation(argv + list(options.get("agent_args") or []), stdin=prompt.encode())

    def parser(self) -> GeminiParser:
        return GeminiParser()


ADAPTER = GeminiAdapter()
