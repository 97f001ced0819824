"""mh-artifact: publish and fetch versioned files between harnesses."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from metaharness.cli import common
from metaharness.exits import Exit, MhError

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Sequence

DESCRIPTION = """\
Publish a file as a new version of an artifact of harness ID (by default $MH_ID, the
harness an agent runs in), fetch a version, or list the artifacts. Versions are numbered
from 1, published atomically, and never change. Dependents see their dependencies'
artifacts in their prompts."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (
    Exit.OK, Exit.USAGE, Exit.NOT_FOUND, Exit.BAD_TREE, Exit.SYSTEM, Exit.SOFTWARE,
)
EPILOG = """\
exit status: 0 done, 2 usage (bad name, unreadable file), 7 no such artifact, 10 bad tree,
11 system error, 70 internal error. See mh-artifact(1)."""


def build_parser() -> common.Parser:
    p = common.parser("artifact", DESCRIPTION, EPILOG)
    sub = common.subcommands(p, "publish|get|ls")
    pub = sub.add_parser("publish", help="publish FILE as ID's artifact (named after the file)")
    pub.add_argument("words", nargs="+", metavar="[ID] FILE")
    pub.add_argument("--as", dest="name", help="the artifact's name (default: the file's name)")
    get = sub.add_parser("get", help="print ID's artifact NAME (or write it with -o)")
    get.add_argument("publisher", metavar="ID")
    get.add_argument("name", metavar="NAME")
    get.add_argument("--version", type=common.positive_int, metavar="N", help="default: the latest")
    get.add_argument("-o", "--output", metavar="PATH", help="write to PATH instead of stdout")
    ls = sub.add_parser("ls", help="list the latest version of every artifact (of ID)")
    ls.add_argument("publisher", nargs="?", metavar="ID")
    ls.add_argument("--json", action="store_true", help="one JSON object per artifact")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.run("artifact", _artifact, argv)


def _artifact(argv: Sequence[str] | None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    from metaharness import artifacts
    from metaharness.tree import find_tree

    if args.action == "publish":
        if len(args.words) > 2:
            p.error("publish takes [ID] FILE")
        publisher = args.words[0] if len(args.words) == 2 else os.environ.get("MH_ID")
        if not publisher:
            raise MhError("say whose artifact it is: mh-artifact publish ID FILE (or run it inside a harness)", Exit.USAGE)
        source = Path(args.words[-1])
        artifacts.validate_name(publisher, "publisher")  # before the tree is created: a refusal leaves nothing
        artifacts.validate_name(args.name or source.name)
        if not source.is_file():
            raise MhError(f"cannot read {source}: not a file", Exit.USAGE)
        tree = find_tree(create=True)
        assert tree is not None
        meta = artifacts.publish(tree, publisher, source, args.name)
        print(f"{meta.publisher}/{meta.name} {meta.version}")
        return Exit.OK
    tree = find_tree()
    if args.action == "get":
        if tree is None:
            raise MhError(f"no such artifact: {args.publisher}/{args.name}", Exit.NOT_FOUND)
        _, data = artifacts.find(tree, args.publisher, args.name, args.version)
        if args.output:
            artifacts.copy_out(data, Path(args.output))
        else:
            sys.stdout.buffer.write(data.read_bytes())
        return Exit.OK
    if args.publisher:
        artifacts.validate_name(args.publisher, "publisher")
    corrupt: list[MhError] = []
    for meta in artifacts.listing(tree, args.publisher, corrupt) if tree else []:
        print(json.dumps(meta.as_dict()) if args.json else
              f"{meta.publisher}/{meta.name}\t{meta.version}\t{meta.size}\t{meta.published}")
    for e in corrupt:  # after the others: one corrupt artifact hides none of them
        common.fail("artifact", str(e), e.code)
    return Exit.BAD_TREE if corrupt else Exit.OK


if __name__ == "__main__":
    sys.exit(main())
