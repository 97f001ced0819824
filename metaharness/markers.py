"""The markers an agent prints to talk to its supervisor.

- `<promise>COMPLETE</promise>`: the roadmap is done; the harness completes.
- `<promise>BLOCKED</promise> reason`: the agent cannot go on; the reason is the rest of
  that line (or the next non-empty line); the harness ends `blocked`.
- `<progress>what happened</progress>`: one progress event per marker.

A marker counts only at the start of a line (after blanks), so an agent that echoes its
prompt, which mentions the markers mid-sentence, does not complete or block by accident.
"""

from __future__ import annotations

from metaharness.records import typed_record

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Final

COMPLETE: Final = "<promise>COMPLETE</promise>"
BLOCKED: Final = "<promise>BLOCKED</promise>"
# Compiled (and cached) by re only for output that holds a progress marker at all.
_PROGRESS: Final = r"(?ms)^[ \t]*<progress>(.*?)</progress>"


@typed_record(frozen=True)
class Markers:
    complete: bool
    blocked_reason: str | None  # None unless the agent declared itself blocked
    progress: tuple[str, ...]


def scan(text: str) -> Markers:
    """Find the markers in an agent's final output text."""
    blocked_reason = None
    blocked = _end_of_marker(text, BLOCKED)
    if blocked is not None:
        rest = text[blocked:].lstrip(" \t:-").splitlines()
        lines = [line.strip() for line in rest if line.strip()]
        blocked_reason = lines[0][:500] if lines else "no reason given"
    progress: tuple[str, ...] = ()
    if "<progress>" in text:
        import re  # for output with a progress marker only: most starts never load it

        progress = tuple(p.strip() for p in re.findall(_PROGRESS, text) if p.strip())
    return Markers(_end_of_marker(text, COMPLETE) is not None, blocked_reason, progress)


def _end_of_marker(text: str, marker: str) -> int | None:
    """Where the first `marker` that starts a line (after blanks) ends in `text`; None if
    there is none. (What a multi-line regex would find; str.find costs no compiling.)"""
    at = text.find(marker)
    while at != -1:
        before = at
        while before > 0 and text[before - 1] in " \t":
            before -= 1
        if before == 0 or text[before - 1] == "\n":
            return at + len(marker)
        at = text.find(marker, at + 1)
    return None
