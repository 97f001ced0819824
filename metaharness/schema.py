"""What the JSON files of the tree hold, as every reader relies on it: one table per file.

spec.json, state.json and result.json are written by metaharness, atomically, but they
are plain files that a hand edit, a disk error or an older or newer writer can leave
holding anything. A reader checks a whole file against its table when it reads it
(harness.inspect, the waiter; artifacts.find for an artifact's metadata) and treats a
file that fails as corrupt, naming the first field that is wrong; so everything a reader
gets from a View has the kind listed here, and no reader guards against the rest. A
top-level field may be absent or null unless it is required; a nested field may be absent
but not null unless it says so. Fields not listed are ignored: a newer writer may add
some. See mh-harness(7).
"""

from __future__ import annotations

import math

from metaharness.duration import MAX_SECONDS
from metaharness.statuses import LIVE_STATUSES, Status

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any, Callable, Final, Mapping

# The most a count (iterations, tokens, turns) or an amount (dollars) may be, in an option
# or a file: more than any harness uses, and exact in a double, as jq holds numbers.
MAX_COUNT: Final = 10**12
MAX_PID: Final = 2**22  # PID_MAX_LIMIT on Linux
MAX_EXIT_CODE: Final = 255

if TYPE_CHECKING:
    # A check returns None if the value is acceptable, else what it should have been.
    Check = Callable[[Any], str | None]


def integer(low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        return None if ok else f"an integer from {low} to {high}"
    return check


def number(low: float, high: float) -> Check:
    def check(value: Any) -> str | None:
        # An int is finite however large (math.isfinite would overflow converting it).
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and (isinstance(value, int) or math.isfinite(value)) and low <= value <= high)
        return None if ok else f"a number from {low:.15g} to {high:.15g}"
    return check


def text(value: Any) -> str | None:
    return None if isinstance(value, str) else "a string"


def name(value: Any) -> str | None:
    """A string handed to the system (a path, a git ref, a host): non-empty, no NUL."""
    return None if isinstance(value, str) and value and "\0" not in value else "a non-empty string without NUL"


def flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def one_of(words: frozenset[str]) -> Check:
    def check(value: Any) -> str | None:
        return None if isinstance(value, str) and value in words else f"one of {', '.join(sorted(words))}"
    return check


def list_of(item: Check, items: str) -> Check:
    def check(value: Any) -> str | None:
        return None if isinstance(value, list) and all(item(v) is None for v in value) else f"a list of {items}"
    return check


def nullable(inner: Check) -> Check:
    def check(value: Any) -> str | None:
        return None if value is None else inner(value)
    return check


class Record:
    """A JSON object: the check for each field it may have, and which it must have."""

    def __init__(self, fields: Mapping[str, Check | Record], required: tuple[str, ...] = (), top: bool = False) -> None:
        self.fields, self.required, self.top = fields, required, top

    def problem(self, record: Any, where: str = "") -> str | None:
        """What is wrong with `record` (`where` names it in the message), or None."""
        if isinstance(record, dict) and self.fits(record):
            return None  # the common case: mh-status checks three files of every harness
        return self.first_problem(record, where)

    def fits(self, record: dict[str, Any]) -> bool:
        """Whether `record` holds nothing wrong: what problem() says, found faster, by
        walking the record's fields (fewer than the table's) and making no message."""
        for key in self.required:
            if record.get(key) is None:
                return False
        fields, lenient = self.fields, self.top
        for key, value in record.items():
            check = fields.get(key)
            if check is None or (value is None and lenient):
                continue
            if isinstance(check, Record):
                if not (isinstance(value, dict) and check.fits(value)):
                    return False
            elif check(value) is not None:
                return False
        return True

    def first_problem(self, record: Any, where: str = "") -> str | None:
        """The first thing wrong with `record`, in the table's order, or None."""
        if not isinstance(record, dict):
            return f"{where.removesuffix('.') or 'it'} should be an object, not {_shown(record)}"
        for key in self.required:
            if record.get(key) is None:
                return f"{where}{key} is missing"
        for key, check in self.fields.items():
            if key not in record or (self.top and record[key] is None and key not in self.required):
                continue
            value = record[key]
            if isinstance(check, Record):
                found = check.first_problem(value, f"{where}{key}.")
                if found:
                    return found
            elif (expected := check(value)) is not None:
                return f"{where}{key} should be {expected}, not {_shown(value)}"
        return None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


COUNT: Final = integer(0, MAX_COUNT)
POSITIVE: Final = integer(1, MAX_COUNT)
AMOUNT: Final = number(0, MAX_COUNT)  # dollars, tokens, turns: what usage sums
SECONDS: Final = number(0, MAX_SECONDS)  # a duration the user gave: bounded like the options
PID: Final = integer(1, MAX_PID)

PROGRESS: Final = Record({"done": COUNT, "total": COUNT})
USAGE: Final = Record({k: AMOUNT for k in ("turns", "input_tokens", "output_tokens", "cost_usd", "estimated_cost_usd",
                                            "tool_calls")})
CHECK: Final = Record({"command": text, "iteration": COUNT, "exit_code": nullable(integer(-255, MAX_EXIT_CODE)),
                       "passed": flag, "duration_s": AMOUNT, "ended_by": nullable(text), "output": name, "tail": text})

_WRITTEN: Final = frozenset(s.value for s in Status if s not in (Status.DEAD, Status.CORRUPT))
_TERMINAL: Final = _WRITTEN - {s.value for s in LIVE_STATUSES}

SPEC: Final = Record({
    "format": COUNT, "id": name, "instance": name, "created": text, "roadmap": name, "run": name,
    "after": list_of(name, "ids"), "agent": name, "agent_cmd": text, "workdir": name,
    "worktree": Record({"repo": name, "base": name}), "model": text, "max_turns": POSITIVE,
    "allowed_tools": text, "permission_mode": text, "agent_args": list_of(text, "strings"), "resume_session": flag,
    "account": name, "budget_usd": AMOUNT, "budget_groups": list_of(name, "budget names"), "budget_tokens": POSITIVE, "rate_limit_backoff": SECONDS, "stall_after": SECONDS,
    "on_stall": list_of(text, "actions"), "loop_after": POSITIVE, "on_loop": list_of(text, "actions"), "result_grace": SECONDS,
    "hook_timeout": SECONDS, "max_iterations": POSITIVE, "max_failures": POSITIVE, "timeout": SECONDS,
    "iteration_timeout": SECONDS, "backoff": SECONDS, "grace": SECONDS, "heartbeat_interval": SECONDS,
    "prompt_template": name, "verify": text, "verify_timeout": SECONDS, "sandbox": one_of(frozenset({"bwrap"})),
    "sandbox_net": one_of(frozenset({"on", "off"})),
}, top=True)

STATE: Final = Record({
    "status": one_of(_WRITTEN), "id": name, "instance": name, "pid": PID, "pid_start": COUNT, "host": text,
    "started": text, "updated": text, "iteration": COUNT, "progress": PROGRESS, "task": text,
    "heartbeat_interval": SECONDS, "agent_pid": PID, "usage": USAGE, "last_tool": text, "last_outcome": text,
    "last_progress": text, "waiting_for": text, "next_attempt": text, "stalled_since": text, "looping": text,
    "reason": text, "model": text, "session_id": text, "check": CHECK, "answer": name,
    "worktree": Record({"path": name, "branch": name, "base": name}, required=("path", "base")),
}, required=("status",), top=True)

ARTIFACT: Final = Record({  # shared/artifacts/<publisher>/<name>/NNNN.json
    "publisher": name, "name": name, "version": POSITIVE, "size": integer(0, 2**63), "sha256": text,
    "published": text, "source": text,
}, required=("publisher", "name", "version", "size", "sha256", "published", "source"))

RESULT: Final = Record({
    "status": one_of(_TERMINAL), "id": name, "instance": name, "exit_code": integer(0, MAX_EXIT_CODE),
    "reason": text, "iterations": COUNT, "progress": PROGRESS, "started": text, "ended": text, "usage": USAGE,
    "duration_s": AMOUNT, "check": CHECK,
    "final_answer": Record({"text": text, "chars": COUNT, "cut": flag, "path": name}),
    "worktree": Record({"path": name, "branch": name, "base": name, "head": nullable(text), "ahead": COUNT,
                        "files_changed": COUNT, "dirty": flag, "error": text}),
}, required=("status",), top=True)
