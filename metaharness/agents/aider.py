"""Aider (`aider --message-file FILE`): one message, applied, then exit; plain-text output.

Flags, from aider's documented options: --message-file (the prompt, which may be long),
--yes-always (no confirmation can block an unattended run), --no-pretty and --no-stream
(plain, line-buffered text for the log), --model.
"""

from __future__ import annotations

from metaharness.agents import Invocation
from metaharness.agents.cmd import TextParser

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any


class AiderAdapter:
    name = "aider"
    structured = False

    def invocation(self, options: dict[str, Any], prompt: str, prompt_file: str) -> Invocation:
        argv = ["aider", "--message-file", prompt_file, "--yes-always", "--no-pretty", "--no-stream"]
        if options.get("model"):
            argv += ["--model", options["model"]]
        return Invocation(argv + list(options.get("agent_args") or []), stdin=None)

    def parser(self) -> TextParser:
        return TextParser()


ADAPTER = AiderAdapter()
