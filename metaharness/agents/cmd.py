"""The generic agent: any shell command.

The prompt arrives on stdin and in the file named by $MH_PROMPT_FILE; stdout is plain
text in which the supervisor looks for markers.
"""

from __future__ import annotations

from metaharness.agents import Invocation, Report
from metaharness.markers import BLOCKED

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any, Final

MAX_KEPT_CHARS: Final = 64 * 1024  # marker lines kept per iteration; more are an agent gone wrong


class TextParser:
    """Keeps of stdout only what the markers are looked for in: the lines that start with
    a `<promise>` marker, and the line after a BLOCKED one (its reason may be there). An
    agent may print gigabytes; the supervisor must not hold them in memory."""

    def __init__(self) -> None:
        self._report = Report()
        self._kept: list[str] = []
        self._kept_chars = 0
        self._reason_may_follow = False

    @property
    def report(self) -> Report:
        self._report.final_text = "".join(self._kept)
        return self._report

    def feed(self, line: str) -> list[dict[str, Any]]:
        marker = line.lstrip(" \t").startswith("<promise>")
        if (marker or (self._reason_may_follow and line.strip())) and self._kept_chars < MAX_KEPT_CHARS:
            self._kept.append(line if line.endswith("\n") else line + "\n")
            self._kept_chars += len(line)
        if line.strip():
            self._reason_may_follow = marker and BLOCKED in line
        return []


class CommandAdapter:
    name = "cmd"
    structured = False

    def invocation(self, options: dict[str, Any], prompt: str, prompt_file: str) -> Invocation:
        return Invocation(argv=["/bin/sh", "-c", options["agent_cmd"]], stdin=prompt.encode())

    def parser(self) -> TextParser:
        return TextParser()


ADAPTER = CommandAdapter()
