"""mh-watch: one monitor over the whole tree, printing every alert as it happens."""

from __future__ import annotations

import json
import os
import sys
import threading

from metaharness.cli import common
from metaharness.exits import Exit

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any, Sequence

DESCRIPTION = """\
Watch every harness in the tree and print an alert the moment one stalls, loops, waits for
a rate limit, has a hook fail, ends (with its status), or dies (its supervisor vanished:
reported once, with the last iteration and the agent's last output line). Runs until
interrupted. --exec runs a command per alert; the .harness/hooks/on-dead hook runs for
each death."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (Exit.OK, Exit.USAGE, Exit.BAD_TREE, Exit.SYSTEM, Exit.SOFTWARE)
EPILOG = """\
exit status: 0 interrupted by Ctrl+C or SIGTERM, 2 usage, 10 bad tree, 11 system error,
70 internal error. See mh-watch(1)."""


def build_parser() -> common.Parser:
    p = common.parser("watch", DESCRIPTION, EPILOG)
    p.add_argument("--json", action="store_true", help="one JSON object per alert")
    p.add_argument("--exec", dest="command", metavar="CMD",
                   help="run CMD (with sh -c) per alert, with MH_ID, MH_EVENT, MH_REASON, MH_ITERATION, MH_HARNESS_DIR set")
    p.add_argument("--type", action="append", default=[], metavar="EVENT[,EVENT]",
                   help="only these alerts (stalled, looping, rate_limited, hook_failed, dead, failed, completed, ...)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.run("watch", _watch, argv)


def _watch(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    import signal

    from metaharness.hooks import Hooks
    from metaharness.notify import wait_for_path
    from metaharness.process import run_bounded
    from metaharness.tree import find_tree, locate_tree
    from metaharness.watch import Monitor

    tree = find_tree() or locate_tree()
    wait_for_path(tree, None)  # a monitor may start before the first harness
    types = {t for group in args.type for t in group.split(",") if t}
    hooks = Hooks(tree, lambda hook, why: print(f"mh-watch: error: hook {hook} {why}", file=sys.stderr, flush=True))
    commands: list[threading.Thread] = []

    def on_alert(alert: dict[str, Any]) -> None:
        if types and alert["event"] not in types:
            return
        print(json.dumps(alert) if args.json else format_alert(alert), flush=True)
        env = {"MH_ID": alert["id"], "MH_EVENT": alert["event"], "MH_REASON": alert["reason"],
               "MH_ITERATION": str(alert.get("iteration") or ""), "MH_HARNESS_DIR": alert["harness_dir"],
               "MH_ROOT": str(tree.parent)}
        env = {k: v.replace("\0", "") for k, v in env.items()}  # an event may hold NUL; exec refuses it
        if alert["event"] == "dead":
            hooks.run("dead", env)
        if args.command:
            command = threading.Thread(target=run_bounded,
                                       args=(["/bin/sh", "-c", args.command], {**os.environ, **env}, hooks.timeout))
            command.start()
            commands[:] = [c for c in commands if c.is_alive()] + [command]

    monitor = Monitor(tree, on_alert)
    signal.signal(signal.SIGTERM, lambda signum, frame: monitor.stop())
    try:
        monitor.run()
    except KeyboardInterrupt:
        pass
    for command in commands:  # every alert printed has its command run, even when interrupted at once
        command.join()
    return Exit.OK


def format_alert(alert: dict[str, Any]) -> str:
    where = f" #{alert['iteration']}" if alert.get("iteration") else ""
    last = f" | last output: {alert['last_output']}" if alert.get("last_output") else ""
    return f"{alert['t'][11:19]} {alert['id']}{where} {alert['event'].upper()} {alert['reason']}{last}".rstrip()


if __name__ == "__main__":
    sys.exit(main())
