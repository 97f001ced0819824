#!/usr/bin/env python3
"""Stand-in for a real agent CLI (installed as `claude`, `codex`, `gemini` in a test's PATH):
replays a transcript recorded from the real CLI and exits with the recorded exit status.

FAKE_LINGER: seconds to stay after the last line. FAKE_TRANSCRIPTS: comma-separated transcript paths, one per iteration ($MH_ITERATION picks;
the last repeats). Each call's argv and stdin are saved under $FAKE_LOG/<iteration>.json.
"""

import json
import os
import sys
import time


def main() -> int:
    stdin = sys.stdin.read()  # like the real CLIs: the whole prompt first
    iteration = int(os.environ.get("MH_ITERATION", "1"))
    transcripts = os.environ["FAKE_TRANSCRIPTS"].split(",")
    path = transcripts[min(iteration, len(transcripts)) - 1]
    log = os.environ.get("FAKE_LOG")
    if log:
        with open(os.path.join(log, f"{iteration}.json"), "w") as f:
            json.dump({"argv": sys.argv, "stdin": stdin, "cwd": os.getcwd()}, f)
    with open(path) as f:
        for line in f:
            sys.stdout.write(line)
            sys.stdout.flush()
            time.sleep(0.001)
    time.sleep(float(os.environ.get("FAKE_LINGER", "0")))  # a CLI slow to exit after its result
    meta_path = path.rsplit(".", 1)[0] + ".meta.json"
    exit_code = json.load(open(meta_path))["exit_code"] if os.path.exists(meta_path) else 0
    return 0 if exit_code == 143 else exit_code  # a recorded kill is replayed as a plain end


if __name__ == "__main__":
    sys.exit(main())
