"""argparse as the verbs use it when a command line is not plain (see args.py): errors in
one line with the USAGE status, and help sized to the terminal without importing shutil."""

from __future__ import annotations

import argparse

from metaharness.cli.args import columns
from metaharness.exits import Exit

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import NoReturn


class OneLineErrors(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit with the USAGE status."""

    def error(self, message: str) -> NoReturn:
        # `mh-context set: ...` is still mh-context's error; an argument may hold a newline.
        line = f"{self.prog.split()[0]}: error: {message} (see {self.prog} --help)".replace("\n", "\\n")
        self.exit(Exit.USAGE, line + "\n")


class formatter(argparse.RawDescriptionHelpFormatter):  # noqa: N801 (argparse's formatter_class)
    """argparse's formatter, sized to the terminal as argparse would but without shutil
    (argparse makes a formatter per argument: shutil is 2 ms of every start)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, width or columns() - 2)
