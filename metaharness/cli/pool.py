"""mh-pool: N workers pulling roadmaps from the queue, one supervised harness per item."""

from __future__ import annotations

import sys

from metaharness.cli import common
from metaharness.exits import Exit, MhError

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Sequence

    from metaharness.start import Request

DESCRIPTION = """\
Run N workers over the work queue (mh-queue): each claims an item, runs it as a harness
(mh-spawn, with the agent and limit options given here), settles it as done, retried or
failed, and claims the next. `mh-pool scale N` changes the size of a running pool: new
workers start at once, surplus ones retire after their current item. Ctrl+C interrupts
the running harnesses and puts their items back in pending, untried.

usage: mh-pool [-n N] [--exit-when-empty] [-q] [mh-spawn options: --agent, --agent-cmd,
               --max-iterations, ...]
       mh-pool scale N [--pool POOL-ID]"""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (
    Exit.OK, Exit.FAILED, Exit.USAGE, Exit.NOT_FOUND, Exit.BAD_TREE, Exit.SYSTEM,
    Exit.SOFTWARE, Exit.SIGHUP, Exit.SIGINT, Exit.SIGTERM,
)
EPILOG = """\
exit status: 0 the queue was drained with no failed item (--exit-when-empty) or the
pool was scaled, 1 items failed, 2 usage, 7 no such pool, 10 bad tree, 11 system error,
70 internal error, 129/130/143 interrupted (SIGHUP/SIGINT/SIGTERM). See mh-pool(1)."""


def build_parser() -> common.Parser:
    p = common.parser("pool", DESCRIPTION, EPILOG)
    p.add_argument("-n", "--workers", type=_size, default=1, metavar="N", help="how many workers (default 1)")
    p.add_argument("--exit-when-empty", action="store_true", help="exit once nothing is pending or claimed")
    p.add_argument("--retry-backoff", type=common.duration, default=60.0, metavar="DUR",
                   help="wait before retrying a failed item, doubling per attempt (default 60s)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    return p


def scale_parser() -> common.Parser:
    p = common.parser("pool", "Change the size of a running pool.", EPILOG)
    p.prog = "mh-pool scale"
    p.add_argument("size", type=_size, metavar="N")
    p.add_argument("--pool", metavar="POOL-ID", help="which pool (default: the only one running)")
    return p


def _size(text: str) -> int:
    """argparse type for a pool's size: 0 to MAX_WORKERS."""
    from metaharness.pool import MAX_WORKERS

    return common.bounded_int(text, 0, MAX_WORKERS)


def main(argv: Sequence[str] | None = None) -> int:
    return common.run("pool", _pool, argv)


def _pool(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from metaharness.tree import find_tree

    if argv[:1] == ["scale"]:
        args = scale_parser().parse_args(argv[1:])
        from metaharness import pool

        tree = find_tree()
        running = pool.live_pools(tree) if tree else []
        if args.pool and args.pool not in running or not running:
            raise MhError(f"no such pool: {args.pool or '(none running)'}", Exit.NOT_FOUND)
        if not args.pool and len(running) > 1:
            raise MhError(f"several pools run ({', '.join(running)}): say which with --pool", Exit.USAGE)
        pool.set_size(tree, args.pool or running[0], args.size)  # type: ignore[arg-type]
        return Exit.OK
    args, spawn_args = build_parser().parse_known_args(argv)
    template = _item_request(spawn_args)
    from metaharness import pool, queue
    from metaharness.signals import SignalCatcher

    tree = find_tree(create=True)
    assert tree is not None

    def say(line: str) -> None:
        if not args.quiet:
            print(f"mh-pool: {line}", file=sys.stderr, flush=True)

    workers = pool.Pool(tree, args.workers, template, say, args.exit_when_empty, args.retry_backoff)
    catcher = SignalCatcher(workers.wake)
    workers.run(lambda: catcher.received is not None)
    if catcher.received is not None:
        return 128 + catcher.received
    failed = [i for i in queue.items(tree) if i["state"] == "failed"]
    return Exit.FAILED if failed else Exit.OK


def _item_request(spawn_args: list[str]) -> Request:
    """What every item's harness is started with (its id, roadmap and run filled in per
    item), refused before any item is claimed if mh-spawn would refuse it."""
    from dataclasses import replace

    from metaharness.cli.spawn import build_parser as spawn_parser
    from metaharness.cli.spawn import request_from
    from metaharness.start import check_options

    parser = spawn_parser()
    parser.prog = "mh-pool"
    parsed = parser.parse_args(["item", "roadmap.md", *spawn_args])
    if parsed.detach:
        raise MhError("--detach makes no sense for pool workers", Exit.USAGE)
    if not parsed.agent and not parsed.agent_cmd:
        raise MhError("say which agent the workers run: --agent NAME or --agent-cmd 'COMMAND'", Exit.USAGE)
    request = request_from(parsed)
    workdir, template = check_options(request.options, request.workdir, request.prompt_template)
    return replace(request, workdir=str(workdir), prompt_template=template)  # as here, wherever it runs


if __name__ == "__main__":
    sys.exit(main())
