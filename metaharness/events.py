"""The event log: `<id>/events.jsonl`, append-only, one JSON object per line.

Only the supervisor appends. Each event is one write(2) on an O_APPEND descriptor, so a
reader sees whole lines, except possibly a torn last line after a crash, which readers
skip, as they skip any line that is not an event. Every event has `t` (UTC time) and
`event` (its type), both strings. See mh-harness(7).
"""

from __future__ import annotations

import os

from metaharness import jsonio
from metaharness.tree import now_iso

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any


class EventLog:
    """Appends events for one harness."""

    def __init__(self, path: Path | str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        record = {"t": now_iso(), "event": event, **fields}
        os.write(self._fd, (jsonio.dumps(record, sort_keys=False) + "\n").encode())
        return record

    def close(self) -> None:
        os.close(self._fd)


def parse_line(line: bytes | str) -> dict[str, Any] | None:
    """The event on one line of a log, or None for a torn or foreign line: one that is not
    a JSON object whose `event` is a string (and whose `t`, if any, is a string)."""
    try:
        record = jsonio.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("event"), str) or not isinstance(record.get("t", ""), str):
        return None
    return record

