#!/usr/bin/env python3
"""Claims per second from the link(2)-claimed queue, for one claimer and for 8 concurrent
ones, next to a baseline that serializes every claim with one flock (filelock).

Run: .venv/bin/python bench/queue.py [--items N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from metaharness import liveness, queue  # noqa: E402


def claim_all(tree: Path, worker: str, barrier: multiprocessing.Barrier, serialize: bool) -> None:  # type: ignore[valid-type]
    from filelock import FileLock

    lock = liveness.hold_lock(queue.ensure(tree) / "workers" / f"{worker}.lock")
    big_lock = FileLock(str(tree / "queue" / "one.lock"))
    barrier.wait()
    while True:
        if serialize:
            with big_lock:
                item = queue.claim(tree, worker)
        else:
            item = queue.claim(tree, worker)
        if item is None:
            break
        queue.finish(tree, item["item"], True, "ok")
    os.close(lock)


def measure(items: int, claimers: int, serialize: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / ".harness"
        tree.mkdir()
        roadmap = Path(tmp) / "r.md"
        roadmap.write_text("- [ ] t\n")
        for _ in range(items):
            queue.add(tree, roadmap, 50, 3)
        barrier = multiprocessing.Barrier(claimers + 1)
        procs = [multiprocessing.Process(target=claim_all, args=(tree, f"w{i}", barrier, serialize)) for i in range(claimers)]
        for p in procs:
            p.start()
        barrier.wait()
        start = time.perf_counter()
        for p in procs:
            p.join()
        return items / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--items", type=int, default=2000)
    args = p.parse_args()
    for claimers in (1, 8):
        for serialize in (False, True):
            rate = measure(args.items, claimers, serialize)
            how = "one flock around each claim" if serialize else "link(2) claims, no lock"
            print(f"{claimers} claimer(s), {how:<30} {rate:8.0f} claims/s (claim + done, {args.items} items)")


if __name__ == "__main__":
    main()
