"""What the fake model APIs (fake_anthropic.py, fake_models.py) share: a quiet request
handler that answers JSON or server-sent events."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any


class FakeApiHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def _sse(self, data: dict[str, Any]) -> None:
        """One server-sent event, named by its `type` if it has one (Gemini's have none)."""
        name = data.get("type")
        self.wfile.write((f"event: {name}\n" if name else "").encode() + f"data: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    def _json(self, data: dict[str, Any], status: int = 200) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
