"""One harness directory: creating it atomically and reading what it says.

Creation builds the complete directory under `.harness/.tmp/`, locks it, then renames it
to `.harness/<id>`. rename(2) of a directory onto a non-empty one fails, so of two
concurrent spawns exactly one publishes; the other finds the id taken. A finished (or
dead) harness of the same id is first moved to `.harness/.archive/<id>.<instance>`, by a
spawner holding the old harness's lock, so a live harness is never moved.

Readers derive the status: result.json if it exists, else state.json, where a live status
whose supervisor is gone reads as `dead`, and a harness with a file that cannot be read,
or holds what metaharness.schema does not allow, as `corrupt`. The result
is published before the supervisor lock is released, so a reader that finds the lock
free and then no result knows the supervisor died. See mh-harness(7).
"""

from __future__ import annotations

import errno
import os
import time

from metaharness import liveness, schema
from metaharness.exits import Exit, MhError
from metaharness.records import typed_record
from metaharness.statuses import Status
from metaharness.tree import (
    RESERVED_IDS,
    find_tree_dir,
    locate_tree_dir,
    now_iso,
    read_json,
    validate_id,
    write_json,
)

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Callable, Final

    from metaharness.roadmap import Progress
    from metaharness.spec import Spec

SUBDIRECTORIES: Final = ("iterations", "inbox/tmp", "inbox/new", "inbox/cur", "control")
# How long a spawner waits for a lock held by a momentary reader probe or a finishing supervisor.
_LOCK_HANDOVER_SECONDS: Final = 2.0
_ABANDONED_BUILD_SECONDS: Final = 60.0
RESERVE_NAME: Final = "reserve"
RESERVE_BYTES: Final = 64 * 1024  # a result, the state, the last events and log lines, with room to spare
_BEAT_ON_OUTPUT_SECONDS: Final = 1.0  # at most one extra heartbeat per second of output
_ORPHAN_GRACE_SECONDS: Final = 10.0  # TERM to KILL for a dead harness's agent, when its spec says nothing usable
_ORPHAN_GRACE_LIMIT_SECONDS: Final = 600.0


@typed_record(frozen=True)
class View:
    """What a reader knows about one harness at one moment."""

    id: str
    path: str  # its directory (`dir` as a Path)
    status: Status
    spec: dict[str, Any]
    state: dict[str, Any]
    result: dict[str, Any] | None
    problem: str | None = None  # why it is corrupt

    @property
    def instance(self) -> str | None:
        return self.spec.get("instance") or self.state.get("instance")

    @property
    def dir(self) -> Path:
        from pathlib import Path  # made when asked: mh-send and mh-wait never ask

        return Path(self.path)


def list_ids(tree: Path | str) -> list[str]:
    """Ids of the harness directories in the tree, sorted."""
    try:
        names = os.listdir(tree)
    except FileNotFoundError:
        return []
    return sorted(n for n in names
                  if not n.startswith(".") and n not in RESERVED_IDS and os.path.isdir(os.path.join(tree, n)))


def harness_dir(tree: Path | None, harness_id: str) -> Path:
    """The directory of an existing harness, or a NOT_FOUND error."""
    from pathlib import Path

    return Path(existing_dir(tree, harness_id))


def existing_dir(tree: Path | str | None, harness_id: str) -> str:
    """harness_dir, as a str."""
    validate_id(harness_id)
    if tree is None or not os.path.isdir(os.path.join(tree, harness_id)):
        raise MhError(f"no such harness: {harness_id}", Exit.NOT_FOUND)
    return os.path.join(tree, harness_id)


def appeared(tree: Path | str | None, harness_id: str, deadline: float) -> str:
    """The directory of harness `harness_id`, waiting until `deadline` (time.monotonic)
    for one being spawned to appear (`mh-spawn a ... & mh-send a ...`); else NOT_FOUND."""
    validate_id(harness_id)
    directory = os.path.join(tree or locate_tree_dir(), harness_id)
    if not os.path.isdir(directory):
        from metaharness.notify import wait_for_path

        wait_for_path(directory, max(0.0, deadline - time.monotonic()))
    if tree is None:  # made by the spawn waited for: check its format and adopt its permissions
        tree = find_tree_dir()
    return existing_dir(tree, harness_id)


def inspect(directory: Path | str) -> View:
    """Read one harness directory into a View, deriving dead and corrupt.

    A corrupt View has an empty state and no result (and an empty spec if the spec is what
    is wrong), so every reader can use any View as the schema describes it.
    """
    spec: dict[str, Any] = {}
    directory = os.fspath(directory)
    name = os.path.basename(directory)
    try:
        spec = read_checked(directory, "spec.json", schema.SPEC) or {}
        result = read_checked(directory, "result.json", schema.RESULT)
        state = read_checked(directory, "state.json", schema.STATE)
        if result is not None:
            return View(name, directory, Status(result["status"]), spec, state or {}, result)
        if state is None:
            raise Corrupt("state.json is missing")
        status = Status(state["status"])
        if status.is_live and not liveness.supervisor_alive(directory, state.get("host"), state.get("heartbeat_interval")):
            # Published before the lock is released: a result now means it just finished.
            result = read_checked(directory, "result.json", schema.RESULT)
            if result is not None:
                return View(name, directory, Status(result["status"]), spec, state, result)
            status = Status.DEAD
        return View(name, directory, status, spec, state, None)
    except Corrupt as e:
        return View(name, directory, Status.CORRUPT, spec, {}, None, str(e))
    except OSError as e:  # the lock cannot be probed
        where = os.path.basename(os.fspath(e.filename or directory))
        return View(name, directory, Status.CORRUPT, spec, {}, None, f"{where}: {e.strerror or e}")


class Corrupt(ValueError):
    """A file of a harness that cannot be read as its schema says: the message says why."""


def read_checked(directory: Path | str | None, name: str, record: schema.Record, *,
                 dir_fd: int | None = None) -> dict[str, Any] | None:
    """Read `name` (in `directory`, or in the open directory `dir_fd`) and check it against
    `record`; None if it does not exist, Corrupt if it is not what `record` describes."""
    try:
        found = read_json(name if directory is None else os.path.join(directory, name), dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as e:  # a directory, a symlink loop, unreadable
        raise Corrupt(f"{name}: {e.strerror or e}") from None
    except ValueError as e:
        raise Corrupt(f"{name} is not a JSON object: {_first_line(e)}") from None
    problem = record.problem(found)
    if problem:
        raise Corrupt(f"{name}: {problem}")
    return found


def _first_line(e: Exception) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0][:200]


def starting_state(spec: Spec, progress: Progress) -> dict[str, Any]:
    """state.json as a harness is published: `starting`, held by the process creating it."""
    return {
        "id": spec.id, "instance": spec.instance, "status": Status.STARTING.value, "pid": os.getpid(),
        "pid_start": liveness.process_start_time(os.getpid()), "host": liveness.this_host(),
        "started": spec.created, "iteration": 0, "progress": {"done": progress.done, "total": progress.total},
        "task": progress.current_task, "heartbeat_interval": spec.heartbeat_interval,
    }


class LiveState:
    """A live harness's state.json and heartbeat, owned by its supervisor.

    Fields change a few at a time, from the loop and from the output pump's thread; each
    change is published whole, atomically (a reader sees the old state or the new one).
    The heartbeat is the mtime of `heartbeat`, touched every interval and, while the agent
    writes output, at most once a second more."""

    def __init__(self, directory: Path | str) -> None:
        self._dir = os.fspath(directory)
        self._record: dict[str, Any] = read_json(os.path.join(self._dir, "state.json"))
        import threading  # a supervisor's: readers of the tree need no threads

        self._lock = threading.Lock()
        self._last_beat = 0.0
        self._stopped = threading.Event()

    def __getitem__(self, key: str) -> Any:
        return self._record[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._record.get(key, default)

    def publish(self, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                self._record[key] = value.value if isinstance(value, Status) else value
            self._record["updated"] = now_iso()
            write_json(os.path.join(self._dir, "state.json"), self._record)

    def beat(self, throttled: bool = False) -> None:
        now = time.monotonic()
        if throttled and now - self._last_beat < _BEAT_ON_OUTPUT_SECONDS:
            return
        self._last_beat = now
        os.utime(os.path.join(self._dir, "heartbeat"))

    def beat_every(self, interval: float) -> None:
        """Start the heartbeat thread; it stops at stop_beating()."""
        import threading

        def beat() -> None:
            while not self._stopped.wait(interval):
                try:
                    self.beat()
                except OSError:
                    pass  # a vanished file must not kill the heartbeat; readers see it stale

        threading.Thread(target=beat, daemon=True).start()

    def stop_beating(self) -> None:
        self._stopped.set()


def stop_request(directory: Path | str, instance: str) -> str | None:
    """The reason of a stop request for this instance of the harness, if one was made (the
    supervisor's side of request_stop)."""
    try:
        request = read_json(os.path.join(directory, "control", "stop"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return "stop requested"  # an unreadable request is still a request
    if request.get("instance") not in (None, instance):
        return None  # addressed to an earlier harness of this id
    sender, reason = request.get("from", "mh-stop"), request.get("reason")
    return f"stopped by {sender}" + (f": {reason}" if reason else "")


def request_stop(directory: Path, instance: str | None, sender: str, reason: str) -> None:
    """Write control/stop for the instance living in `directory` (mh-stop, mh-run).

    The directory is opened first, so a harness spawned again under the same id in the
    meantime never receives a request meant for its predecessor.
    """
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        request = {"instance": instance, "from": sender, "time": now_iso(), "reason": reason}
        write_json("control/stop", request, dir_fd=fd)  # the moment of the request
    finally:
        os.close(fd)


def create(tree: Path | str, spec: dict[str, Any], state: dict[str, Any]) -> tuple[str, int]:
    """Publish a new harness directory; return it and the fd that holds its lock.

    Raises MhError(ID_TAKEN) if a live harness has the id. (Paths are str here: a
    detached mh-spawn returns without importing pathlib.)
    """
    tree = os.fspath(tree)
    harness_id, instance = spec["id"], spec["instance"]
    _sweep_abandoned_builds(os.path.join(tree, ".tmp"))
    build = os.path.join(tree, ".tmp", f"{harness_id}.{instance}")
    os.makedirs(build)
    lock_fd = -1
    try:
        for sub in SUBDIRECTORIES:
            os.makedirs(os.path.join(build, sub))
        lock_fd = liveness.hold_lock(os.path.join(build, "lock"))
        write_json(os.path.join(build, "spec.json"), spec, durable=True)
        write_json(os.path.join(build, "state.json"), state)
        for name in ("heartbeat", "events.jsonl", "log"):
            os.close(os.open(os.path.join(build, name), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666))
        _reserve_space(os.path.join(build, RESERVE_NAME))
        _publish(tree, build, harness_id)
    except BaseException:
        if lock_fd >= 0:
            os.close(lock_fd)
        import shutil

        shutil.rmtree(build, ignore_errors=True)
        raise
    return os.path.join(tree, harness_id), lock_fd


def _reserve_space(path: str) -> None:
    """Set disk space aside for the result: a supervisor that meets a full disk frees it
    to write result.json, so the harness ends `failed: disk full`, not `dead`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        try:
            os.posix_fallocate(fd, 0, RESERVE_BYTES)
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
            os.write(fd, bytes(RESERVE_BYTES))  # a filesystem without fallocate
    finally:
        os.close(fd)


def _sweep_abandoned_builds(tmp: str) -> None:
    """Remove build directories left by a spawn that was killed before publishing.

    A build is locked right after its mkdir; the age guard covers that instant.
    """
    try:
        entries = [os.path.join(tmp, name) for name in os.listdir(tmp)]
    except FileNotFoundError:
        return
    for entry in entries:
        try:
            stale = time.time() - os.stat(entry).st_mtime > _ABANDONED_BUILD_SECONDS
        except FileNotFoundError:
            continue
        if stale and not liveness.lock_is_held(os.path.join(entry, "lock")):
            import shutil

            shutil.rmtree(entry, ignore_errors=True)


def _publish(tree: str, build: str, harness_id: str) -> None:
    target = os.path.join(tree, harness_id)
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


def _archive_finished(tree: str, harness_id: str) -> None:
    """Move a finished or dead harness out of the way, or raise ID_TAKEN if it lives."""
    old = os.path.join(tree, harness_id)
    if not os.path.isdir(old):
        raise MhError(f"{old} exists and is not a harness directory", Exit.ID_TAKEN)
    try:
        state = read_checked(old, "state.json", schema.STATE) or {}
    except (Corrupt, OSError):
        state = {}  # nothing to learn from it: the lock alone decides
    if state.get("host") not in (None, liveness.this_host()) and liveness.supervisor_alive(
        old, state.get("host"), state.get("heartbeat_interval")
    ):
        raise MhError(f"harness {harness_id} is running on {state['host']}", Exit.ID_TAKEN)
    if liveness.same_process(state.get("pid"), state.get("pid_start")) and not os.path.exists(os.path.join(old, "result.json")):
        raise MhError(f"harness {harness_id} is already running (pid {state['pid']})", Exit.ID_TAKEN)
    try:
        lock_fd = take_ended_lock(os.path.join(old, "lock"))
    except FileNotFoundError:
        lock_fd = None  # archived by a concurrent spawner a moment ago
    if lock_fd is None:
        raise MhError(f"harness {harness_id} is already running", Exit.ID_TAKEN)
    try:
        # Holding the lock proves nobody else is archiving it; the inode check proves the
        # name still denotes the directory we locked, not a harness published meanwhile.
        try:
            same = os.fstat(lock_fd).st_ino == os.stat(os.path.join(old, "lock")).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            raise MhError(f"harness {harness_id} was just spawned by someone else", Exit.ID_TAKEN)
        if not os.path.exists(os.path.join(old, "result.json")):
            # Its supervisor was killed: the agent it left must not work on beside the new one.
            end_orphans(old, state.get("instance"), _spec_value(old, "grace"))
        instance = state.get("instance") or f"unknown-{time.time_ns()}"
        os.makedirs(os.path.join(tree, ".archive"), exist_ok=True)  # made with the tree; remade if someone removed it
        os.rename(old, os.path.join(tree, ".archive", f"{harness_id}.{instance}"))
    finally:
        os.close(lock_fd)


def _spec_value(directory: str, key: str) -> object:
    try:
        return (read_json(os.path.join(directory, "spec.json"))).get(key)
    except (OSError, ValueError, AttributeError):
        return None  # end_orphans falls back on its default


def end_orphans(directory: Path | str, instance: object, grace: object) -> None:
    """End what the agent of a dead harness left running (its supervisor was killed, so
    nobody else ever will): TERM, `grace`, KILL. A SYSTEM error if something outlived KILL.

    Harnesses the agent spawned are left alone: their supervisors hold their own locks. A
    harness that ran on another host left its processes there, out of reach: nothing here
    is touched for it (its instance id could match nothing here anyway)."""
    from metaharness import process

    try:
        host = read_json(os.path.join(directory, "state.json")).get("host")
    except (OSError, ValueError):
        host = None
    if isinstance(host, str) and host != liveness.this_host():
        return

    if not isinstance(grace, (int, float)) or not 0 <= grace <= _ORPHAN_GRACE_LIMIT_SECONDS:
        grace = _ORPHAN_GRACE_SECONDS  # a spec.json that lost its value still gets its agent ended
    survivors = process.end_orphaned_agent(instance if isinstance(instance, str) else "", float(grace),
                                           supervisor_in(os.path.dirname(directory)))
    if survivors:
        pids = " ".join(map(str, survivors))
        raise MhError(f"{os.path.basename(directory)}: processes its agent started outlived SIGKILL (pids {pids})", Exit.SYSTEM)


def supervisor_in(tree: Path | str) -> Callable[[int], bool]:
    """A test for 'this pid supervises harnesses of `tree`': it holds a lock file there open
    for writing (a harness's supervisor, a pool's worker), not just to wait on it."""
    from metaharness.process import holds_writable

    top = os.path.realpath(tree) + os.sep
    return lambda pid: holds_writable(pid, lambda path: path.startswith(top) and path.endswith("lock"))


def take_ended_lock(path: Path | str) -> int | None:
    """Lock a finished harness's lock file, waiting briefly for readers and a finishing supervisor."""
    try:
        return liveness.hold_lock(path)
    except BlockingIOError:
        pass
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    import threading

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
