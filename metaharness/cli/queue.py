"""mh-queue: add roadmaps to the work queue, list it, and retry or drop items."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from metaharness.cli import common
from metaharness.exits import Exit, MhError

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Sequence

DESCRIPTION = """\
The work queue of .harness/queue/: roadmaps waiting for a worker (pending), being worked
on (claimed, by whom and since when), done, or failed after their last attempt. Workers
claim items with link(2): each item goes to exactly one of them."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (
    Exit.OK, Exit.USAGE, Exit.NOT_FOUND, Exit.BAD_TREE, Exit.SYSTEM, Exit.SOFTWARE,
)
EPILOG = """\
exit status: 0 done, 2 usage (a bad priority, a roadmap mh-spawn would refuse, a bad
item name), 7 no such item, 10 bad tree, 11 system error, 70 internal error.
See mh-queue(1)."""


def build_parser() -> common.Parser:
    p = common.parser("queue", DESCRIPTION, EPILOG)
    sub = common.subcommands(p, "add|ls|retry|drop|reclaim")
    add = sub.add_parser("add", help="queue roadmaps")
    add.add_argument("roadmaps", nargs="+", metavar="ROADMAP")
    add.add_argument("--priority", default="normal", help="high, normal, low, or 0-99 (lower first)")
    add.add_argument("--max-attempts", type=common.positive_int, default=3, metavar="N", help="default 3")
    ls = sub.add_parser("ls", help="list the items by state")
    ls.add_argument("--json", action="store_true", help="one JSON object per item")
    retry = sub.add_parser("retry", help="put a failed or done item back in pending, attempts reset")
    retry.add_argument("item")
    drop = sub.add_parser("drop", help="remove a pending, failed or done item")
    drop.add_argument("item")
    sub.add_parser("reclaim", help="return items whose worker is provably gone to pending")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.run("queue", _queue, argv)


def _queue(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from metaharness import queue
    from metaharness.roadmap import load_roadmap
    from metaharness.tree import find_tree

    if args.action == "add":
        priority = queue.parse_priority(args.priority)
        for roadmap in args.roadmaps:
            load_roadmap(Path(roadmap))  # all or nothing: one refused roadmap queues none
        tree = find_tree(create=True)
        assert tree is not None
        for roadmap in args.roadmaps:
            print(queue.add(tree, Path(roadmap), priority, args.max_attempts))
        return Exit.OK
    tree = find_tree()
    if args.action in ("retry", "drop"):
        queue.validate_item_name(args.item)
        if tree is None:
            raise MhError(f"no such item: {args.item}", Exit.NOT_FOUND)
        queue.operator_move(tree, args.item, args.action)
        return Exit.OK
    if args.action == "reclaim":
        for name in queue.reclaim_stale(tree) if tree else []:
            print(name)
        return Exit.OK
    for item in queue.items(tree) if tree else []:
        if args.json:
            print(json.dumps(item))
        else:
            owner = item.get("owner") or {}
            who = f"{owner.get('worker')}@{owner.get('host')} since {owner.get('claimed')}" if owner else ""
            print("\t".join([item["state"], item["item"], f"attempts={item['attempts']}/{item['max_attempts']}",
                             who or (item.get("last_reason") or "")]).rstrip())
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
