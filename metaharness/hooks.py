"""Hooks: executables in `.harness/hooks/` named after events, run like git hooks.

`on-EVENT` runs with MH_ID, MH_EVENT, MH_HARNESS_DIR, MH_REASON (and MH_ROOT) in its
environment, in its own process group, from a thread: a failing or hanging hook is
reported (`on_failure`) and ended after its timeout, and never blocks the caller.
Events: start, stall, loop, complete, fail, blocked, incomplete, stop, timeout,
interrupted, end (after any of the terminal ones), and dead (run by mh-watch).
"""

from __future__ import annotations

import os
import threading

from metaharness.process import run_bounded

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Callable, Final

HOOK_TIMEOUT_SECONDS: Final = 30.0


class Hooks:
    """Runs the hooks of one tree; `wait` lets a finishing supervisor give them their time."""

    def __init__(self, tree: Path | str, on_failure: Callable[[str, str], None], timeout: float = HOOK_TIMEOUT_SECONDS) -> None:
        self._dir = os.path.join(tree, "hooks")
        self._on_failure = on_failure
        self.timeout = timeout
        self._running: list[threading.Thread] = []

    def run(self, event: str, env: dict[str, str]) -> None:
        hook = os.path.join(self._dir, f"on-{event}")
        if not (os.path.isfile(hook) and os.access(hook, os.X_OK)):
            return
        thread = threading.Thread(target=self._run, args=(hook, event, env), daemon=True)
        self._running.append(thread)
        thread.start()

    def _run(self, hook: str, event: str, env: dict[str, str]) -> None:
        try:
            code = run_bounded([hook], {**os.environ, **env, "MH_EVENT": event}, self.timeout)
        except OSError as e:
            self._on_failure(os.path.basename(hook), f"cannot run: {e.strerror}")
            return
        if code is None:
            self._on_failure(os.path.basename(hook), f"killed after {self.timeout:g}s")
        elif code != 0:
            self._on_failure(os.path.basename(hook), f"exit {code}")

    def wait(self) -> None:
        """Block until the hooks started so far have ended (each is bounded by its timeout)."""
        for thread in self._running:
            thread.join()
