#!/usr/bin/env python3
"""Measure what users pay in their loops: mh-status over 100 harnesses (and over 10 with
worktrees, each read from git), the latency from an agent's exit to mh-wait's return, and
the wall time of mh-send. Prints medians.

Run: .venv/bin/python bench/core.py [--runs N]
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / "bin"


def mh(verb: str, *args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BIN / f"mh-{verb}"), *args], env=env, capture_output=True,
                          text=True, check=check)


def environment(root: str) -> dict[str, str]:
    """The verbs of this checkout, on the tree under `root`."""
    return {**os.environ, "MH_ROOT": root, "PATH": f"{BIN}:{Path(sys.executable).parent}:{os.environ['PATH']}"}


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=20)
    args = p.parse_args()
    # As an installed package has it: without bytecode (PYTHONDONTWRITEBYTECODE, an editable
    # install) every start would compile the package again.
    compileall.compile_dir(REPO / "metaharness", quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = environment(tmp)
        road = root / "roadmap.md"
        road.write_text("- [ ] one\n- [ ] two\n")
        for i in range(100):
            mh("spawn", f"h{i:03d}", str(road), "--agent-cmd", "echo '<promise>COMPLETE</promise>'", env=env)
        status = [timed(lambda: mh("status", env=env)) for _ in range(args.runs)]
        status_json = [timed(lambda: mh("status", "--json", env=env)) for _ in range(args.runs)]

        # A live harness to message: its agent waits for a file, then exits.
        gate = root / "go"
        latencies, sends = [], []
        for run in range(args.runs):
            hid = f"w{run}"
            agent = (f'while [ ! -e {gate}{run} ]; do sleep 0.01; done; '
                     f'python3 -c "import time; print(time.time())" > {root}/exit{run}; '
                     "echo '<promise>COMPLETE</promise>'")
            mh("spawn", hid, str(road), "--agent-cmd", agent, "--detach", env=env)
            sends.append(timed(lambda: mh("send", hid, "a message", env=env)))
            waiter = subprocess.Popen([sys.executable, str(BIN / "mh-wait"), hid], env=env)
            mh("status", hid, env=env)  # give the waiter time to block (it only adds latency if not)
            Path(f"{gate}{run}").touch()
            waiter.wait()
            returned = time.time()
            latencies.append(returned - float((root / f"exit{run}").read_text()))

    with tempfile.TemporaryDirectory() as tmp:
        env = environment(tmp)
        for git in (["init", "-q", "-b", "main"], ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q",
                                                   "--allow-empty", "-m", "base"]):
            subprocess.run(["git", "-C", tmp, *git], check=True)
        road = Path(tmp) / ".git" / "roadmap.md"  # out of the way of git status
        road.write_text("- [ ] one\n")
        commit = "echo x > f && git add f && git -c user.name=b -c user.email=b@b commit -qm x"
        for i in range(10):
            mh("spawn", f"t{i}", str(road), "--worktree", "--agent-cmd", f"{commit} && echo '<promise>COMPLETE</promise>'",
               "--workdir", tmp, env=env)
        worktrees = [timed(lambda: mh("status", env=env)) for _ in range(args.runs)]

    def show(name: str, samples: list[float]) -> None:
        print(f"{name:<44} median {statistics.median(samples) * 1000:7.1f} ms   "
              f"min {min(samples) * 1000:7.1f} ms   max {max(samples) * 1000:7.1f} ms   (n={len(samples)})")

    show("mh-status, 100 harness directories", status)
    show("mh-status --json, 100 harness directories", status_json)
    show("mh-status, 10 --worktree harnesses", worktrees)
    show("mh-send to a running harness", sends)
    show("agent exit -> mh-wait returns", latencies)


if __name__ == "__main__":
    main()
