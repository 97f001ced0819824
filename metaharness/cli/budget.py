"""mh-budget: named budgets that harnesses share (--budget-group)."""

from __future__ import annotations

import sys

from metaharness import values
from metaharness.cli import common
from metaharness.exits import Exit, MhError

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Sequence

DESCRIPTION = """\
Set, list and remove named budgets in the tree. A harness spawned with --budget-group NAME
(any number of them) spends from the budget: before each iteration its supervisor looks
at what every harness of the budget has spent, on any host, and ends the harness
`incomplete` once the budget is spent. Harnesses side by side may each finish the
iteration in flight: a budget is overrun by at most one iteration per harness. With
--daily the caps are per UTC day."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (Exit.OK, Exit.USAGE, Exit.NOT_FOUND, Exit.BAD_TREE, Exit.SYSTEM, Exit.SOFTWARE)
EPILOG = """\
exit status: 0 done, 2 usage, 7 no such budget, 10 bad tree, 11 system error,
70 internal error. See mh-budget(1)."""


def build_parser() -> common.Parser:
    p = common.parser("budget", DESCRIPTION, EPILOG)
    sub = common.subcommands(p, "set|ls|rm")
    s = sub.add_parser("set", help="create or change a budget")
    s.add_argument("name", type=common.argtype(values.account))
    s.add_argument("--usd", type=common.positive_amount, metavar="USD", help="the cap in dollars")
    s.add_argument("--tokens", type=common.argtype(_tokens), metavar="N", help="the cap in tokens (5M, 200k, 1000)")
    s.add_argument("--daily", action="store_true", help="the caps are per UTC day")
    ls = sub.add_parser("ls", help="every budget, with what was spent")
    ls.add_argument("--json", action="store_true", help="one JSON object per budget")
    r = sub.add_parser("rm", help="remove a budget and its record of spending")
    r.add_argument("name", type=common.argtype(values.account))
    return p


def _tokens(text: str) -> int:
    """A token count: 1000, 200k, 5M, 1G."""
    scale = {"k": 10**3, "m": 10**6, "g": 10**9}.get(text[-1:].lower(), 1)
    digits = text[:-1] if scale > 1 else text
    return values.bounded_int(digits, 1, values.MAX_COUNT // scale, "a token count (1000, 200k, 5M)") * scale


def main(argv: Sequence[str] | None = None) -> int:
    return common.run("budget", _budget, argv)


def _budget(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    import json

    from metaharness import budgets
    from metaharness.tree import find_tree

    if args.action == "set":
        if args.usd is None and args.tokens is None:
            raise MhError("give the budget a cap: --usd, --tokens or both", Exit.USAGE)
        tree = find_tree(create=True)
        assert tree is not None
        budgets.set_budget(tree, args.name, args.usd, args.tokens, args.daily)
        return Exit.OK
    tree = find_tree()
    if args.action == "rm":
        if tree is None or not budgets.remove(tree, args.name):
            raise MhError(f"no such budget: {args.name}", Exit.NOT_FOUND)
        return Exit.OK
    for budget in budgets.listing(tree) if tree else []:
        print(json.dumps(budget) if args.json else f"{budget['name']}\t{budgets.describe_spending(budget)}")
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
