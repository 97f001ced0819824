"""Usage limits shared by an account: `.harness/limits/<account>`.

Harnesses of one account (by default their agent's name: every claude harness shares
one) draw on one allowance. When an agent reports a usage or rate limit, its supervisor
publishes until when it holds, for all of them: a JSON object (account, until in epoch
seconds and as text, who saw it, why, when). A later reset replaces an earlier one, never
the reverse. Before each iteration every supervisor of the account looks at the file and,
while the limit holds, waits in `waiting`, woken at the reset, by a change in limits/
(`mh-resume --account` removes the file: lifted early), a stop or a signal. So one harness
meets the limit and the others do not run into it again and again. See mh-harness(7).
"""

from __future__ import annotations

import os
import time

from metaharness.notify import LazyWatch
from metaharness.statuses import Status
from metaharness.tree import now_iso, read_json, write_json

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    import threading
    from pathlib import Path
    from typing import Any, Callable, Final

    from metaharness.events import EventLog
    from metaharness.harness import LiveState

MAX_LIMIT_SECONDS: Final = 7 * 86400.0  # a reset further off than a week is a misreading


def limits_dir(tree: Path | str) -> str:
    return os.path.join(tree, "limits")


def current(tree: Path | str, account: str) -> dict[str, Any] | None:
    """The limit on `account` if it still holds."""
    try:
        record = read_json(os.path.join(limits_dir(tree), account))
    except (OSError, ValueError):
        return None  # none, or unreadable: no limit is better than one held for ever
    until = record.get("until")
    if not isinstance(until, (int, float)) or isinstance(until, bool) or until <= time.time():
        return None
    return record


def active(tree: Path | str) -> list[dict[str, Any]]:
    """Every limit that still holds, by account."""
    try:
        accounts = sorted(n for n in os.listdir(limits_dir(tree)) if not n.startswith("."))
    except FileNotFoundError:
        return []
    return [record for account in accounts if (record := current(tree, account)) is not None]


def publish(tree: Path | str, account: str, until: float, seen_by: str, reason: str) -> None:
    """Hold `account` until `until` (epoch seconds), unless a later reset is already known."""
    until = min(until, time.time() + MAX_LIMIT_SECONDS)
    os.makedirs(limits_dir(tree), exist_ok=True)
    for _ in range(3):  # a writer with an earlier reset may replace ours meanwhile: look again
        known = current(tree, account)
        if known is not None and known["until"] >= until:
            return
        write_json(os.path.join(limits_dir(tree), account), {"account": account, "until": until, "until_iso": now_iso(until),
                                                "seen_by": seen_by, "reason": reason, "set": now_iso()})


def lift(tree: Path | str, account: str) -> bool:
    """Remove the limit on `account` (mh-resume --account); False if there was none."""
    try:
        os.unlink(os.path.join(limits_dir(tree), account))
    except FileNotFoundError:
        return False
    return True


def describe(record: dict[str, Any]) -> str:
    shown = time.strftime("%H:%M", time.localtime(record["until"]))
    return f"rate limit until {shown} (account {record.get('account')}, seen by {record.get('seen_by')})"


class AccountLimits:
    """A supervisor's side: publish what its agent met, and wait out what any agent met."""

    def __init__(self, tree: Path | str, account: str, harness_id: str, state: LiveState, events: EventLog,
                 say: Callable[[str], None], wake: threading.Event, control: LazyWatch) -> None:
        self._tree, self._account, self._id = tree, account, harness_id
        self._state, self._events, self._say, self._wake = state, events, say, wake
        self._control = control  # a stop must wake the wait too
        self._watch = LazyWatch(limits_dir(tree), wake.set)

    def met(self, until: float, reason: str) -> None:
        publish(self._tree, self._account, until, self._id, reason)

    def wait(self, requested_end: Callable[[float | None], tuple[Status, str] | None],
             deadline: float | None) -> tuple[Status, str] | None:
        """While the account is limited, wait in `waiting`; what `requested_end` says ends it."""
        limit = current(self._tree, self._account)
        if limit is None:
            return None
        os.makedirs(limits_dir(self._tree), exist_ok=True)
        self._control.start()
        self._watch.start()
        why = describe(limit)
        self._state.publish(status=Status.WAITING, next_attempt=limit["until_iso"], waiting_for=why)
        self._events.emit("account_limited", account=self._account, until=limit["until_iso"],
                          seen_by=limit.get("seen_by"))
        self._say(f"waiting: {why}")
        while (ended := requested_end(deadline)) is None and (limit := current(self._tree, self._account)):
            self._wake.clear()
            if requested_end(deadline) is None and current(self._tree, self._account):
                wait = max(0.0, limit["until"] - time.time())
                self._wake.wait(wait if deadline is None else min(wait, max(0.0, deadline - time.monotonic())))
        self._state.publish(status=Status.RUNNING, next_attempt=None, waiting_for=None)
        return ended

    def close(self) -> None:
        self._watch.close()
