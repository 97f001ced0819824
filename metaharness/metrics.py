"""mh-status --prometheus: the tree as metrics in the Prometheus text exposition format
(version 0.0.4), for node_exporter's textfile collector or any scraper of a file.

Every family has HELP and TYPE lines; counters end in _total; label values are escaped
(backslash, double quote, newline). Per harness: iterations, cost, tokens by direction,
stalls, heartbeat age (live ones); for the tree: harnesses by status, queue items by
state, usage limits that hold, budgets and what they spent. Drawn from the Overview that
mh-status prints (overview.py); stalls are counted from each harness's events.jsonl.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Iterable

    from metaharness.overview import Overview

    Sample = tuple[dict[str, str], float]


def exposition(seen: Overview, tree: Path | str | None) -> str:
    from metaharness.statuses import Status

    records = seen.records
    counts = {status.value: 0 for status in Status}  # every status, 0 included: a series that vanishes is not 0
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    out: list[str] = []

    def family(name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(f"{name}{_labels(labels)} {_number(value)}" for labels, value in samples)

    family("mh_harnesses", "gauge", "Harnesses in the tree, by status.",
           (({"status": s}, n) for s, n in counts.items()))
    family("mh_iterations_total", "counter", "Iterations a harness has run.",
           (({"harness": r["id"]}, r["iteration"] or 0) for r in records))
    family("mh_cost_usd_total", "counter", "What a harness's agent has cost, in US dollars (part may be estimated).",
           (({"harness": r["id"]}, (r["usage"] or {}).get("cost_usd", 0)) for r in records))
    family("mh_tokens_total", "counter", "Tokens a harness's agent has used, by direction.",
           (({"harness": r["id"], "direction": d}, (r["usage"] or {}).get(f"{d}_tokens", 0))
            for r in records for d in ("input", "output")))
    family("mh_stalls_total", "counter", "Times a harness's agent was found stalled.",
           (({"harness": r["id"]}, _stalls(tree, r["id"])) for r in records))
    family("mh_heartbeat_age_seconds", "gauge", "Seconds since a live harness's supervisor last beat.",
           (({"harness": r["id"]}, r["heartbeat_age_s"]) for r in records if r["heartbeat_age_s"] is not None))
    if seen.queue is not None:
        family("mh_queue_items", "gauge", "Work queue items, by state.",
               (({"state": state}, n) for state, n in seen.queue.items()))
    family("mh_account_limited_until_seconds", "gauge",
           "Until when (Unix time) a usage limit holds an account's harnesses.",
           (({"account": limit["account"]}, limit["until"]) for limit in seen.limits))
    budgets = seen.budgets
    family("mh_budget_usd", "gauge", "A budget's cap in US dollars.",
           (({"budget": b["name"]}, b["usd"]) for b in budgets if b.get("usd") is not None))
    family("mh_budget_spent_usd", "gauge", "What a budget's harnesses have spent, in US dollars (today's, if daily).",
           (({"budget": b["name"]}, b["spent_usd"]) for b in budgets))
    family("mh_budget_tokens", "gauge", "A budget's cap in tokens.",
           (({"budget": b["name"]}, b["tokens"]) for b in budgets if b.get("tokens") is not None))
    family("mh_budget_spent_tokens", "gauge", "Tokens a budget's harnesses have used (today's, if daily).",
           (({"budget": b["name"]}, b["spent_tokens"]) for b in budgets))
    return "\n".join(out) + "\n"


def _stalls(tree: Path | str | None, harness_id: str) -> int:
    from metaharness.events import parse_line

    if tree is None:
        return 0
    try:
        with open(os.path.join(tree, harness_id, "events.jsonl"), "rb") as f:
            return sum(1 for line in f if b'"stalled"' in line and (parse_line(line) or {}).get("event") == "stalled")
    except OSError:
        return 0


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    escaped = (f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34)).replace(chr(10), chr(92) + "n")}"'
               for k, v in labels.items())
    return "{" + ",".join(escaped) + "}"


def _number(value: Any) -> str:
    number = float(value or 0)
    return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)
