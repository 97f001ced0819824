"""What every verb shares: argument parsing that fails in one line, and error reporting.

A verb's `main` hands its body to `run`, which turns MhError into `mh-VERB: error: ...`
and its exit status, an OSError into the SYSTEM status, and anything else (a bug) into a
traceback and the SOFTWARE status, so a bug never looks like an ordinary "no".
"""

from __future__ import annotations

import argparse
import os
import sys

from metaharness import __version__, values
from metaharness.exits import Exit, MhError

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Callable, Final, NoReturn, Sequence, TypeVar

    T = TypeVar("T")

# How long a verb that names a harness (mh-wait, mh-send, mh-stop) waits for it to appear,
# so `mh-spawn a ... & mh-send a ...` in a script or Makefile never races the spawn.
APPEAR_GRACE_SECONDS: Final = 10.0


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit with the USAGE status."""

    def error(self, message: str) -> NoReturn:
        # `mh-context set: ...` is still mh-context's error; an argument may hold a newline.
        line = f"{self.prog.split()[0]}: error: {message} (see {self.prog} --help)".replace("\n", "\\n")
        self.exit(Exit.USAGE, line + "\n")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter, sized to the terminal as argparse would but without importing
    shutil for it (argparse makes a formatter per argument: shutil is 2 ms of every start)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, width or _columns() - 2)


def _columns() -> int:
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


def parser(verb: str, description: str, epilog: str | None = None) -> Parser:
    p = Parser(prog=f"mh-{verb}", description=description, epilog=epilog, formatter_class=_Formatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def subcommands(p: Parser, metavar: str) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    """Subcommands whose parsers fail like their parent: one line, exit 2."""
    return p.add_subparsers(dest="action", required=True, metavar=metavar, parser_class=Parser)


def argtype(convert: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type from a value parser: its ValueError becomes argparse's one-line error."""
    def parse(text: str) -> T:
        try:
            return convert(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = convert.__name__
    return parse


duration = argtype(values.duration)
positive_duration = argtype(values.positive_duration)
policy = argtype(values.policy)
positive_int = argtype(values.positive_int)
positive_amount = argtype(values.positive_amount)


def bounded_int(text: str, low: int, high: int, what: str = "an integer") -> int:
    """An integer from `low` to `high`, or an argparse error naming the range."""
    return argtype(lambda t: values.bounded_int(t, low, high, what))(text)


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
            import traceback

            traceback.print_exc()
        return fail(verb, f"{where}{e.strerror or e}", Exit.SYSTEM)
    except Exception:
        import traceback

        traceback.print_exc()
        return fail(verb, "internal error (a bug in metaharness; the traceback is above)", Exit.SOFTWARE)


def fail(verb: str, message: str, code: int) -> int:
    one_line = message.replace("\n", "\\n")  # a path or a value may hold a newline
    print(f"mh-{verb}: error: {one_line}", file=sys.stderr)
    return code
