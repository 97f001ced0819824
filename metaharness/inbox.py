"""A harness's inbox: a maildir of messages for its next iteration.

Delivery writes the whole message into `inbox/tmp/` (fsynced) and renames it into `inbox/new/`:
a message in new/ is always complete, and rename never needs a lock. The supervisor
takes messages by renaming them from new/ into cur/ after the prompt that quotes them is
written, so every message reaches exactly one prompt. Names start with the sending time
in nanoseconds, so sorting names orders messages by when they were sent.

Each message names the harness instance it was addressed to; a supervisor ignores
messages for another instance of the same id. See mh-harness(7).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from metaharness.tree import atomic_write, now_iso

MAX_MESSAGE_BYTES: Final = 64 * 1024


@dataclass(frozen=True)
class Message:
    name: str
    sender: str
    sent: str
    body: str
    instance: str | None


def deliver(harness_fd: int, instance: str, sender: str, body: str) -> str:
    """Deliver `body` into the inbox of the harness directory open as `harness_fd`."""
    sent_ns = time.time_ns()
    name = f"{sent_ns}.{os.getpid()}_{os.urandom(3).hex()}.{os.uname().nodename}"
    record = {"from": sender, "sent": now_iso(sent_ns / 1e9), "instance": instance, "body": body}
    # Written in tmp/, renamed into new/: the rename is the moment of delivery.
    atomic_write(f"inbox/new/{name}", json.dumps(record), durable=True, dir_fd=harness_fd, staging="inbox/tmp")
    return name


def deliver_to(directory: Path, instance: str, sender: str, body: str) -> str:
    """Deliver into the harness at `directory`, pinned to the instance living there now."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return deliver(fd, instance, sender, body)
    finally:
        os.close(fd)


def waiting(inbox: Path) -> list[Message]:
    """Messages in new/, oldest first. Unreadable files are returned with an explanatory body."""
    messages = []
    for name in sorted(os.listdir(inbox / "new")):
        try:
            record = json.loads((inbox / "new" / name).read_text())
            messages.append(
                Message(name, str(record.get("from", "?")), str(record.get("sent", "?")),
                        str(record.get("body", "")), record.get("instance"))
            )
        except (OSError, ValueError, AttributeError):
            messages.append(Message(name, "?", "?", "(unreadable message file)", None))
    return messages


def take(inbox: Path, messages: list[Message]) -> None:
    """Move delivered messages to cur/: they have been handed to a prompt."""
    for m in messages:
        try:
            os.rename(inbox / "new" / m.name, inbox / "cur" / m.name)
        except FileNotFoundError:
            pass  # taken already (a restarted supervisor re-reading new/)


def default_sender() -> str:
    """Who a message or request is from: the harness itself ($MH_ID), else user@host."""
    import pwd

    user = os.environ.get("USER") or pwd.getpwuid(os.getuid()).pw_name
    return os.environ.get("MH_ID") or f"{user}@{os.uname().nodename}"
