"""Start supervisors by forking a process that has already imported them.

A pool starts one harness per queue item. A fresh interpreter spends some 60 ms of CPU
importing before it supervises anything; with many workers on a small machine that is most
of what a short item costs beyond its agent. The fork server pays it once: it imports the
supervisor, then forks one child per request, and each child starts its harness (start.py)
and supervises it in the foreground, as `mh-spawn` would. The server is single-threaded,
which is what makes forking it safe (forking the threaded pool would not be).

Protocol, one JSON object per line. To the server on its stdin: {"start": REQUEST} (a
start.Request in its JSON form) and {"signal": pid, "signum": n}. From it on its stdout:
{"started": pid}, answering starts in order, and {"exited": pid, "code": n}, with Popen's
convention (-N: killed by signal N). The server leaves when its stdin closes; supervisors
still running go on to finish on their own, exactly as separately started mh-spawn
processes outlive a pool that is killed.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import threading

from metaharness import process
from metaharness.exits import Exit, MhError
from metaharness.start import Request, prepare, start
from metaharness.tree import find_tree

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any


class ForkServer:
    """The pool's end: start supervisors, wait for their exit codes, signal them."""

    def __init__(self, env: dict[str, str]) -> None:
        self._server = process.start_server([sys.executable, "-m", "metaharness.forkserver"], env)
        self._send_lock = threading.Lock()
        self._changed = threading.Condition()
        self._started: list[int] = []
        self._exits: dict[int, int] = {}
        self._gone = False
        threading.Thread(target=self._read, daemon=True).start()

    def start(self, request: Request) -> int | None:
        """Fork a supervisor for `request`; its pid, or None if the server is gone."""
        with self._send_lock:  # one start at a time: answers arrive in request order
            if not self._send({"start": request.to_json()}):
                return None
            with self._changed:
                self._changed.wait_for(lambda: self._started or self._gone)
                return self._started.pop(0) if self._started else None

    def wait(self, pid: int, timeout: float) -> int | None:
        """The supervisor's exit code; None if it still runs after `timeout` or the server is gone."""
        with self._changed:
            self._changed.wait_for(lambda: pid in self._exits or self._gone, timeout)
            return self._exits.pop(pid, None)

    @property
    def gone(self) -> bool:
        return self._gone

    def signal(self, pid: int, signum: int) -> None:
        """Signal a supervisor the server has not yet reaped, so never a recycled pid."""
        with self._send_lock:
            self._send({"signal": pid, "signum": signum})

    def close(self) -> None:
        with self._send_lock:
            try:
                self._server.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
        self._server.wait()

    def _send(self, request: dict[str, Any]) -> bool:
        try:
            self._server.stdin.write(json.dumps(request).encode() + b"\n")  # type: ignore[union-attr]
            self._server.stdin.flush()  # type: ignore[union-attr]
            return True
        except (OSError, ValueError):  # the server died, or is closed
            return False

    def _read(self) -> None:
        for line in self._server.stdout:  # type: ignore[union-attr]
            message = json.loads(line)
            with self._changed:
                if "started" in message:
                    self._started.append(message["started"])
                else:
                    self._exits[message["exited"]] = message["code"]
                self._changed.notify_all()
        with self._changed:
            self._gone = True
            self._changed.notify_all()


def serve() -> None:
    import importlib

    importlib.import_module("metaharness.loop")  # the point: the supervisor imported once, before any fork

    # Ctrl+C reaches the supervisors and the pool directly; the server ends with the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    running: set[int] = set()
    pending = b""

    def reply(message: dict[str, Any]) -> None:
        os.write(1, json.dumps(message).encode() + b"\n")

    while True:
        readable, _, _ = select.select([0, wake_r], [], [])
        if wake_r in readable:
            while _drained_once(wake_r):
                pass
        for pid, code in process.reap_exited() if running else []:
            if pid in running:
                running.discard(pid)
                reply({"exited": pid, "code": code})
        if 0 not in readable:
            continue
        data = os.read(0, 65536)
        if not data:
            return
        *lines, pending = (pending + data).split(b"\n")
        for line in lines:
            request = json.loads(line)
            if "start" in request:
                pid = process.fork(lambda: _child(Request.from_json(request["start"]), (wake_r, wake_w)))
                running.add(pid)
                reply({"started": pid})
            elif request.get("signal") in running:
                process.signal_child(request["signal"], request["signum"])


def _drained_once(fd: int) -> bool:
    try:
        return bool(os.read(fd, 4096))
    except BlockingIOError:
        return False


def _child(request: Request, server_fds: tuple[int, int]) -> int:
    """In the forked child: start the harness and supervise it, as `mh-spawn` would in the
    foreground; its exit status."""
    try:
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        for fd in server_fds:
            os.close(fd)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # drop the server's pipes, as the pool's children always had
            os.dup2(null, fd)
        os.close(null)
        spec, progress = prepare(request)
        tree = find_tree(create=True)
        assert tree is not None
        return start(tree, spec, progress, detach=False)
    except MhError as e:  # refused at the door: the pool reports the status, as for mh-spawn's
        return e.code
    except OSError:
        return Exit.SYSTEM


if __name__ == "__main__":
    serve()
