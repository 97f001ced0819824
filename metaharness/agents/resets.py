"""When a rate-limited agent says its limit resets, as epoch seconds.

A rate-limited run's Report carries `retry_at`, the reset the agent stated, as epoch
seconds, and only while it is still ahead: a reset already past (clocks apart) says
nothing about when to retry, so the supervisor backs off instead. The agents state it as
an epoch (Claude Code's rate_limit_event), a delay ("retry in 37.7s", Gemini) or a
wall-clock time to the minute ("try again at 9:25 AM" in local time, Codex; "resets 3pm
(Europe/Paris)", Claude Code); a clock time is taken as the end of that minute, so the
retry never comes before the reset, on the stated date, else the next time that clock
time comes round.
"""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta, timezone, tzinfo

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Final

_RESET_EPOCH: Final = re.compile(r"\|(\d{10})\b")  # Claude: "Claude AI usage limit reached|1767225600"
_RETRY_AFTER: Final = re.compile(r"(?:retry|try again) (?:after|in) (\d+(?:\.\d+)?) ?(ms\b|s\b|sec|seconds)", re.I)
# Codex: "try again at 9:25 AM" today, else "try again at Dec 1st, 2026 9:25 AM"; local time.
_TRY_AGAIN_AT: Final = re.compile(
    r"try again at (?:(?P<month>[A-Z][a-z]{2}) (?P<day>\d{1,2})(?:st|nd|rd|th), (?P<year>\d{4}) )?"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2})\s?(?P<half>[AP]M)\b", re.I)
# Claude Code: "resets 9:25am (UTC)", "resets 3pm (Europe/Paris)", "resets Dec 3, 9am (UTC)", a year if not this one.
_RESETS: Final = re.compile(
    r"resets (?:(?P<month>[A-Z][a-z]{2}) (?P<day>\d{1,2}),(?: (?P<year>\d{4}),)? )?"
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s?(?P<half>[ap]m)\b(?: \((?P<tz>[\w/+-]+)\))?", re.I)
_MONTHS: Final = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
CLOCK_SLACK_SECONDS: Final = 300.0  # a stated clock time this far behind now is today's, already past


def future(epoch: float | None, now: float) -> float | None:
    """`epoch` if it is still ahead of `now`: a reset already past cannot time a retry."""
    return epoch if epoch is not None and epoch > now else None


def stated_reset(text: str, now: float) -> float | None:
    """The reset time `text` states, as epoch seconds still ahead of `now`, else None."""
    if m := _RESET_EPOCH.search(text):
        return future(float(m.group(1)), now)
    if m := _RETRY_AFTER.search(text):
        delay = float(m.group(1)) / (1000 if m.group(2).lower() == "ms" else 1)
        return future(now + delay, now)
    if m := _TRY_AGAIN_AT.search(text) or _RESETS.search(text):
        return future(_clock_time(m, now), now)
    return None


def _clock_time(m: re.Match[str], now: float) -> float | None:
    """The end of the minute a matched wall-clock time names: on its date if it gives one,
    else the next such time (one up to CLOCK_SLACK_SECONDS behind now counts as today's)."""
    named = m.groupdict().get("tz")
    zone = _zone(named)
    if named and zone is None:
        return None  # a zone this machine does not know (no tzdata): guessing could retry hours early
    hour, minute = int(m["hour"]), int(m["minute"] or 0)
    if not (1 <= hour <= 12 and minute < 60):
        return None
    hour = hour % 12 + (12 if m["half"].lower() == "pm" else 0)
    today = datetime.fromtimestamp(now, zone).date()
    if m["month"]:
        if m["month"].lower() not in _MONTHS:
            return None
        try:
            days = [date(int(m["year"] or today.year), _MONTHS.index(m["month"].lower()) + 1, int(m["day"]))]
        except ValueError:
            return None
    else:
        days = [today + timedelta(days=k) for k in (-1, 0, 1)]
    # Both CLIs drop the seconds: the limit has surely reset once that minute is over.
    ends = [_epoch(day, hour, minute, zone) + 60 for day in days]
    return next((end for end in ends if end >= now - CLOCK_SLACK_SECONDS), ends[-1])


def _zone(name: str | None) -> tzinfo | None:
    """The named IANA time zone; None if there is none (the local one) or it is unknown."""
    if not name:
        return None
    if name.upper() in ("UTC", "GMT", "Z"):
        return timezone.utc  # known without tzdata
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _epoch(day: date, hour: int, minute: int, zone: tzinfo | None) -> float:
    if zone is None:  # mktime knows the local zone's daylight saving rules
        return time.mktime((day.year, day.month, day.day, hour, minute, 0, 0, 0, -1))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).timestamp()
