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
failed, and claims the next. Pools on several hosts can share one tree on a shared
filesystem: each beats in the tree, and the items of a host that dies are reclaimed by
the others once its heartbeat is older than its --host-timeout. Ctrl+C (or mh-pool stop)
interrupts the running harnesses and puts their items back in pending, untried.

usage: mh-pool [-n N] [--exit-when-empty] [--lease DUR] [--host-timeout DUR]
               [--keep-done N|AGE] [--total-budget-usd USD] [-q]
               [mh-spawn options: --agent, --agent-cmd, --max-iterations, ...]
       mh-pool ls [--json]
       mh-pool scale N [--pool POOL-ID]
       mh-pool stop (POOL-ID... | --all) [--timeout DUR]
       mh-pool launch (--ssh HOST[,HOST...] | --slurm N) [pool options] [-- SBATCH-ARGS]"""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (
    Exit.OK, Exit.FAILED, Exit.USAGE, Exit.INCOMPLETE, Exit.NOT_FOUND, Exit.BAD_TREE, Exit.SYSTEM,
    Exit.SOFTWARE, Exit.TIMEOUT, Exit.SIGHUP, Exit.SIGINT, Exit.SIGTERM,
)
EPILOG = """\
exit status: 0 the queue was drained with no failed item (--exit-when-empty), or the
pool was scaled, stopped or launched, 1 items failed (or a host could not be launched
on), 2 usage, 3 a budget of its harnesses (--budget-group) was spent, 7 no such pool, 10 bad tree, 11 system error, 70 internal error,
124 a stopped pool still ran after --timeout, 129/130/143 interrupted
(SIGHUP/SIGINT/SIGTERM). See mh-pool(1)."""


def build_parser() -> common.Parser:
    p = common.parser("pool", DESCRIPTION, EPILOG)
    p.add_argument("-n", "--workers", type=_size, default=1, metavar="N", help="how many workers (default 1)")
    p.add_argument("--exit-when-empty", action="store_true", help="exit once nothing is pending or claimed")
    p.add_argument("--retry-backoff", type=common.duration, default=60.0, metavar="DUR",
                   help="wait before retrying a failed item, doubling per attempt (default 60s)")
    p.add_argument("--lease", type=common.positive_duration, default=3600.0, metavar="DUR",
                   help="how long a claim holds without renewal, whatever else is known (default 1h)")
    p.add_argument("--host-timeout", type=common.positive_duration, default=90.0, metavar="DUR",
                   help="a pool on another host whose heartbeat is older is gone, and its items are "
                        "reclaimed (default 90s: above NFS's attribute cache)")
    p.add_argument("--total-budget-usd", type=common.positive_amount, metavar="USD",
                   help="a budget for all the pool's harnesses together (mh-budget ls shows it by the pool's id)")
    p.add_argument("--keep-done", type=_keep_done, metavar="N|AGE",
                   help="prune the harness directories of done items but the N last, or those done more "
                        "than AGE ago (their results stay with the items)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    return p


def _keep_done(text: str) -> tuple[int | None, float | None]:
    """argparse type for --keep-done: a count (a plain number) or an age (with a unit)."""
    if text.isascii() and text.isdigit():
        return common.bounded_int(text, 0, 10**9), None
    return None, common.duration(text)


def _subparser(action: str, description: str) -> common.Parser:
    p = common.parser("pool", description, EPILOG)
    p.prog = f"mh-pool {action}"
    return p


def scale_parser() -> common.Parser:
    p = _subparser("scale", "Change the size of a running pool, on any host.")
    p.add_argument("size", type=_size, metavar="N")
    p.add_argument("--pool", metavar="POOL-ID", help="which pool (default: the only one running)")
    return p


def ls_parser() -> common.Parser:
    p = _subparser("ls", "List every pool in the tree, on every host, and the totals per host.")
    p.add_argument("--json", action="store_true", help="one JSON object per pool, one per line")
    return p


def stop_parser() -> common.Parser:
    p = _subparser("stop", "Stop pools, on any host: their harnesses are interrupted and their items put "
                           "back in pending, untried. Waits until they are gone.")
    p.add_argument("pools", nargs="*", metavar="POOL-ID")
    p.add_argument("--all", action="store_true", help="every pool alive")
    p.add_argument("--timeout", type=common.duration, default=60.0, metavar="DUR",
                   help="how long to wait for them to go (default 60s; 0: do not wait)")
    return p


def launch_parser() -> common.Parser:
    p = _subparser("launch", "Start pools on other hosts, which see the project at the same path: one per "
                             "host over ssh (MH_SSH is the ssh command), or a Slurm job array of N pools. "
                             "Options after these are the pools' own (-n, --agent, ...); after --, sbatch's.")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--ssh", metavar="HOST[,HOST...]", help="one pool on each of these hosts")
    where.add_argument("--slurm", type=lambda t: common.bounded_int(t, 1, 10000), metavar="N",
                       help="a job array of N pools (sbatch --array=1-N)")
    return p


def _size(text: str) -> int:
    """argparse type for a pool's size: 0 to MAX_WORKERS."""
    from metaharness.pool import MAX_WORKERS

    return common.bounded_int(text, 0, MAX_WORKERS)


def main(argv: Sequence[str] | None = None) -> int:
    return common.run("pool", _pool, argv)


def _pool(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    action = ACTIONS.get(argv[0]) if argv else None
    if action is not None:
        return action(argv[1:])
    return _run_pool(argv)


def _scale(argv: list[str]) -> int:
    args = scale_parser().parse_args(argv)
    from metaharness import fleet
    from metaharness.tree import find_tree

    tree = find_tree()
    running = fleet.live_pools(tree) if tree else []
    if args.pool and args.pool not in running or not running:
        raise MhError(f"no such pool: {args.pool or '(none running)'}", Exit.NOT_FOUND)
    if not args.pool and len(running) > 1:
        raise MhError(f"several pools run ({', '.join(running)}): say which with --pool", Exit.USAGE)
    fleet.set_size(tree, args.pool or running[0], args.size)  # type: ignore[arg-type]
    return Exit.OK


def _ls(argv: list[str]) -> int:
    args = ls_parser().parse_args(argv)
    import json

    from metaharness import fleet
    from metaharness.tree import find_tree

    tree = find_tree()
    pools = fleet.listing(tree) if tree else []
    if args.json:
        for record in pools:
            print(json.dumps(record))
        return Exit.OK
    from metaharness.duration import format_age
    from metaharness.table import render

    rows = [(p["id"], p["host"] or "-", p["pid"] or "-", "-" if p["workers"] is None else p["workers"],
             len(p["items"]), format_age(p["heartbeat_age_s"]),
             ("stopping" if p["stopping"] else "alive") if p["alive"] else "gone") for p in pools]
    if rows:
        print(render(("POOL", "HOST", "PID", "WORKERS", "ITEMS", "BEAT", "STATE"), rows))
    for host in sorted({p["host"] or "?" for p in pools}):
        mine = [p for p in pools if (p["host"] or "?") == host and p["alive"]]
        print(f"{host}: {len(mine)} pool{'s' if len(mine) != 1 else ''} alive, "
              f"{sum(p['workers'] or 0 for p in mine)} workers, {sum(len(p['items']) for p in mine)} items in hand")
    return Exit.OK


def _stop(argv: list[str]) -> int:
    args = stop_parser().parse_args(argv)
    from metaharness import fleet
    from metaharness.notify import wait_until
    from metaharness.tree import find_tree

    if bool(args.pools) == args.all:
        raise MhError("name the pools to stop, or --all", Exit.USAGE)
    tree = find_tree()
    running = fleet.live_pools(tree) if tree else []
    missing = [p for p in args.pools if p not in running]
    if missing:
        raise MhError(f"no such pool: {missing[0]} (see mh-pool ls)", Exit.NOT_FOUND)
    targets = running if args.all else list(dict.fromkeys(args.pools))
    for pool_id in targets:
        fleet.request_stop(tree, pool_id)  # type: ignore[arg-type]

    def still_running() -> list[str]:
        return sorted(set(targets) & set(fleet.live_pools(tree)))  # type: ignore[arg-type]

    if targets and args.timeout and not wait_until(lambda: not still_running(), fleet.pools_dir(tree),  # type: ignore[arg-type]
                                                   args.timeout, recursive=True):
        raise MhError(f"still running after {args.timeout:g}s: {', '.join(still_running())}", Exit.TIMEOUT)
    return Exit.OK


def _launch(argv: list[str]) -> int:
    before, _, sbatch_args = _split_at_dashes(argv)
    args, pool_args = launch_parser().parse_known_args(before)
    _item_request(build_parser().parse_known_args(pool_args)[1])  # refused here, not on every host
    from metaharness import launch
    from metaharness.tree import find_tree

    tree = find_tree(create=True)
    assert tree is not None
    if args.slurm:
        print(launch.over_slurm(tree, args.slurm, pool_args, sbatch_args))
        return Exit.OK
    if sbatch_args:
        raise MhError("arguments after -- are for sbatch, with --slurm", Exit.USAGE)
    hosts = [h for h in args.ssh.split(",") if h]
    if not hosts:
        raise MhError("--ssh wants at least one host", Exit.USAGE)
    failed = 0
    for host, error, log in launch.over_ssh(tree, hosts, pool_args):
        if error:
            failed += 1
            print(f"mh-pool: error: {host}: {error}", file=sys.stderr)
        else:
            print(f"{host}\t{log}")
    return Exit.FAILED if failed else Exit.OK


def _split_at_dashes(argv: list[str]) -> tuple[list[str], str, list[str]]:
    if "--" not in argv:
        return argv, "", []
    at = argv.index("--")
    return argv[:at], "--", argv[at + 1:]


ACTIONS = {"scale": _scale, "ls": _ls, "stop": _stop, "launch": _launch}


def _run_pool(argv: list[str]) -> int:
    args, spawn_args = build_parser().parse_known_args(argv)
    template = _item_request(spawn_args)
    from metaharness import pool, queue
    from metaharness.signals import SignalCatcher
    from metaharness.tree import find_tree

    tree = find_tree(create=True)
    assert tree is not None

    def say(line: str) -> None:
        if not args.quiet:
            print(f"mh-pool: {line}", file=sys.stderr, flush=True)

    workers = pool.Pool(tree, args.workers, template, say, args.exit_when_empty, args.retry_backoff,
                        lease=args.lease, host_timeout=args.host_timeout, keep_done=args.keep_done,
                        total_budget_usd=args.total_budget_usd)
    catcher = SignalCatcher(workers.wake)
    workers.run(lambda: catcher.received is not None)
    if catcher.received is not None:
        return 128 + catcher.received
    if workers.spent is not None:
        print(f"mh-pool: error: stopped claiming: {workers.spent}", file=sys.stderr)
        return Exit.INCOMPLETE
    failed = [i for i in queue.items(tree) if i["state"] == "failed"]
    return Exit.FAILED if failed else Exit.OK


def _item_request(spawn_args: list[str]) -> Request:
    """What every item's harness is started with (its id, roadmap and run filled in per
    item), refused before any item is claimed if mh-spawn would refuse it."""
    from metaharness.cli.spawn import build_parser as spawn_parser
    from metaharness.cli.spawn import request_from
    from metaharness.records import replace
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
