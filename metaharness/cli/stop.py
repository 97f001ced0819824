"""mh-stop: ask harnesses to stop, and by default wait until they have."""

from __future__ import annotations

import sys

from metaharness.cli import common
from metaharness.exits import Exit, MhError
from metaharness.statuses import Status

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Sequence

DESCRIPTION = """\
Request a graceful stop of each harness: its supervisor ends the running iteration (TERM
to the agent's process group, then KILL after the harness's grace period), writes the
result `stopped` and exits. Stopping a harness that has already ended is a success; for
a dead harness (its supervisor was killed) whatever its agent left running is ended (TERM,
the harness's grace, KILL). A harness named but not yet there is waited for (--grace), so
`mh-spawn a ... & mh-stop a` has no race."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (
    Exit.OK, Exit.USAGE, Exit.NOT_FOUND, Exit.BAD_TREE, Exit.SYSTEM, Exit.SOFTWARE,
    Exit.TIMEOUT,
)
EPILOG = """\
exit status: 0 every named harness has ended (or was asked to, with --no-wait),
2 usage, 7 no such harness, 10 bad tree, 11 system error (also: a dead harness's agent
left a process that outlived SIGKILL), 70 internal error, 124 --timeout passed.
See mh-stop(1)."""


def build_parser() -> common.Parser:
    p = common.parser("stop", DESCRIPTION, EPILOG)
    p.add_argument("ids", nargs="*", metavar="ID")
    p.add_argument("-a", "--all", action="store_true", help="stop every running harness")
    p.add_argument("--no-wait", action="store_true", help="return once the requests are written")
    p.add_argument("-t", "--timeout", type=common.duration, metavar="DUR", help="stop waiting after DUR (exit 124)")
    p.add_argument("--grace", type=common.duration, default=common.APPEAR_GRACE_SECONDS, metavar="DUR",
                   help="how long to wait for a named harness to appear (default 10s)")
    p.add_argument("--reason", default="", help="recorded in the harness's result")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.exit_at_once(common.run("stop", _stop, argv))


def _stop(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    import time

    from metaharness import harness
    from metaharness.inbox import default_sender
    from metaharness.liveness import lock_is_held
    from metaharness.tree import find_tree

    if not args.ids and not args.all:
        raise MhError("name at least one harness (or --all)", Exit.USAGE)
    tree = find_tree()
    appear_by = time.monotonic() + args.grace
    directories = [harness.appeared(tree, i, appear_by) for i in dict.fromkeys(args.ids)]
    tree = tree or find_tree()  # created by the spawn it waited for
    if args.all and tree is not None:
        directories += [tree / i for i in harness.list_ids(tree) if i not in args.ids]
    views = [harness.inspect(d) for d in directories]
    # A harness whose files are corrupt may still have a live supervisor: ask it too.
    live = [v for v in views if v.status.is_live or v.status is Status.CORRUPT and lock_is_held(v.dir / "lock")]
    sender = default_sender()
    for view in live:  # first: a dead harness's leftovers must not delay the live ones' stop
        harness.request_stop(view.dir, view.instance, sender, args.reason)
    failures = []
    for view in views:
        if view.status is Status.DEAD:
            try:
                harness.end_orphans(view.dir, view.instance, view.spec.get("grace"))
            except MhError as e:  # the others are still stopped
                failures.append(e)
    code = Exit.OK
    if live and not args.no_wait:
        from metaharness.waiter import await_all

        assert tree is not None
        _, pending = await_all(tree, [v.id for v in live], any_=False, timeout=args.timeout, appear_within=0)
        if pending:
            print(f"mh-stop: error: timed out waiting for {', '.join(pending)} to stop", file=sys.stderr)
            code = Exit.TIMEOUT
    for failure in failures:
        common.fail("stop", str(failure), failure.code)
    return failures[0].code if failures else code


if __name__ == "__main__":
    sys.exit(main())
