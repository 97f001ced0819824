"""mh-report: one self-contained HTML file about the harnesses of a tree (or of one mh-run
run): a summary, the SVG timeline (timeline.py), cost and tokens per harness, and a table
of outcomes with their reasons and the run or queue item each belonged to. Inline CSS and
SVG only: no script, no font, no image, nothing fetched, so it opens anywhere, offline,
and prints.
"""

from __future__ import annotations

import json
import time
from html import escape
from pathlib import Path

from metaharness.exits import Exit, MhError
from metaharness.timeline import COLOURS, Track, read_track, svg

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; color: #212121; margin: 24px; max-width: 1120px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: #616161; } .figure { overflow-x: auto; border: 1px solid #e0e0e0; padding: 6px; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: 4px 8px; vertical-align: top; }
th { border-bottom: 2px solid #9e9e9e; } td { border-bottom: 1px solid #eeeeee; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.s-completed { color: #2e7d32; } .s-failed, .s-dead { color: #c62828; } .s-incomplete { color: #f57f17; }
.costbar { display: inline-block; height: 10px; background: #5c6bc0; vertical-align: middle; }
.legend span { display: inline-block; margin-right: 14px; } .legend i { display: inline-block; width: 12px;
  height: 10px; margin-right: 4px; vertical-align: middle; }
@media print { body { margin: 0; max-width: none; } .figure { overflow: visible; border: none; }
  tr, .figure { page-break-inside: avoid; } }
"""
LEGEND = (("ok", "iteration that ended well"), ("failed", "failed iteration"), ("rate_limited", "rate-limited"),
          ("cut", "ended early (stop, pause, deadline)"), ("running", "running"), ("wait", "waiting out a limit"),
          ("pause", "paused"), ("stall", "stall"), ("message", "message taken"), ("verify_passed", "check passed"),
          ("verify_failed", "check failed"))


def tracks(tree: Path, run: str | None, archived: bool, now: float) -> tuple[list[Track], dict[str, Any] | None]:
    """The tracks to show, oldest first, and the run's record when one was asked for."""
    from metaharness.harness import list_ids

    record = None
    wanted: set[str] | None = None
    if run is not None:
        try:
            record = json.loads((tree / "runs" / run / "run.json").read_text())
        except (OSError, ValueError):
            raise MhError(f"no run {run} (no {tree / 'runs' / run / 'run.json'})", Exit.NOT_FOUND) from None
        wanted = set(record.get("harnesses") or {})
    found = [read_track(tree / i, i, now) for i in list_ids(tree) if wanted is None or i in wanted]
    if archived:
        archive = tree / ".archive"
        for name in sorted(p.name for p in archive.iterdir()) if archive.is_dir() else []:
            harness_id = name.split(".", 1)[0]
            if wanted is None or harness_id in wanted:
                found.append(read_track(archive / name, name, now))
    if run is not None:  # only this run's instances: an id may since have been spawned again
        found = [t for t in found if t.run == run]
    found.sort(key=lambda t: (t.started if t.started is not None else now, t.label))
    return found, record


def html(tree: Path, found: list[Track], record: dict[str, Any] | None, now: float) -> str:
    title = f"metaharness report: run {record['run_id']}" if record else "metaharness report"
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>",
             f"<style>{STYLE}</style></head><body>", f"<h1>{escape(title)}</h1>",
             f'<p class="meta">{escape(str(tree))} · made {time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(now))}</p>']
    if record:
        parts.append(f'<p>Plan {escape(str(record.get("plan")))}, strategy {escape(str(record.get("strategy")))}, '
                     f'{escape(str(record.get("status")))}' + (f', winner <b>{escape(str(record["winner"]))}</b>'
                                                              if record.get("winner") else "") + "</p>")
    parts.append(_summary(found))
    parts.append("<h2>Timeline</h2>")
    if found:
        parts.append(f'<div class="figure">{svg(found, now)}</div>')
        parts.append('<p class="legend">' + "".join(
            f'<span><i style="background:{COLOURS[kind]}"></i>{escape(words)}</span>' for kind, words in LEGEND) + "</p>")
    else:
        parts.append("<p>No harness to show.</p>")
    parts.append("<h2>Outcomes, cost and tokens</h2>")
    parts.append(_outcomes(found))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _summary(found: list[Track]) -> str:
    by_status: dict[str, int] = {}
    for t in found:
        by_status[t.status] = by_status.get(t.status, 0) + 1
    usage = [t.result.get("usage") or {} for t in found]
    cost = sum(u.get("cost_usd") or 0 for u in usage)
    tokens = sum((u.get("input_tokens") or 0) + (u.get("output_tokens") or 0) for u in usage)
    iterations = sum(len(t.iterations) for t in found)
    statuses = ", ".join(f'<span class="s-{escape(s)}">{n} {escape(s)}</span>' for s, n in sorted(by_status.items()))
    return (f"<p><b>{len(found)}</b> harness{'es' if len(found) != 1 else ''}: {statuses or 'none'}; "
            f"{iterations} iterations; ${cost:.4f}; {tokens:,} tokens.</p>")


def _outcomes(found: list[Track]) -> str:
    costs = [float((t.result.get("usage") or {}).get("cost_usd") or 0) for t in found]
    most = max(costs, default=0) or 1
    rows = []
    for track, cost in zip(found, costs):
        result, usage = track.result, track.result.get("usage") or {}
        duration = result.get("duration_s")
        check = result.get("check") or {}
        rows.append(
            f'<tr data-harness="{escape(track.label)}"><td>{escape(track.label)}</td>'
            f'<td class="s-{escape(track.status)}">{escape(track.status)}</td>'
            f'<td>{escape(str(result.get("reason") or ""))}'
            + (f'<br><small>check <code>{escape(str(check.get("command")))}</code> '
               f'{"passed" if check.get("passed") else "failed"}</small>' if check else "") + "</td>"
            f'<td>{escape(track.run or "")}</td><td class="n">{len(track.iterations)}</td>'
            f'<td class="n">{"" if duration is None else f"{float(duration):.1f}s"}</td>'
            f'<td class="n">${cost:.4f} <span class="costbar" style="width:{round(60 * cost / most)}px"></span></td>'
            f'<td class="n">{(usage.get("input_tokens") or 0):,} / {(usage.get("output_tokens") or 0):,}</td></tr>')
    return ("<table><thead><tr><th>harness</th><th>status</th><th>reason</th><th>run or item</th>"
            "<th>iterations</th><th>time</th><th>cost</th><th>tokens in / out</th></tr></thead><tbody>"
            + "\n".join(rows) + "</tbody></table>")
