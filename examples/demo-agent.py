#!/usr/bin/env python3
"""An offline stand-in for a coding agent, for demos and tests: no API key, no network.

Each iteration it reads its prompt on stdin, echoes any messages it was sent, "works" on
the first unchecked task of $MH_ROADMAP for a moment, checks its box (atomically), and
prints a <progress> marker; when no task is left it prints the completion marker.

Environment: DEMO_PAUSE (seconds of "work" per task, default 1.5).
"""

import os
import random
import re
import sys
import time

TASK = re.compile(r"^(\s*[-*+]\s+)\[ \](\s*)(.*)$")


def main() -> int:
    prompt = sys.stdin.read()
    messages = prompt.split("## Messages received since the last iteration", 1)[-1].split("## ", 1)[0].strip()
    if messages and messages != "(none)":
        print(f"read my messages: {' / '.join(messages.splitlines())}")
    path = os.environ["MH_ROADMAP"]
    with open(path) as f:
        lines = f.read().splitlines(keepends=True)
    for i, line in enumerate(lines):
        m = TASK.match(line)
        if m:
            break
    else:
        print("Nothing left to do.\n<promise>COMPLETE</promise>")
        return 0
    task = m.group(3)
    print(f"[{os.environ.get('MH_ID')} #{os.environ.get('MH_ITERATION')}] working on: {task}", flush=True)
    pause = float(os.environ.get("DEMO_PAUSE", "1.5"))
    for step in ("reading the code", "making the change", "running the tests"):
        time.sleep(pause / 3 * random.uniform(0.6, 1.4))
        print(f"  {step}...", flush=True)
    lines[i] = f"{m.group(1)}[x]{m.group(2)}{task}\n"
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.writelines(lines)
    os.replace(tmp, path)
    print(f"<progress>done: {task}</progress>")
    if not any(TASK.match(line) for line in lines):
        print("<promise>COMPLETE</promise>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
