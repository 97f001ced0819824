"""mh-events: show (or follow) a harness's event log."""

from __future__ import annotations

import json
import sys
import time

from metaharness.cli import common
from metaharness.exits import Exit, MhError

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any, Sequence

DESCRIPTION = """\
Print the events of harness ID (iterations, tool calls, progress, rate limits, the end)
as lines, or with --json as the JSON objects of its events.jsonl. With -f, keep printing
new events as they are written, until the harness ends."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (
    Exit.OK, Exit.USAGE, Exit.NOT_FOUND, Exit.BAD_TREE, Exit.SYSTEM, Exit.SOFTWARE,
    Exit.SIGINT,
)
EPILOG = """\
exit status: 0 shown, 2 usage, 7 no such harness, 10 bad tree, 11 system error,
70 internal error, 130 interrupted (Ctrl+C while following). See mh-events(1)."""

# Fields every event has, or that the line format shows in its own place.
_SHOWN_APART = ("t", "event", "iteration")


def build_parser() -> common.Parser:
    p = common.parser("events", DESCRIPTION, EPILOG)
    p.add_argument("id", metavar="ID")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new events until the harness ends")
    p.add_argument("--type", action="append", default=[], metavar="TYPE[,TYPE]",
                   help="only events of these types (repeatable)")
    p.add_argument("--since", metavar="DUR|TIME", help="only events of the last DUR (5m), or since an ISO time")
    p.add_argument("--iteration", type=common.positive_int, metavar="N", help="only events of iteration N")
    p.add_argument("--json", action="store_true", help="print the events as JSON, one per line")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.run("events", _events, argv)


def _events(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from metaharness.events import parse_line
    from metaharness.follow import follow_lines
    from metaharness.harness import harness_dir
    from metaharness.tree import find_tree

    directory = harness_dir(find_tree(), args.id)
    types = {t for group in args.type for t in group.split(",") if t}
    since = _since(args.since) if args.since else None
    for line in follow_lines(directory / "events.jsonl", directory, args.follow):
        event = parse_line(line)
        if event is None or not _wanted(event, types, since, args.iteration):
            continue
        print(json.dumps(event) if args.json else format_event(event), flush=args.follow)
    return Exit.OK


def _since(text: str) -> str:
    """An ISO timestamp: given as one, or `text` (a duration) ago."""
    from metaharness.duration import parse_duration
    from metaharness.tree import now_iso, parse_iso

    try:
        return now_iso(time.time() - parse_duration(text))
    except ValueError:
        pass
    try:
        return now_iso(parse_iso(text))
    except (ValueError, OverflowError, OSError):  # OverflowError, OSError: a year gmtime cannot show
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise MhError(f"--since wants a duration (5m, at most a year, 365d) or a UTC time (2026-01-31T12:00:00Z), "
                      f"not {shown!r}", Exit.USAGE) from None


def _wanted(event: dict[str, Any], types: set[str], since: str | None, iteration: int | None) -> bool:
    return ((not types or event.get("event") in types) and (since is None or str(event.get("t", "")) >= since)
            and (iteration is None or event.get("iteration") == iteration))


def format_event(event: dict[str, Any]) -> str:
    """One line: time, iteration, type, then the other fields as key=value."""
    when = str(event.get("t", ""))[11:23]
    where = f"#{event['iteration']}" if event.get("iteration") is not None else "-"
    fields = " ".join(f"{k}={_value(v)}" for k, v in event.items() if k not in _SHOWN_APART and v is not None)
    return f"{when} {where:>4} {event.get('event')} {fields}".rstrip()


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return json.dumps(text) if (" " in text or not text) else text


if __name__ == "__main__":
    sys.exit(main())
