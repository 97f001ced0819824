"""What mh-status shows, gathered once: a record per harness (its --json object), the usage
totals, and the tree's queue, usage limits and budgets. The table, the live dashboard
(dashboard.py) and the Prometheus metrics (metrics.py) are drawn from it: one reading of
the tree, three pictures.
"""

from __future__ import annotations

import os
import time

from metaharness.records import typed_record

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

USAGE_KEYS = ("turns", "input_tokens", "output_tokens", "cost_usd", "estimated_cost_usd", "tool_calls")


@typed_record(frozen=True)
class Overview:
    records: list[dict[str, Any]]  # one per harness, as mh-status --json prints them
    totals: dict[str, Any]
    queue: dict[str, int] | None  # items per state, if the tree has a queue
    limits: list[dict[str, Any]]  # the usage limits that hold now
    budgets: list[dict[str, Any]]


def gather(tree: Path | str | None, ids: list[str]) -> Overview:
    """Read every harness of the tree (or the named ones) and what the tree says besides.
    (Paths are str here: mh-status runs without pathlib.)"""
    from metaharness import harness

    tree = None if tree is None else os.fspath(tree)
    directories = [harness.existing_dir(tree, i) for i in ids] if ids else (
        [] if tree is None else [os.path.join(tree, i) for i in harness.list_ids(tree)])
    views = [harness.inspect(d) for d in directories]
    if sum(isinstance(v.state.get("worktree"), dict) for v in views) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(8) as pool:  # each worktree costs three git runs; run them side by side
            records = list(pool.map(describe, views))
    else:
        records = [describe(v) for v in views]
    return Overview(records, sum_usage(records), _queue_counts(tree), _limits(tree), _budgets(tree))


def _limits(tree: str | None) -> list[dict[str, Any]]:
    """The usage limits that hold now, by account (limits.py)."""
    if not (tree and os.path.isdir(os.path.join(tree, "limits"))):
        return []
    from metaharness import limits

    return limits.active(tree)


def _budgets(tree: str | None) -> list[dict[str, Any]]:
    """The budgets in the tree, with what was spent (budgets.py)."""
    if not (tree and os.path.isdir(os.path.join(tree, "budgets"))):
        return []
    from metaharness import budgets

    return budgets.listing(tree)


def _queue_counts(tree: str | None) -> dict[str, int] | None:
    """Items per queue state, if the tree has a queue."""
    if not (tree and os.path.isdir(os.path.join(tree, "queue"))):  # looked at first: the queue module's import is not free
        return None
    from pathlib import Path

    from metaharness import queue

    return queue.counts(Path(tree))


def sum_usage(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Usage summed across harnesses, for the footer and the --json totals line."""
    totals: dict[str, Any] = {"harnesses": len(records), **dict.fromkeys(USAGE_KEYS, 0)}
    for record in records:
        for key in USAGE_KEYS:
            totals[key] += (record["usage"] or {}).get(key, 0)
    totals["cost_usd"] = round(totals["cost_usd"], 6)
    totals["estimated_cost_usd"] = round(totals["estimated_cost_usd"], 6)
    return totals


def describe(view: Any) -> dict[str, Any]:
    """The record mh-status --json prints for one harness."""
    from metaharness.tree import parse_iso

    state, result, now = view.state, view.result or {}, time.time()
    live = view.status.is_live
    try:
        beat_age = now - os.stat(os.path.join(view.path, "heartbeat")).st_mtime if live else None
    except OSError:
        beat_age = None
    started = state.get("started") or view.spec.get("created")
    try:
        age = now - parse_iso(started) if started else None
    except ValueError:
        age = None
    return {
        "id": view.id, "instance": view.instance, "status": view.status.value,
        "iteration": state.get("iteration", 0), "max_iterations": view.spec.get("max_iterations"),
        "progress": result.get("progress") or state.get("progress"), "task": state.get("task"),
        "started": started, "age_s": None if age is None else round(age, 1),
        "heartbeat_age_s": None if beat_age is None else round(beat_age, 1),
        "pid": state.get("pid") if live else None, "host": state.get("host"),
        "agent_pid": state.get("agent_pid") if live else None,
        "last_progress": state.get("last_progress"), "last_outcome": state.get("last_outcome"),
        "next_attempt": state.get("next_attempt") if live else None,
        "waiting_for": state.get("waiting_for") if live else None,
        "agent": view.spec.get("agent"), "model": state.get("model") or view.spec.get("model"),
        "session_id": state.get("session_id"), "usage": result.get("usage") or state.get("usage"),
        "last_tool": state.get("last_tool"), "alerts": alerts(view, now, beat_age),
        "reason": result.get("reason") or state.get("reason") or view.problem,
        "exit_code": result.get("exit_code"), "worktree": _worktree(view),
        "check": result.get("check") or state.get("check"),  # the last --verify run
        "merge": _merge_record(view),
        "final_answer": result.get("final_answer"),
    }


def _merge_record(view: Any) -> dict[str, Any] | None:
    """What mh-merge last did with its branch (merge.py), if anything."""
    from metaharness.tree import read_json

    if not view.spec.get("worktree"):
        return None  # only a --worktree harness has a branch to merge: no file to look for
    try:
        record = read_json(os.path.join(view.path, "merge.json"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("status"), str) else None


def _worktree(view: Any) -> dict[str, Any] | None:
    """A --worktree harness's branch as it stands now: it may have moved since the result."""
    made = view.state.get("worktree")
    if not isinstance(made, dict):
        return None
    from pathlib import Path

    from metaharness import worktree

    return worktree.describe(Path(made["path"]), view.id, made["base"])


def alerts(view: Any, now: float, beat_age: float | None) -> list[str]:
    """Conditions worth a look: STALLED 6m12s, LOOPING, WAITING, DEAD, STALE (missed beats),
    CHECK-FAILED (the last --verify run failed)."""
    from metaharness.duration import format_age
    from metaharness.liveness import MISSED_BEATS_FOR_DEAD
    from metaharness.tree import parse_iso

    state, found = view.state, []
    if view.status.value == "dead":
        found.append("DEAD")
    merged = _merge_record(view)
    if merged and merged["status"] in ("conflict", "check_failed"):
        found.append(f"MERGE-{merged['status'].upper().replace('_', '-')}")
    check = (view.result or {}).get("check") or state.get("check")
    if isinstance(check, dict) and check.get("passed") is False:
        found.append("CHECK-FAILED")
    if view.status.is_live:
        if state.get("stalled_since"):
            try:
                found.append(f"STALLED {format_age(now - parse_iso(state['stalled_since']))}")
            except ValueError:
                found.append("STALLED")
        if state.get("looping"):
            found.append("LOOPING")
        if view.status.value == "waiting":
            found.append("WAITING")
        interval = state.get("heartbeat_interval") or 5.0
        if beat_age is not None and beat_age > MISSED_BEATS_FOR_DEAD * interval:
            found.append(f"STALE {format_age(beat_age)}")
    return found
