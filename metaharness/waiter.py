"""Waiting for harnesses to end, without polling.

A waiter opens the harness directory (pinning that instance, even if the id is spawned
again meanwhile) and blocks in flock on its lock, which the supervisor holds for life:
the kernel wakes the waiter the moment the supervisor exits, however it exits. The result
is published before the lock is released, so a free lock and no result means the
supervisor died. A harness that does not exist yet is waited for through directory
change notification for a grace period, so `mh-spawn a ... & mh-wait a` works.
"""

from __future__ import annotations

import os
import time

from metaharness import harness, liveness, schema
from metaharness.exits import Exit, exit_for
from metaharness.records import typed_record
from metaharness.statuses import Status
from metaharness.tree import validate_id

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    import queue
    from pathlib import Path
    from typing import Callable


@typed_record(frozen=True)
class Outcome:
    """How one harness ended, for mh-wait and mh-run."""

    id: str
    status: Status | None  # None: the harness never appeared
    exit_code: int
    reason: str
    instance: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "instance": self.instance, "status": self.status.value if self.status else None,
                "exit_code": self.exit_code, "reason": self.reason}


def await_end(tree: Path | str, harness_id: str, appear_within: float | None) -> Outcome:
    """Block until harness `harness_id` has ended and say how."""
    directory = os.path.join(tree, harness_id)
    if not os.path.isdir(directory):
        from metaharness.notify import wait_for_path

        if not wait_for_path(directory, appear_within):
            return Outcome(harness_id, None, Exit.NOT_FOUND, f"no such harness: {harness_id}")
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        liveness.block_until_released("lock", dir_fd=fd)
        try:
            result = harness.read_checked(None, "result.json", schema.RESULT, dir_fd=fd)
        except harness.Corrupt as e:
            return Outcome(harness_id, Status.CORRUPT, Exit.BAD_TREE, str(e))
        if result is not None:
            status = Status(result["status"])
            code = exit_for(status) if result.get("exit_code") is None else result["exit_code"]
            return Outcome(harness_id, status, code, result.get("reason") or "", result.get("instance"))
        view = harness.inspect(directory)
        if view.status is Status.CORRUPT:
            return Outcome(harness_id, Status.CORRUPT, Exit.BAD_TREE, view.problem or "corrupt", view.instance)
        return Outcome(harness_id, Status.DEAD, Exit.DEAD, "the supervisor died without a result", view.instance)
    finally:
        os.close(fd)


def report_end(tree: Path | str, harness_id: str, ended: queue.Queue[Outcome], appear_within: float | None,
               then: Callable[[], None] | None = None) -> None:
    """Block until the harness has ended, then put its Outcome on `ended` and call `then`."""
    ended.put(end_of(tree, harness_id, appear_within))
    if then is not None:
        then()


def end_of(tree: Path | str, harness_id: str, appear_within: float | None) -> Outcome:
    """await_end, with a system error as an Outcome too: nobody may be left waiting for ever."""
    try:
        return await_end(tree, harness_id, appear_within)
    except OSError as e:
        return Outcome(harness_id, None, Exit.SYSTEM, f"{e.filename}: {e.strerror}")


def watch_end(tree: Path | str, harness_id: str, ended: queue.Queue[Outcome], appear_within: float | None,
              then: Callable[[], None] | None = None) -> None:
    """Start a daemon thread that reports the harness's end on `ended`.

    It holds two fds (the directory and its lock) until the harness ends."""
    import threading

    threading.Thread(target=report_end, args=(tree, harness_id, ended, appear_within, then), daemon=True).start()


def await_all(tree: Path | str, ids: list[str], *, any_: bool, timeout: float | None, appear_within: float) -> tuple[dict[str, Outcome], list[str]]:
    """Wait for every harness (or the first, with `any_`); return outcomes and the ids still pending at the deadline."""
    for harness_id in ids:
        validate_id(harness_id)
    wanted = list(dict.fromkeys(ids))
    deadline = None if timeout is None else time.monotonic() + timeout
    outcomes: dict[str, Outcome] = {}
    running = []
    for harness_id in wanted:
        directory = os.path.join(tree, harness_id)
        if os.path.isdir(directory) and not liveness.lock_is_held(os.path.join(directory, "lock")):
            outcomes[harness_id] = end_of(tree, harness_id, appear_within)  # ended: --timeout 0 still reports it
            if any_ and outcomes[harness_id].status is not None:
                return outcomes, [i for i in wanted if i not in outcomes]
        else:
            running.append(harness_id)
    if running:  # threads (and their imports) only for harnesses still to end
        _await_running(tree, running, outcomes, len(wanted), any_, deadline, appear_within)
    return outcomes, [i for i in wanted if i not in outcomes]


def _await_running(tree: Path | str, running: list[str], outcomes: dict[str, Outcome], wanted: int, any_: bool,
                   deadline: float | None, appear_within: float) -> None:
    import queue

    ended: queue.Queue[Outcome] = queue.Queue()
    for harness_id in running:
        watch_end(tree, harness_id, ended, appear_within)
    while len(outcomes) < wanted:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            outcome = ended.get(block=remaining != 0, timeout=remaining or None)
        except queue.Empty:
            break
        outcomes[outcome.id] = outcome
        if any_ and (outcome.status is not None or len(outcomes) == wanted):
            break  # a harness that never appeared is no answer to --any while others may end


def aggregate_exit(ids: list[str], outcomes: dict[str, Outcome]) -> int:
    """0 iff every harness completed, else the code of the first (in `ids` order) that did not."""
    for harness_id in ids:
        outcome = outcomes.get(harness_id)
        if outcome is not None and outcome.exit_code != Exit.OK:
            return outcome.exit_code
    return Exit.OK

