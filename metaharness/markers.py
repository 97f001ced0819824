"""The markers an agent prints to talk to its supervisor.

- `<promise>COMPLETE</promise>`: the roadmap is done; the harness completes.
- `<promise>BLOCKED</promise> reason`: the agent cannot go on; the reason is the rest of
  that line (or the next non-empty line); the harness ends `blocked`.
- `<progress>what happened</progress>`: one progress event per marker.

A marker counts only at the start of a line (after blanks), so an agent that echoes its
prompt, which mentions the markers mid-sentence, does not complete or block by accident.
"""

from __future__ import annotations

import re

from metaharness.records import typed_record

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Final

COMPLETE: Final = "<promise>COMPLETE</promise>"
BLOCKED: Final = "<promise>BLOCKED</promise>"
_COMPLETE: Final = re.compile(r"^[ \t]*" + re.escape(COMPLETE), re.MULTILINE)
_BLOCKED: Final = re.compile(r"^[ \t]*" + re.escape(BLOCKED), re.MULTILINE)
_PROGRESS: Final = re.compile(r"^[ \t]*<progress>(.*?)</progress>", re.MULTILINE | re.DOTALL)


@typed_record(frozen=True)
class Markers:
    complete: bool
    blocked_reason: str | None  # None unless the agent declared itself blocked
    progress: tuple[str, ...]


def scan(text: str) -> Markers:
    """Find the markers in an agent's final output text."""
    blocked_reason = None
    blocked = _BLOCKED.search(text)
    if blocked:
        rest = text[blocked.end() :].lstrip(" \t:-").splitlines()
        lines = [line.strip() for line in rest if line.strip()]
        blocked_reason = lines[0][:500] if lines else "no reason given"
    progress = tuple(p.strip() for p in _PROGRESS.findall(text) if p.strip())
    return Markers(bool(_COMPLETE.search(text)), blocked_reason, progress)
