"""mh-pause: hold harnesses between iterations until mh-resume."""

from __future__ import annotations

import sys

from metaharness.cli import common
from metaharness.exits import Exit, MhError

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Sequence

DESCRIPTION = """\
Ask each harness to pause: its supervisor lets the running iteration finish (with --now,
ends it at once; it then counts as neither success nor failure) and holds the harness,
status `paused`, until mh-resume. A paused harness keeps its lock and heartbeat, runs no
agent and no stall timer; mh-wait keeps waiting for it; mh-stop still stops it. A
harness named but not yet there is waited for (--grace)."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (
    Exit.OK, Exit.USAGE, Exit.NOT_FOUND, Exit.NOT_RUNNING, Exit.BAD_TREE, Exit.SYSTEM, Exit.SOFTWARE,
    Exit.TIMEOUT,
)
EPILOG = """\
exit status: 0 asked (with --wait: every one is paused), 2 usage, 7 no such harness,
9 a named harness has already ended, 10 bad tree, 11 system error, 70 internal error,
124 --timeout passed (--wait). See mh-pause(1)."""


def build_parser() -> common.Parser:
    p = common.parser("pause", DESCRIPTION, EPILOG)
    p.add_argument("ids", nargs="*", metavar="ID")
    p.add_argument("-a", "--all", action="store_true", help="pause every running harness")
    p.add_argument("--now", action="store_true", help="end the running iteration instead of letting it finish")
    p.add_argument("-w", "--wait", action="store_true", help="return once every one is paused (or has ended)")
    p.add_argument("-t", "--timeout", type=common.duration, metavar="DUR", help="stop waiting after DUR (exit 124)")
    p.add_argument("--grace", type=common.duration, default=common.APPEAR_GRACE_SECONDS, metavar="DUR",
                   help="how long to wait for a named harness to appear (default 10s)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.run("pause", _pause, argv)


def _pause(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from metaharness.inbox import default_sender
    from metaharness.pausing import request_pause

    directories = live_harnesses("pause", args.ids, args.all, args.grace)
    sender = default_sender()
    for view in directories:
        request_pause(view.dir, view.instance, sender, args.now)
    if args.wait and directories and not _await_paused([v.dir for v in directories], args.timeout):
        raise MhError(f"timed out waiting for {', '.join(v.id for v in directories)} to pause", Exit.TIMEOUT)
    return Exit.OK


def live_harnesses(verb: str, ids: list[str], every: bool, grace: float) -> list:  # type: ignore[type-arg]
    """The Views of the named harnesses (waiting `grace` for them to appear), or with
    `every` of all live ones; a named one that has ended is a NOT_RUNNING error."""
    import time

    from metaharness import harness
    from metaharness.statuses import Status
    from metaharness.tree import find_tree

    if not ids and not every:
        raise MhError("name at least one harness (or --all)", Exit.USAGE)
    tree = find_tree()
    appear_by = time.monotonic() + grace
    named = [harness.inspect(harness.appeared(tree, i, appear_by)) for i in dict.fromkeys(ids)]
    corrupt = [v for v in named if v.status is Status.CORRUPT]
    if corrupt:
        raise MhError(f"{corrupt[0].id} is corrupt: {corrupt[0].problem}", Exit.BAD_TREE)
    ended = [v for v in named if not v.status.is_live]
    if ended:
        raise MhError(f"{ended[0].id} has already ended ({ended[0].status.value}): nothing to {verb}",
                      Exit.NOT_RUNNING)
    tree = tree or find_tree()
    others = [harness.inspect(tree / i) for i in harness.list_ids(tree) if i not in ids] if every and tree else []
    return named + [v for v in others if v.status.is_live]


def _await_paused(directories: list[Path], timeout: float | None) -> bool:
    """Block (on changes in the tree) until each harness is paused or has ended."""
    from metaharness import harness
    from metaharness.notify import wait_until
    from metaharness.statuses import Status

    def settled() -> bool:
        return all((s := harness.inspect(d).status) is Status.PAUSED or not s.is_live for d in directories)

    return wait_until(settled, directories[0].parent, timeout, recursive=True)


if __name__ == "__main__":
    sys.exit(main())
