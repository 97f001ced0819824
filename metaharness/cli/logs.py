"""mh-logs: show (or follow) what a harness's agent said, in readable form."""

from __future__ import annotations

import sys
from pathlib import Path

from metaharness.cli import common
from metaharness.exits import Exit, MhError

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Callable, Sequence

DESCRIPTION = """\
Print the log of harness ID: the supervisor's own lines (starting with ---) and the
agent's output, rendered readable for the JSON-speaking CLIs (-> tool call, <- tool
result, == result). With --iteration N, only that iteration's agent output. With -f,
keep printing until the harness ends."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (
    Exit.OK, Exit.USAGE, Exit.NOT_FOUND, Exit.BAD_TREE, Exit.SYSTEM, Exit.SOFTWARE,
    Exit.SIGINT,
)
EPILOG = """\
exit status: 0 shown, 2 usage, 7 no such harness (or no such iteration), 10 bad tree,
11 system error, 70 internal error, 130 interrupted (Ctrl+C while following).
See mh-logs(1)."""


def build_parser() -> common.Parser:
    p = common.parser("logs", DESCRIPTION, EPILOG)
    p.add_argument("id", metavar="ID")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until the harness ends")
    p.add_argument("--iteration", type=common.positive_int, metavar="N", help="only iteration N's agent output")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.run("logs", _logs, argv)


def _logs(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from metaharness.follow import follow_lines
    from metaharness.harness import harness_dir
    from metaharness.liveness import lock_is_held
    from metaharness.tree import find_tree

    directory = harness_dir(find_tree(), args.id)
    path = directory / "log"
    render = None
    if args.iteration:
        path = directory / "iterations" / f"{args.iteration:04d}" / "output"
        render = _renderer(directory)
        if not path.exists() and args.follow:
            from metaharness.notify import wait_until

            # An iteration still to come: wait for it, or for the harness to end without it.
            wait_until(lambda: path.exists() or not lock_is_held(directory / "lock"), directory, None, recursive=True)
        if not path.exists():
            raise MhError(f"harness {args.id} has no iteration {args.iteration}", Exit.NOT_FOUND)
    for line in follow_lines(path, directory, args.follow):
        for shown in (render(line) if render else [line]):
            print(shown, flush=args.follow)
    return Exit.OK


def _renderer(directory: Path) -> Callable[[str], list[str]] | None:
    """For a structured agent (JSON lines), turn each raw output line into the readable
    lines the log shows: -> tool call, <- tool result, == result. None: print as it is."""
    from metaharness.agents import adapter_for, render
    from metaharness.harness import inspect

    try:
        adapter = adapter_for(str(inspect(directory).spec.get("agent") or "cmd"))
    except MhError:
        return None  # an agent this version does not know: show its output raw
    if not adapter.structured:
        return None
    parser = adapter.parser()
    return lambda line: [shown for event in parser.feed(line + "\n") if (shown := render(event)) is not None]


if __name__ == "__main__":
    sys.exit(main())
