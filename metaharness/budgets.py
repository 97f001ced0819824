"""Named budgets that any number of harnesses share: `.harness/budgets/<name>/`.

`budget.json` holds the caps (`usd`, `tokens`, either or both; `daily`: the caps are per
UTC day). What each harness spent is in a file of its own, `spent/<day>/<id>.<instance>`,
which only its supervisor writes (its usage since it started, rewritten atomically after
every iteration), so supervisors on any number of hosts never contend for a lock and no
update is lost: the spend of a budget is the sum of its files (today's, if `daily`).
Before each iteration a supervisor looks at every budget it belongs to (--budget-group) and
ends `incomplete` once one is spent. Harnesses running side by side may each finish the
iteration in flight, so a budget can be overrun by at most one iteration per harness.
See mh-budget(1) and mh-harness(7).
"""

from __future__ import annotations

import os
import time

from metaharness.tree import read_json, write_json

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any


def budgets_dir(tree: Path | str) -> str:
    return os.path.join(tree, "budgets")


def set_budget(tree: Path | str, name: str, usd: float | None, tokens: int | None, daily: bool) -> None:
    directory = os.path.join(budgets_dir(tree), name)
    os.makedirs(os.path.join(directory, "spent"), exist_ok=True)
    write_json(os.path.join(directory, "budget.json"), {"name": name, "usd": usd, "tokens": tokens, "daily": daily})


def remove(tree: Path | str, name: str) -> bool:
    import shutil

    directory = os.path.join(budgets_dir(tree), name)
    if not os.path.isfile(os.path.join(directory, "budget.json")):
        return False
    shutil.rmtree(directory)
    return True


def _day(now: float | None = None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() if now is None else now))


def describe(tree: Path | str, name: str) -> dict[str, Any] | None:
    """The budget's caps and what has been spent against them (today's, if daily)."""
    directory = os.path.join(budgets_dir(tree), name)
    try:
        budget = read_json(os.path.join(directory, "budget.json"))
    except (OSError, ValueError):
        return None
    spent = {"usd": 0.0, "tokens": 0}
    days = [_day()] if budget.get("daily") else _listing(os.path.join(directory, "spent"))
    for day in days:
        for entry in _listing(os.path.join(directory, "spent", day)):
            try:
                record = read_json(os.path.join(directory, "spent", day, entry))
                spent["usd"] += float(record.get("usd") or 0)
                spent["tokens"] += int(record.get("tokens") or 0)
            except (OSError, ValueError, TypeError):
                continue  # a file being replaced, or garbage: not a spend to count
    return {**budget, "spent_usd": round(spent["usd"], 6), "spent_tokens": spent["tokens"]}


def describe_spending(budget: dict[str, Any]) -> str:
    """$0.4200 of $20, 812000 of 5000000 tokens today"""
    caps = []
    if budget.get("usd") is not None:
        caps.append(f"${budget['spent_usd']:.4f} of ${budget['usd']:g}")
    if budget.get("tokens") is not None:
        caps.append(f"{budget['spent_tokens']} of {budget['tokens']} tokens")
    return ", ".join(caps) + (" today" if budget.get("daily") else "")


def listing(tree: Path | str) -> list[dict[str, Any]]:
    return [b for name in _listing(budgets_dir(tree)) if (b := describe(tree, name)) is not None]


def _listing(directory: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(directory) if not n.startswith("."))
    except OSError:
        return []


def exhausted(tree: Path | str, names: tuple[str, ...]) -> str | None:
    """Why the first of these budgets is spent (or gone), else None."""
    for name in names:
        budget = describe(tree, name)
        if budget is None:
            return f"budget {name} does not exist"
        if budget.get("usd") is not None and budget["spent_usd"] >= budget["usd"]:
            return f"budget {name} spent: ${budget['spent_usd']:.4f} of ${budget['usd']:g}"
        if budget.get("tokens") is not None and budget["spent_tokens"] >= budget["tokens"]:
            return f"budget {name} spent: {budget['spent_tokens']} of {budget['tokens']} tokens"
    return None


class Spender:
    """One harness's side of its budgets: spent or not, and its own spend written down."""

    def __init__(self, tree: Path | str, names: tuple[str, ...], harness: str, instance: str) -> None:
        self._tree, self._names, self._file = tree, names, f"{harness}.{instance}"
        self._day = _day()
        self._before_today = self._last = (0.0, 0)  # this harness's totals at the day's start, and now

    def exhausted(self) -> str | None:
        return exhausted(self._tree, self._names) if self._names else None

    def left_usd(self) -> float | None:
        """The least of what is left in its budgets with a USD cap (None if none has one):
        Claude Code is told this with --max-budget-usd, so one iteration cannot cross a cap."""
        left = [max(0.0, b["usd"] - b["spent_usd"]) for name in self._names
                if (b := describe(self._tree, name)) is not None and b.get("usd") is not None]
        return min(left) if left else None

    def record(self, usage: dict[str, Any]) -> None:
        """After an iteration: this harness's usage (its totals so far) in each budget's file."""
        if not self._names:
            return
        totals = (float(usage.get("cost_usd") or 0), int(usage.get("input_tokens") or 0)
                  + int(usage.get("output_tokens") or 0))
        if _day() != self._day:  # a new UTC day: what came before counts for the old one
            self._day, self._before_today = _day(), self._last
        self._last = totals
        usd, tokens = totals[0] - self._before_today[0], totals[1] - self._before_today[1]
        for name in self._names:
            directory = os.path.join(budgets_dir(self._tree), name, "spent", self._day)
            os.makedirs(directory, exist_ok=True)
            write_json(os.path.join(directory, self._file), {"usd": round(usd, 6), "tokens": tokens})
