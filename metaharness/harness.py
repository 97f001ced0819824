"""One harness directory: creating it atomically and reading what it says.

Creation builds the complete directory under `.harness/.tmp/`, locks it, then renames it
to `.harness/<id>`. rename(2) of a directory onto a non-empty one fails, so of two
concurrent spawns exactly one publishes; the other finds the id taken. A finished (or
dead) harness of the same id is first moved to `.harness/.archive/<id>.<instance>`, by a
spawner holding the old harness's lock, so a live harness is never moved.

Readers derive the status: result.json if it exists, else state.json, where a live status
whose supervisor is gone reads as `dead` and an unreadable file as `corrupt`. The result
is published before the supervisor lock is released, so a reader that finds the lock
free and then no result knows the supervisor died. See mh-harness(7).
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from metaharness import liveness
from metaharness.status import Exit, MhError, Status
from metaharness.tree import RESERVED_IDS, read_json, validate_id, write_json

SUBDIRECTORIES: Final = ("iterations", "inbox/tmp", "inbox/new", "inbox/cur", "control")
# How long a spawner waits for a lock held by a momentary reader probe or a finishing supervisor.
_LOCK_HANDOVER_SECONDS: Final = 2.0
_ABANDONED_BUILD_SECONDS: Final = 60.0


@dataclass(frozen=True)
class View:
    """What a reader knows about one harness at one moment."""

    id: str
    dir: Path
    status: Status
    spec: dict[str, Any]
    state: dict[str, Any]
    result: dict[str, Any] | None
    problem: str | None = None  # why it is corrupt

    @property
    def instance(self) -> str | None:
        return self.spec.get("instance") or self.state.get("instance")


def list_ids(tree: Path) -> list[str]:
    """Ids of the harness directories in the tree, sorted."""
    try:
        names = os.listdir(tree)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if not n.startswith(".") and n not in RESERVED_IDS and (tree / n).is_dir())


def harness_dir(tree: Path | None, harness_id: str) -> Path:
    """The directory of an existing harness, or a NO_SUCH_HARNESS error."""
    validate_id(harness_id)
    if tree is None or not (tree / harness_id).is_dir():
        raise MhError(f"no such harness: {harness_id}", Exit.NO_SUCH_HARNESS)
    return tree / harness_id


def inspect(directory: Path) -> View:
    """Read one harness directory into a View, deriving dead and corrupt."""
    spec = _read_optional(directory / "spec.json")
    try:
        result = _read_optional(directory / "result.json", missing=None)
        if result is not None:
            return View(directory.name, directory, Status(result["status"]), spec or {}, _read_optional(directory / "state.json") or {}, result)
        state = _read_optional(directory / "state.json", missing=None)
        if state is None:
            return View(directory.name, directory, Status.CORRUPT, spec or {}, {}, None, "state.json is missing")
        _check_types(state)
        status = Status(state["status"])
        if status.is_live and not liveness.supervisor_alive(directory, state.get("host"), state.get("heartbeat_interval")):
            # Published before the lock is released: a result now means it just finished.
            result = _read_optional(directory / "result.json", missing=None)
            if result is not None:
                return View(directory.name, directory, Status(result["status"]), spec or {}, state, result)
            status = Status.DEAD
        return View(directory.name, directory, status, spec or {}, state, None)
    except (ValueError, KeyError, TypeError, OSError) as e:
        return View(directory.name, directory, Status.CORRUPT, spec or {}, {}, None, str(e) or type(e).__name__)


_STATE_TYPES: Final = {"iteration": int, "progress": dict, "task": str, "started": str, "pid": int,
                       "host": str, "usage": dict, "last_tool": str, "waiting_for": str}


def _check_types(state: dict[str, Any]) -> None:
    """A state.json that parses but holds the wrong kinds of values is corrupt too."""
    for key, kind in _STATE_TYPES.items():
        if state.get(key) is not None and not isinstance(state[key], kind):
            raise TypeError(f"state.json: {key} should be {kind.__name__}, not {type(state[key]).__name__}")


def request_stop(directory: Path, instance: str | None, sender: str, reason: str) -> None:
    """Write control/stop for the instance living in `directory` (mh-stop, mh-run).

    The directory is opened first, so a harness spawned again under the same id in the
    meantime never receives a request meant for its predecessor.
    """
    from metaharness.tree import now_iso

    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        request = {"instance": instance, "from": sender, "time": now_iso(), "reason": reason}
        write_json("control/stop", request, dir_fd=fd)  # the moment of the request
    finally:
        os.close(fd)


def _read_optional(path: Path, missing: Any = {}) -> Any:
    try:
        return read_json(path)
    except FileNotFoundError:
        return missing
    except ValueError:
        if missing is None:
            raise
        return {}


def create(tree: Path, spec: dict[str, Any], state: dict[str, Any]) -> tuple[Path, int]:
    """Publish a new harness directory; return it and the fd that holds its lock.

    Raises MhError(ID_TAKEN) if a live harness has the id.
    """
    harness_id, instance = spec["id"], spec["instance"]
    _sweep_abandoned_builds(tree / ".tmp")
    build = tree / ".tmp" / f"{harness_id}.{instance}"
    build.mkdir(parents=True)
    lock_fd = -1
    try:
        for sub in SUBDIRECTORIES:
            (build / sub).mkdir(parents=True)
        lock_fd = liveness.hold_lock(build / "lock")
        write_json(build / "spec.json", spec, durable=True)
        write_json(build / "state.json", state)
        for name in ("heartbeat", "events.jsonl", "log"):
            (build / name).touch()
        _publish(tree, build, harness_id)
    except BaseException:
        if lock_fd >= 0:
            os.close(lock_fd)
        shutil.rmtree(build, ignore_errors=True)
        raise
    return tree / harness_id, lock_fd


def _sweep_abandoned_builds(tmp: Path) -> None:
    """Remove build directories left by a spawn that was killed before publishing.

    A build is locked right after its mkdir; the age guard covers that instant.
    """
    try:
        entries = list(tmp.iterdir())
    except FileNotFoundError:
        return
    for entry in entries:
        try:
            stale = time.time() - entry.stat().st_mtime > _ABANDONED_BUILD_SECONDS
        except FileNotFoundError:
            continue
        if stale and not liveness.lock_is_held(entry / "lock"):
            shutil.rmtree(entry, ignore_errors=True)


def _publish(tree: Path, build: Path, harness_id: str) -> None:
    target = tree / harness_id
    try:
        os.rename(build, target)  # the moment the harness exists
        return
    except OSError as e:
        if e.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
            raise
    _archive_finished(tree, harness_id)
    try:
        os.rename(build, target)
    except OSError as e:
        if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        raise MhError(f"harness {harness_id} is already running (spawned concurrently)", Exit.ID_TAKEN) from e


def _archive_finished(tree: Path, harness_id: str) -> None:
    """Move a finished or dead harness out of the way, or raise ID_TAKEN if it lives."""
    old = tree / harness_id
    if not old.is_dir():
        raise MhError(f"{old} exists and is not a harness directory", Exit.ID_TAKEN)
    state = _read_optional(old / "state.json")
    if state.get("host") not in (None, liveness.this_host()) and liveness.supervisor_alive(
        old, state.get("host"), state.get("heartbeat_interval")
    ):
        raise MhError(f"harness {harness_id} is running on {state['host']}", Exit.ID_TAKEN)
    if liveness.same_process(int(state.get("pid") or 0), state.get("pid_start")) and not (old / "result.json").exists():
        raise MhError(f"harness {harness_id} is already running (pid {state['pid']})", Exit.ID_TAKEN)
    try:
        lock_fd = take_ended_lock(old / "lock")
    except FileNotFoundError:
        lock_fd = None  # archived by a concurrent spawner a moment ago
    if lock_fd is None:
        raise MhError(f"harness {harness_id} is already running", Exit.ID_TAKEN)
    try:
        # Holding the lock proves nobody else is archiving it; the inode check proves the
        # name still denotes the directory we locked, not a harness published meanwhile.
        try:
            same = os.fstat(lock_fd).st_ino == os.stat(old / "lock").st_ino
        except FileNotFoundError:
            same = False
        if not same:
            raise MhError(f"harness {harness_id} was just spawned by someone else", Exit.ID_TAKEN)
        if state.get("agent_pid") and not (old / "result.json").exists():
            # Its supervisor was killed: the agent it left must not work on beside the new one.
            from metaharness.process import end_orphaned_agent

            end_orphaned_agent(int(state["agent_pid"]), str(state.get("instance")), 5.0)
        instance = state.get("instance") or f"unknown-{time.time_ns()}"
        os.rename(old, tree / ".archive" / f"{harness_id}.{instance}")
    finally:
        os.close(lock_fd)


def take_ended_lock(path: Path) -> int | None:
    """Lock a finished harness's lock file, waiting briefly for readers and a finishing supervisor."""
    try:
        return liveness.hold_lock(path)
    except BlockingIOError:
        pass
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    got = threading.Event()
    handover = threading.Lock()
    abandoned = False

    def wait_for_lock() -> None:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)
        with handover:
            if abandoned:
                os.close(fd)  # too late: never hold a lock nobody will release
            else:
                got.set()

    threading.Thread(target=wait_for_lock, daemon=True).start()
    got.wait(_LOCK_HANDOVER_SECONDS)
    with handover:
        if got.is_set():
            return fd
        abandoned = True
    return None
