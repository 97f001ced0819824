"""Harness statuses: the words state.json and result.json hold.

A harness is `pending` (for its --after dependencies), `starting`, `running`, `waiting`
(between attempts) or `paused` (by mh-pause) while its supervisor lives; it ends in exactly one terminal
status, written once to result.json. `dead` and `corrupt` are never written: readers derive
them (a live status whose supervisor is gone; a state file that cannot be parsed). See
mh-harness(7).
"""

from __future__ import annotations

from metaharness.enums import StrEnum

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Final


class Status(StrEnum):
    """The words written in state.json and result.json."""

    PENDING = "pending"  # waiting for the harnesses it runs --after
    STARTING = "starting"
    RUNNING = "running"
    WAITING = "waiting"
    PAUSED = "paused"  # held between iterations by mh-pause until mh-resume
    COMPLETED = "completed"
    FAILED = "failed"
    BLOCKED = "blocked"
    INCOMPLETE = "incomplete"
    STOPPED = "stopped"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    DEAD = "dead"
    CORRUPT = "corrupt"

    @property
    def is_live(self) -> bool:
        return self in LIVE_STATUSES


LIVE_STATUSES: Final = frozenset({Status.PENDING, Status.STARTING, Status.RUNNING, Status.WAITING, Status.PAUSED})
