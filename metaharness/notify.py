"""Filesystem change notification: the only module that watches directories.

Events are hints that something changed; callers re-read the files for the truth, and
subscribe before they read, so a change between the read and the wait is never missed.
One directory is watched with inotify(7) directly (ctypes, a thread, select); a tree
(`recursive`) through watchdog, which follows directories as they are created. Both are
imported only when used: watchdog costs a start some 15 ms, more than the whole of a
trivial harness's supervision. `MH_POLL=1` (or an inotify that cannot start, e.g. out of
watches) selects watchdog's polling observer, for filesystems such as NFS where changes
made on other hosts raise no local events.
"""

from __future__ import annotations

import os
import threading
import time

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Callable, Final

POLL_INTERVAL_SECONDS: Final = 0.5

# inotify(7): changes only. Merely reading a file in a watched directory raises open and
# close-nowrite events; a watcher that re-reads on every event would wake itself for ever.
_IN_CHANGES: Final = (0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800)
# IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
# | IN_DELETE_SELF | IN_MOVE_SELF


class DirectoryWatch:
    """Call `on_change` (from a thread of its own) whenever `directory` changes."""

    def __init__(self, directory: Path | str, on_change: Callable[[], None], recursive: bool = False) -> None:
        self._directory = str(directory)
        self._on_change = on_change
        self._recursive = recursive
        self._close = self._start(polling=os.environ.get("MH_POLL") == "1")

    def _start(self, polling: bool) -> Callable[[], None]:
        """Start watching; return how to stop."""
        try:
            if not (polling or self._recursive):
                return _Inotify(self._directory, self._on_change).close
            return _watchdog(self._directory, self._on_change, self._recursive, polling)
        except OSError:
            if polling:
                raise
            return self._start(polling=True)  # inotify limits reached: poll instead

    def close(self) -> None:
        self._close()

    def __enter__(self) -> DirectoryWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LazyWatch:
    """A DirectoryWatch made on first need: `start()` (again: nothing), `close()` if made."""

    def __init__(self, directory: Path | str, on_change: Callable[[], None]) -> None:
        self._directory, self._on_change = directory, on_change
        self._watch: DirectoryWatch | None = None

    @property
    def started(self) -> bool:
        return self._watch is not None

    def start(self) -> None:
        if self._watch is None:
            self._watch = DirectoryWatch(self._directory, self._on_change)

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None


class _Inotify:
    """One directory through inotify(7): a thread blocks in select() on the inotify fd and
    a pipe that close() writes to, and calls `on_change` for each batch of events."""

    def __init__(self, directory: str, on_change: Callable[[], None]) -> None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), directory)
        if libc.inotify_add_watch(fd, os.fsencode(directory), _IN_CHANGES) < 0:
            code = ctypes.get_errno()
            os.close(fd)
            raise OSError(code, os.strerror(code), directory)
        self._fd = fd
        self._stop_read, self._stop_write = os.pipe2(os.O_CLOEXEC)
        self._on_change = on_change
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import select

        while True:
            ready, _, _ = select.select([self._fd, self._stop_read], [], [])
            if self._stop_read in ready:
                return
            try:
                os.read(self._fd, 64 * 1024)  # the events themselves say nothing a reader trusts
            except BlockingIOError:
                continue
            self._on_change()

    def close(self) -> None:
        os.write(self._stop_write, b"x")
        self._thread.join()
        for fd in (self._fd, self._stop_read, self._stop_write):
            os.close(fd)


def _watchdog(directory: str, on_change: Callable[[], None], recursive: bool, polling: bool) -> Callable[[], None]:
    """Watch through watchdog (a tree, or polling); return how to stop."""
    import logging
    import warnings

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

    # watchdog logs benign shutdown races, and warns when a recursive watch meets a directory
    # renamed into place (how harnesses are published); a verb's stderr is for its own errors.
    logging.getLogger("watchdog").addHandler(logging.NullHandler())
    warnings.filterwarnings("ignore", message="Callback with id", category=RuntimeWarning)

    class Wake(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            on_change()

    changes = [DirCreatedEvent, DirDeletedEvent, DirModifiedEvent, DirMovedEvent, FileClosedEvent,
               FileCreatedEvent, FileDeletedEvent, FileModifiedEvent, FileMovedEvent]  # as _IN_CHANGES
    observer = PollingObserver(timeout=POLL_INTERVAL_SECONDS) if polling else Observer()
    observer.schedule(Wake(), directory, recursive=recursive, event_filter=changes)
    observer.start()

    def stop() -> None:
        observer.stop()
        observer.join()

    return stop


def wait_until(predicate: Callable[[], bool], directory: Path | str, timeout: float | None, recursive: bool = False) -> bool:
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


def wait_for_path(path: Path | str, timeout: float | None) -> bool:
    """Block until `path` exists (watching its nearest existing ancestor); False on timeout."""
    from pathlib import Path

    path = Path(path)
    deadline = None if timeout is None else time.monotonic() + timeout
    while not path.exists():
        anchor = next(p for p in path.parents if p.is_dir())
        step = path if path.parent == anchor else next(p for p in path.parents if p.parent == anchor)
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return False
        wait_until(step.exists, anchor, remaining)
    return True
