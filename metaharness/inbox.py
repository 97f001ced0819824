"""A harness's inbox: a maildir of messages for its next iteration.

Delivery writes the whole message into `inbox/tmp/` (fsynced) and renames it into `inbox/new/`:
a message in new/ is always complete, and rename never needs a lock. The supervisor
takes messages by renaming them from new/ into cur/ after the prompt that quotes them is
written, so every message reaches exactly one prompt. Names start with the sending time
in nanoseconds, so sorting names orders messages by when they were sent.

Each message names the harness instance it was addressed to; a supervisor ignores
messages for another instance of the same id.

A message is at most MAX_MESSAGE_BYTES of UTF-8, its sender at most MAX_SENDER_CHARS:
`deliver` refuses more, so no sender can make a supervisor quote a book. The supervisor
reads only regular files of new/ no larger than a message file can be, without blocking,
so a FIFO or a huge file dropped there is reported, never read. See mh-harness(7).
"""

from __future__ import annotations

import os
import time

from metaharness import jsonio
from metaharness.exits import Exit, MhError
from metaharness.records import typed_record
from metaharness.tree import atomic_write, now_iso
from metaharness.userfile import read_limited

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Final

MAX_MESSAGE_BYTES: Final = 64 * 1024  # 64 KiB of UTF-8: a note for a prompt, not a document
MAX_SENDER_CHARS: Final = 256
# The largest file deliver writes: JSON escapes a byte in at most 6, and 4 KiB for the rest.
MAX_MESSAGE_FILE_BYTES: Final = 6 * (MAX_MESSAGE_BYTES + MAX_SENDER_CHARS * 4) + 4096


@typed_record(frozen=True)
class Message:
    """One message from a harness's inbox."""

    name: str
    sender: str
    sent: str
    body: str
    instance: str | None


def check_message(raw: bytes, sender: str) -> str:
    """Return the message `raw` as text, or raise a usage error: over a limit, not UTF-8, empty."""
    if len(sender) > MAX_SENDER_CHARS:
        raise MhError(f"the sender's name is longer than the limit of {MAX_SENDER_CHARS} characters", Exit.USAGE)
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MhError(f"the message is longer than the limit of {MAX_MESSAGE_BYTES // 1024} KiB", Exit.USAGE)
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MhError("the message is not valid UTF-8", Exit.USAGE) from None
    if not body.strip():
        raise MhError("the message is empty", Exit.USAGE)
    return body


def deliver(harness_fd: int, instance: str, sender: str, body: str) -> str:
    """Deliver `body` into the inbox of the harness directory open as `harness_fd`."""
    check_message(body.encode("utf-8", "surrogatepass"), sender)
    sent_ns = time.time_ns()
    name = f"{sent_ns}.{os.getpid()}_{os.urandom(3).hex()}.{os.uname().nodename}"
    record = {"from": sender, "sent": now_iso(sent_ns / 1e9), "instance": instance, "body": body}
    # Written in tmp/, renamed into new/: the rename is the moment of delivery.
    atomic_write(f"inbox/new/{name}", jsonio.dumps(record), durable=True, dir_fd=harness_fd, staging="inbox/tmp")
    return name


def deliver_to(directory: Path | str, instance: str, sender: str, body: str) -> str:
    """Deliver into the harness at `directory`, pinned to the instance living there now."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return deliver(fd, instance, sender, body)
    finally:
        os.close(fd)


def waiting(inbox: Path | str) -> list[Message]:
    """Messages in new/, oldest first. Unreadable files are returned with an explanatory body."""
    messages = []
    for name in sorted(os.listdir(os.path.join(inbox, "new"))):
        try:
            # Never blocking on a FIFO dropped in new/, never reading more than deliver writes.
            record = jsonio.loads(read_limited(os.path.join(inbox, "new", name), MAX_MESSAGE_FILE_BYTES))
            messages.append(
                Message(name, str(record.get("from", "?")), str(record.get("sent", "?")),
                        str(record.get("body", "")), record.get("instance"))
            )
        except (OSError, ValueError, AttributeError):
            messages.append(Message(name, "?", "?", "(unreadable message file)", None))
    return messages



def take(inbox: Path | str, messages: list[Message]) -> None:
    """Move delivered messages to cur/: they have been handed to a prompt."""
    for m in messages:
        try:
            os.rename(os.path.join(inbox, "new", m.name), os.path.join(inbox, "cur", m.name))
        except FileNotFoundError:
            pass  # taken already (a restarted supervisor re-reading new/)


def default_sender() -> str:
    """Who a message or request is from: the harness itself ($MH_ID), else user@host."""
    import pwd

    user = os.environ.get("USER") or pwd.getpwuid(os.getuid()).pw_name
    return os.environ.get("MH_ID") or f"{user}@{os.uname().nodename}"
