"""Filesystem change notification through watchdog: the only module that imports it.

Events are hints that something changed; callers re-read the files for the truth, and
subscribe before they read, so a change between the read and the wait is never missed.
inotify is used where it works; `MH_POLL=1` (or an inotify that cannot start, e.g. out
of watches) selects watchdog's polling observer, for filesystems such as NFS where
changes made on other hosts raise no local events.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Callable, Final

POLL_INTERVAL_SECONDS: Final = 0.5

# Changes only. Merely reading a file in a watched directory raises inotify's open and
# close-nowrite events; a watcher that re-reads on every event would wake itself for ever.
CHANGES: Final = [DirCreatedEvent, DirDeletedEvent, DirModifiedEvent, DirMovedEvent, FileClosedEvent,
                  FileCreatedEvent, FileDeletedEvent, FileModifiedEvent, FileMovedEvent]

# watchdog logs benign shutdown races, and warns when a recursive watch meets a directory
# renamed into place (how harnesses are published); a verb's stderr is for its own errors.
logging.getLogger("watchdog").addHandler(logging.NullHandler())
warnings.filterwarnings("ignore", message="Callback with id", category=RuntimeWarning)


class _Wake(FileSystemEventHandler):
    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback

    def on_any_event(self, event: FileSystemEvent) -> None:
        self._callback()


class DirectoryWatch:
    """Call `on_change` (from a watchdog thread) whenever `directory` changes."""

    def __init__(self, directory: Path, on_change: Callable[[], None], recursive: bool = False) -> None:
        self._directory = str(directory)
        self._handler = _Wake(on_change)
        self._recursive = recursive
        self._observer = self._start(polling=os.environ.get("MH_POLL") == "1")

    def _start(self, polling: bool):  # type: ignore[no-untyped-def]
        observer = PollingObserver(timeout=POLL_INTERVAL_SECONDS) if polling else Observer()
        observer.schedule(self._handler, self._directory, recursive=self._recursive, event_filter=CHANGES)
        try:
            observer.start()
        except OSError:
            if polling:
                raise
            return self._start(polling=True)  # inotify limits reached: poll instead
        return observer

    def close(self) -> None:
        self._observer.stop()
        self._observer.join()

    def __enter__(self) -> DirectoryWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_until(predicate: Callable[[], bool], directory: Path, timeout: float | None, recursive: bool = False) -> bool:
    """Block until `predicate()` holds, re-checking on every change in `directory`.

    Returns the predicate's last value; `timeout` None waits for ever.
    """
    changed = threading.Event()
    deadline = None if timeout is None else time.monotonic() + timeout
    with DirectoryWatch(directory, changed.set, recursive=recursive):
        while True:
            changed.clear()
            if predicate():
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            changed.wait(remaining)


def wait_for_path(path: Path, timeout: float | None) -> bool:
    """Block until `path` exists (watching its nearest existing ancestor); False on timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not path.exists():
        anchor = next(p for p in path.parents if p.is_dir())
        step = path if path.parent == anchor else next(p for p in path.parents if p.parent == anchor)
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return False
        wait_until(step.exists, anchor, remaining)
    return True
