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
from typing import Callable, Final, NoReturn, Sequence

from metaharness import __version__
from metaharness.duration import parse_duration
from metaharness.schema import MAX_COUNT
from metaharness.status import Exit, MhError

MAX_AMOUNT: Final = 10**9  # dollars: a budget above this is a typing mistake


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit with the USAGE status."""

    def error(self, message: str) -> NoReturn:
        # `mh-context set: ...` is still mh-context's error; an argument may hold a newline.
        line = f"{self.prog.split()[0]}: error: {message} (see {self.prog} --help)".replace("\n", "\\n")
        self.exit(Exit.USAGE, line + "\n")


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
    """argparse type for counts: 1 to MAX_COUNT."""
    return bounded_int(text, 1, MAX_COUNT, "a positive integer")


def bounded_int(text: str, low: int, high: int, what: str = "an integer") -> int:
    """An integer from `low` to `high`, or an argparse error naming the range."""
    try:
        value = int(text) if len(text) <= 20 else None  # int() of a long digit string is slow
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise argparse.ArgumentTypeError(f"not {what} from {low} to {high}: {_shown(text)}")
    return value


def positive_amount(text: str) -> float:
    """argparse type for budgets: a number more than 0 and at most MAX_AMOUNT (no nan, no inf)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= MAX_AMOUNT:
        raise argparse.ArgumentTypeError(f"not a number more than 0 and at most {MAX_AMOUNT}: {_shown(text)}")
    return value


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


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
    one_line = message.replace("\n", "\\n")  # a path or a value may hold a newline
    print(f"mh-{verb}: error: {one_line}", file=sys.stderr)
    return code
