"""mh-run: run a plan of harnesses with dependencies and a strategy."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from metaharness.cli import common
from metaharness.exits import Exit

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Sequence

DESCRIPTION = """\
Run the harnesses of a YAML plan: each an mh-spawn with the plan's options, dependents
started after their dependencies completed, under a strategy: parallel (all, optionally
fail_fast, max_parallel), pipeline (in order, each after the one before), race (the first
to complete wins, the rest are cancelled) or voting (min_votes completions are scored
with score_cmd; the best wins). Ctrl+C stops the run's harnesses; --resume continues it."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (
    Exit.OK, Exit.FAILED, Exit.USAGE, Exit.INCOMPLETE, Exit.STOPPED, Exit.DEAD, Exit.BLOCKED,
    Exit.ID_TAKEN, Exit.BAD_TREE, Exit.SYSTEM, Exit.SOFTWARE, Exit.TIMEOUT, Exit.SIGHUP,
    Exit.SIGINT, Exit.SIGTERM,
)
EPILOG = """\
exit status: 0 every harness completed (parallel, pipeline) or there is a winner (race,
voting); otherwise the status of the first harness, in plan order, that did not
complete (1 failed, 3 incomplete, 4 stopped, 5 dead, 6 blocked, 124 timeout), or 1 if
no candidate won; 2 usage (a bad plan; nothing started), 8 a plan id is taken by a
live harness outside the run, or the run is already running, 10 bad tree, 11 system error, 70 internal error,
129/130/143 interrupted (SIGHUP/SIGINT/SIGTERM). See mh-run(1)."""


def build_parser() -> common.Parser:
    p = common.parser("run", DESCRIPTION, EPILOG)
    p.add_argument("plan", metavar="PLAN.yaml")
    p.add_argument("--resume", action="store_true", help="keep completed harnesses, adopt running ones, redo the rest")
    p.add_argument("--run-id", metavar="ID", help="name of the run (default: from the plan's path)")
    p.add_argument("--json", action="store_true", help="print the run's record as JSON at the end")
    p.add_argument("--check", action="store_true",
                   help="check the plan as the run would, start nothing, and exit")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.run("run", _run, argv)


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from metaharness.coordinator import Run, default_run_id
    from metaharness.plan import load
    from metaharness.tree import find_tree, locate_tree, validate_id

    plan = load(Path(args.plan).absolute())
    run_id = validate_id(args.run_id) if args.run_id else default_run_id(plan.path)
    if args.check:  # everything the run checks before it starts anything, and no .harness made
        Run(find_tree() or locate_tree(), plan, run_id, lambda line: None).check(args.resume)
        return Exit.OK
    tree = find_tree(create=True)
    assert tree is not None
    verbose = sys.stderr.isatty() or not args.json

    def say(line: str) -> None:
        if verbose:
            print(f"mh-run: {line}", file=sys.stderr, flush=True)

    import signal

    from metaharness.coordinator import raise_interrupted

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, raise_interrupted)
    run = Run(tree, plan, run_id, say)
    code = run.execute(args.resume)
    if args.json:
        print(json.dumps(run.record))
    return code


if __name__ == "__main__":
    sys.exit(main())
