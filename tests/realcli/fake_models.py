"""Scripted stand-ins for the OpenAI Responses API (Codex CLI), the Gemini API's
streamGenerateContent (Gemini CLI) and OpenAI chat completions (aider), on loopback, for
running the real CLIs offline.

One server answers all three: POST /v1/responses, POST /v1beta/models/M:streamGenerateContent
and POST /v1/chat/completions (GET /v1/models too).
Its `scenario` decides the answer:
- success: the model runs the shell tool with `command`, then answers FINAL_TEXT;
- marker_in_tool: the tool writes the completion marker into a file; the answer lacks it
  (aider: marker_in_edit, the marker only inside the file it writes);
- blocked: the model answers at once that it is blocked;
- api_500 / api_400: that HTTP error, every time;
- limit_reset: a usage limit that states its reset (Codex: usage_limit_reached with
  resets_at; Gemini: RESOURCE_EXHAUSTED with a RetryInfo delay); limit: a bare 429;
- hang: the response headers, then nothing; drip: partial text, a chunk every 50 ms, for ever
  (never the same words twice: Gemini CLI ends a reply that repeats itself as a loop).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from realcli.fake_http import FakeApiHandler

SCRIPT_COMMAND = "echo hello > out.txt && sed -i 's/- \\[ \\]/- [x]/' roadmap.md && cat out.txt"
FINAL_TEXT = "Created out.txt and checked the task.\n<progress>wrote out.txt</progress>\n<promise>COMPLETE</promise>"
BLOCKED_TEXT = "I cannot go on.\n<promise>BLOCKED</promise>\nThe roadmap asks for credentials I do not have."
MARKER_COMMAND = "echo '<promise>COMPLETE</promise>' > notes.txt"
USAGE = (1000, 20)


def _openai_tool_result_seen(body: dict[str, Any]) -> bool:
    return any(isinstance(i, dict) and i.get("type") == "function_call_output" for i in body.get("input") or [])


def _gemini_tool_result_seen(body: dict[str, Any]) -> bool:
    return any("functionResponse" in part for content in body.get("contents") or []
               for part in content.get("parts") or [] if isinstance(part, dict))


class Handler(FakeApiHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/v1/models"):  # aider lists the models
            return self._json({"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "fake"}]})
        self._json({"error": {"message": f"no {self.path}"}}, 404)

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        server: Any = self.server
        server.requests.append(self.path)
        server.bodies.append(json.dumps(body))
        gemini = "/v1beta/models/" in self.path
        if gemini and not self.path.split("?")[0].endswith(":streamGenerateContent"):
            return self._json({"totalTokens": 1000} if ":countTokens" in self.path else {"candidates": []})
        scenario = server.scenario
        if scenario in ("api_500", "api_400"):
            status = int(scenario[-3:])
            return self._json({"error": {"code": status, "message": f"fake: {'internal error' if status == 500 else 'bad request'}",
                                         "status": "INTERNAL" if status == 500 else "INVALID_ARGUMENT"}}, status)
        if scenario in ("limit", "limit_reset"):
            return self._limited(gemini, scenario == "limit_reset")
        if self.path.startswith("/v1/chat/completions"):
            return self._chat(scenario)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        if scenario in ("hang", "drip"):
            return self._linger(gemini, scenario == "drip")
        done = (_gemini_tool_result_seen if gemini else _openai_tool_result_seen)(body)
        command = MARKER_COMMAND if scenario == "marker_in_tool" else server.command
        if scenario == "blocked":
            reply: tuple[str, str] = ("text", BLOCKED_TEXT)
        elif done:
            reply = ("text", "Wrote notes.txt." if scenario == "marker_in_tool" else FINAL_TEXT)
        else:
            reply = ("tool", command)
        (self._gemini if gemini else self._openai)(*reply)

    # -- OpenAI Responses (Codex) ------------------------------------------------------

    def _openai(self, kind: str, payload: str) -> None:
        if kind == "tool":
            item = {"type": "function_call", "id": "fc_1", "call_id": f"call_{time.monotonic_ns()}",
                    "name": "exec_command", "arguments": json.dumps({"cmd": payload}), "status": "completed"}
        else:
            item = {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": payload, "annotations": []}]}
        response = {"id": "resp_1", "object": "response", "status": "in_progress", "output": []}
        self._sse({"type": "response.created", "response": response})
        self._sse({"type": "response.output_item.added", "output_index": 0, "item": {**item, "status": "in_progress"}})
        self._sse({"type": "response.output_item.done", "output_index": 0, "item": item})
        usage = {"input_tokens": USAGE[0], "input_tokens_details": {"cached_tokens": 0}, "output_tokens": USAGE[1],
                 "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": sum(USAGE)}
        self._sse({"type": "response.completed", "response": {**response, "status": "completed", "output": [item],
                                                              "usage": usage}})

    # -- OpenAI chat completions (aider, --no-stream, whole-file edits) ----------------------

    def _chat(self, scenario: str) -> None:
        if scenario == "blocked":
            text = BLOCKED_TEXT
        elif scenario == "marker_in_edit":  # the marker only inside the file it writes
            text = "I'll write the notes.\n\nnotes.txt\n```\n<promise>COMPLETE</promise>\n```\n"
        else:
            text = f"I'll write the file.\n\nout.txt\n```\nhello\n```\n\n{FINAL_TEXT}\n"
        self._json({"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": "fake-model",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": USAGE[0], "completion_tokens": USAGE[1], "total_tokens": sum(USAGE)}})

    # -- Gemini streamGenerateContent ----------------------------------------------------

    def _gemini(self, kind: str, payload: str) -> None:
        part = ({"functionCall": {"name": "run_shell_command", "args": {"command": payload, "description": "work"}}}
                if kind == "tool" else {"text": payload})
        self._sse({"candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
                   "usageMetadata": {"promptTokenCount": USAGE[0], "candidatesTokenCount": USAGE[1],
                                     "totalTokenCount": sum(USAGE)}, "modelVersion": "gemini-2.5-pro"})

    # -- the unhappy paths ---------------------------------------------------------------

    def _limited(self, gemini: bool, with_reset: bool) -> None:
        if gemini:
            details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}] if with_reset else []
            error = {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": details,
                     "message": "You exceeded your current quota" + (". Please retry in 37.5s." if with_reset else ".")}
        elif with_reset:
            error = {"type": "usage_limit_reached", "message": "The usage limit has been reached", "plan_type": "plus",
                     "resets_at": int(time.time()) + 3600, "resets_in_seconds": 3600}
        else:
            error = {"type": "rate_limit_exceeded", "message": "Rate limit reached"}
        self._json({"error": error}, 429)

    def _linger(self, gemini: bool, drip: bool) -> None:
        """Headers sent, then nothing (hang) or a chunk of text every 50 ms (drip), until
        the client goes away or the server is shut down."""
        server: Any = self.server
        if drip and not gemini:
            self._sse({"type": "response.created", "response": {"id": "resp_1", "status": "in_progress", "output": []}})
            self._sse({"type": "response.output_item.added", "output_index": 0,
                       "item": {"type": "message", "id": "msg_1", "role": "assistant", "content": []}})
        words = 0
        try:
            while not server.closing.wait(0.05):
                if drip:  # words that never repeat: Gemini CLI stops a reply that repeats itself
                    words += 1
                    chunk = f"step {words} of the plan, "
                    if gemini:
                        self._sse({"candidates": [{"content": {"role": "model", "parts": [{"text": chunk}]}, "index": 0}]})
                    else:
                        self._sse({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
                                   "content_index": 0, "delta": chunk})
        except OSError:
            return  # the client went away




class FakeModels(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, scenario: str, command: str) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.scenario, self.command = scenario, command
        self.requests: list[str] = []
        self.bodies: list[str] = []  # each request's body, as JSON text
        self.closing = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.closing.set()
        self.shutdown()
        self.server_close()


def serve(scenario: str = "success", command: str = SCRIPT_COMMAND) -> FakeModels:
    server = FakeModels(scenario, command)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
