"""Following a growing file (the log, the event log) until its harness ends.

The follower subscribes to changes in the file's directory first, then reads, then waits:
an append between the read and the wait is never missed. A thread blocked on the
supervisor lock marks the end; the file is drained once more after it, so the last lines
written before the result are always shown.
"""

from __future__ import annotations

import threading
from pathlib import Path

from metaharness.liveness import block_until_released
from metaharness.notify import DirectoryWatch

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Iterator


def follow_lines(path: Path, harness_dir: Path, follow: bool) -> Iterator[str]:
    """Yield the lines of `path`; with `follow`, keep yielding appended lines until the harness ends."""
    changed, ended = threading.Event(), threading.Event()
    if follow:
        def watch_end() -> None:
            try:
                block_until_released(harness_dir / "lock")
            except OSError:
                pass  # a lock nobody can open (a directory, a symlink loop) is held by nobody
            ended.set()
            changed.set()

        threading.Thread(target=watch_end, daemon=True).start()
    else:
        ended.set()
    watch = DirectoryWatch(path.parent, changed.set) if follow else None
    try:
        with open(path, "rb") as f:
            pending = b""
            while True:
                changed.clear()
                was_over = ended.is_set()
                chunk = f.read()
                if chunk:
                    *lines, pending = (pending + chunk).split(b"\n")
                    yield from (line.decode("utf-8", "replace") for line in lines)
                    continue
                if was_over:
                    if pending:
                        yield pending.decode("utf-8", "replace")  # a last line without its newline
                    return
                changed.wait()
    finally:
        if watch is not None:
            watch.close()
