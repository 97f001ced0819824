#!/usr/bin/env python3
"""One queue drained by pools on 1, 2 and 3 emulated hosts (bubblewrap: own hostname and
pid space, this filesystem), and the time from a host's crash to its item being claimed
again by another host. Prints the medians.

Run: .venv/bin/python bench/hosts.py [--items 60] [--work 0.5] [--workers 2] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / "bin"


def on_host(host: str, argv: list[str]) -> list[str]:
    return ["bwrap", "--dev-bind", "/", "/", "--proc", "/proc", "--unshare-pid", "--unshare-uts",
            "--hostname", host, "--die-with-parent", "--", *argv]


def mh(verb: str, *args: str) -> list[str]:
    return [sys.executable, str(BIN / f"mh-{verb}"), *args]


def project(items: int) -> tuple[Path, dict[str, str]]:
    root = Path(tempfile.mkdtemp(prefix="mh-hosts-"))
    env = {**os.environ, "MH_ROOT": str(root), "PATH": f"{BIN}:{os.environ['PATH']}"}
    roads = []
    for i in range(items):
        (root / f"r{i}.md").write_text("- [ ] one\n")
        roads.append(str(root / f"r{i}.md"))
    subprocess.run(mh("queue", "add", *roads), env=env, check=True, stdout=subprocess.DEVNULL)
    return root, env


def drain(hosts: int, items: int, work: float, workers: int) -> float:
    root, env = project(items)
    agent = f"sleep {work}; echo '<promise>COMPLETE</promise>'"
    start = time.perf_counter()
    pools = [subprocess.Popen(on_host(f"host{h}", mh("pool", "-n", str(workers), "--exit-when-empty", "-q",
                                                     "--agent-cmd", agent)), env=env, cwd=root)
             for h in range(hosts)]
    for pool in pools:
        pool.wait()
    took = time.perf_counter() - start
    done = len(os.listdir(root / ".harness" / "queue" / "done"))
    shutil.rmtree(root)
    assert done == items, f"{done} of {items} done"
    return took


def reclaim_after_crash(host_timeout: str) -> float:
    root, env = project(1)
    gate = 'while [ ! -e "$MH_ROOT/go" ]; do sleep 0.05; done; echo "<promise>COMPLETE</promise>"'
    options = ["-n", "1", "-q", "--host-timeout", host_timeout, "--heartbeat", "0.5s", "--agent-cmd", gate]
    a = subprocess.Popen(on_host("hostA", mh("pool", *options)), env=env, cwd=root)
    claimed = root / ".harness" / "queue" / "claimed"

    def holder() -> str | None:
        for claim in claimed.glob("*.claim"):
            try:
                return json.loads(claim.read_text())["host"]
            except (OSError, ValueError):
                return None
        return None

    while holder() != "hostA":
        time.sleep(0.02)
    b = subprocess.Popen(on_host("hostB", mh("pool", *options, "--exit-when-empty")), env=env, cwd=root)
    while not any(json.loads(p.read_text()).get("host") == "hostB"
                  for p in (root / ".harness" / "queue" / "pools").glob("*/pool.json")):
        time.sleep(0.02)
    a.kill()
    a.wait()
    crashed = time.perf_counter()
    while holder() != "hostB":
        time.sleep(0.02)
    took = time.perf_counter() - crashed
    (root / "go").touch()
    b.wait()
    shutil.rmtree(root)
    return took


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=60)
    p.add_argument("--work", type=float, default=0.5, help="seconds each item's agent works")
    p.add_argument("--workers", type=int, default=2, help="workers per host")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    if shutil.which("bwrap") is None:
        print("bench/hosts.py: bubblewrap is not installed (Debian package bubblewrap)", file=sys.stderr)
        return 2
    print(f"{args.items} items of {args.work:g}s work, {args.workers} workers per host, median of {args.runs}")
    one = None
    for hosts in (1, 2, 3):
        took = statistics.median(drain(hosts, args.items, args.work, args.workers) for _ in range(args.runs))
        one = one or took
        ideal = args.items * args.work / (hosts * args.workers)
        print(f"  {hosts} host{'s' if hosts > 1 else ' '}: drained in {took:6.2f}s  (speed-up {one / took:.2f}; "
              f"the work alone, perfectly spread: {ideal:.2f}s)")
    took = statistics.median(reclaim_after_crash("2s") for _ in range(args.runs))
    print(f"  a crashed host's item claimed again by another host {took:.2f}s after the crash (--host-timeout 2s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
