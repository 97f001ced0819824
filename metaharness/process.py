"""Agent processes: the one module that forks, signals and reaps.

Each agent runs as the leader of a new session and process group, so one killpg reaches
everything it started. Ending an agent is TERM to the group, a grace period, then KILL.
When the leader exits, it is left a zombie (waitid WNOWAIT) until its group has been
signalled: while the zombie exists its pid, and so the group id, cannot be recycled,
so the signal can never reach a stranger's processes. The supervisor is a child
subreaper, so descendants orphaned inside the group are re-parented to it and reaped.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Final

from metaharness.agents import Invocation

_PR_SET_CHILD_SUBREAPER: Final = 36
_REAP_AFTER_KILL_SECONDS: Final = 5.0


@dataclass(frozen=True)
class ExitInfo:
    code: int | None  # exit code, when the agent exited
    signal: int | None  # the signal that killed it, when it was killed

    @property
    def ok(self) -> bool:
        return self.code == 0

    def describe(self) -> str:
        if self.signal is not None:
            return f"killed by {signal.Signals(self.signal).name}"
        return f"exit {self.code}"


def become_subreaper() -> None:
    """Adopt orphaned descendants (Linux); harmless where unsupported."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def reap_strays() -> None:
    """Collect exited descendants adopted by the subreaper (call while no agent runs)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def detach(log_path: Path) -> bool:
    """Fork a session-leading child with stdio on `log_path`; True in the child."""
    if os.fork() != 0:
        return False
    os.setsid()
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    return True


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
        self._exited = threading.Event()
        self._exit: ExitInfo | None = None
        self._on_exit = on_exit
        with open(stderr_path, "wb") as stderr:
            self._popen = subprocess.Popen(
                invocation.argv,
                stdin=subprocess.DEVNULL if invocation.stdin is None else subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        self.pid = self._popen.pid
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
        stdin = self._popen.stdin
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
        stdout = self._popen.stdout
        assert stdout is not None
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
        self._signal_group(signal.SIGTERM)
        if not self._exited.wait(grace):
            self._signal_group(signal.SIGKILL)
            self._exited.wait()

    def finish(self, grace: float) -> ExitInfo:
        """After the leader exited: end what it left in its group, reap, drain output."""
        self._exited.wait()
        self._signal_group(signal.SIGTERM)  # leftovers only: the leader is a zombie by now
        reaper = threading.Thread(target=self._reap_group, daemon=True)
        reaper.start()
        reaper.join(grace)
        if reaper.is_alive():
            self._signal_group(signal.SIGKILL)
            reaper.join(_REAP_AFTER_KILL_SECONDS)
        # A process that left the group but kept stdout open must not hang the supervisor.
        self._threads[0].join(grace)
        assert self._exit is not None
        self._popen.returncode = self._exit.code if self._exit.code is not None else -(self._exit.signal or 0)
        return self._exit

    def _reap_group(self) -> None:
        while True:
            try:
                os.waitid(os.P_PGID, self.pid, os.WEXITED)
            except ChildProcessError:
                return


def end_orphaned_agent(pid: int, instance: str, grace: float) -> bool:
    """End the group of an agent whose supervisor died, if `pid` is still that agent.

    The agent is recognised by MH_INSTANCE in its environment, so a recycled pid is never
    signalled. TERM, then KILL if it is still there after `grace`. True if it was found.
    """
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            environment = f.read().split(b"\0")
        pidfd = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        if f"MH_INSTANCE={instance}".encode() not in environment:
            return False
        os.killpg(pid, signal.SIGTERM)
        import select

        if not select.select([pidfd], [], [], grace)[0]:  # readable once the process has exited
            os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    finally:
        os.close(pidfd)
    return True


def capture_bounded(argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str] | None:
    """Run a helper program (git) in its own session, capturing its output, so Ctrl+C at
    the terminal is for us to handle, not to kill it half-way; None if it had to be
    killed, with everything it started, after `timeout` seconds. Output that is not UTF-8
    (a Latin-1 file name, say) is kept as surrogate escapes, never an error."""
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            encoding="utf-8", errors="surrogateescape", start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        try:
            proc.communicate(timeout=_REAP_AFTER_KILL_SECONDS)
        except subprocess.TimeoutExpired:  # a descendant that left the group still holds the pipes
            proc.wait()
        return None
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def run_bounded(argv: list[str], env: dict[str, str], timeout: float) -> int | None:
    """Run a helper program (a hook) in its own group; its exit status, or None if it had
    to be killed after `timeout` seconds. Blocks: call it from a thread."""
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return None
