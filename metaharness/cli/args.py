"""Command lines, declared as for argparse and parsed without it when they are plain.

argparse costs every verb start some 3.5 ms (its import, gettext's and locale's, and
building the parser), about a third of the interpreter's own start. Most command lines in
users' loops are plain: known options spelled out, positionals in one run. `Parser`
records what a verb declares with argparse's own calls and parses such a line itself;
anything else (--help, --version, an abbreviation, an unknown option, a value that starts
with '-', a `--`, a bad value, a missing argument, subcommands) goes to a real argparse
parser built from the same record, so help and every error read exactly as argparse's.

The fast path must agree with argparse wherever it answers: tests/cli/test_args.py checks
it against argparse on every verb's parser over thousands of command lines.
"""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace

from metaharness.exits import Exit

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    import argparse
    from typing import Any, Callable, NoReturn, Sequence, TypeVar

    T = TypeVar("T")

_TAKES_NO_VALUE = ("store_true", "store_false")
_FAST_ACTIONS = (None, "store", "append", *_TAKES_NO_VALUE)
_NO_DEST = ("version", "help")  # argparse sets no attribute for these; using one is not plain


class Namespace(SimpleNamespace):
    """The parsed arguments (argparse.Namespace's equal for what the verbs do with it)."""


class _Argument:
    """One add_argument call, read for the fast path."""

    def __init__(self, names: tuple[str, ...], options: dict[str, Any], group: int | None) -> None:
        self.names, self.options, self.group = names, options, group
        self.positional = not names[0].startswith("-")
        self.action = options.get("action")
        self.nargs = options.get("nargs")
        default = False if self.action == "store_true" else True if self.action == "store_false" else None
        self.default = options.get("default", default)
        if "dest" in options:
            self.dest = options["dest"]
        elif self.positional:
            self.dest = names[0]
        else:
            long = next((n for n in names if n.startswith("--")), names[0])
            self.dest = long.lstrip("-").replace("-", "_")

    def convert(self, text: str) -> Any:
        """The value as argparse stores it; any exception sends the line to argparse."""
        value = self.options["type"](text) if "type" in self.options else text
        if "choices" in self.options and value not in self.options["choices"]:
            raise ValueError(text)
        return value


class Parser:
    """argparse.ArgumentParser's interface as the verbs use it (see the module's docstring)."""

    def __init__(self, prog: str, description: str | None = None, epilog: str | None = None) -> None:
        self.prog, self.description, self.epilog = prog, description, epilog
        self._calls: list[tuple[str, int | None, tuple[Any, ...], dict[str, Any]]] = []
        self._arguments: list[_Argument] = []
        self._groups: list[bool] = []  # each mutually exclusive group: is it required?
        self._real: argparse.ArgumentParser | None = None

    # --- declaring, as with argparse ---------------------------------------------------

    def add_argument(self, *names: str, **options: Any) -> None:
        self._add(None, names, options)

    def add_mutually_exclusive_group(self, required: bool = False) -> _Group:
        self._groups.append(required)
        if self._real is not None:
            return self._real.add_mutually_exclusive_group(required=required)  # type: ignore[return-value]
        return _Group(self, len(self._groups) - 1)

    def _add(self, group: int | None, names: tuple[str, ...], options: dict[str, Any]) -> None:
        if self._real is not None:
            self._real.add_argument(*names, **options)
            return
        self._calls.append(("add_argument", group, names, options))
        self._arguments.append(_Argument(names, options, group))

    # --- parsing ----------------------------------------------------------------------

    def parse_args(self, argv: Sequence[str] | None = None) -> Any:
        words = list(sys.argv[1:] if argv is None else argv)
        if self._real is None:
            parsed = self.parse_plain(words)
            if parsed is not None:
                return parsed
        return self.real().parse_args(words)

    def parse_known_args(self, argv: Sequence[str] | None = None) -> tuple[Any, list[str]]:
        return self.real().parse_known_args(argv)

    def error(self, message: str) -> NoReturn:
        # `mh-context set: ...` is still mh-context's error; an argument may hold a newline.
        line = f"{self.prog.split()[0]}: error: {message} (see {self.prog} --help)".replace("\n", "\\n")
        sys.stderr.write(line + "\n")
        sys.exit(Exit.USAGE)

    def real(self) -> argparse.ArgumentParser:
        """The argparse parser for everything declared so far (and, from now on, to come)."""
        if self._real is None:
            from metaharness.cli.argparser import OneLineErrors, formatter

            real = OneLineErrors(prog=self.prog, description=self.description, epilog=self.epilog,
                                 formatter_class=formatter)
            groups = [real.add_mutually_exclusive_group(required=required) for required in self._groups]
            for _, group, names, options in self._calls:
                (real if group is None else groups[group]).add_argument(*names, **options)
            self._real = real
        return self._real

    def parse_plain(self, words: list[str]) -> Namespace | None:
        """Parse a plain command line as argparse would; None for anything else."""
        if any(a.action not in (*_FAST_ACTIONS, *_NO_DEST) for a in self._arguments):
            return None
        options = {name: a for a in self._arguments if not a.positional for name in a.names}
        values: dict[str, Any] = {}
        given: list[_Argument] = []
        run: list[str] = []
        run_ended = False
        i = 0
        while i < len(words):
            word = words[i]
            i += 1
            if not word.startswith("-") or word == "-":
                if run_ended:
                    return None  # positionals in two runs: argparse's rules there are subtle
                run.append(word)
                continue
            run_ended = bool(run)
            name, has_value, value = word.partition("=")
            argument = options.get(name) if name.startswith("--") or len(name) == 2 else None
            if (argument is None or argument.action in _NO_DEST or argument.nargs is not None
                    or (has_value and argument.action in _TAKES_NO_VALUE)):
                return None
            if argument.action in _TAKES_NO_VALUE:
                values[argument.dest] = argument.action == "store_true"
            else:
                if not has_value:
                    if i == len(words) or words[i].startswith("-"):
                        return None
                    value, i = words[i], i + 1
                if value == "--":
                    return None  # argparse drops a '--' even from an option's value
                try:
                    converted = argument.convert(value)
                except Exception:
                    return None
                if argument.action == "append":
                    values[argument.dest] = [*values.get(argument.dest, argument.default or []), converted]
                else:
                    values[argument.dest] = converted
            given.append(argument)
        matched = self._match_positionals(run)
        if matched is None or not self._consistent(given):
            return None
        values.update(matched)
        return self._namespace(values)

    def _match_positionals(self, run: list[str]) -> dict[str, Any] | None:
        """Share one run of positionals out as argparse's greedy matching does."""
        positionals = [a for a in self._arguments if a.positional]
        bounds = {None: (1, 1), "?": (0, 1), "*": (0, len(run)), "+": (1, len(run))}
        if any(a.nargs not in bounds or a.action not in (None, "store") for a in positionals):
            return None
        values: dict[str, Any] = {}
        left = len(run)
        for k, argument in enumerate(positionals):
            low, high = bounds[argument.nargs]
            rest = sum(bounds[later.nargs][0] for later in positionals[k + 1:])
            take = min(high, left - rest)
            if take < low:
                return None  # a positional is missing: argparse says which
            taken, run, left = run[:take], run[take:], left - take
            try:
                if argument.nargs is None:
                    values[argument.dest] = argument.convert(taken[0])
                elif argument.nargs == "?":
                    if not taken:
                        return None  # argparse's default for an empty '?' has quirks
                    values[argument.dest] = argument.convert(taken[0])
                elif not taken:  # an empty '*': its default, else []
                    if "choices" in argument.options:
                        return None
                    values[argument.dest] = argument.default if argument.default is not None else []
                else:
                    values[argument.dest] = [argument.convert(word) for word in taken]
            except Exception:
                return None
        return None if run else values

    def _consistent(self, given: list[_Argument]) -> bool:
        """No two options of one exclusive group, none missing from a required one."""
        seen = [a.group for a in dict.fromkeys(given) if a.group is not None]
        if len(seen) != len(set(seen)):
            return False
        if any(required and group not in seen for group, required in enumerate(self._groups)):
            return False
        return not any(a.options.get("required") and a not in given for a in self._arguments)

    def _namespace(self, values: dict[str, Any]) -> Namespace:
        for argument in self._arguments:
            if argument.dest in values or argument.action in _NO_DEST:
                continue
            default = argument.default
            if isinstance(default, str) and "type" in argument.options:
                default = argument.options["type"](default)  # as argparse converts a str default
            values[argument.dest] = default
        return Namespace(**values)


class _Group:
    """A mutually exclusive group: its arguments go to the parser, marked with the group."""

    def __init__(self, parser: Parser, index: int) -> None:
        self._parser, self._index = parser, index

    def add_argument(self, *names: str, **options: Any) -> None:
        self._parser._add(self._index, names, options)


def parser(verb: str, description: str, epilog: str | None = None) -> Parser:
    from metaharness import __version__

    p = Parser(f"mh-{verb}", description, epilog)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def subcommands(p: Parser, metavar: str) -> Any:
    """Subcommands whose parsers fail like their parent: one line, exit 2 (argparse's own)."""
    from metaharness.cli.argparser import OneLineErrors

    return p.real().add_subparsers(dest="action", required=True, metavar=metavar, parser_class=OneLineErrors)


def argtype(convert: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type from a value parser: its ValueError becomes argparse's one-line error."""
    def parse(text: str) -> T:
        try:
            return convert(text)
        except ValueError as e:
            from argparse import ArgumentTypeError

            raise ArgumentTypeError(str(e)) from None

    parse.__name__ = convert.__name__
    return parse


def columns() -> int:
    """The terminal's width as argparse would find it, without importing shutil for it."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80
