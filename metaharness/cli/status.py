"""mh-status: one row (or one JSON object) per harness."""

from __future__ import annotations

import json
import sys
import time

from metaharness.cli import common
from metaharness.exits import Exit, MhError

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any, Sequence

DESCRIPTION = """\
Show every harness in the tree (or the named ones): status, iteration, roadmap progress,
current task, age, heartbeat age, supervisor pid, the agent's turns, tokens and cost, its
last tool call, a --worktree harness's branch (commits ahead of its base, dirty or
clean), and alerts (STALLED, LOOPING, WAITING, DEAD, STALE); the host each runs on when
the tree is shared by several. A running harness whose supervisor has gone (its lock
free here, its heartbeat stale on another host) is shown as dead; an unreadable one as
corrupt."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (
    Exit.OK, Exit.USAGE, Exit.NOT_FOUND, Exit.BAD_TREE, Exit.SYSTEM, Exit.SOFTWARE,
)
EPILOG = """\
exit status: 0 shown (or --watch ended by Ctrl+C), 2 usage, 7 no such harness, 10 bad tree, 11 system error,
70 internal error. See mh-status(1)."""

COLUMNS = ("ID", "STATUS", "ITER", "PROGRESS", "TASK", "AGE", "BEAT", "PID", "TURNS", "TOKENS", "COST", "LAST TOOL",
           "ALERTS")
TASK_WIDTH = 32
REDRAW_SECONDS = 1.0  # the ages in the table move even when no file does
COALESCE_SECONDS = 0.1
TOOL_WIDTH = 32
USAGE_KEYS = ("turns", "input_tokens", "output_tokens", "cost_usd", "estimated_cost_usd", "tool_calls")


def build_parser() -> common.Parser:
    p = common.parser("status", DESCRIPTION, EPILOG)
    p.add_argument("ids", nargs="*", metavar="ID")
    p.add_argument("--json", action="store_true", help="one JSON object per harness, one per line")
    p.add_argument("-w", "--watch", action="store_true", help="a live table, redrawn as harnesses change")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.run("status", _status, argv)


def _status(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from metaharness.tree import find_tree

    tree = find_tree()
    if args.watch:
        if args.json:
            raise MhError("--watch draws a table; --json is for scripts", Exit.USAGE)
        return _watch(tree, args.ids)
    print_once(tree, args.ids, args.json)
    return Exit.OK


def print_once(tree: Any, ids: list[str], as_json: bool) -> None:
    from metaharness import harness

    directories = [harness.harness_dir(tree, i) for i in ids] if ids else (
        [] if tree is None else [tree / i for i in harness.list_ids(tree)])
    views = [harness.inspect(d) for d in directories]
    if sum(isinstance(v.state.get("worktree"), dict) for v in views) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(8) as pool:  # each worktree costs three git runs; run them side by side
            records = list(pool.map(describe, views))
    else:
        records = [describe(v) for v in views]
    totals = sum_usage(records)
    queue_counts = _queue_counts(tree)
    limits = _limits(tree)
    budgets = _budgets(tree)
    if as_json:
        for record in records:
            print(json.dumps(record))
        print(json.dumps({"totals": totals}))
        if queue_counts:
            print(json.dumps({"queue": queue_counts}))
        if limits:
            print(json.dumps({"limits": limits}))
        if budgets:
            print(json.dumps({"budgets": budgets}))
        return
    if records:
        print(render_table(records))
        if any(totals[k] for k in USAGE_KEYS):
            count = totals["harnesses"]
            print(f"total: {count} harness{'es' if count != 1 else ''}, {totals['turns']} turns, "
                  f"{_tokens(totals['input_tokens'] + totals['output_tokens'])} tokens, {_cost(totals)}"
                  + (" (~: estimated from token prices)" if totals["estimated_cost_usd"] else ""))
    if queue_counts:
        print("queue: " + ", ".join(f"{n} {state}" for state, n in queue_counts.items()))
    for limit in limits:
        print(f"limit: {limit['account']} {_limit_words(limit)}")
    if budgets:
        from metaharness.cli.budget import describe_spending

        for budget in budgets:
            print(f"budget: {budget['name']} {describe_spending(budget)}")


def _limits(tree: Any) -> list[dict[str, Any]]:
    """The usage limits that hold now, by account (limits.py)."""
    if not (tree and (tree / "limits").is_dir()):
        return []
    from metaharness import limits

    return limits.active(tree)


def _budgets(tree: Any) -> list[dict[str, Any]]:
    """The budgets in the tree, with what was spent (budgets.py)."""
    if not (tree and (tree / "budgets").is_dir()):
        return []
    from metaharness import budgets

    return budgets.listing(tree)


def _limit_words(limit: dict[str, Any]) -> str:
    until = time.strftime("%H:%M", time.localtime(limit["until"]))
    return f"limited until {until} (seen by {limit.get('seen_by')}: {limit.get('reason')})"


def _queue_counts(tree: Any) -> dict[str, int] | None:
    """Items per queue state, if the tree has a queue."""
    if not (tree and (tree / "queue").is_dir()):  # looked at first: the queue module's import is not free
        return None
    from metaharness import queue

    return queue.counts(tree)


def _watch(tree: Any, ids: list[str]) -> int:
    """Redraw on every change under the tree (coalesced), and each second for the ages."""
    import threading

    from metaharness.notify import DirectoryWatch, wait_for_path
    from metaharness.tree import locate_tree

    tree = tree or locate_tree()
    changed = threading.Event()
    try:
        wait_for_path(tree, None)
        with DirectoryWatch(tree, changed.set, recursive=True):
            while True:
                changed.clear()
                sys.stdout.write("\x1b[H\x1b[2J" if sys.stdout.isatty() else "\n")
                print(time.strftime("%H:%M:%S"), "mh-status --watch (Ctrl+C to quit)")
                print_once(tree, ids, False)
                sys.stdout.flush()
                changed.wait(REDRAW_SECONDS)
                time.sleep(COALESCE_SECONDS)  # a burst of writes is one redraw, not fifty
    except KeyboardInterrupt:
        return Exit.OK


def sum_usage(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Usage summed across harnesses, for the footer and the --json totals line."""
    totals: dict[str, Any] = {"harnesses": len(records), **dict.fromkeys(USAGE_KEYS, 0)}
    for record in records:
        for key in USAGE_KEYS:
            totals[key] += (record["usage"] or {}).get(key, 0)
    totals["cost_usd"] = round(totals["cost_usd"], 6)
    totals["estimated_cost_usd"] = round(totals["estimated_cost_usd"], 6)
    return totals


def _cost(usage: dict[str, Any]) -> str:
    """$0.0123; ~$0.0123 when any of it is estimated from tokens (prices.py)."""
    if not usage.get("cost_usd"):
        return "-"
    return ("~" if usage.get("estimated_cost_usd") else "") + f"${usage['cost_usd']:.4f}"


def _tokens(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


def describe(view: Any) -> dict[str, Any]:
    """The record mh-status --json prints for one harness."""
    from metaharness.tree import parse_iso

    state, result, now = view.state, view.result or {}, time.time()
    live = view.status.is_live
    try:
        beat_age = now - (view.dir / "heartbeat").stat().st_mtime if live else None
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
        "final_answer": result.get("final_answer"),
    }


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


def render_table(records: list[dict[str, Any]]) -> str:
    from metaharness.duration import format_age
    from metaharness.liveness import this_host
    from metaharness.table import render

    with_branch = any(r["worktree"] for r in records)
    # HOST only for a tree shared by several hosts: on one machine it would say nothing.
    with_host = any(r["host"] not in (None, this_host()) for r in records)
    rows = []
    for r in records:
        progress, usage = r["progress"] or {}, r["usage"] or {}
        status = f"{r['status']} ({r['waiting_for']})" if r["waiting_for"] else r["status"]
        rows.append((
            r["id"], status, r["iteration"],
            f"{progress.get('done', 0)}/{progress.get('total', 0)}" if progress else "-",
            _clip(r["task"] or "", TASK_WIDTH), format_age(r["age_s"]), format_age(r["heartbeat_age_s"]), r["pid"] or "-",
            usage.get("turns") or "-",
            _tokens(usage.get("input_tokens", 0) + usage.get("output_tokens", 0)) if usage.get("input_tokens") else "-",
            _cost(usage), _clip(r["last_tool"] or "-", TOOL_WIDTH),
            " ".join(r["alerts"]) or "-",
        ) + ((r["host"] or "-",) if with_host else ()) + ((_branch(r["worktree"]),) if with_branch else ()))
    headers = COLUMNS + (("HOST",) if with_host else ()) + (("BRANCH",) if with_branch else ())
    return render(headers, rows)


def _branch(wt: dict[str, Any] | None) -> str:
    """mh/a +2 dirty: the branch, its commits ahead of its base, uncommitted changes."""
    if not wt:
        return "-"
    if "error" in wt:
        return f"{wt['branch']} ({wt['error']})"
    return f"{wt['branch']} +{wt['ahead']} {'dirty' if wt['dirty'] else 'clean'}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


if __name__ == "__main__":
    sys.exit(main())
