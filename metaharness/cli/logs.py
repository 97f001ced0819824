"""mh-logs: show (or follow) what a harness's agent said, in readable form."""

from __future__ import annotations

import sys
from typing import Sequence

from metaharness.cli import common
from metaharness.status import Exit

DESCRIPTION = """\
Print the log of harness ID: the supervisor's own lines (starting with ---) and the
agent's output, rendered readable for the JSON-speaking CLIs (-> tool call, <- tool
result, == result). With --iteration N, only that iteration's agent output. With -f,
keep printing until the harness ends."""

EPILOG = """\
exit status: 0 shown, 2 usage, 7 no such harness (or no such iteration), 10 bad tree,
11 system error, 70 internal error, 130 interrupted (Ctrl+C while following).
See mh-logs(1)."""


def build_parser() -> common.Parser:
    p = common.parser("logs", DESCRIPTION, EPILOG)
    p.add_argument("id", metavar="ID")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until the harness ends")
    p.add_argument("--iteration", type=common.positive_int, metavar="N", help="only iteration N's agent output")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.run("logs", _logs, argv)


def _logs(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from metaharness.follow import follow_lines
    from metaharness.harness import harness_dir
    from metaharness.liveness import lock_is_held
    from metaharness.status import MhError
    from metaharness.tree import find_tree

    directory = harness_dir(find_tree(), args.id)
    path = directory / "log"
    if args.iteration:
        path = directory / "iterations" / f"{args.iteration:04d}" / "transcript"
        if not path.exists() and args.follow:
            from metaharness.watch import wait_until

            # An iteration still to come: wait for it, or for the harness to end without it.
            wait_until(lambda: path.exists() or not lock_is_held(directory / "lock"), directory, None, recursive=True)
        if not path.exists():
            raise MhError(f"harness {args.id} has no iteration {args.iteration}", Exit.NO_SUCH_HARNESS)
    for line in follow_lines(path, directory, args.follow):
        print(line, flush=args.follow)
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
