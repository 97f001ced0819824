"""One monitor over the whole tree: turns what happens to harnesses into alerts.

Alerts come from two places. Supervisors log what they notice (stalled, looping,
rate_limited, hook_failed, ended) in their events.jsonl; the monitor reads each log from
where it stood when watching began, on every change under the tree. A supervisor cannot
report its own death, so the monitor blocks on each live harness's lock (the kernel wakes
it the moment the supervisor dies, however it dies) and, for supervisors on other hosts,
checks heartbeat ages once per heartbeat interval. A dead harness is reported once, with
its last iteration and its agent's last output line. An account's usage limit
(limits.py) is reported once when it starts (or moves to a later reset) and once when it
ends: lifted at once, or within REMOTE_CHECK_SECONDS of its reset passing.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from metaharness import harness, limits, liveness
from metaharness.events import parse_line
from metaharness.notify import DirectoryWatch
from metaharness.statuses import Status
from metaharness.tree import now_iso

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any, Callable, Final

    Alert = dict[str, Any]

ALERT_EVENTS: Final = frozenset({"stalled", "looping", "rate_limited", "hook_failed", "paused", "resumed", "ended",
                                 "merge_conflict", "merge_check_failed"})
REMOTE_CHECK_SECONDS: Final = 5.0


class Monitor:
    """Calls `on_alert` (from one thread at a time) for every alert in `tree` until `stop()`."""

    def __init__(self, tree: Path, on_alert: Callable[[Alert], None]) -> None:
        self._tree = tree
        self._on_alert = on_alert
        self._emit_lock = threading.Lock()
        self._offsets: dict[Path, int] = {}  # events.jsonl -> bytes already read
        self._watched_locks: set[str] = set()  # instances whose lock a thread blocks on
        self._reported_dead: set[str] = set()
        self._limits: dict[str, float] = {}  # account -> the reset reported
        self._changed = threading.Event()
        self._stopped = threading.Event()

    def run(self) -> None:
        """Watch until stop(); harnesses already dead are reported first."""
        with DirectoryWatch(self._tree, self._changed.set, recursive=True):
            for directory in self._harness_dirs():
                log = directory / "events.jsonl"
                self._offsets[log] = log.stat().st_size if log.exists() else 0
            while not self._stopped.is_set():
                self._changed.clear()
                self._scan()
                self._changed.wait(REMOTE_CHECK_SECONDS)

    def stop(self) -> None:
        self._stopped.set()
        self._changed.set()

    def _harness_dirs(self) -> list[Path]:
        return [self._tree / i for i in harness.list_ids(self._tree)]

    def _scan(self) -> None:
        self._scan_limits()
        for directory in self._harness_dirs():
            self._read_new_events(directory)
            view = harness.inspect(directory)
            instance = view.instance or directory.name
            if view.status is Status.DEAD:
                self._report_dead(view)
            elif view.status.is_live and instance not in self._watched_locks:
                self._watched_locks.add(instance)
                threading.Thread(target=self._await_death, args=(directory,), daemon=True).start()

    def _scan_limits(self) -> None:
        held = {limit["account"]: limit for limit in limits.active(self._tree)}
        for account, limit in held.items():
            if self._limits.get(account) != limit["until"]:
                self._limits[account] = limit["until"]
                self._alert(account, "account_limited", limits.describe(limit))
        for account in [a for a in self._limits if a not in held]:
            del self._limits[account]
            self._alert(account, "account_limit_lifted", f"the usage limit of {account} is over")

    def _alert(self, account: str, kind: str, reason: str) -> None:
        alert = {"t": now_iso(), "id": account, "event": kind, "reason": reason, "iteration": None,
                 "account": account, "harness_dir": os.path.join(limits.limits_dir(self._tree), account)}
        with self._emit_lock:
            self._on_alert(alert)

    def _read_new_events(self, directory: Path) -> None:
        log = directory / "events.jsonl"
        start = self._offsets.get(log, 0)
        try:
            with open(log, "rb") as f:
                if f.seek(0, 2) < start:
                    start = 0  # a new harness of the same id: its log starts over
                f.seek(start)
                data = f.read()
        except OSError:
            return  # gone, or not a file: mh-status shows what is wrong with the harness
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next change
        self._offsets[log] = start + len(complete)
        for line in complete.splitlines():
            event = parse_line(line)
            if event is not None and event["event"] in ALERT_EVENTS:
                self._emit(directory, event)

    def _emit(self, directory: Path, event: dict[str, Any]) -> None:
        kind = event["event"] if event["event"] != "ended" else str(event.get("status") or "ended")
        if kind == "stalled":
            reason = f"no output for {event.get('silent_s')}s; action: {event.get('action')}"
        elif kind == "rate_limited":
            reason = f"waiting until {event.get('until')}"
        elif kind == "paused":
            reason = f"by {event.get('by')}" + (", its iteration ended at once" if event.get("now") else "")
        else:
            reason = event.get("reason") or ""
        alert = {"t": event.get("t", now_iso()), "id": directory.name, "event": kind, "reason": str(reason),
                 "iteration": event.get("iteration"), "harness_dir": str(directory)}
        with self._emit_lock:
            self._on_alert(alert)

    def _await_death(self, directory: Path) -> None:
        state = harness.inspect(directory).state
        if state.get("host") not in (None, liveness.this_host()):
            return  # another host's supervisor: the periodic scan judges it by its heartbeat
        liveness.block_until_released(directory / "lock")
        self._changed.set()  # the scan will find it dead, or ended with a result

    def _report_dead(self, view: harness.View) -> None:
        key = view.instance or view.id
        if key in self._reported_dead:
            return
        self._reported_dead.add(key)
        iteration = view.state.get("iteration") or 0
        last_line = _last_line(view.dir / "iterations" / f"{iteration:04d}" / "output") if iteration else ""
        alert = {"t": now_iso(), "id": view.id, "event": "dead",
                 "reason": f"the supervisor (pid {view.state.get('pid')} on {view.state.get('host')}) is gone",
                 "iteration": iteration, "last_output": last_line, "harness_dir": str(view.dir)}
        with self._emit_lock:
            self._on_alert(alert)


def _last_line(path: Path) -> str:
    """The last non-empty line of a file, reading only its tail."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 4096))
            lines = [line for line in f.read().splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].decode("utf-8", "replace")[:300] if lines else ""
