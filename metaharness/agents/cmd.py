"""The generic agent: any shell command.

The prompt arrives on stdin and in the file named by $MH_PROMPT_FILE; stdout is plain
text in which the supervisor looks for markers.
"""

from __future__ import annotations

from typing import Any

from metaharness.agents import Invocation, Report


class TextParser:
    """Keeps the whole stdout as the final text; plain text carries no structured events."""

    def __init__(self) -> None:
        self._report = Report()
        self._lines: list[str] = []

    @property
    def report(self) -> Report:
        self._report.final_text = "".join(self._lines)  # joined once, when asked: output can be huge
        return self._report

    def feed(self, line: str) -> list[dict[str, Any]]:
        self._lines.append(line)
        return []


class CommandAdapter:
    name = "cmd"
    structured = False

    def invocation(self, options: dict[str, Any], prompt: str, prompt_file: str) -> Invocation:
        return Invocation(argv=["/bin/sh", "-c", options["agent_cmd"]], stdin=prompt.encode())

    def parser(self) -> TextParser:
        return TextParser()


ADAPTER = CommandAdapter()
