"""mh-wait: block until harnesses end; exit 0 iff all of them completed."""

from __future__ import annotations

import sys

from metaharness.cli import common
from metaharness.exits import Exit, MhError

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Sequence

DESCRIPTION = """\
Wait, without polling, until every named harness has ended (or the first one, with
--any). A harness that does not exist yet is waited for during --grace, so
`mh-spawn a ... & mh-wait a` works."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (
    Exit.OK, Exit.FAILED, Exit.USAGE, Exit.INCOMPLETE, Exit.STOPPED, Exit.DEAD, Exit.BLOCKED,
    Exit.NOT_FOUND, Exit.BAD_TREE, Exit.SYSTEM, Exit.SOFTWARE, Exit.TIMEOUT, Exit.SIGHUP,
    Exit.SIGINT, Exit.SIGTERM,
)
EPILOG = """\
exit status: 0 all completed; otherwise the status of the first harness (in argument
order) that did not complete: 1 failed (with --queue: an item failed), 3 incomplete, 4 stopped, 5 dead, 6 blocked,
124 its timeout, 129/130/143 interrupted; 7 no such harness, 124 --timeout passed
first, 2 usage, 10 bad tree, 11 system error, 70 internal error. See mh-wait(1)."""


def build_parser() -> common.Parser:
    p = common.parser("wait", DESCRIPTION, EPILOG)
    p.add_argument("ids", nargs="*", metavar="ID")
    p.add_argument("-a", "--all", action="store_true", help="wait for every harness in the tree")
    p.add_argument("--any", action="store_true", help="return when the first harness ends, with its status")
    p.add_argument("-t", "--timeout", type=common.duration, metavar="DUR", help="give up after DUR (exit 124)")
    p.add_argument("--grace", type=common.duration, default=common.APPEAR_GRACE_SECONDS, metavar="DUR",
                   help="how long to wait for a harness to appear (default 10s)")
    p.add_argument("--json", action="store_true", help="print one JSON outcome per harness")
    p.add_argument("--queue", action="store_true",
                   help="wait until the work queue is drained; exit 0 iff no item failed")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.exit_at_once(common.run("wait", _wait, argv))


def _wait(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from metaharness.harness import list_ids
    from metaharness.tree import find_tree_dir, locate_tree_dir
    from metaharness.waiter import aggregate_exit, await_all

    tree = find_tree_dir() or locate_tree_dir()
    if args.queue:
        from pathlib import Path

        return _wait_for_queue(Path(tree), args.timeout)
    ids = list(args.ids) + (list_ids(tree) if args.all else [])
    if not ids:
        if args.all:
            return Exit.OK
        raise MhError("name at least one harness (or --all)", Exit.USAGE)
    outcomes, pending = await_all(tree, ids, any_=args.any, timeout=args.timeout, appear_within=args.grace)
    tty = sys.stdout.isatty()
    for harness_id in dict.fromkeys(ids):
        outcome = outcomes.get(harness_id)
        if outcome is None:
            continue
        if args.json:
            from metaharness import jsonio

            print(jsonio.dumps(outcome.as_dict()))
        elif tty:
            print(f"{harness_id}\t{outcome.status.value if outcome.status else 'missing'}\t{outcome.reason}")
    for outcome in outcomes.values():
        if outcome.status is None:
            print(f"mh-wait: error: {outcome.reason}", file=sys.stderr)
    if pending and not (args.any and any(o.status is not None for o in outcomes.values())):
        print(f"mh-wait: error: timed out waiting for {', '.join(pending)}", file=sys.stderr)
        return Exit.TIMEOUT
    if args.any:
        ended = [o for o in outcomes.values() if o.status is not None]
        return (ended or list(outcomes.values()))[0].exit_code
    return aggregate_exit(ids, outcomes)


def _wait_for_queue(tree: Path, timeout: float | None) -> int:
    """Block (on changes under the queue) until nothing is pending or claimed."""
    from metaharness import queue
    from metaharness.notify import wait_until

    q = queue.queue_dir(tree)
    if not q.is_dir():
        return Exit.OK  # no queue at all: nothing to drain
    if not wait_until(lambda: queue.drained(tree), q, timeout, recursive=True):
        print("mh-wait: error: timed out waiting for the queue to drain", file=sys.stderr)
        return Exit.TIMEOUT
    failed = [i["item"] for i in queue.items(tree) if i["state"] == "failed"]
    if failed:
        print(f"mh-wait: error: {len(failed)} queue item(s) failed: {', '.join(failed[:5])}", file=sys.stderr)
        return Exit.FAILED
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
