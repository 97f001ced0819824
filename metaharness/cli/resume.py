"""mh-resume: let paused harnesses go on."""

from __future__ import annotations

import sys

from metaharness import values
from metaharness.cli import common
from metaharness.exits import Exit

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Sequence

DESCRIPTION = """\
Lift the pause of each harness (mh-pause): its supervisor starts the next iteration at
once, from where the harness was. Resuming a harness that is not paused changes nothing.
It prints the ids of the harnesses it resumed. --account NAME lifts the usage limit an
agent of that account met (.harness/limits/NAME) before its reset: every harness waiting
on it goes on at once."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (
    Exit.OK, Exit.USAGE, Exit.NOT_FOUND, Exit.NOT_RUNNING, Exit.BAD_TREE, Exit.SYSTEM, Exit.SOFTWARE,
)
EPILOG = """\
exit status: 0 no named harness is held any more, 2 usage, 7 no such harness, 9 a named
harness has already ended, 10 bad tree, 11 system error, 70 internal error.
See mh-resume(1)."""


def build_parser() -> common.Parser:
    p = common.parser("resume", DESCRIPTION, EPILOG)
    p.add_argument("ids", nargs="*", metavar="ID")
    p.add_argument("-a", "--all", action="store_true", help="resume every paused harness")
    p.add_argument("--account", type=common.argtype(values.account), metavar="NAME",
                   help="lift the usage limit of this account now")
    p.add_argument("--grace", type=common.duration, default=common.APPEAR_GRACE_SECONDS, metavar="DUR",
                   help="how long to wait for a named harness to appear (default 10s)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.run("resume", _resume, argv)


def _resume(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from metaharness.cli.pause import live_harnesses
    from metaharness.pausing import request_resume

    if args.account:
        from metaharness import limits
        from metaharness.tree import find_tree

        tree = find_tree()
        if tree is not None and limits.lift(tree, args.account):
            print(args.account)
        if not args.ids and not args.all:
            return Exit.OK
    for view in live_harnesses("resume", args.ids, args.all, args.grace):
        if request_resume(view.dir, view.instance):
            print(view.id)
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
