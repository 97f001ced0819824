"""mh-report: a self-contained HTML report (or the SVG timeline alone) of the harnesses."""

from __future__ import annotations

import sys

from metaharness.cli import common
from metaharness.exits import Exit, MhError

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Sequence

DESCRIPTION = """\
Write one self-contained HTML file about the harnesses of the tree: how many ended how, a
timeline of every harness (its iterations as bars coloured by outcome, rate-limit waits,
pauses, stalls, messages, checks and its end), and a table of outcomes with their reasons,
cost and tokens, and the run or queue item each belonged to. Inline CSS and SVG: it needs
no network and prints. --svg writes the timeline alone."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (Exit.OK, Exit.USAGE, Exit.NOT_FOUND, Exit.BAD_TREE, Exit.SYSTEM, Exit.SOFTWARE)
EPILOG = """\
exit status: 0 written, 2 usage, 7 no tree or no such run, 10 bad tree, 11 system error (cannot write),
70 internal error. See mh-report(1)."""


def build_parser() -> common.Parser:
    p = common.parser("report", DESCRIPTION, EPILOG)
    p.add_argument("-o", "--output", metavar="FILE", help="the HTML report (default: report.html; - for stdout)")
    p.add_argument("--svg", metavar="FILE", help="the timeline alone, as SVG (- for stdout)")
    p.add_argument("--run", metavar="RUN-ID", help="only the harnesses of this mh-run run")
    p.add_argument("--archived", action="store_true", help="also the instances replaced by a later spawn")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.run("report", _report, argv)


def _report(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    import time

    from metaharness import report, timeline
    from metaharness.tree import find_tree, validate_id

    if args.run is not None:
        validate_id(args.run)
    tree = find_tree()
    if tree is None:
        raise MhError("no .harness tree here or above: nothing to report", Exit.NOT_FOUND)
    now = time.time()
    found, record = report.tracks(tree, args.run, args.archived, now)
    outputs = [(args.svg, timeline.svg(found, now))] if args.svg else []
    if args.output or not args.svg:
        outputs.append((args.output or "report.html", report.html(tree, found, record, now)))
    for path, text in outputs:
        _write(path, text)
    return Exit.OK


def _write(path: str, text: str) -> None:
    if path == "-":
        sys.stdout.write(text)
        return
    import os

    from metaharness.tree import atomic_write

    try:
        atomic_write(path, text)  # a file for people: the user's umask, not the private tree's
        os.chmod(path, 0o666 & ~int(os.environ.get("MH_USER_UMASK", "022"), 8))
    except OSError as e:
        raise MhError(f"cannot write {path}: {e.strerror}", Exit.SYSTEM) from None
    print(path)


if __name__ == "__main__":
    sys.exit(main())
