"""mh-status: one row (or one JSON object) per harness."""

from __future__ import annotations

import sys
import time

from metaharness.cli import common
from metaharness.exits import Exit

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any, Sequence

DESCRIPTION = """\
Show every harness in the tree (or the named ones): status, iteration, roadmap progress,
current task, age, heartbeat age, supervisor pid, the agent's turns, tokens and cost, its
last tool call, a --worktree harness's branch (commits ahead of its base, dirty or
clean), and alerts (STALLED, LOOPING, WAITING, DEAD, STALE); the host each runs on when
the tree is shared by several. A running harness whose supervisor has gone (its lock
free here, its heartbeat stale on another host) is shown as dead; an unreadable one as
corrupt."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (
    Exit.OK, Exit.USAGE, Exit.NOT_FOUND, Exit.BAD_TREE, Exit.SYSTEM, Exit.SOFTWARE,
)
EPILOG = """\
exit status: 0 shown (or --watch ended by q or Ctrl+C), 2 usage, 7 no such harness, 10 bad tree, 11 system error,
70 internal error. See mh-status(1)."""

COALESCE_SECONDS = 0.1  # --watch: a burst of writes is one redraw, not fifty


def build_parser() -> common.Parser:
    p = common.parser("status", DESCRIPTION, EPILOG)
    p.add_argument("ids", nargs="*", metavar="ID")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="one JSON object per harness, one per line")
    shown.add_argument("-w", "--watch", action="store_true",
                       help="a live dashboard on a terminal (q quits); elsewhere, a line per change")
    shown.add_argument("--prometheus", action="store_true",
                       help="metrics in the Prometheus text format (node_exporter's textfile collector)")
    p.add_argument("--wide", action="store_true", help="every column, even on a narrow terminal")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.exit_at_once(common.run("status", _status, argv))


def _status(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.watch:
        from metaharness.tree import find_tree

        return _watch(find_tree(), args.ids)
    from metaharness.tree import find_tree_dir

    tree = find_tree_dir()  # a str: mh-status runs without pathlib
    if args.prometheus:
        from metaharness.metrics import exposition
        from metaharness.overview import gather

        sys.stdout.write(exposition(gather(tree, args.ids), tree))
        return Exit.OK
    width = None if args.wide or args.json or not sys.stdout.isatty() else _terminal_width()
    print_once(tree, args.ids, args.json, width)
    return Exit.OK


def _terminal_width() -> int:
    import os

    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except OSError:
        return 80


def print_once(tree: Any, ids: list[str], as_json: bool, fit_width: int | None = None) -> None:
    """The table (fitted to `fit_width` columns, if given) and its footer, or --json."""
    from metaharness.jsonio import dumps
    from metaharness.overview import gather

    seen = gather(tree, ids)
    if as_json:
        for record in seen.records:
            print(dumps(record))
        print(dumps({"totals": seen.totals}))
        for key, value in (("queue", seen.queue), ("limits", seen.limits), ("budgets", seen.budgets)):
            if value:
                print(dumps({key: value}))
        return
    from metaharness import dashboard

    lines = ([dashboard.table(seen.records, fit_width)] if seen.records else []) + dashboard.footer(seen)
    if lines:
        print("\n".join(lines))


def _watch(tree: Any, ids: list[str]) -> int:
    """The dashboard, redrawn on every change under the tree (coalesced) until q or Ctrl+C;
    off a terminal, a line per change of a harness."""
    import os
    import select

    from metaharness import dashboard
    from metaharness.notify import DirectoryWatch, wait_for_path
    from metaharness.overview import gather
    from metaharness.tree import locate_tree

    tree = tree or locate_tree()
    on_screen = sys.stdout.isatty()
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    keys = _Keys() if on_screen and sys.stdin.isatty() else None
    try:
        if not tree.is_dir():
            print(f"mh-status --watch: waiting for {tree} to be made (Ctrl+C quits)", flush=True)
            wait_for_path(tree, None)
        with DirectoryWatch(tree, lambda: _poke(wake_w), recursive=True):
            before: dict[str, Any] = {}
            while True:
                seen = gather(tree, ids)
                if on_screen:
                    size = os.get_terminal_size(sys.stdout.fileno())
                    sys.stdout.write("\x1b[H\x1b[2J" + dashboard.frame(seen, str(tree), size.columns, size.lines))
                else:
                    lines, before = dashboard.change_lines(before, seen)
                    sys.stdout.write("".join(line + "\n" for line in lines))
                sys.stdout.flush()
                ready = select.select([wake_r] + ([keys.fd] if keys else []), [], [])[0]
                if keys and keys.fd in ready and keys.quit_pressed():
                    return Exit.OK
                time.sleep(COALESCE_SECONDS)
                _drain(wake_r)
    except KeyboardInterrupt:
        return Exit.OK
    finally:
        if keys:
            keys.restore()
            sys.stdout.write("\n")
        os.close(wake_r)
        os.close(wake_w)


def _poke(fd: int) -> None:
    import os

    try:
        os.write(fd, b"!")
    except BlockingIOError:
        pass  # a wake-up is already waiting


def _drain(fd: int) -> None:
    import os

    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


class _Keys:
    """The terminal's keys, one at a time and unechoed, while the dashboard runs."""

    def __init__(self) -> None:
        import termios
        import tty

        self.fd = sys.stdin.fileno()
        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)

    def quit_pressed(self) -> bool:
        import os

        return os.read(self.fd, 32).strip().lower().startswith(b"q")

    def restore(self) -> None:
        import termios

        termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)


if __name__ == "__main__":
    sys.exit(main())
