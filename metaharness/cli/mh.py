"""mh: run `mh VERB ARGS...` as `mh-VERB ARGS...`, like git runs its subcommands."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import Sequence

from metaharness import __version__
from metaharness.status import Exit

VERBS = {
    "spawn": "create a harness and supervise its agent loop",
    "wait": "block until harnesses end; exit 0 iff all completed",
    "send": "deliver a message into a harness's next prompt",
    "stop": "stop harnesses gracefully",
    "status": "show every harness (table or --json)",
    "events": "show or follow a harness's event log",
    "logs": "show or follow what a harness's agent said",
    "diff": "what a --worktree harness changed against its base",
    "clean": "remove finished harnesses and their worktrees, never unmerged work",
    "watch": "print every stall, loop, failure and death as it happens",
    "context": "set, get and list the key/value context all harnesses share",
    "artifact": "publish and fetch versioned files between harnesses",
    "run": "run a plan of harnesses: dependencies and a strategy",
    "queue": "add roadmaps to the work queue, list it, retry or drop items",
    "pool": "N workers running harnesses on the queue's items",
}

USAGE = "usage: mh VERB [ARGS...]\n\nverbs:\n" + "".join(f"  {v:<8} {d}\n" for v, d in VERBS.items()) + \
    "\nmh VERB --help, or man mh-VERB, tells more. See mh(1)."


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(USAGE, file=sys.stderr)
        return Exit.USAGE
    if args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return Exit.OK
    if args[0] == "--version":
        print(f"mh {__version__}")
        return Exit.OK
    verb = args[0]
    # A verb is a plain name: never a path ("../x") nor one too long for a file name.
    program = _find(f"mh-{verb}") if re.fullmatch(r"[a-z][a-z0-9-]{0,63}", verb) else None
    if program is None:
        shown = verb if len(verb) <= 40 else verb[:40] + "..."
        print(f"mh: error: unknown verb {shown!r} (known: {', '.join(VERBS)})", file=sys.stderr)
        return Exit.USAGE
    os.execv(program, [program, *args[1:]])


def _find(name: str) -> str | None:
    """Prefer the program beside this one (a checkout's bin/ or a venv's bin/), then $PATH."""
    beside = Path(sys.argv[0]).absolute().parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


if __name__ == "__main__":
    sys.exit(main())
