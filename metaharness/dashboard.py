"""mh-status as text: the table with its footer, and the live dashboard of --watch.

The table has a row per harness; on a terminal, columns where no harness has anything to
show are left out and the rest are fitted to its width (the task column gives way first),
so a row never wraps. The dashboard adds, above the table, a bar of the roadmap tasks done
over all harnesses and the harnesses by status, and below it an alerts section (stalled,
dead, looping, rate-limited, failed, over budget, a failed check) and the totals. It is
redrawn when a file under the tree changes (a heartbeat is one), never on a timer; q or
Ctrl+C quits. Off a terminal, --watch prints a line per change of a harness instead.
Everything is drawn from one Overview (overview.py).
"""

from __future__ import annotations

import time

from metaharness.table import clip, fit, render

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from metaharness.overview import Overview

COLUMNS = ("ID", "STATUS", "ITER", "PROGRESS", "TASK", "AGE", "BEAT", "PID", "TURNS", "TOKENS", "COST", "LAST TOOL",
           "ALERTS")
TASK_WIDTH = 32
TOOL_WIDTH = 32
# On a narrow terminal: what gives way first (down to a width), then what goes.
SHRINK = (("TASK", 12), ("LAST TOOL", 14), ("STATUS", 12), ("BRANCH", 14), ("ALERTS", 12), ("TASK", 6))
DROP = ("PID", "BEAT", "TURNS", "AGE", "LAST TOOL", "TOKENS", "HOST", "ITER", "TASK", "BRANCH", "COST")
BAR_WIDTH = 30


def table(records: list[dict[str, Any]], width: int | None = None) -> str:
    """A row per harness; fitted to `width` terminal columns if given, else every column."""
    from metaharness.duration import format_age
    from metaharness.liveness import this_host

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
            clip(r["task"] or "", TASK_WIDTH), format_age(r["age_s"]), format_age(r["heartbeat_age_s"]), r["pid"] or "-",
            usage.get("turns") or "-",
            tokens(usage.get("input_tokens", 0) + usage.get("output_tokens", 0)) if usage.get("input_tokens") else "-",
            cost(usage), clip(r["last_tool"] or "-", TOOL_WIDTH),
            " ".join(r["alerts"]) or "-",
        ) + ((r["host"] or "-",) if with_host else ()) + ((_branch(r["worktree"], r["merge"]),) if with_branch else ()))
    headers = COLUMNS + (("HOST",) if with_host else ()) + (("BRANCH",) if with_branch else ())
    if width is None:
        return render(headers, rows)
    return render(*fit(headers, rows, width, keep=("ID", "STATUS"), shrink=SHRINK, drop=DROP))


def footer(seen: Overview) -> list[str]:
    """The lines under the table: totals, the queue, the limits that hold, the budgets."""
    lines, totals = [], seen.totals
    if any(totals[k] for k in ("turns", "input_tokens", "output_tokens", "cost_usd", "tool_calls")):
        count = totals["harnesses"]
        lines.append(f"total: {count} harness{'es' if count != 1 else ''}, {totals['turns']} turns, "
                     f"{tokens(totals['input_tokens'] + totals['output_tokens'])} tokens, {cost(totals)}"
                     + (" (~: estimated from token prices)" if totals["estimated_cost_usd"] else ""))
    if seen.queue:
        lines.append("queue: " + ", ".join(f"{n} {state}" for state, n in seen.queue.items()))
    lines += [f"limit: {limit['account']} {limit_words(limit)}" for limit in seen.limits]
    if seen.budgets:
        from metaharness.budgets import describe_spending

        lines += [f"budget: {b['name']} {describe_spending(b)}" for b in seen.budgets]
    return lines


def frame(seen: Overview, where: str, width: int, height: int) -> str:
    """One screen of the dashboard, `width` columns wide and at most `height` lines high."""
    records = seen.records
    top = [clip(f"mh-status --watch  {where}  {time.strftime('%Y-%m-%d %H:%M:%S')}  (q quits)", width)]
    done = sum((r["progress"] or {}).get("done", 0) for r in records)
    total = sum((r["progress"] or {}).get("total", 0) for r in records)
    filled = round(BAR_WIDTH * done / total) if total else 0
    top.append(f"tasks [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total}")
    by_status: dict[str, int] = {}
    for r in records:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    top.append(clip("harnesses: " + (", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) or "none yet"), width))
    body = table(records, width).splitlines() if records else ["(no harness yet)"]
    alerts = [clip(line, width) for line in alert_lines(seen)]
    bottom = (["alerts:"] + ["  " + a for a in alerts] if alerts else ["alerts: none"]) + \
        [clip(line, width) for line in footer(seen)]
    room = height - len(top) - len(bottom) - 2
    if len(body) > room > 1:  # more harnesses than lines: say how many are not shown
        body = body[:room - 1] + [f"... and {len(body) - room + 1} more (mh-status for all)"]
    return "\n".join(top + [""] + body + [""] + bottom)


def alert_lines(seen: Overview) -> list[str]:
    """What wants a person: a line per harness in trouble, per limit, per spent budget."""
    lines = []
    for r in seen.records:
        why = list(r["alerts"])
        if r["status"] in ("failed", "dead", "blocked", "corrupt"):
            why.append(f"{r['status']}: {r['reason'] or ''}".rstrip(": "))
        elif r["status"] == "waiting" and (r["waiting_for"] or "").startswith("rate limit"):
            why = [w for w in why if w != "WAITING"] + [f"rate-limited ({r['waiting_for']})"]
        elif r["status"] == "incomplete" and "budget" in (r["reason"] or ""):
            why.append(f"over budget: {r['reason']}")
        if why:
            lines.append(f"{r['id']}: {'; '.join(why)}")
    lines += [f"{limit['account']}: {limit_words(limit)}" for limit in seen.limits]
    for b in seen.budgets:
        if (b.get("usd") is not None and b["spent_usd"] >= b["usd"]) or \
                (b.get("tokens") is not None and b["spent_tokens"] >= b["tokens"]):
            lines.append(f"budget {b['name']}: spent")
    return lines


def change_lines(before: dict[str, tuple[Any, ...]], seen: Overview) -> tuple[list[str], dict[str, tuple[Any, ...]]]:
    """Off a terminal: a line per harness whose status, iteration, progress or alerts changed."""
    now, lines = {}, []
    stamp = time.strftime("%H:%M:%S")
    for r in seen.records:
        progress = r["progress"] or {}
        key = (r["status"], r["iteration"], progress.get("done"), progress.get("total"), tuple(r["alerts"]))
        now[r["id"]] = key
        if before.get(r["id"]) != key:
            lines.append(f"{stamp} {r['id']} {r['status']} iteration {r['iteration']} "
                         f"{progress.get('done', 0)}/{progress.get('total', 0)}"
                         + (f" {' '.join(r['alerts'])}" if r["alerts"] else "")
                         + (f": {r['reason']}" if r["reason"] and r["status"] not in ("running", "pending") else ""))
    return lines, now


def limit_words(limit: dict[str, Any]) -> str:
    until = time.strftime("%H:%M", time.localtime(limit["until"]))
    return f"limited until {until} (seen by {limit.get('seen_by')}: {limit.get('reason')})"


def cost(usage: dict[str, Any]) -> str:
    """$0.0123; ~$0.0123 when any of it is estimated from tokens (prices.py)."""
    if not usage.get("cost_usd"):
        return "-"
    return ("~" if usage.get("estimated_cost_usd") else "") + f"${usage['cost_usd']:.4f}"


def tokens(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


MERGE_WORDS = {"merged": "MERGED", "conflict": "CONFLICT", "check_failed": "CHECK FAILED"}


def _branch(wt: dict[str, Any] | None, merged: dict[str, Any] | None) -> str:
    """mh/a +2 dirty: the branch, its commits ahead of its base, uncommitted changes, and
    what mh-merge made of it (MERGED into main, CONFLICT, CHECK FAILED)."""
    if not wt:
        return "-"
    landed = ""
    if merged and merged["status"] in MERGE_WORDS:
        landed = f" {MERGE_WORDS[merged['status']]}" + (f" into {merged.get('into')}" if merged["status"] == "merged" else "")
    if "error" in wt:
        return f"{wt['branch']} ({wt['error']}){landed}"
    return f"{wt['branch']} +{wt['ahead']} {'dirty' if wt['dirty'] else 'clean'}{landed}"
