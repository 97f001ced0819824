"""Durations as users write them: plain seconds (`90`, `0.5`) or units (`5m`, `1h30m`).

Every duration is at most MAX_SECONDS, a year: longer means "never" for a harness, and
the waits built from a duration (a thread's Event, a select, a queue) refuse anything
beyond about 292 years with an OverflowError, so 1e308 must be refused here, as usage.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Final

MAX_SECONDS: Final = 365 * 86400.0  # a year
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART: Final = r"(\d+(?:\.\d+)?)(ms|s|m|h|d)"  # compiled when a duration has units: re costs a start 2 ms


def parse_duration(text: str) -> float:
    """Return seconds for `text`; raise ValueError for anything else (negatives included)."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        import re

        parts = re.findall(_PART, text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"not a duration: {shown(text)} (try 90, 0.5, 5m, 2h, 1h30m)") from None
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    if not 0 <= seconds <= MAX_SECONDS:  # also rejects nan and inf
        raise ValueError(f"not a duration: {shown(text)} (must be from 0 to a year, {MAX_SECONDS / 86400:.0f}d)")
    return seconds


def shown(text: str) -> str:
    """A value a user gave, quoted and cut short for a one-line error."""
    return repr(text if len(text) <= 40 else text[:40] + "...")


def format_age(seconds: float | None) -> str:
    """Render an age compactly for tables: 4s, 3m12s, 2h05m, 3d04h."""
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
