"""Roadmaps: Markdown files whose `- [ ]` / `- [x]` items are the tasks.

A task is a list item (`-`, `*`, `+` or `1.`) starting with a checkbox, at any indent.
Boxes inside fenced code blocks and in a leading `---` front-matter block do not count.
The supervisor re-reads the roadmap after every iteration: the agent checks boxes in place.

A roadmap is a regular file of UTF-8 text of at most MAX_ROADMAP_BYTES, read so that a
FIFO, a directory or a device named as a roadmap is refused at once instead of hanging
its reader (see userfile). Every verb that accepts a roadmap (mh-spawn, mh-queue add,
mh-run) checks it with `load_roadmap`, so a roadmap one accepts the others never refuse
later. See mh-harness(7).
"""

from __future__ import annotations

from metaharness.exits import Exit, MhError
from metaharness.records import typed_record
from metaharness.userfile import read_text

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Final

MAX_ROADMAP_BYTES: Final = 1024 * 1024  # 1 MiB: far beyond any plan an agent can follow in one prompt
FENCES: Final = ("```", "~~~")


@typed_record(frozen=True)
class Progress:
    done: int
    total: int
    current_task: str | None  # the first unchecked task

    @property
    def all_done(self) -> bool:
        return self.total > 0 and self.done == self.total


def _body(text: str) -> list[str]:
    """The roadmap's lines after its leading `---` front-matter block, if it has one."""
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() in ("---", "...")), None)
        if end is not None:
            return lines[end + 1 :]
    return lines


def parse_roadmap(text: str) -> Progress:
    """Count the checked and total tasks of a roadmap's text."""
    done = total = 0
    current = None
    fence = None
    for line in _body(text):
        stripped = line.lstrip()
        if stripped.startswith(FENCES):
            mark = stripped[:3]
            fence = None if fence == mark else fence or mark
            continue
        if fence:
            continue
        task = parse_task(stripped)
        if task:
            total += 1
            box, task_text = task
            if box != " ":
                done += 1
            elif current is None:
                current = task_text
    return Progress(done, total, current)


def parse_task(line: str) -> tuple[str, str] | None:
    r"""A task line's box (" ", "x" or "X") and its text, if `line` (stripped on the
    left) is one: a bullet (-, *, +) or a number and "." or ")", blanks, then "[ ]",
    "[x]" or "[X]". Parsed by hand: compiling the regex it amounts to,
    `^\s*(?:[-*+]|\d+[.)])\s+\[([ xX])\]\s*(.*?)\s*$`, costs every start a millisecond."""
    if line[:1] in ("-", "*", "+"):
        rest = line[1:]
    else:
        digits = 0
        while digits < len(line) and line[digits].isdecimal():
            digits += 1
        if not digits or line[digits : digits + 1] not in (".", ")"):
            return None
        rest = line[digits + 1 :]
    if not rest[:1].isspace():
        return None
    rest = rest.lstrip()
    if len(rest) < 3 or rest[0] != "[" or rest[2] != "]" or rest[1] not in " xX":
        return None
    return rest[1], rest[3:].strip()


def has_instructions(text: str) -> bool:
    """Whether the roadmap asks for anything: a task, or some text that is not a heading."""
    return any(line.strip() and not line.lstrip().startswith("#") for line in _body(text))


def read_roadmap(path: Path | str) -> tuple[str, Progress]:
    """Read and parse a roadmap file.

    Raises OSError, its strerror the reason (missing, not a regular file, over
    MAX_ROADMAP_BYTES), or UnicodeDecodeError. Never blocks on a FIFO or a device.
    """
    text = read_text(path, MAX_ROADMAP_BYTES)
    return text, parse_roadmap(text)


def load_roadmap(path: Path | str) -> tuple[str, Progress]:
    """Read a roadmap a verb was given, or refuse it with the reason (a usage error)."""
    try:
        text, progress = read_roadmap(path)
    except OSError as e:
        raise MhError(f"cannot read roadmap {path}: {e.strerror or e}", Exit.USAGE) from None
    except UnicodeDecodeError as e:
        raise MhError(f"cannot read roadmap {path}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start})",
                      Exit.USAGE) from None
    if progress.total == 0 and not has_instructions(text):
        raise MhError(f"roadmap {path} asks for nothing: it has no '- [ ]' task and no text besides headings",
                      Exit.USAGE)
    return text, progress
