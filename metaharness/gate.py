"""What stands between an agent and a finished harness: blocking hooks and --verify.

`hooks/before-start` runs once, after the worktree is made and before the first
iteration (install dependencies, copy a .env): a non-zero exit ends the harness `failed`
with the hook's stderr as the reason, and no agent is ever started. When the agent claims
completion (its marker, or every roadmap box checked), the --verify command runs in its
working directory, then `hooks/before-complete`: the harness completes only if both exit 0.
A refused claim is a failed iteration whose check output goes into the next prompt.
(`hooks/before-remove` is mh-clean's: clean.py.) Each runs in its own process group,
bounded in time and ended with its group on a stop; unlike the `on-*` notification hooks
(hooks.py), they block. See mh-harness(7).
"""

from __future__ import annotations

import os
import time

from metaharness import process
from metaharness.statuses import Status

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    import threading
    from pathlib import Path
    from typing import Any, Callable, Final

    from metaharness.events import EventLog
    from metaharness.harness import LiveState
    from metaharness.notify import LazyWatch
    from metaharness.spec import Spec

TAIL_CHARS: Final = 3000  # of a check's output: kept in result.json and quoted in the next prompt
REASON_CHARS: Final = 300  # of a refusing hook's stderr, as the reason


def tail(path: Path | str, limit: int = TAIL_CHARS) -> str:
    """The end of a file of output, decoded whatever its bytes."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4 * limit))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return text[-limit:]


def run_check(command: str, directory: Path | str, output: Path | str, timeout: float, env: dict[str, str],
              wake: threading.Event, cancelled: Callable[[], str | None]) -> dict[str, Any]:
    """Run a check command with /bin/sh in `directory`, its output (both streams) in
    `output`; how it went: command, exit_code (None if ended), passed, duration_s,
    ended_by, output and tail. --verify's and mh-merge's."""
    started = time.monotonic()
    with open(output, "wb") as out:
        code, why = process.run_gate(["/bin/sh", "-c", command], env, directory, out.fileno(), out.fileno(),
                                     timeout, wake, cancelled)
    return {"command": command, "exit_code": code, "passed": code == 0,
            "duration_s": round(time.monotonic() - started, 3), "ended_by": why, "output": str(output),
            "tail": tail(output)}


class Gate:
    """One harness's blocking hooks and check."""

    def __init__(self, spec: Spec, directory: Path, state: LiveState, events: EventLog, say: Callable[[str], None],
                 log_fd: int, wake: threading.Event, control: LazyWatch,
                 requested_end: Callable[[float | None], Any]) -> None:
        self.spec, self.dir, self.state, self._events, self._say = spec, os.fspath(directory), state, events, say
        self._log_fd, self._wake, self._control, self._requested_end = log_fd, wake, control, requested_end
        self.last_check: dict[str, Any] | None = None  # for result.json

    def before_start(self, workdir: Path | str, deadline: float | None) -> tuple[Status, str] | None:
        """FAILED, with the hook's words, if hooks/before-start refuses the start (or the
        sandbox asked for cannot be had on this host)."""
        if self.spec.sandbox:
            from metaharness.exits import MhError
            from metaharness.sandbox import require

            try:
                require()
            except MhError as e:
                return Status.FAILED, str(e)
        refused = self._hook("before-start", workdir, os.path.join(self.dir, "before-start.stderr"), deadline)
        return None if refused is None else (Status.FAILED, refused)

    def refuse_claim(self, n: int, workdir: Path | str, deadline: float | None) -> str | None:
        """None if the claimed completion stands; else why not, for the next prompt."""
        it_dir = os.path.join(self.dir, "iterations", f"{n:04d}")
        if self.spec.verify:
            refused = self._verify(n, workdir, it_dir, deadline)
            if refused is not None:
                return refused
        refused = self._hook("before-complete", workdir, os.path.join(it_dir, "before-complete.stderr"), deadline)
        if refused is not None:
            return f"You claimed the work was complete, but {refused}."
        return None

    def _verify(self, n: int, workdir: Path | str, it_dir: str, deadline: float | None) -> str | None:
        command, output = self.spec.verify or "", os.path.join(it_dir, "verify")
        self._events.emit("verify_started", iteration=n, command=command)
        self._say(f"checking the claimed completion: {command}")
        check = {**run_check(command, workdir, output, self.spec.verify_timeout, self._env(), self._wake,
                             self._cancelled(deadline)), "iteration": n}
        code, why = check["exit_code"], check["ended_by"]
        self.last_check = check
        self.state.publish(check={k: v for k, v in check.items() if k != "tail"})
        self._events.emit("verify_passed" if code == 0 else "verify_failed",
                          **{k: v for k, v in check.items() if k not in ("command", "output")})
        if code == 0:
            self._say(f"the check passed in {check['duration_s']:g}s")
            return None
        how = f"exit {code}" if why is None else why
        self._say(f"the check failed ({how})")
        return (f"You claimed the work was complete, but the check `{command}` failed ({how}), so it is not. "
                f"The end of its output:\n```\n{check['tail'].rstrip()}\n```")

    def _hook(self, name: str, workdir: Path | str, stderr_path: str, deadline: float | None) -> str | None:
        """Run hooks/NAME if there is one; None if it let things go on, else why not."""
        hook = os.path.join(os.path.dirname(self.dir), "hooks", name)
        if not (os.path.isfile(hook) and os.access(hook, os.X_OK)):
            return None
        self._say(f"running hooks/{name}")
        with open(stderr_path, "wb") as err:
            try:
                code, why = process.run_gate([hook], self._env(), workdir, self._log_fd, err.fileno(),
                                             self.spec.hook_timeout, self._wake, self._cancelled(deadline))
            except OSError as e:
                code, why = None, f"cannot be run: {e.strerror}"
        words = tail(stderr_path, REASON_CHARS).strip()
        if words:
            os.write(self._log_fd, words.encode() + b"\n")
        if code == 0:
            return None
        self._events.emit("hook_refused", hook=name, exit_code=code, ended_by=why, stderr=words)
        words = " ".join(words.split()) or "no reason given"
        return f"hooks/{name} refused ({f'exit {code}' if why is None else why}): {words}"

    def _env(self) -> dict[str, str]:
        return {**os.environ, "MH_ID": self.spec.id, "MH_INSTANCE": self.spec.instance,
                "MH_HARNESS_DIR": self.dir, "MH_ROOT": os.path.dirname(os.path.dirname(self.dir)),
                "MH_ITERATION": str(self.state.get("iteration", 0))}

    def _cancelled(self, deadline: float | None) -> Callable[[], str | None]:
        """What ends a check or a hook early: a stop, a signal, the deadline. Watching
        control/ from now on, a stop request wakes it."""
        self._control.start()

        def why() -> str | None:
            ended = self._requested_end(deadline)
            return None if ended is None else f"ended: {ended[1]}"
        return why


def before_remove(tree: Path, harness_id: str, worktree_dir: Path, timeout: float) -> str | None:
    """mh-clean's gate: None if hooks/before-remove (if any) lets the worktree go, else why not."""
    import tempfile
    import threading

    hook = tree / "hooks" / "before-remove"
    if not (hook.is_file() and os.access(hook, os.X_OK)):
        return None
    env = {**os.environ, "MH_ID": harness_id, "MH_WORKTREE": str(worktree_dir), "MH_ROOT": str(tree.parent),
           "MH_HARNESS_DIR": str(tree / harness_id)}
    with tempfile.TemporaryFile() as err:
        try:
            code, why = process.run_gate([str(hook)], env, worktree_dir, err.fileno(), err.fileno(), timeout,
                                         threading.Event(), lambda: None)
        except OSError as e:
            return f"hooks/before-remove cannot be run: {e.strerror}"
        err.seek(0)
        words = " ".join(err.read()[-REASON_CHARS:].decode("utf-8", "replace").split())
    if code == 0:
        return None
    return f"hooks/before-remove refused ({f'exit {code}' if why is None else why}): {words or 'no reason given'}"
