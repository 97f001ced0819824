"""Agent adapters: the seam between the supervisor and one kind of agent program.

An adapter turns a prompt into an Invocation (argv, extra environment, stdin) and turns
the agent's stdout, line by line, into events plus the final text in which the
supervisor looks for markers. The supervisor knows nothing else about agents.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from metaharness.status import Exit, MhError

# name -> module under metaharness.agents; imported only when a harness uses it.
ADAPTERS: Final = {"cmd": "cmd"}


@dataclass(frozen=True)
class Invocation:
    argv: list[str]
    stdin: bytes | None  # None: the agent's stdin is /dev/null
    env: dict[str, str] = field(default_factory=dict)


class OutputParser(Protocol):
    def feed(self, line: str) -> list[dict[str, Any]]:
        """Take one line of stdout; return events to log."""

    def final_text(self) -> str:
        """The agent's final answer, where markers are looked for."""


class Adapter(Protocol):
    name: str

    def invocation(self, options: dict[str, Any], prompt: str) -> Invocation:
        """Build the command for one iteration (options are the harness spec)."""

    def parser(self) -> OutputParser:
        """A fresh parser for one iteration's output."""


def adapter_for(name: str) -> Adapter:
    """Load the adapter called `name`, or raise a usage error listing the known ones."""
    module = ADAPTERS.get(name)
    if module is None:
        raise MhError(f"unknown agent {name!r} (known: {', '.join(sorted(ADAPTERS))})", Exit.USAGE)
    return importlib.import_module(f"metaharness.agents.{module}").ADAPTER
