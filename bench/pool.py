#!/usr/bin/env python3
"""Pool throughput: 30 queued items, an agent that works 1 s per item, with 1, 3 and 10
workers (mh-pool --exit-when-empty). Prints wall times and speed-ups.

Run: .venv/bin/python bench/pool.py [--items 30]
"""

from __future__ import annotations

import argparse
import compileall
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / "bin"


def drain(items: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MH_ROOT": tmp, "PATH": f"{BIN}:{Path(sys.executable).parent}:{os.environ['PATH']}"}
        for i in range(items):
            road = Path(tmp) / f"r{i:02d}.md"
            road.write_text("- [ ] one task\n")
        roads = sorted(str(p) for p in Path(tmp).glob("r*.md"))
        subprocess.run([sys.executable, str(BIN / "mh-queue"), "add", *roads], env=env, check=True, capture_output=True)
        start = time.perf_counter()
        subprocess.run([sys.executable, str(BIN / "mh-pool"), "-q", "-n", str(workers), "--exit-when-empty",
                        "--agent-cmd", "sleep 1; echo '<promise>COMPLETE</promise>'"], env=env, check=True)
        return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--items", type=int, default=30)
    args = p.parse_args()
    # As an installed package has it: without bytecode (PYTHONDONTWRITEBYTECODE, an editable
    # install) every start would compile the package again.
    compileall.compile_dir(REPO / "metaharness", quiet=1)
    base = drain(args.items, 1)
    print(f" 1 worker : {base:6.1f} s")
    for n in (3, 10):
        t = drain(args.items, n)
        print(f"{n:2d} workers: {t:6.1f} s  speed-up {base / t:4.1f}x")


if __name__ == "__main__":
    main()
