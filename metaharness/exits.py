"""The closed set of exit statuses every verb shares, and the error that carries one.

A terminal harness status maps to one exit status (exit_for), the same for mh-spawn,
mh-wait and mh-run. See mh-harness(7), EXIT STATUS.
"""

from __future__ import annotations

from metaharness.enums import IntEnum
from metaharness.statuses import Status

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Final


class Exit(IntEnum):
    """Exit statuses of every mh-* verb; man pages list them, a test checks they agree."""

    OK = 0  # completed, or the request was carried out
    FAILED = 1  # the agent kept failing
    USAGE = 2  # bad arguments or input; nothing was started or changed
    INCOMPLETE = 3  # iteration limit reached without completion
    STOPPED = 4  # ended by mh-stop
    DEAD = 5  # the supervisor vanished without writing a result
    BLOCKED = 6  # the agent declared itself blocked
    NOT_FOUND = 7  # no such harness, nor key, queue item, artifact, pool or iteration
    ID_TAKEN = 8  # a live harness already has this id
    NOT_RUNNING = 9  # the harness has already ended (mh-send)
    BAD_TREE = 10  # .harness/ is corrupt or from a newer format
    SYSTEM = 11  # a system call failed (disk full, permissions, ...)
    REFUSED = 12  # mh-clean: removing it would lose work, or it is live or checked out elsewhere
    SOFTWARE = 70  # a bug in metaharness: reported with a traceback
    TIMEOUT = 124  # a wall-clock limit passed (the harness's or mh-wait's own)
    SIGHUP = 129  # interrupted: 128 + the signal's number
    SIGINT = 130
    SIGTERM = 143


_EXIT_BY_STATUS: Final = {
    Status.COMPLETED: Exit.OK,
    Status.FAILED: Exit.FAILED,
    Status.INCOMPLETE: Exit.INCOMPLETE,
    Status.STOPPED: Exit.STOPPED,
    Status.DEAD: Exit.DEAD,
    Status.BLOCKED: Exit.BLOCKED,
    Status.TIMEOUT: Exit.TIMEOUT,
    Status.CORRUPT: Exit.BAD_TREE,
}


def exit_for(status: Status, signum: int | None = None) -> int:
    """Map a terminal status to the exit status a verb reports for it."""
    if status is Status.INTERRUPTED:
        return 128 + (signum or _SIGINT)
    return int(_EXIT_BY_STATUS[status])


_SIGINT: Final = 2  # signal.SIGINT, on every platform Python runs on; importing signal costs 0.5 ms


class MhError(Exception):
    """An expected failure: one line for stderr and the exit status to report."""

    def __init__(self, message: str, code: Exit) -> None:
        super().__init__(message)
        self.code = code
