"""mh-status: one row (or one JSON object) per harness."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Sequence

from metaharness.cli import common
from metaharness.status import Exit

DESCRIPTION = """\
Show every harness in the tree (or the named ones): status, iteration, roadmap progress,
current task, age, heartbeat age and supervisor pid. A running harness whose supervisor
has gone is shown as dead; an unreadable one as corrupt."""

EPILOG = """\
exit status: 0 shown, 2 usage, 7 no such harness, 10 bad tree, 11 system error,
70 internal error. See mh-status(1)."""

COLUMNS = ("ID", "STATUS", "ITER", "PROGRESS", "TASK", "AGE", "BEAT", "PID")
TASK_WIDTH = 40


def build_parser() -> common.Parser:
    p = common.parser("status", DESCRIPTION, EPILOG)
    p.add_argument("ids", nargs="*", metavar="ID")
    p.add_argument("--json", action="store_true", help="one JSON object per harness, one per line")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.run("status", _status, argv)


def _status(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from metaharness import harness
    from metaharness.tree import find_tree

    tree = find_tree()
    directories = [harness.harness_dir(tree, i) for i in args.ids] if args.ids else (
        [] if tree is None else [tree / i for i in harness.list_ids(tree)])
    records = [describe(harness.inspect(d)) for d in directories]
    if args.json:
        for record in records:
            print(json.dumps(record))
    elif records:
        print(render_table(records))
    return Exit.OK


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
        "reason": result.get("reason") or state.get("reason") or view.problem,
        "exit_code": result.get("exit_code"),
    }


def render_table(records: list[dict[str, Any]]) -> str:
    from tabulate import tabulate

    from metaharness.duration import format_age

    rows = []
    for r in records:
        progress = r["progress"] or {}
        task = r["task"] or ""
        rows.append((
            r["id"], r["status"], r["iteration"],
            f"{progress.get('done', 0)}/{progress.get('total', 0)}" if progress else "-",
            task if len(task) <= TASK_WIDTH else task[: TASK_WIDTH - 3] + "...",
            format_age(r["age_s"]), format_age(r["heartbeat_age_s"]), r["pid"] or "-",
        ))
    return tabulate(rows, headers=COLUMNS, tablefmt="plain", disable_numparse=True)


if __name__ == "__main__":
    sys.exit(main())
