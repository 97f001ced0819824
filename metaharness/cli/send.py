"""mh-send: deliver a message into a harness's next iteration prompt."""

from __future__ import annotations

import sys

from metaharness.cli import common
from metaharness.exits import Exit, MhError

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Sequence

DESCRIPTION = """\
Deliver MESSAGE (or standard input, with -) to the inbox of harness ID, or of every
running harness with --all. The harness quotes it, with sender and time, in the prompt of
its next iteration, exactly once."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (
    Exit.OK, Exit.USAGE, Exit.NOT_FOUND, Exit.NOT_RUNNING, Exit.BAD_TREE, Exit.SYSTEM,
    Exit.SOFTWARE,
)
EPILOG = """\
exit status: 0 delivered, 2 usage (empty or oversized message), 7 no such harness,
9 the harness has already ended, 10 bad tree, 11 system error, 70 internal error.
See mh-send(1)."""


def build_parser() -> common.Parser:
    p = common.parser("send", DESCRIPTION, EPILOG)
    p.add_argument("words", nargs="+", metavar="ID MESSAGE", help="the harness and the message ('-' reads stdin)")
    p.add_argument("-a", "--all", action="store_true", help="send to every running harness (no ID)")
    p.add_argument("--grace", type=common.duration, default=common.APPEAR_GRACE_SECONDS, metavar="DUR",
                   help="how long to wait for the harness to appear (default 10s)")
    p.add_argument("--from", dest="sender", metavar="NAME", help="sender shown in the prompt (default: $MH_ID or user@host)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.exit_at_once(common.run("send", _send, argv))


def _send(argv: Sequence[str] | None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    from metaharness import harness, inbox
    from metaharness.tree import find_tree_dir

    words = list(args.words)
    ids = [] if args.all else [words.pop(0)]
    if not words:
        p.error("no message given (use - to read it from stdin)")
    if words == ["-"]:
        raw = sys.stdin.buffer.read(inbox.MAX_MESSAGE_BYTES + 1)  # no need to read more to refuse it
    else:
        raw = " ".join(words).encode("utf-8", "surrogateescape")  # argv bytes as given
    sender = args.sender or inbox.default_sender()
    body = inbox.check_message(raw, sender)

    tree = find_tree_dir()
    if args.all:
        import os

        targets = [] if tree is None else [harness.inspect(os.path.join(tree, i)) for i in harness.list_ids(tree)]
        targets = [v for v in targets if v.status.is_live]
    else:
        import time

        view = harness.inspect(harness.appeared(tree, ids[0], time.monotonic() + args.grace))
        if not view.status.is_live:
            raise MhError(f"harness {view.id} has ended ({view.status.value}); nothing would read the message", Exit.NOT_RUNNING)
        targets = [view]
    for view in targets:
        inbox.deliver_to(view.path, view.instance or "", sender, body)
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
