"""mh: run `mh VERB ARGS...` as `mh-VERB ARGS...`, like git runs its subcommands."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from metaharness import __version__
from metaharness.cli import VERBS
from metaharness.exits import Exit

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Sequence

USAGE = (
    "usage: mh VERB [ARGS...]\n\nverbs:\n"
    + "".join(f"  {v:<8} {d}\n" for v, d in VERBS.items())
    + "\nmh VERB --help, or man mh-VERB, tells more. See mh(1)."
)


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
