"""A scripted stand-in for the Anthropic Messages API, for running the real Claude Code CLI
offline (ANTHROPIC_BASE_URL=http://127.0.0.1:PORT).

The script: when the conversation's last message is not a tool result, the model asks to
run `Bash` with SCRIPT_COMMAND (or the command given to serve()); once it has the result, it answers FINAL_TEXT.
Other scenarios, as in fake_models.py: api_500, api_400, limit (a 429 stating no reset), hang, drip,
blocked, marker_in_tool,
and marker_in_preamble (the marker in the text before the tool call, not in the answer). Requests are
answered as server-sent events when they ask for a stream, as one JSON message otherwise.

serve(rate_limit_reset=EPOCH) refuses every message until then with the 429 a subscriber
gets at a usage limit: `anthropic-ratelimit-unified-*` headers saying the limit is rejected
and when it resets. Claude Code run with CLAUDE_CODE_OAUTH_TOKEN reports them as a
`rate_limit_event` with `rate_limit_info.resetsAt` and gives up at once.
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


def _reply(request: dict[str, Any], command: str = SCRIPT_COMMAND,
           scenario: str = "success") -> tuple[list[dict[str, Any]], str]:
    """Content blocks and stop reason for the next assistant turn."""
    messages = request.get("messages") or []
    last = messages[-1]["content"] if messages else ""
    had_result = isinstance(last, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in last)
    if scenario == "blocked":
        return [{"type": "text", "text": BLOCKED_TEXT}], "end_turn"
    if request.get("tools") and not had_result:
        preamble = ([{"type": "text", "text": "Plan: write notes, then say <promise>COMPLETE</promise>."}]
                    if scenario == "marker_in_preamble" else [])
        return preamble + [{"type": "tool_use", "id": "toolu_fake_1", "name": "Bash", "input": {
            "command": MARKER_COMMAND if scenario.startswith("marker_in") else command,
            "description": "write and check"}}], "tool_use"
    if scenario in ("marker_in_tool", "marker_in_preamble"):
        return [{"type": "text", "text": "Wrote notes.txt."}], "end_turn"
    return [{"type": "text", "text": FINAL_TEXT}], "end_turn"


class Handler(FakeApiHandler):
    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        if self.path.startswith("/v1/messages/count_tokens"):
            return self._json({"input_tokens": 1000})
        if not self.path.startswith("/v1/messages"):
            return self._json({"type": "error", "error": {"type": "not_found_error", "message": self.path}}, 404)
        reset = getattr(self.server, "rate_limit_reset", None)
        if reset is not None and time.time() < reset:
            return self._rate_limited(reset)
        scenario = getattr(self.server, "scenario", "success")
        if scenario in ("api_500", "api_400"):
            kind = "api_error" if scenario == "api_500" else "invalid_request_error"
            return self._json({"type": "error", "error": {"type": kind, "message": f"fake: {scenario}"}}, int(scenario[-3:]))
        if scenario == "limit":  # a plain 429, no reset stated (an API key's rate limit)
            return self._json({"type": "error", "error": {"type": "rate_limit_error",
                                                          "message": "Number of requests has exceeded your rate limit"}}, 429)
        if scenario in ("hang", "drip") and body.get("stream"):
            return self._linger(body, scenario == "drip")
        blocks, stop = _reply(body, getattr(self.server, "command", SCRIPT_COMMAND), scenario)
        message = {"id": "msg_fake", "type": "message", "role": "assistant", "model": body.get("model", "fake"),
                   "content": blocks, "stop_reason": stop, "stop_sequence": None,
                   "usage": {"input_tokens": 1000, "output_tokens": 20}}
        if not body.get("stream"):
            return self._json(message)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.end_headers()
        start = {**message, "content": [], "stop_reason": None, "usage": {"input_tokens": 1000, "output_tokens": 1}}
        self._sse({"type": "message_start", "message": start})
        for i, block in enumerate(blocks):
            if block["type"] == "text":
                self._sse({"type": "content_block_start", "index": i,
                                                    "content_block": {"type": "text", "text": ""}})
                delta = {"type": "text_delta", "text": block["text"]}
            else:
                self._sse({"type": "content_block_start", "index": i,
                                                    "content_block": {**block, "input": {}}})
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            self._sse({"type": "content_block_delta", "index": i, "delta": delta})
            self._sse({"type": "content_block_stop", "index": i})
        self._sse({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                      "usage": {"output_tokens": 20}})
        self._sse({"type": "message_stop"})

    def _linger(self, body: dict[str, Any], drip: bool) -> None:
        """The stream's start, then nothing (hang) or a new word every 50 ms (drip), until
        the client goes away or the server shuts down."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        self._sse({"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": body.get("model", "fake"), "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 1000, "output_tokens": 1}}})
        closing = getattr(self.server, "closing", None) or threading.Event()
        try:
            if drip:
                self._sse({"type": "content_block_start", "index": 0,
                                                    "content_block": {"type": "text", "text": ""}})
            words = 0
            while not closing.wait(0.05):
                if drip:
                    words += 1
                    self._sse({"type": "content_block_delta", "index": 0,
                                                        "delta": {"type": "text_delta", "text": f"step {words}, "}})
        except OSError:
            return

    def _rate_limited(self, reset: int) -> None:
        payload = json.dumps({"type": "error", "error": {
            "type": "rate_limit_error", "message": "This request would exceed your account's rate limit."}}).encode()
        self.send_response(429)
        for name, value in (("content-type", "application/json"), ("content-length", str(len(payload))),
                            ("retry-after", str(max(1, reset - int(time.time())))),
                            ("anthropic-ratelimit-unified-status", "rejected"),
                            ("anthropic-ratelimit-unified-reset", str(reset)),
                            ("anthropic-ratelimit-unified-representative-claim", "five_hour"),
                            ("anthropic-ratelimit-unified-5h-status", "rejected"),
                            ("anthropic-ratelimit-unified-5h-reset", str(reset)),
                            ("anthropic-ratelimit-unified-5h-utilization", "1.0"),
                            ("anthropic-ratelimit-unified-fallback", "unavailable"),
                            ("anthropic-ratelimit-unified-overage-status", "rejected"),
                            ("anthropic-ratelimit-unified-overage-disabled-reason", "out_of_credits")):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)




def serve(rate_limit_reset: int | None = None, command: str = SCRIPT_COMMAND,
          scenario: str = "success") -> ThreadingHTTPServer:
    """Start the server on a free loopback port, in a daemon thread (rate limited until
    `rate_limit_reset`, epoch seconds, if given; the Bash tool call runs `command`; the
    scenario as fake_models.py names them)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.rate_limit_reset = rate_limit_reset  # type: ignore[attr-defined]
    server.command = command  # type: ignore[attr-defined]
    server.scenario = scenario  # type: ignore[attr-defined]
    server.closing = threading.Event()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
