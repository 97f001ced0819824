"""Aider (`aider --message-file FILE`): one message, applied, then exit; plain-text output.

Flags, from aider's documented options: --message-file (the prompt, which may be long),
--yes-always (no confirmation can block an unattended run), --no-pretty and --no-stream
(plain, line-buffered text for the log), --model.

Aider exits 0 whatever happened, so its output is read for what did: an API error
(`litellm.BadRequestError: ...` and the like) fails the iteration, and giving up on a
rate limit ("The API provider has rate limited you...", `litellm.RateLimitError`) is a
rate limit, waited out. It prints the files it edits whole, between ``` fences: a marker
inside one is the file's content, not the agent speaking, so markers are looked for only
outside them. Its "Tokens: 2.5k sent, 60 received. Cost: $0.01 message, ..." lines are
its usage.
"""

from __future__ import annotations

import re

from metaharness.agents import Invocation, note_rate_limit
from metaharness.agents.cmd import TextParser

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any, Final

_ERROR: Final = re.compile(r"^(litellm\.\w+(?:Error|Exception)\b.*)$")
_RATE_LIMITED: Final = re.compile(r"rate limited you|litellm\.RateLimitError", re.I)
_USAGE: Final = re.compile(r"^Tokens: ([\d.]+)([km]?) sent(?:, [\d.]+[km]? cache \w+)*, ([\d.]+)([km]?) received\."
                           r"(?: Cost: \$([\d.]+) message)?")
_SCALE: Final = {"": 1, "k": 1_000, "m": 1_000_000}


class AiderParser(TextParser):
    def __init__(self) -> None:
        super().__init__()
        self._in_block = False  # inside a ``` fence: a file aider is writing

    def feed(self, line: str) -> list[dict[str, Any]]:
        stripped = line.strip()
        if stripped.startswith("```"):
            self._in_block = not self._in_block
        if self._in_block or stripped.startswith("```"):
            self._keep_tail(line)  # part of its answer, never a marker, an error or usage
            return []
        if (error := _ERROR.match(stripped)) or _RATE_LIMITED.search(stripped):
            report = self._report
            report.is_error = True
            report.error = report.error or (error.group(1) if error else stripped)
            if _RATE_LIMITED.search(stripped):
                note_rate_limit(report, stripped, known=True)
        elif usage := _USAGE.match(stripped):
            report = self._report
            report.input_tokens += round(float(usage[1]) * _SCALE[usage[2].lower()])
            report.output_tokens += round(float(usage[3]) * _SCALE[usage[4].lower()])
            report.cost_usd = round(report.cost_usd + float(usage[5] or 0), 6)
            report.turns += 1
        return super().feed(line)


class AiderAdapter:
    name = "aider"
    structured = False

    def invocation(self, options: dict[str, Any], prompt: str, prompt_file: str) -> Invocation:
        argv = ["aider", "--message-file", prompt_file, "--yes-always", "--no-pretty", "--no-stream"]
        if options.get("model"):
            argv += ["--model", options["model"]]
        return Invocation(argv + list(options.get("agent_args") or []), stdin=None)

    def parser(self) -> AiderParser:
        return AiderParser()


ADAPTER = AiderAdapter()
