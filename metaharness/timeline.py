"""What happened to each harness, in time, and its picture: an SVG timeline.

A Track is one harness instance as its files tell it: events.jsonl (iterations started
and ended, rate-limit waits, stalls, messages, checks, pauses, the end), each iteration's
meta.json (failed, cut short, rate-limited) and result.json. The SVG has a row per track
on a time axis in local time, with the date where a day starts: iterations as bars
coloured by outcome, waits and pauses as pale bars, stalls, messages and checks as marks,
and the end as a flag. Every mark has a <title>, so a browser shows what it was.
"""

from __future__ import annotations

import json
import time
from html import escape
from pathlib import Path

from metaharness.records import field, typed_record

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any, Final

COLOURS: Final = {"ok": "#2e7d32", "failed": "#c62828", "cut": "#757575", "rate_limited": "#ef6c00",
                  "running": "#1565c0", "wait": "#ffcc80", "pause": "#cfd8dc", "stall": "#b71c1c",
                  "message": "#1565c0", "verify_passed": "#2e7d32", "verify_failed": "#c62828"}
END_COLOURS: Final = {"completed": "#2e7d32", "failed": "#c62828", "incomplete": "#f9a825", "blocked": "#6a1b9a",
                      "stopped": "#757575", "timeout": "#ef6c00", "interrupted": "#757575", "dead": "#000000"}
LABEL_WIDTH, ROW_HEIGHT, AXIS_HEIGHT, PLOT_WIDTH = 150, 24, 34, 900
_STEPS: Final = (1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)


@typed_record
class Track:
    label: str  # the harness id (and instance, for an archived one)
    status: str
    run: str | None
    started: float | None = None
    ended: float | None = None
    iterations: list[tuple[float, float, str, str]] = field(default_factory=list)  # start, end, outcome, summary
    spans: list[tuple[float, float, str, str]] = field(default_factory=list)  # waits and pauses: start, end, kind, what
    marks: list[tuple[float, str, str]] = field(default_factory=list)  # time, kind, what
    result: dict[str, Any] = field(default_factory=dict)


def epoch(stamp: str) -> float:
    from metaharness.tree import parse_iso

    return parse_iso(stamp)


def read_track(directory: Path, label: str, now: float) -> Track:
    """A harness directory (live, ended or archived) as a Track."""
    from metaharness.events import parse_line
    from metaharness.harness import inspect

    view = inspect(directory)
    track = Track(label, view.status.value, view.spec.get("run"), result=view.result or {})
    open_iteration: tuple[float, int] | None = None
    paused_at: float | None = None
    try:
        lines = (directory / "events.jsonl").read_bytes().splitlines()
    except OSError:
        lines = []
    for line in lines:
        event = parse_line(line)
        if event is None or not isinstance(event.get("t"), str):
            continue
        try:
            t = epoch(event["t"])
        except ValueError:
            continue
        kind = event["event"]
        if kind == "started" and track.started is None:
            track.started = t
        elif kind == "iteration_started":
            open_iteration = (t, int(event.get("iteration") or 0))
        elif kind in ("iteration_ended", "iteration_failed") and open_iteration is not None:
            start, n = open_iteration
            track.iterations.append((start, t, _outcome(directory, n, event), f"iteration {n}: {event.get('summary') or event.get('reason') or ''}"))
            open_iteration = None
        elif kind == "rate_limited":
            track.spans.append((t, t + float(event.get("wait_s") or 0), "wait", f"rate-limited: waiting {event.get('wait_s')}s"))
        elif kind == "paused":
            paused_at = t
        elif kind == "resumed" and paused_at is not None:
            track.spans.append((paused_at, t, "pause", "paused"))
            paused_at = None
        elif kind == "stalled":
            track.marks.append((t, "stall", f"stalled after {event.get('silent_s')}s silent: {event.get('action')}"))
        elif kind == "message_taken":
            track.marks.append((t, "message", f"message from {event.get('sender')}"))
        elif kind in ("verify_passed", "verify_failed"):
            if kind == "verify_failed":  # a refused claim: the iteration that made it did not end well
                claimed = f"iteration {event.get('iteration')}:"
                track.iterations = [(a, b, "failed", f"{what}; the check refused its claim") if what.startswith(claimed)
                                    else (a, b, o, what) for a, b, o, what in track.iterations]
            track.marks.append((t, kind, f"check {'passed' if kind == 'verify_passed' else 'failed'} "
                                         f"(exit {event.get('exit_code')}, {event.get('duration_s')}s)"))
        elif kind == "ended":
            track.ended = t
    if open_iteration is not None:  # still running (or its supervisor died mid-iteration)
        start, n = open_iteration
        end = track.ended or now
        track.iterations.append((start, end, "running" if track.ended is None else "cut", f"iteration {n}"))
    if paused_at is not None:
        track.spans.append((paused_at, track.ended or now, "pause", "paused"))
    return track


def _outcome(directory: Path, n: int, event: dict[str, Any]) -> str:
    try:
        meta = json.loads((directory / "iterations" / f"{n:04d}" / "meta.json").read_text())
    except (OSError, ValueError):
        meta = {}
    if meta.get("rate_limited"):
        return "rate_limited"
    if meta.get("cut_short"):
        return "cut"
    return "failed" if event.get("failed", True) else "ok"


def svg(tracks: list[Track], now: float) -> str:
    """The timeline of `tracks` as a standalone SVG document."""
    times = [t for tr in tracks for t in _times(tr)] or [now]
    first, last = min(times), max(times)
    last = max(last, first + 1)

    def x(t: float) -> float:
        return LABEL_WIDTH + (t - first) / (last - first) * PLOT_WIDTH

    height = AXIS_HEIGHT + ROW_HEIGHT * max(1, len(tracks)) + 10
    width = LABEL_WIDTH + PLOT_WIDTH + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'font-family="sans-serif" font-size="11" role="img" aria-label="timeline of {len(tracks)} harnesses">']
    out += _axis(first, last, x, height)
    for row, track in enumerate(tracks):
        top = AXIS_HEIGHT + row * ROW_HEIGHT
        out.append(f'<g class="track" data-harness="{escape(track.label)}">')
        out.append(f'<text x="4" y="{top + 15}">{escape(_short(track.label, 22))}<title>{escape(track.label)}: '
                   f'{escape(track.status)}</title></text>')
        for start, end, kind, what in track.spans:
            out.append(_bar(x(start), x(end), top + 3, ROW_HEIGHT - 6, COLOURS[kind], f"{track.label}: {what}", 0.8))
        for start, end, outcome, what in track.iterations:
            out.append(_bar(x(start), x(end), top + 6, ROW_HEIGHT - 12, COLOURS[outcome],
                            f"{track.label}, {what} ({outcome}, {end - start:.1f}s)", 1))
        for t, kind, what in track.marks:
            out.append(_mark(x(t), top, kind, f"{track.label}: {what} at {_clock(t)}"))
        if track.ended is not None:
            colour = END_COLOURS.get(track.status, "#000000")
            reason = track.result.get("reason") or ""
            out.append(f'<path d="M{x(track.ended):.1f},{top + 3} v{ROW_HEIGHT - 6} M{x(track.ended):.1f},{top + 3} '
                       f'l8,3 l-8,3" stroke="{colour}" fill="{colour}" stroke-width="1.5" class="end">'
                       f'<title>{escape(f"{track.label}: {track.status} at {_clock(track.ended)}: {reason}")}</title></path>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def _times(track: Track) -> list[float]:
    found = [t for t in (track.started, track.ended) if t is not None]
    found += [t for start, end, *_ in track.iterations + track.spans for t in (start, end)]
    return found + [t for t, *_ in track.marks]


def _axis(first: float, last: float, x: Any, height: int) -> list[str]:
    step = next((s for s in _STEPS if (last - first) / s <= 10), _STEPS[-1])
    tick = (first // step + 1) * step if step < 3600 else _local_round_up(first, step)
    out, day = [], None
    while tick <= last:
        moment = time.localtime(tick)
        label = time.strftime("%H:%M:%S" if step < 60 else "%H:%M", moment)
        if moment.tm_yday != day:  # the date where a day starts, and on the first tick
            label = time.strftime("%Y-%m-%d ", moment) + label
            day = moment.tm_yday
        out.append(f'<line x1="{x(tick):.1f}" y1="{AXIS_HEIGHT - 6}" x2="{x(tick):.1f}" y2="{height - 10}" '
                   f'stroke="#e0e0e0"/><text x="{x(tick):.1f}" y="{AXIS_HEIGHT - 10}" text-anchor="middle">'
                   f'{label}</text>')
        tick += step
    return out


def _local_round_up(t: float, step: int) -> float:
    """The first whole `step` of local time after `t` (hours and days start at local midnight)."""
    start = time.localtime(t)
    midnight = time.mktime((start.tm_year, start.tm_mon, start.tm_mday, 0, 0, 0, 0, 0, -1))
    return midnight + ((t - midnight) // step + 1) * step


def _bar(x1: float, x2: float, y: float, h: float, colour: str, what: str, opacity: float) -> str:
    return (f'<rect x="{x1:.1f}" y="{y:.1f}" width="{max(1.0, x2 - x1):.1f}" height="{h:.1f}" fill="{colour}" '
            f'fill-opacity="{opacity}"><title>{escape(what)}</title></rect>')


def _mark(x: float, top: float, kind: str, what: str) -> str:
    colour, title = COLOURS[kind], f"<title>{escape(what)}</title>"
    if kind == "stall":
        return f'<path d="M{x:.1f},{top + 2} l4,6 h-8 z" fill="{colour}" class="stall">{title}</path>'
    if kind == "message":
        return f'<circle cx="{x:.1f}" cy="{top + ROW_HEIGHT - 4}" r="3" fill="{colour}" class="message">{title}</circle>'
    return (f'<path d="M{x:.1f},{top + 4} l4,4 l-4,4 l-4,-4 z" fill="{colour}" stroke="#ffffff" stroke-width="0.5" '
            f'class="{kind}">{title}</path>')


def _clock(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
