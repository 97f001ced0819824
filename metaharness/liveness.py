"""Is a harness's supervisor alive? The kernel answers, not a pid file.

The supervisor holds an exclusive flock on `<id>/lock` for its whole life; the kernel
drops it however the process dies. On the supervisor's own host a reader probes that lock
(non-blocking, shared, released at once); a waiter blocks on it, so it wakes the moment
the supervisor is gone. A supervisor on another host (a shared filesystem) is judged by
its heartbeat instead: alive while the heartbeat file is younger than a few intervals.
pid and process start time are recorded too, so a recycled pid never passes for the
supervisor. See mh-harness(7).
"""

from __future__ import annotations

import errno
import fcntl
import os
import time

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Final

MISSED_BEATS_FOR_DEAD: Final = 3


def this_host() -> str:
    return os.uname().nodename


def stat_fields(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat from the third (the state) on."""
    try:  # os.read, not open(): a buffered file costs four more system calls, paid per process
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        stat = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return stat[stat.rindex(b")") + 2 :].split()


def process_start_time(pid: int) -> int | None:
    """Clock ticks since boot at which `pid` started (field 22 of /proc/PID/stat)."""
    fields = stat_fields(pid)
    return None if fields is None else int(fields[19])


def same_process(pid: int, start_time: int | None) -> bool:
    """True iff `pid` is running and is the very process that started at `start_time`.

    A zombie is not running: it has exited and waits only for its parent to reap it, which
    a parent that is not ours (another harness's agent, say) may never do."""
    if start_time is None or not isinstance(pid, int) or pid <= 0:
        return False
    fields = stat_fields(pid)
    return fields is not None and fields[0] not in (b"Z", b"X") and int(fields[19]) == start_time


def hold_lock(path: Path | str) -> int:
    """Open and exclusively lock `path` without waiting; BlockingIOError if someone holds it.

    The returned fd is the lock: keep it open (it survives fork) for as long as you live.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        raise
    return fd


def lock_is_held(path: Path | str, dir_fd: int | None = None) -> bool:
    """Probe the supervisor lock without waiting. A missing lock file is not held."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    finally:
        os.close(fd)  # closing drops our probe lock too
    return False


def block_until_released(path: Path | str, dir_fd: int | None = None) -> None:
    """Block until nobody holds the supervisor lock (returns at once if the file is missing)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)


def supervisor_alive(harness_dir: Path | str, host: str | None, heartbeat_interval: float | None) -> bool:
    """Decide liveness: the lock on this host, the heartbeat's age on any other."""
    if host is None or host == this_host():
        return lock_is_held(os.path.join(harness_dir, "lock"))
    try:
        age = time.time() - os.stat(os.path.join(harness_dir, "heartbeat")).st_mtime
    except FileNotFoundError:
        return False
    return age < MISSED_BEATS_FOR_DEAD * (heartbeat_interval or 5.0)
