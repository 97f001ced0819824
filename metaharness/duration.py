"""Durations as users write them: plain seconds (`90`, `0.5`) or units (`5m`, `1h30m`)."""

from __future__ import annotations

import re
from typing import Final

_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str) -> float:
    """Return seconds for `text`; raise ValueError for anything else (negatives included)."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        parts = _PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"not a duration: {text!r} (try 90, 0.5, 5m, 2h, 1h30m)") from None
        return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    if not seconds >= 0 or seconds == float("inf"):  # also rejects nan
        raise ValueError(f"not a duration: {text!r} (must be a finite number >= 0)")
    return seconds


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
