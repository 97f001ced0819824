"""What every verb shares: argument parsing that fails in one line, and error reporting.

A verb's `main` hands its body to `run`, which turns MhError into `mh-VERB: error: ...`
and its exit status, an OSError into the SYSTEM status, and anything else (a bug) into a
traceback and the SOFTWARE status, so a bug never looks like an ordinary "no".
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Callable, NoReturn, Sequence

from metaharness import __version__
from metaharness.duration import parse_duration
from metaharness.status import Exit, MhError


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit with the USAGE status."""

    def error(self, message: str) -> NoReturn:
        self.exit(Exit.USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parser(verb: str, description: str, epilog: str | None = None) -> Parser:
    p = Parser(
        prog=f"mh-{verb}", description=description, epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def subcommands(p: Parser, metavar: str) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    """Subcommands whose parsers fail like their parent: one line, exit 2."""
    return p.add_subparsers(dest="action", required=True, metavar=metavar, parser_class=Parser)


def duration(text: str) -> float:
    """argparse type for durations (90, 0.5, 5m, 2h)."""
    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def positive_duration(text: str) -> float:
    """argparse type for limits, where 0 would mean "already over"."""
    seconds = duration(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
    return seconds


def policy(text: str) -> list[str]:
    """argparse type for an escalation policy: nudge,restart,stop."""
    from metaharness.escalation import parse_policy

    try:
        return parse_policy(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}")
    return value


def run(verb: str, body: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None) -> int:
    """Run a verb's body and map its outcome to an exit status."""
    try:
        return body(argv)
    except MhError as e:
        return fail(verb, str(e), e.code)
    except KeyboardInterrupt:
        return Exit.SIGINT
    except BrokenPipeError:
        # The reader went away (`mh-status | head`): not an error worth a message.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.OK
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        if os.environ.get("MH_DEBUG") == "1":
            traceback.print_exc()
        return fail(verb, f"{where}{e.strerror or e}", Exit.SYSTEM)
    except Exception:
        traceback.print_exc()
        return fail(verb, "internal error (a bug in metaharness; the traceback is above)", Exit.SOFTWARE)


def fail(verb: str, message: str, code: int) -> int:
    print(f"mh-{verb}: error: {message}", file=sys.stderr)
    return code
