"""mh-context: the key/value context shared by every harness of a tree."""

from __future__ import annotations

import json
import sys

from metaharness.cli import common
from metaharness.exits import Exit, MhError

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Sequence

DESCRIPTION = """\
Set, get, list and remove shared context: small values every harness (and its agent, and
you) can read, one file per key under .harness/shared/context/. Dependents see the
context in their prompts."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (
    Exit.OK, Exit.USAGE, Exit.NOT_FOUND, Exit.BAD_TREE, Exit.SYSTEM, Exit.SOFTWARE,
)
EPILOG = """\
exit status: 0 done, 2 usage (a bad key, a bad or too long value), 7 no such key,
10 bad tree, 11 system error, 70 internal error. See mh-context(1)."""


def build_parser() -> common.Parser:
    p = common.parser("context", DESCRIPTION, EPILOG)
    sub = common.subcommands(p, "set|get|ls|rm")
    s = sub.add_parser("set", help="set KEY to VALUE ('-' reads stdin)")
    s.add_argument("key")
    s.add_argument("value", nargs="+")
    g = sub.add_parser("get", help="print the value of KEY")
    g.add_argument("key")
    ls = sub.add_parser("ls", help="list keys and values")
    ls.add_argument("--json", action="store_true", help="one JSON object per key")
    r = sub.add_parser("rm", help="remove KEY (removing a missing key is not an error)")
    r.add_argument("key")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.run("context", _context, argv)


def _context(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from metaharness import context
    from metaharness.tree import find_tree

    if args.action == "set":
        context.validate_key(args.key)  # before the tree is created: a refused value leaves nothing
        raw = sys.stdin.buffer.read(context.MAX_VALUE_BYTES + 1) if args.value == ["-"] else \
            " ".join(args.value).encode("utf-8", "surrogateescape")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MhError("the value is not valid UTF-8", Exit.USAGE) from None
        tree = find_tree(create=True)
        assert tree is not None
        context.set_value(tree, args.key, raw)
        return Exit.OK
    tree = find_tree()
    if args.action == "get":
        if tree is None:
            raise MhError(f"no such key: {args.key}", Exit.NOT_FOUND)
        sys.stdout.buffer.write(context.get_value(tree, args.key))
        if sys.stdout.isatty():
            sys.stdout.buffer.write(b"\n")
        return Exit.OK
    if args.action == "rm":
        if tree is not None:
            context.remove(tree, args.key)
        return Exit.OK
    for key, value in context.items(tree) if tree else []:
        text = value.decode("utf-8", "replace")
        print(json.dumps({"key": key, "value": text}) if args.json else f"{key}\t{' '.join(text.splitlines())}")
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
