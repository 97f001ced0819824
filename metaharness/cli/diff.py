"""mh-diff: what a --worktree harness changed against the commit its branch started from."""

from __future__ import annotations

import sys

from metaharness.cli import common
from metaharness.exits import Exit

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Sequence

DESCRIPTION = """\
Show what harness ID changed in its worktree against the commit its branch mh/ID started
from: committed and uncommitted changes, as a diffstat, or in full with --full."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (
    Exit.OK, Exit.USAGE, Exit.NOT_FOUND, Exit.BAD_TREE, Exit.SYSTEM, Exit.SOFTWARE,
)
EPILOG = """\
exit status: 0 shown, 2 usage (the harness has no worktree), 7 no such harness,
10 bad tree, 11 system error (git failed, or the worktree is gone), 70 internal error.
See mh-diff(1)."""


def build_parser() -> common.Parser:
    p = common.parser("diff", DESCRIPTION, EPILOG)
    p.add_argument("id", metavar="ID")
    p.add_argument("--full", action="store_true", help="the whole diff, not a diffstat")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.run("diff", _diff, argv)


def _diff(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from metaharness import harness, worktree
    from metaharness.exits import MhError
    from metaharness.statuses import Status
    from metaharness.tree import find_tree

    tree = find_tree()
    view = harness.inspect(harness.harness_dir(tree, args.id))
    if view.status is Status.CORRUPT:
        raise MhError(f"harness {args.id} is corrupt: {view.problem}", Exit.BAD_TREE)
    made = view.state.get("worktree")
    if made is None:
        raise MhError(f"{args.id} has no worktree (spawned without --worktree, or not started yet)", Exit.USAGE)
    path = worktree.directory_for(tree, args.id)  # type: ignore[arg-type]
    if not path.is_dir():
        raise MhError(f"the worktree of {args.id} is gone: {path}", Exit.SYSTEM)
    # The base commit as resolved when the worktree was made: the ref may have moved since.
    r = worktree.git(path, "diff", "--no-color", "--patch" if args.full else "--stat", made["base"], "--")
    sys.stdout.flush()
    sys.stdout.buffer.write(r.stdout.encode("utf-8", "surrogateescape"))  # the bytes git wrote, whatever they are
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
