"""The generic agent: any shell command.

The prompt arrives on stdin and in the file named by $MH_PROMPT_FILE; stdout is plain
text in which the supervisor looks for markers: `<promise>` lines, a usage limit
(`<limit until="EPOCH-or-ISO">reason</limit>`) and usage (`<usage cost_usd="0.30"
input_tokens="1000" output_tokens="200" turns="1" tool_calls="3"/>`, each adding to the
iteration's), so a wrapper around any API takes part in budgets and limits.
"""

from __future__ import annotations

import time
from collections import deque

from metaharness.agents import Invocation, Report
from metaharness.markers import BLOCKED
from metaharness.schema import MAX_COUNT

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    import re
    from typing import Any, Final

MAX_KEPT_CHARS: Final = 64 * 1024  # marker lines kept per iteration; more are an agent gone wrong
ANSWER_TAIL_CHARS: Final = 16 * 1024  # the end of stdout, its final answer (answers.py bounds it further)
# Patterns, compiled (and cached) by re the first time a line needs one: most agents
# never print either marker, and compiling them would cost each supervisor a millisecond.
_LIMIT: Final = r'<limit until="(?P<until>[^"]{1,40})">(?P<reason>[^<]{0,500})</limit>'
_USAGE: Final = r"<usage(?P<attributes>(?:\s+\w+=\"[^\"]{0,40}\"){1,10})\s*/>"
_ATTRIBUTE: Final = r'(cost_usd|input_tokens|output_tokens|turns|tool_calls)="([^"]*)"'


class TextParser:
    """Keeps of stdout only what the markers are looked for in: the lines that start with
    a `<promise>` marker, and the line after a BLOCKED one (its reason may be there). An
    agent may print gigabytes; the supervisor must not hold them in memory."""

    def __init__(self) -> None:
        self._report = Report()
        self._kept: list[str] = []
        self._kept_chars = 0
        self._reason_may_follow = False
        self._tail: deque[str] = deque()  # the last lines of stdout, about ANSWER_TAIL_CHARS of them
        self._tail_chars = 0

    @property
    def report(self) -> Report:
        self._report.final_text = "".join(self._kept)
        self._report.answer = "".join(self._tail)[-ANSWER_TAIL_CHARS:]
        return self._report

    def _keep_tail(self, line: str) -> None:
        self._tail.append(line if line.endswith("\n") else line + "\n")
        self._tail_chars += len(line)
        if self._tail_chars > 2 * ANSWER_TAIL_CHARS:  # trimmed now and then, not at every line
            while self._tail_chars > ANSWER_TAIL_CHARS and len(self._tail) > 1:
                self._tail_chars -= len(self._tail.popleft())

    def feed(self, line: str) -> list[dict[str, Any]]:
        self._keep_tail(line)
        if "<limit until=" in line and (limit := _search(_LIMIT, line)):
            self._met_limit(limit["until"], limit["reason"].strip())
        if "<usage " in line and (usage := _search(_USAGE, line)):
            self._add_usage(usage["attributes"])
        marker = line.lstrip(" \t").startswith("<promise>")
        if (marker or (self._reason_may_follow and line.strip())) and self._kept_chars < MAX_KEPT_CHARS:
            self._kept.append(line if line.endswith("\n") else line + "\n")
            self._kept_chars += len(line)
        if line.strip():
            self._reason_may_follow = marker and BLOCKED in line
        return []


    def _add_usage(self, attributes: str) -> None:
        """Add what a `<usage .../>` marker reports; an attribute that is not a sane number is ignored."""
        import re

        for key, text in re.findall(_ATTRIBUTE, attributes):
            try:
                value = float(text) if key == "cost_usd" else int(text)
            except ValueError:
                continue
            if 0 <= value <= MAX_COUNT and value == value:  # not negative, not absurd, not nan
                setattr(self._report, key, getattr(self._report, key) + value)

    def _met_limit(self, until: str, reason: str) -> None:
        """`<limit until="EPOCH-or-ISO">reason</limit>`: a usage limit with its reset."""
        from metaharness.agents.resets import future
        from metaharness.tree import parse_iso

        try:
            epoch = float(until) if until.replace(".", "", 1).isdigit() else parse_iso(until)
        except ValueError:
            epoch = None  # a reset it cannot read: the rate-limit backoff instead
        self._report.rate_limited = self._report.is_error = True
        self._report.error = reason or "usage limit"
        self._report.retry_at = future(epoch, time.time()) if epoch is not None else None


class CommandAdapter:
    name = "cmd"
    structured = False

    def invocation(self, options: dict[str, Any], prompt: str, prompt_file: str) -> Invocation:
        return Invocation(argv=["/bin/sh", "-c", options["agent_cmd"]], stdin=prompt.encode())

    def parser(self) -> TextParser:
        return TextParser()


ADAPTER = CommandAdapter()


def _search(pattern: str, line: str) -> re.Match[str] | None:
    import re  # loaded by the first line that holds a marker, not by every supervisor

    return re.search(pattern, line)
