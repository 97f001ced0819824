"""A harness spawned --after others stays `pending` until they have all completed, and
fails, saying which and how, as soon as one has ended otherwise."""

from __future__ import annotations

import queue
import time

from metaharness.exits import Exit
from metaharness.statuses import Status
from metaharness.waiter import Outcome, watch_end

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    import threading
    from pathlib import Path
    from typing import Callable

    from metaharness.events import EventLog
    from metaharness.harness import LiveState
    from metaharness.notify import LazyWatch


def await_dependencies(tree: Path, after: tuple[str, ...], state: LiveState, events: EventLog,
                       say: Callable[[str], None], control: LazyWatch, wake: threading.Event,
                       requested_end: Callable[[], tuple[Status, str] | None],
                       deadline: float | None) -> tuple[Status, str] | None:
    """None once every harness of `after` has completed; else how the harness ends: FAILED
    for a dependency that ended otherwise, or what `requested_end` says (a stop, a signal,
    the deadline, on the monotonic clock). Sleeps on `wake`, set by an ending dependency and
    by control changes, or until the deadline."""
    state.publish(status=Status.PENDING, waiting_for=f"after {', '.join(after)}")
    events.emit("pending", after=list(after))
    say(f"pending until {', '.join(after)} completed")
    ended: queue.Queue[Outcome] = queue.Queue()
    control.start()
    for dependency in after:
        watch_end(tree, dependency, ended, appear_within=None, then=wake.set)
    done = 0
    while done < len(after):
        wake.clear()
        while not ended.empty():
            outcome = ended.get()
            done += 1
            if outcome.status is not Status.COMPLETED:
                if outcome.status is None and outcome.exit_code == Exit.SYSTEM:  # its files could not be read
                    return Status.FAILED, f"dependency {outcome.id} did not complete (corrupt: cannot wait for it: {outcome.reason})"
                status = outcome.status.value if outcome.status else "missing"
                return Status.FAILED, f"dependency {outcome.id} did not complete ({status}: {outcome.reason})"
        requested = requested_end()
        if requested:
            return requested
        if done < len(after):
            wake.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
    events.emit("dependencies_met", after=list(after))
    state.publish(status=Status.RUNNING, waiting_for=None)
    return None
