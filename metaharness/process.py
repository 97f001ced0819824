"""Agent processes: the one module that forks, signals and reaps.

Each agent runs as the leader of a new session and process group, so one killpg reaches
everything it started. Ending an agent is TERM to the group, a grace period, then KILL.
When the leader exits, it is left a zombie (waitid WNOWAIT) until its group has been
signalled: while the zombie exists its pid, and so the group id, cannot be recycled,
so the signal can never reach a stranger's processes.

A group is not a cage: an agent CLI may run its tools in a session of their own (Claude
Code and Gemini CLI do), or a command may double-fork. The supervisor is a child
subreaper, so whatever the agent started stays its descendant, however it detached; at
the end of every iteration the supervisor ends all its descendants but its own helpers
(hooks, git) and other harnesses' supervisors. A process is signalled through a pidfd
opened while its start time still matched, so a recycled pid is never hit. When the
supervisor itself was killed, what its agent left is found by MH_INSTANCE in the
environment, which every process the agent started inherits.
"""

from __future__ import annotations

# Signals are sent through _signal, the C module under signal, whose numbers are plain
# ints: signal wraps them in enums, and importing enum costs every supervisor (and mh-spawn
# --detach) some 3 ms. signal is imported only to name a signal in a message.
import _signal
import _thread
import errno
import os
import time

from metaharness.agents import Invocation
from metaharness.exits import Exit
from metaharness.liveness import stat_fields
from metaharness.records import typed_record

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    import subprocess  # imported where a helper is started: agents are started without it
    import threading  # imported where a thread is made: a detached mh-spawn makes none
    from pathlib import Path
    from typing import Any, Callable, Final

_PR_SET_CHILD_SUBREAPER: Final = 36
_REAP_AFTER_KILL_SECONDS: Final = 5.0

# Helper programs (hooks, git) this process runs beside its agent: the end-of-iteration
# sweep spares them. The lock covers fork-and-record, so a scan never sees one unrecorded.
_helpers: set[int] = set()
_helpers_lock = _thread.allocate_lock()


def _start_helper(argv: list[str], env: dict[str, str], stdin: Any = None,
                  **popen: Any) -> subprocess.Popen[Any]:
    """Start a helper program in a session of its own (stdin None: /dev/null)."""
    import subprocess

    with _helpers_lock:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL if stdin is None else stdin,
                                start_new_session=True, umask=user_umask(), **popen)
        _helpers.add(proc.pid)
    return proc


def _helper_done(proc: subprocess.Popen[Any]) -> None:
    with _helpers_lock:
        _helpers.discard(proc.pid)


def user_umask() -> int:
    """The umask the user started us with: what agents and helpers create files with
    (ours is tightened for the private .harness tree; see tree.adopt_tree_mode)."""
    saved = os.environ.get("MH_USER_UMASK")
    if saved is not None:
        try:
            return int(saved, 8) & 0o777
        except ValueError:
            pass
    current = os.umask(0o077)
    os.umask(current)
    return current


@typed_record(frozen=True)
class ExitInfo:
    code: int | None  # exit code, when the agent exited
    signal: int | None  # the signal that killed it, when it was killed

    @property
    def ok(self) -> bool:
        return self.code == 0

    def describe(self) -> str:
        if self.signal is not None:
            import signal

            try:
                return f"killed by {signal.Signals(self.signal).name}"
            except ValueError:  # a real-time signal has no name of its own
                return f"killed by signal {self.signal}"
        return f"exit {self.code}"


def become_subreaper() -> None:
    """Adopt orphaned descendants (Linux); harmless where unsupported.

    One prctl(2) call, made through _ctypes: importing ctypes itself would cost every
    supervisor about 3 ms, for nothing else."""
    try:
        import _ctypes

        prctl = _ctypes.dlsym(_ctypes.dlopen(None, os.RTLD_NOW), "prctl")
        _ctypes.call_function(prctl, (_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
    except (ImportError, OSError, AttributeError):
        pass


def reap_strays() -> None:
    """Collect exited descendants adopted by the subreaper (call while no agent runs)."""
    reap_exited()


def fork(child: Callable[[], int]) -> int:
    """Fork; the child runs `child` and exits with what it returns (70 if it raises)."""
    pid = os.fork()
    if pid != 0:
        return pid
    code = int(Exit.SOFTWARE)
    try:
        code = child()
    finally:
        os._exit(code)


def reap_exited() -> list[tuple[int, int]]:
    """Reap the children that have exited, without waiting: (pid, exit code), the code as
    Popen gives it (-N: killed by signal N)."""
    reaped = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append((pid, os.waitstatus_to_exitcode(status)))


def signal_child(pid: int, signum: int) -> None:
    """Signal a child of ours that has not been reaped yet (so never a recycled pid)."""
    os.kill(pid, signum)


def start_server(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start a helper that talks on its stdin and stdout (the pool's fork server)."""
    import subprocess

    return subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def detach(log_path: Path | str, keep: tuple[int, ...] = ()) -> bool:
    """Fork a child in a session of its own, with stdio on `log_path` and no other open
    descriptor but those in `keep`; True in the child, False in the caller.

    The child is forked twice: its caller (mh-spawn, or the interpreter mh-run starts for
    it) is not its parent, so nobody but the init process or a subreaper has to reap it,
    and, not a session's leader, it can never take a terminal for its own. Descriptors
    the caller holds must not live on in a supervisor."""
    middle = os.fork()
    if middle != 0:
        _, status = os.waitpid(middle, 0)
        if os.waitstatus_to_exitcode(status) != 0:  # setsid or the second fork failed: no supervisor
            raise OSError(errno.ECHILD, "the supervisor could not be started in a session of its own")
        return False
    try:
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        null = os.open(os.devnull, os.O_RDONLY)
        log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        for fd in _descriptors_above_stderr():
            if fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass  # the listing's own descriptor, closed already
    except BaseException:
        os._exit(Exit.SYSTEM)
    return True


# posix_spawn takes neither a directory nor a umask: this shell sets both, then becomes
# the agent (exec: same pid, same session). It also finds the program on the agent's PATH.
_ENTER: Final = 'umask "$1" && cd -- "$2" && shift 2 && exec "$@"'


def spawn_in_session(argv: list[str], *, cwd: Path | str, env: dict[str, str],
                     stdio: tuple[int | None, int, int]) -> int:
    """Start `argv` as the leader of a new session, in `cwd`, with the user's umask, the
    given descriptors as its stdin (None: /dev/null), stdout and stderr, and no other
    descriptor of ours; its pid.

    posix_spawn rather than subprocess: it is C all the way to exec, so safe beside our
    threads, and the supervisor of every harness is spared importing subprocess (~4 ms).
    Signals we ignore (SIGPIPE) are set back to their default, as subprocess does."""
    _check_runnable(argv[0], env.get("PATH", os.defpath), os.fspath(cwd))
    stdin, stdout, stderr = stdio
    actions: list[tuple[Any, ...]] = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0) if stdin is None else (os.POSIX_SPAWN_DUP2, stdin, 0),
        (os.POSIX_SPAWN_DUP2, stdout, 1),
        (os.POSIX_SPAWN_DUP2, stderr, 2),
    ]
    actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_descriptors() if fd not in stdio]
    return os.posix_spawn("/bin/sh", ["sh", "-c", _ENTER, "sh", f"{user_umask():03o}", os.fspath(cwd), *argv], env,
                          file_actions=actions, setsid=True, setsigdef=(_signal.SIGPIPE, _signal.SIGXFSZ))


def _check_runnable(program: str, search_path: str, cwd: str) -> None:
    """Raise what starting `program` in `cwd` would meet, as subprocess does: the shell
    that starts it would only exit 127 (or 2), and the harness would go on trying.
    FileNotFoundError for a missing directory or program, PermissionError for a program
    found but not executable. (Removed in the instant before the exec, it is the shell's
    127 after all.)"""
    if not os.path.isdir(cwd):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), cwd)
    found_but_not_executable = False
    places = [""] if "/" in program else search_path.split(":")
    for place in places:
        candidate = os.path.join(cwd, place, program)  # an absolute place or program wins over cwd
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return
            found_but_not_executable = True
    code = errno.EACCES if found_but_not_executable else errno.ENOENT
    raise (PermissionError if found_but_not_executable else FileNotFoundError)(code, os.strerror(code), program)


def _inheritable_descriptors() -> list[int]:
    """Our descriptors above stderr an exec would pass on (ours are close-on-exec; one the
    user's shell or make handed us may not be)."""
    found = []
    for fd in _descriptors_above_stderr():
        try:
            if os.get_inheritable(fd):
                found.append(fd)
        except OSError:
            pass  # the listing's own descriptor, closed already
    return found


def _descriptors_above_stderr() -> list[int]:
    """This process's open descriptors above 2, as /proc lists them (the listing's own
    among them, though it is closed by then)."""
    return [fd for fd in map(int, os.listdir("/proc/self/fd")) if fd > 2]


def _pipe(reading: bool = False) -> tuple[int, Any]:
    """A pipe: the child's end (a descriptor) and ours (a binary file)."""
    r, w = os.pipe()
    return (w, open(r, "rb")) if reading else (r, open(w, "wb"))


class AgentProcess:
    """One running agent: its process group, its output pump and its exit."""

    def __init__(
        self,
        invocation: Invocation,
        *,
        cwd: Path,
        env: dict[str, str],
        stderr_path: Path,
        on_line: Callable[[bytes], None],
        on_exit: Callable[[], None],
    ) -> None:
        import threading

        self._exited = threading.Event()
        self._exit: ExitInfo | None = None
        self.survivors: list[int] = []
        self._on_exit = on_exit
        stdin_fd, self._stdin = _pipe() if invocation.stdin is not None else (None, None)
        stdout_fd, self._stdout = _pipe(reading=True)
        stderr_fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            self.pid = spawn_in_session(invocation.argv, cwd=cwd, env=env, stdio=(stdin_fd, stdout_fd, stderr_fd))
        except BaseException:
            for end in (self._stdin, self._stdout):
                if end is not None:
                    end.close()
            raise
        finally:
            for fd in (stdin_fd, stdout_fd, stderr_fd):
                if fd is not None:
                    os.close(fd)
        self._threads = [
            threading.Thread(target=self._pump, args=(on_line,), daemon=True),
            threading.Thread(target=self._await_exit, daemon=True),
        ]
        if invocation.stdin is not None:
            self._threads.append(threading.Thread(target=self._feed, args=(invocation.stdin,), daemon=True))
        for t in self._threads:
            t.start()

    @property
    def exited(self) -> bool:
        return self._exited.is_set()

    def _feed(self, data: bytes) -> None:
        stdin = self._stdin
        assert stdin is not None
        try:
            stdin.write(data)
        except (BrokenPipeError, ValueError):
            pass  # the agent does not read its stdin: fine
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def _pump(self, on_line: Callable[[bytes], None]) -> None:
        with self._stdout as stdout:
            for line in stdout:
                on_line(line)

    def _await_exit(self) -> None:
        info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)  # leaves the zombie
        if info.si_code == os.CLD_EXITED:
            self._exit = ExitInfo(info.si_status, None)
        else:
            self._exit = ExitInfo(None, info.si_status)
        self._exited.set()
        self._on_exit()

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def terminate(self, grace: float) -> None:
        """TERM the group; KILL it if the leader has not exited after `grace` seconds."""
        self._signal_group(_signal.SIGTERM)
        if not self._exited.wait(grace):
            self._signal_group(_signal.SIGKILL)
            self._exited.wait()

    def finish(self, grace: float, sweep_sparing: Callable[[int], bool] | None = None) -> ExitInfo:
        """After the leader exited: end what it left in its group, reap, drain output.

        With `sweep_sparing` (the supervisor's case), every descendant of this process but
        the subtrees it accepts is ended along with the group, in the same grace period
        (see end_descendants); the pids that outlived even KILL are left in `survivors`."""
        self._exited.wait()
        self._signal_group(_signal.SIGTERM)  # leftovers only: the leader is a zombie by now
        if sweep_sparing is not None:
            # The group's members are descendants too: one TERM, grace, KILL for all of them.
            # The leader's zombie may be reaped here, so the group is not signalled again.
            self.survivors = end_descendants(grace, sweep_sparing, besides=self.pid)
            self._reap_group(block=False)  # a survivor of KILL must not hang the supervisor
        else:
            import threading

            reaper = threading.Thread(target=self._reap_group, daemon=True)
            reaper.start()
            reaper.join(grace)
            if reaper.is_alive():
                self._signal_group(_signal.SIGKILL)
                reaper.join(_REAP_AFTER_KILL_SECONDS)
        # A process that left the group but kept stdout open must not hang the supervisor.
        self._threads[0].join(grace)
        assert self._exit is not None
        return self._exit

    def _reap_group(self, block: bool = True) -> None:
        while True:
            try:
                if os.waitid(os.P_PGID, self.pid, os.WEXITED | (0 if block else os.WNOHANG)) is None:
                    return  # members remain, none has exited
            except ChildProcessError:
                return


# -- ending processes that left their group ----------------------------------------------


@typed_record(frozen=True)
class Proc:
    """One line of the process table: enough to find a tree and to name a process safely."""

    pid: int
    ppid: int
    pgid: int
    start: int  # clock ticks since boot: with the pid, unique for the life of the system
    zombie: bool


def _read_proc(pid: int) -> Proc | None:
    fields = stat_fields(pid)
    if fields is None:
        return None
    return Proc(pid, int(fields[1]), int(fields[2]), int(fields[19]), fields[0] in (b"Z", b"X"))


def process_table() -> dict[int, Proc]:
    """Every process this one can see, by pid."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (proc := _read_proc(int(name))) is not None:
            table[proc.pid] = proc
    return table


def descendants(root: int, table: dict[int, Proc], spare: Callable[[int], bool]) -> list[Proc]:
    """The processes below `root`, leaving out every subtree whose top `spare` accepts."""
    children: dict[int, list[Proc]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc)
    found, frontier = [], [root]
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child.pid not in _helpers and not spare(child.pid):
                found.append(child)
                frontier.append(child.pid)
    return found


def holds_writable(pid: int, wanted: Callable[[str], bool]) -> bool:
    """Does `pid` hold open, for writing, a file whose path `wanted` accepts? A supervisor
    holds its lock so (O_RDWR) for life; a waiter such as mh-wait opens it read-only."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if wanted(os.readlink(f"/proc/{pid}/fd/{fd}")) and _access_mode(pid, fd) != os.O_RDONLY:
                return True
        except (OSError, ValueError):
            continue
    return False


def _access_mode(pid: int, fd: str) -> int:
    with open(f"/proc/{pid}/fdinfo/{fd}") as f:
        flags = next(line for line in f if line.startswith("flags:")).split()[1]
    return int(flags, 8) & os.O_ACCMODE


def _carries(pid: int, variable: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return variable in f.read().split(b"\0")
    except OSError:
        return False


def end_processes(find: Callable[[], list[Proc]], grace: float) -> list[int]:
    """TERM every process `find` returns, KILL what is left after `grace` seconds; return
    the pids that outlived KILL too, or that could not be signalled (normally none).

    `find` is asked again after every exit, so a process forked meanwhile is caught. Each
    process is held by a pidfd, opened while its start time still matched its pid."""
    pidfds: dict[tuple[int, int], int] = {}
    signalled: dict[int, int] = {}  # pidfd -> the last signal sent to it
    unreachable: set[int] = set()
    sig, deadline = _signal.SIGTERM, time.monotonic() + grace
    try:
        while True:
            running = []
            for proc in find():
                key = (proc.pid, proc.start)
                if key not in pidfds:
                    try:
                        fd = _open_pidfd(proc)
                    except OSError:  # out of descriptors, say: it cannot be ended, so it is reported
                        unreachable.add(proc.pid)
                        continue
                    if fd is None:
                        continue  # gone already
                    pidfds[key] = fd
                fd = pidfds[key]
                if proc.zombie or _has_exited(fd):
                    _reap_if_mine(proc.pid)
                    continue
                if signalled.get(fd) != sig:
                    try:
                        _signal.pidfd_send_signal(fd, sig)
                    except ProcessLookupError:
                        continue
                    except PermissionError:  # another user's, under a name we matched: not ours to end
                        unreachable.add(proc.pid)
                        continue
                    signalled[fd] = sig
                running.append(fd)
            if not running:
                return sorted(unreachable)
            now = time.monotonic()
            if now >= deadline:
                if sig == _signal.SIGKILL:
                    return sorted(unreachable | {pid for (pid, _), fd in pidfds.items() if fd in running})
                sig, deadline = _signal.SIGKILL, now + _REAP_AFTER_KILL_SECONDS
                continue
            _wait_for_an_exit(running, deadline - now)
    finally:
        for fd in pidfds.values():
            os.close(fd)


def _open_pidfd(proc: Proc) -> int | None:
    """A pidfd for `proc`, or None if it has gone (or its pid now names another process)."""
    try:
        fd = os.pidfd_open(proc.pid)
    except ProcessLookupError:
        return None
    again = _read_proc(proc.pid)
    if again is None or again.start != proc.start:  # the pid was recycled before we held it
        os.close(fd)
        return None
    return fd


def _has_exited(pidfd: int) -> bool:
    return _wait_for_an_exit([pidfd], 0)


def _wait_for_an_exit(pidfds: list[int], timeout: float) -> bool:
    """Wait until one of the processes has exited (its pidfd is readable); poll, not
    select, so descriptors past 1024 work."""
    import select

    poller = select.poll()
    for fd in pidfds:
        poller.register(fd, select.POLLIN)
    return bool(poller.poll(max(0, int(timeout * 1000))))


def _reap_if_mine(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # its parent reaps it, or it is re-parented to us and reaped next time


def _has_children(besides: int | None = None) -> bool:
    """Has this process a child, alive or a zombie, other than `besides` (an agent's
    leader, a zombie kept until its group has been signalled)? If not, it has no other
    descendants either: an orphan is re-parented to this subreaper, so each one hangs below
    a child. The process table (a read per process on the machine) is read only when there
    are: after a trivial agent that is a millisecond saved between its exit and its result."""
    for _ in range(3):
        children = _children()
        if children is not None:
            return bool(children - {besides})
    try:  # no listing to be had: any child at all, then
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def _children() -> set[int] | None:
    """Our children, from each thread's /proc listing; None if a thread ended while they
    were read (its children pass to another thread, perhaps one already read) or the
    kernel has no such listing."""
    children: set[int] = set()
    try:
        for task in os.listdir("/proc/self/task"):
            fd = os.open(f"/proc/self/task/{task}/children", os.O_RDONLY | os.O_CLOEXEC)
            try:
                listing = b""
                while chunk := os.read(fd, 65536):
                    listing += chunk
            finally:
                os.close(fd)
            children.update(map(int, listing.split()))
    except FileNotFoundError:
        return None
    return children


def end_descendants(grace: float, spare: Callable[[int], bool], besides: int | None = None) -> list[int]:
    """End everything this process started except its helpers and what `spare` accepts
    (with their subtrees): what an agent left behind outside its group. `besides`: the
    pid of a child already ended and not yet reaped (the agent's leader)."""
    me = os.getpid()

    def find() -> list[Proc]:
        with _helpers_lock:
            if not _has_children(besides):
                return []
            return descendants(me, process_table(), spare)

    return end_processes(find, grace)


def end_orphaned_agent(instance: str, grace: float, spare: Callable[[int], bool]) -> list[int]:
    """End what the agent of a dead supervisor left running: every process carrying
    MH_INSTANCE=`instance`, with the rest of their process groups (a member that cleared
    its environment), but not what `spare` accepts nor this process and its ancestors.
    TERM, `grace`, KILL; returns the pids that survived (normally none)."""
    if not instance:
        return []  # nothing names the agent's processes safely
    marker = f"MH_INSTANCE={instance}".encode()
    exempt = _ancestry(os.getpid())

    def find() -> list[Proc]:
        table = process_table()
        ours = [p for p in table.values() if p.pid not in exempt and not p.zombie and _carries(p.pid, marker)]
        groups = {p.pgid for p in ours}
        found = {p.pid: p for p in ours}
        found.update((p.pid, p) for p in table.values() if p.pgid in groups and p.pid not in exempt)
        spared = set()
        for top in [pid for pid in found if spare(pid)]:  # another harness: it and all below it
            spared.add(top)
            spared.update(d.pid for d in descendants(top, table, lambda _: False))
        return [p for pid, p in found.items() if pid not in spared]

    return end_processes(find, grace)


def _ancestry(pid: int) -> set[int]:
    chain = set()
    while pid > 1 and pid not in chain:
        chain.add(pid)
        proc = _read_proc(pid)
        if proc is None:
            break
        pid = proc.ppid
    return chain


def capture_bounded(argv: list[str], env: dict[str, str], timeout: float, cwd: Path | None = None,
                    input: str | None = None) -> subprocess.CompletedProcess[str] | None:
    """Run a helper program (git) in its own session, capturing its output, so Ctrl+C at
    the terminal is for us to handle, not to kill it half-way; None if it had to be
    killed, with everything it started, after `timeout` seconds. Output that is not UTF-8
    (a Latin-1 file name, say) is kept as surrogate escapes, never an error. `input` goes
    to its standard input."""
    import subprocess

    proc = _start_helper(argv, env, stdin=None if input is None else subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, encoding="utf-8",
                         errors="surrogateescape", cwd=cwd)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, _signal.SIGKILL)
        try:
            proc.communicate(timeout=_REAP_AFTER_KILL_SECONDS)
        except subprocess.TimeoutExpired:  # a descendant that left the group still holds the pipes
            proc.wait()
        return None
    finally:
        _helper_done(proc)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def run_bounded(argv: list[str], env: dict[str, str], timeout: float) -> int | None:
    """Run a helper program (a hook) in its own group; its exit status, or None if it had
    to be killed after `timeout` seconds. Blocks: call it from a thread."""
    import subprocess

    proc = _start_helper(argv, env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, _signal.SIGKILL)
        proc.wait()
        return None
    finally:
        _helper_done(proc)


GATE_GRACE_SECONDS: Final = 2.0  # TERM, then this long, then KILL: a check has nothing to save


def run_gate(argv: list[str], env: dict[str, str], cwd: Path, stdout: int, stderr: int, timeout: float,
             wake: threading.Event, cancelled: Callable[[], str | None]) -> tuple[int | None, str | None]:
    """Run a check or a blocking hook in its own group with its output on the given fds,
    until it exits, `timeout` passes or `cancelled()` says why not (asked whenever `wake`
    is set: a stop, a signal). Returns (exit status, None) or (None, why it was ended);
    an ended one's whole group is TERMed, then KILLed."""
    import threading

    proc = _start_helper(argv, env, stdout=stdout, stderr=stderr, cwd=cwd)
    done = threading.Event()

    def await_exit() -> None:
        proc.wait()
        done.set()
        wake.set()

    threading.Thread(target=await_exit, daemon=True).start()
    deadline, why = time.monotonic() + timeout, None
    try:
        while not done.is_set():
            why = cancelled()
            left = deadline - time.monotonic()
            if why is None and left <= 0:
                why = f"timed out after {timeout:g}s"
            if why is not None:
                _end_group(proc.pid, done)
                return None, why
            wake.wait(left)
            wake.clear()
        try:
            os.killpg(proc.pid, _signal.SIGKILL)  # what it left running in its group does not outlive it
        except ProcessLookupError:
            pass
        return proc.returncode, None
    finally:
        _helper_done(proc)


def _end_group(pgid: int, done: threading.Event) -> None:
    for sig, wait in ((_signal.SIGTERM, GATE_GRACE_SECONDS), (_signal.SIGKILL, _REAP_AFTER_KILL_SECONDS)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        if done.wait(wait):
            try:
                os.killpg(pgid, _signal.SIGKILL)  # the leader is gone: what it left in its group goes too
            except ProcessLookupError:
                pass
            return
