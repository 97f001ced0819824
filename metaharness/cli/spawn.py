"""mh-spawn: create a harness and supervise its agent loop until it ends."""

from __future__ import annotations

import sys

from metaharness import spec
from metaharness.cli import common
from metaharness.exits import Exit
from metaharness.spec import Options
from metaharness.start import Request

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any, Sequence

DESCRIPTION = """\
Create harness ID and run an agent over ROADMAP in a supervised loop until the roadmap is
done, the agent is blocked, a limit is reached or the harness is stopped. In the
foreground (the default) mh-spawn is the supervisor and exits with the harness's outcome;
with --detach it prints ID and leaves a background supervisor."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (
    Exit.OK, Exit.FAILED, Exit.USAGE, Exit.INCOMPLETE, Exit.STOPPED, Exit.BLOCKED, Exit.ID_TAKEN,
    Exit.BAD_TREE, Exit.SYSTEM, Exit.SOFTWARE, Exit.TIMEOUT, Exit.SIGHUP, Exit.SIGINT, Exit.SIGTERM,
)
EPILOG = """\
exit status: 0 completed, 1 failed, 2 usage, 3 incomplete, 4 stopped, 6 blocked,
8 id taken, 10 bad tree, 11 system error, 70 internal error, 124 timeout,
129/130/143 interrupted (SIGHUP/SIGINT/SIGTERM).
See mh-spawn(1)."""


def build_parser() -> common.Parser:
    p = common.parser("spawn", DESCRIPTION, EPILOG)
    p.add_argument("id", help="harness id: letters, digits, '.', '_', '-'")
    p.add_argument("roadmap", help="Markdown roadmap with - [ ] tasks")
    for flag, words in spec.command_line():  # the harness's options: spec.py declares them
        p.add_argument(flag, **{**words, **({"type": common.argtype(words["type"])} if "type" in words else {})})
    p.add_argument("--after", action="append", default=[], metavar="ID[,ID]",
                   help="stay pending until these harnesses have completed; fail if one does not (repeatable)")
    p.add_argument("-d", "--detach", action="store_true", help="supervise in the background; print the id")
    p.add_argument("--workdir", metavar="DIR", help="where the agent runs (default: the current directory)")
    p.add_argument("--worktree", action="store_true",
                   help="run the agent in a git worktree of WORKDIR's repository on branch mh/ID")
    p.add_argument("--base", metavar="REF", help="where the --worktree branch starts (default HEAD)")
    p.add_argument("--prompt-template", metavar="FILE", help="prompt template with {{VARIABLES}}")
    p.add_argument("--run", metavar="RUN-ID", help="the mh-run run this harness belongs to (set by mh-run)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.exit_at_once(common.run("spawn", _spawn, argv))


def request_from(args: Any) -> Request:
    """The harness an mh-spawn command line asks for (mh-pool's: with a stand-in id and roadmap)."""
    return Request(args.id, args.roadmap, options_from(args), workdir=args.workdir,
                   after=tuple(i for group in args.after for i in group.split(",") if i), run=args.run,
                   worktree=args.worktree, base=args.base, prompt_template=args.prompt_template)


def options_from(args: Any) -> Options:
    """The harness options an mh-spawn command line gives (mh-pool's too)."""
    given = {key: getattr(args, key) for key in spec.option_keys()}
    return spec.options_from({key: value for key, value in given.items() if value is not None})  # else the Spec's default


def _spawn(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from metaharness.start import prepare, start
    from metaharness.tree import find_tree_dir

    spec, progress = prepare(request_from(args))
    tree = find_tree_dir(create=True)
    assert tree is not None
    if not args.detach:
        return start(tree, spec, progress, detach=False,
                     narrate=None if args.quiet or not sys.stderr.isatty() else _narrate)

    def flush() -> None:
        sys.stdout.flush()
        sys.stderr.flush()

    code = start(tree, spec, progress, detach=True, before_detach=flush)
    print(args.id)
    return code


def _narrate(line: str) -> None:
    print(f"mh-spawn: {line}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
