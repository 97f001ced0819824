"""Holding a harness between iterations: paused by mh-pause, or waiting out a backoff.

`control/pause` holds it until mh-resume removes it.
mh-pause writes the request (the instance it is for, who asked, when, and `now`); the
supervisor reads it before each iteration and, with `now`, while one runs, ending that
iteration, which then counts as neither success nor failure. While held the harness is
`paused`: it keeps its lock and heartbeat, runs no agent (so no stall timer runs), and
wakes on the removal of the file (the watch on control/), a stop, a signal or its
--timeout. A request for an earlier instance of the id is ignored. See mh-pause(1).
A backoff or a rate limit is waited out in `waiting` the same way, until its time comes.
"""

from __future__ import annotations

import os
import time

from metaharness.statuses import Status
from metaharness.tree import now_iso, read_json, write_json

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    import threading
    from pathlib import Path
    from typing import Any, Callable

    from metaharness.events import EventLog
    from metaharness.harness import LiveState
    from metaharness.notify import LazyWatch


def pause_request(directory: Path | str, instance: str) -> dict[str, Any] | None:
    """The pause request for this instance of the harness, if one was made."""
    try:
        request = read_json(os.path.join(directory, "control", "pause"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"from": "?", "now": False}  # an unreadable request is still a request
    return None if request.get("instance") not in (None, instance) else request


def request_pause(directory: Path | str, instance: str | None, sender: str, now: bool) -> None:
    """Write control/pause for the instance living in `directory` (opened first, as for a
    stop, so a harness spawned again under the id meanwhile never receives it)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        write_json("control/pause", {"instance": instance, "from": sender, "time": now_iso(), "now": now},
                   dir_fd=fd)
    finally:
        os.close(fd)


def request_resume(directory: Path | str, instance: str | None) -> bool:
    """Remove this instance's pause request; False if it had none."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            request = read_json("control/pause", dir_fd=fd)
        except FileNotFoundError:
            return False
        except ValueError:
            request = {}  # unreadable: lifted like any other
        if request.get("instance") not in (None, instance):
            return False
        try:
            os.unlink("control/pause", dir_fd=fd)
        except FileNotFoundError:
            return False  # lifted by someone else just now
        return True
    finally:
        os.close(fd)


class Pauses:
    """The supervisor's side: is an iteration to be cut short, and holding between them."""

    def __init__(self, directory: Path | str, instance: str, state: LiveState, events: EventLog,
                 say: Callable[[str], None], wake: threading.Event, control: LazyWatch) -> None:
        self._dir, self._instance, self._state, self._events, self._say = directory, instance, state, events, say
        self._wake, self._control = wake, control

    def wait(self, delay: float, why: str, requested_end: Callable[[float | None], tuple[Status, str] | None],
             deadline: float | None) -> None:
        """Sleep `delay` seconds in state `waiting`, cut short by whatever `requested_end` says."""
        if delay <= 0:
            return
        self._state.publish(status=Status.WAITING, next_attempt=now_iso(time.time() + delay), waiting_for=why)
        self._say(f"waiting: {why}")
        until = time.monotonic() + delay
        self._control.start()
        while requested_end(deadline) is None and (remaining := until - time.monotonic()) > 0:
            self._wake.clear()
            if requested_end(deadline) is None:
                self._wake.wait(remaining if deadline is None else min(remaining, max(0.0, deadline - time.monotonic())))
        self._state.publish(status=Status.RUNNING, next_attempt=None, waiting_for=None)

    def cuts_iteration(self) -> bool:
        """A pause asked for `--now`: end the running iteration."""
        request = pause_request(self._dir, self._instance)
        return bool(request and request.get("now"))

    def hold(self, requested_end: Callable[[float | None], tuple[Status, str] | None],
             deadline: float | None) -> tuple[Status, str] | None:
        """If paused, stay `paused` until resumed, or until `requested_end` says why not (a
        stop, a signal, the --timeout `deadline`, on the monotonic clock)."""
        request = pause_request(self._dir, self._instance)
        if request is None:
            return None
        self._control.start()
        held_by = str(request.get("from", "?"))
        self._state.publish(status=Status.PAUSED, waiting_for=f"paused by {held_by}", agent_pid=None)
        self._events.emit("paused", by=held_by, now=bool(request.get("now")))
        self._say(f"paused by {held_by}: mh-resume {os.path.basename(self._dir)} goes on")
        while (ended := requested_end(deadline)) is None and pause_request(self._dir, self._instance) is not None:
            self._wake.clear()
            if requested_end(deadline) is None and pause_request(self._dir, self._instance) is not None:
                self._wake.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if ended:
            return ended
        self._state.publish(status=Status.RUNNING, waiting_for=None)
        self._events.emit("resumed")
        self._say("resumed")
        return None
