"""Option values as users write them, on a command line or in a plan: one parser per kind.

Each parser takes the text (a plan's YAML scalar as its text) and returns the value, or
raises ValueError with a message that names the limit. Counts, amounts and durations are
bounded, so a value that passes can never overflow later (a wait of 1e308 seconds, say).
"""

from __future__ import annotations

from metaharness.duration import parse_duration, shown
from metaharness.schema import MAX_COUNT

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Final

MAX_AMOUNT: Final = 10**9  # dollars: a budget above this is a typing mistake


def duration(text: str) -> float:
    """Seconds: 90, 0.5, 5m, 1h30m (at most a year)."""
    return parse_duration(text)


def positive_duration(text: str) -> float:
    """A limit, where 0 would mean "already over"."""
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError(f"must be more than 0: {text!r}")
    return seconds


def account(text: str) -> str:
    """A name for an account or a budget: letters, digits, '.', '_', '-' (a file name in the tree)."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", text):
        raise ValueError(f"not an account name (letters, digits, '.', '_', '-'; at most 64): {shown(text)}")
    return text


def policy(text: str) -> list[str]:
    """An escalation policy: nudge,restart,stop."""
    from metaharness.escalation import parse_policy

    return parse_policy(text)


def bounded_int(text: str, low: int, high: int, what: str = "an integer") -> int:
    try:
        value = int(text) if len(text) <= 20 else None  # int() of a long digit string is slow
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ValueError(f"not {what} from {low} to {high}: {shown(text)}")
    return value


def positive_int(text: str) -> int:
    """A count: 1 to MAX_COUNT."""
    return bounded_int(text, 1, MAX_COUNT, "a positive integer")


def positive_amount(text: str) -> float:
    """A budget: a number more than 0 and at most MAX_AMOUNT (no nan, no inf)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= MAX_AMOUNT:
        raise ValueError(f"not a number more than 0 and at most {MAX_AMOUNT}: {shown(text)}")
    return value

