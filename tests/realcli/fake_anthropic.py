"""A scripted stand-in for the Anthropic Messages API, for running the real Claude Code CLI
offline (ANTHROPIC_BASE_URL=http://127.0.0.1:PORT).

The script: when the conversation's last message is not a tool result, the model asks to
run `Bash` with SCRIPT_COMMAND (or the command given to serve()); once it has the result, it answers FINAL_TEXT. Requests are
answered as server-sent events when they ask for a stream, as one JSON message otherwise.

serve(rate_limit_reset=EPOCH) refuses every message until then with the 429 a subscriber
gets at a usage limit: `anthropic-ratelimit-unified-*` headers saying the limit is rejected
and when it resets. Claude Code run with CLAUDE_CODE_OAUTH_TOKEN reports them as a
`rate_limit_event` with `rate_limit_info.resetsAt` and gives up at once.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SCRIPT_COMMAND = "echo hello > out.txt && sed -i 's/- \\[ \\]/- [x]/' roadmap.md && cat out.txt"
FINAL_TEXT = "Created out.txt and checked the task.\n<progress>wrote out.txt</progress>\n<promise>COMPLETE</promise>"


def _reply(request: dict[str, Any], command: str = SCRIPT_COMMAND) -> tuple[list[dict[str, Any]], str]:
    """Content blocks and stop reason for the next assistant turn."""
    messages = request.get("messages") or []
    last = messages[-1]["content"] if messages else ""
    had_result = isinstance(last, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in last)
    if request.get("tools") and not had_result:
        return [{"type": "tool_use", "id": "toolu_fake_1", "name": "Bash",
                 "input": {"command": command, "description": "write and check"}}], "tool_use"
    return [{"type": "text", "text": FINAL_TEXT}], "end_turn"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        if self.path.startswith("/v1/messages/count_tokens"):
            return self._json({"input_tokens": 1000})
        if not self.path.startswith("/v1/messages"):
            return self._json({"type": "error", "error": {"type": "not_found_error", "message": self.path}}, 404)
        reset = getattr(self.server, "rate_limit_reset", None)
        if reset is not None and time.time() < reset:
            return self._rate_limited(reset)
        blocks, stop = _reply(body, getattr(self.server, "command", SCRIPT_COMMAND))
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
        self._event("message_start", {"type": "message_start", "message": start})
        for i, block in enumerate(blocks):
            if block["type"] == "text":
                self._event("content_block_start", {"type": "content_block_start", "index": i,
                                                    "content_block": {"type": "text", "text": ""}})
                delta = {"type": "text_delta", "text": block["text"]}
            else:
                self._event("content_block_start", {"type": "content_block_start", "index": i,
                                                    "content_block": {**block, "input": {}}})
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            self._event("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta})
            self._event("content_block_stop", {"type": "content_block_stop", "index": i})
        self._event("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                      "usage": {"output_tokens": 20}})
        self._event("message_stop", {"type": "message_stop"})

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

    def _event(self, name: str, data: dict[str, Any]) -> None:
        self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    def _json(self, data: dict[str, Any], status: int = 200) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def serve(rate_limit_reset: int | None = None, command: str = SCRIPT_COMMAND) -> ThreadingHTTPServer:
    """Start the server on a free loopback port, in a daemon thread (rate limited until
    `rate_limit_reset`, epoch seconds, if given; the Bash tool call runs `command`)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.rate_limit_reset = rate_limit_reset  # type: ignore[attr-defined]
    server.command = command  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":
    s = serve(int(sys.argv[1]) if len(sys.argv) > 1 else None)
    print(s.server_address[1], flush=True)
    threading.Event().wait()
