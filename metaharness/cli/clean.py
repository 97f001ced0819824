"""mh-clean: remove ended harnesses and their worktrees and branches, never unmerged work."""

from __future__ import annotations

import sys
from pathlib import Path

from metaharness.cli import common
from metaharness.exits import Exit, MhError

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Sequence

DESCRIPTION = """\
Remove each harness ID that has ended: its directory, its archived instances, its worktree
.harness-worktrees/ID and its branch mh/ID. With no ID, every ended harness, and every
worktree whose harness is gone. An ID whose worktree has uncommitted changes, or whose
branch has commits on no other branch, is refused (nothing of it is removed) unless
--force; a live harness is never removed."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (
    Exit.OK, Exit.USAGE, Exit.NOT_FOUND, Exit.BAD_TREE, Exit.SYSTEM, Exit.REFUSED,
    Exit.SOFTWARE,
)
EPILOG = """\
exit status: 0 removed (or nothing to do), 2 usage, 7 no such harness (a named ID has
nothing to remove; nothing was removed), 10 bad tree, 11 system error (git failed),
12 at least one ID was refused (the others were removed), 70 internal error.
See mh-clean(1)."""


def build_parser() -> common.Parser:
    p = common.parser("clean", DESCRIPTION, EPILOG)
    p.add_argument("ids", nargs="*", metavar="ID")
    p.add_argument("-f", "--force", action="store_true",
                   help="remove uncommitted changes and commits on no other branch too")
    p.add_argument("-n", "--dry-run", action="store_true", help="say what would be removed; change nothing")
    p.add_argument("--older-than", type=common.duration, metavar="AGE",
                   help="only harnesses that ended at least AGE ago (5d, 12h); with no ID")
    p.add_argument("--json", action="store_true", help="print one JSON array of what was done")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.run("clean", _clean, argv)


def _clean(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    import json

    from metaharness.clean import Action, clean
    from metaharness.tree import find_tree, validate_id

    ids = [validate_id(i) for i in args.ids]
    if ids and args.older_than is not None:
        raise MhError("--older-than picks the harnesses by age: name none", Exit.USAGE)
    here = Path.cwd()  # now: running inside a worktree being removed, it is gone later
    tree = find_tree()
    if tree is None and ids:
        raise MhError(f"no such harness: {ids[0]}", Exit.NOT_FOUND)
    outcomes = clean(tree, ids or None, force=args.force, dry_run=args.dry_run,
                     older_than=args.older_than) if tree is not None else iter(())
    records, refused = [], False
    try:
        for o in outcomes:
            if o.action is Action.REFUSED:
                refused = True
                print(f"mh-clean: {'would refuse' if args.dry_run else 'refusing'} {o.id}: {o.reason}", file=sys.stderr)
            elif not args.json:
                parts = [f"worktree {_shown(o.worktree, here)}" if o.worktree else None, f"branch {o.branch}" if o.branch else None,
                         "harness directory" if o.directory else None,
                         f"{o.archived} archived instance{'' if o.archived == 1 else 's'}" if o.archived else None]
                verb = "would remove" if args.dry_run else "removed"
                print(f"{verb} {o.id}: {', '.join(p for p in parts if p)}", flush=True)
            records.append({"id": o.id, "action": o.action.value, "reason": o.reason,
                            "worktree": str(o.worktree) if o.worktree else None, "branch": o.branch})
    finally:
        if args.json:  # after a git failure too: what was removed before it must be told
            print("[" + ",\n ".join(json.dumps(r) for r in records) + "]")  # one record per line
    return Exit.REFUSED if refused else Exit.OK


def _shown(path: Path, here: Path) -> str:
    """A path relative to the cwd when it is below it, as the user would type it."""
    return str(path.relative_to(here)) if path.is_relative_to(here) else str(path)


if __name__ == "__main__":
    sys.exit(main())
