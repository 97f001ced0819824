"""Roadmaps: Markdown files whose `- [ ]` / `- [x]` items are the tasks.

A task is a list item (`-`, `*`, `+` or `1.`) starting with a checkbox, at any indent.
Boxes inside fenced code blocks and in a leading `---` front-matter block do not count.
The supervisor re-reads the roadmap after every iteration: the agent checks boxes in place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

_TASK: Final = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\[([ xX])\]\s*(.*?)\s*$")
_FENCE: Final = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    current_task: str | None  # the first unchecked task

    @property
    def all_done(self) -> bool:
        return self.total > 0 and self.done == self.total


def parse_roadmap(text: str) -> Progress:
    """Count the checked and total tasks of a roadmap's text."""
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() in ("---", "...")), None)
        if end is not None:
            lines = lines[end + 1 :]
    done = total = 0
    current = None
    fence = None
    for line in lines:
        m = _FENCE.match(line)
        if m:
            fence = None if fence == m.group(1) else fence or m.group(1)
            continue
        if fence:
            continue
        task = _TASK.match(line)
        if task:
            total += 1
            if task.group(1) != " ":
                done += 1
            elif current is None:
                current = task.group(2)
    return Progress(done, total, current)


def read_roadmap(path: Path) -> tuple[str, Progress]:
    """Read and parse a roadmap file (OSError / UnicodeDecodeError propagate)."""
    text = path.read_text(encoding="utf-8")
    return text, parse_roadmap(text)
