"""The supervisor: the policy that runs an agent over a roadmap until the harness ends.

It waits for --after dependencies (pending), makes a --worktree, then has its
IterationRunner (iteration.py) run one iteration after another and decides after each:
completed (the COMPLETE marker, or every roadmap box checked), blocked (the BLOCKED
marker), a failure (retried after an exponential backoff until --max-failures in a row),
a rate limit (waited out), a loop or a stall (by their policies), a budget spent, or on
to the next iteration until --max-iterations (then incomplete). A wall-clock --timeout
ends it as timeout.

The main thread only ever sleeps on one Event, set by the agent's exit, a change under
control/, a signal, or a deadline: a stop or Ctrl+C is acted on at once, never on a tick.
The result is published (durably) before the lock is released. See mh-harness(7).
"""

from __future__ import annotations

import errno
import os
import threading
import time

from metaharness import inbox, liveness, process
from metaharness.agents import USAGE_FIELDS
from metaharness.answers import final_answer
from metaharness.budgets import Spender
from metaharness.escalation import Escalation, LoopDetector
from metaharness.events import EventLog
from metaharness.exits import Exit, MhError, exit_for
from metaharness.gate import Gate
from metaharness.harness import RESERVE_NAME, LiveState, stop_request
from metaharness.hooks import Hooks
from metaharness.iteration import IterationOutcome, IterationRunner
from metaharness.limits import AccountLimits
from metaharness.notify import LazyWatch
from metaharness.pausing import Pauses
from metaharness.records import replace
from metaharness.roadmap import read_roadmap
from metaharness.signals import SignalCatcher
from metaharness.spec import Spec
from metaharness.statuses import Status
from metaharness.tree import now_iso, write_json

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Callable, Final

MAX_BACKOFF_SECONDS: Final = 600.0
MAX_RATE_LIMIT_WAIT_SECONDS: Final = 6 * 3600.0  # usage limits reset within hours
DISK_FULL: Final = frozenset({errno.ENOSPC, errno.EDQUOT})


class Supervisor:
    """Owns one harness directory for the life of its supervisor process."""

    def __init__(self, directory: Path | str, spec: Spec, lock_fd: int,
                 narrate: Callable[[str], None] | None = None) -> None:
        # Paths are str from here down: pathlib (with urllib.parse and re) would cost every
        # supervisor 4 to 5 ms of its start; a --worktree or --after harness loads it.
        self.dir = directory = os.fspath(directory)
        tree = os.path.dirname(directory)
        self.spec = spec
        self.state = LiveState(directory)
        self._lock_fd = lock_fd
        self._narrate_to = narrate
        self._events = EventLog(os.path.join(directory, "events.jsonl"))
        self._log_fd = os.open(os.path.join(directory, "log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        self._wake = threading.Event()
        # Stop requests wake us through this watch on control/, made when first waited on.
        self._control = LazyWatch(os.path.join(directory, "control"), self._wake.set)
        self._signals: SignalCatcher | None = None
        self._roadmap = self.spec.roadmap
        self._workdir: Path | str = self.spec.workdir
        self._worktree_base: str | None = None  # the commit a --worktree branch started from
        self._started = time.monotonic()
        self._deadline = self._started + spec.timeout if spec.timeout else None  # --timeout, on the monotonic clock
        self._stalls = Escalation(list(self.spec.on_stall))
        self._loops = Escalation(list(self.spec.on_loop))
        self._loop_detector = LoopDetector(self.spec.loop_after)
        self._hooks = Hooks(tree, lambda hook, why: self._events.emit("hook_failed", hook=hook, reason=why),
                            self.spec.hook_timeout)
        self._pauses = Pauses(directory, spec.instance, self.state, self._events, self._say, self._wake,
                              self._control)
        self._gate = Gate(spec, directory, self.state, self._events, self._say, self._log_fd, self._wake,
                          self._control, self._requested_end)
        self._budgets = Spender(tree, spec.budget_groups, spec.id, spec.instance)
        self._limits = AccountLimits(tree, spec.account_name, spec.id, self.state,
                                     self._events, self._say, self._wake, self._control)
        self._runner = IterationRunner(spec, directory, self.state, self._events, self._log_fd, self._wake,
                                       self._stalls, say=self._say, hook=self._hook, nudge=self._nudge,
                                       requested_end=self._cut_short, control=self._control,
                                       shared_budget_left=self._budgets.left_usd)

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> int:
        """Supervise until the harness ends; return the exit status for its outcome."""
        self._signals = SignalCatcher(self._wake)
        process.become_subreaper()
        self.state.publish(
            status=Status.RUNNING, pid=os.getpid(), pid_start=liveness.process_start_time(os.getpid()),
            host=liveness.this_host(), started=now_iso(), usage=dict.fromkeys(USAGE_FIELDS, 0),
        )
        self._events.emit("started", instance=self.spec.instance, pid=os.getpid(), agent=self.spec.agent_name)
        self._hook("start", "")
        self.state.beat_every(self.spec.heartbeat_interval)
        code = None
        try:
            status, reason = (self._await_dependencies() or self._make_worktree()
                              or self._gate.before_start(self._workdir, self._deadline) or self._loop())
        except Exception as e:  # a bug or a broken disk must still end in a result
            if isinstance(e, OSError) and e.errno in DISK_FULL:
                self._free_reserve()  # the space set aside at spawn: enough to write the result
                status, reason, code = Status.FAILED, _disk_full(e), Exit.SYSTEM
            else:
                status, reason, code = Status.FAILED, f"supervisor error: {type(e).__name__}: {e}", Exit.SOFTWARE
            try:
                import traceback

                os.write(self._log_fd, traceback.format_exc().encode())
            except OSError:
                pass
        try:
            return self._finish(status, reason, code)
        finally:
            # After the result and the lock: closing an inotify descriptor waits out a kernel
            # grace period (~10 ms) that nobody waiting for this harness should pay.
            self._control.close()
            self._limits.close()

    def _free_reserve(self) -> None:
        try:
            os.unlink(os.path.join(self.dir, RESERVE_NAME))
        except FileNotFoundError:
            pass

    def _await_dependencies(self) -> tuple[Status, str] | None:
        if not self.spec.after:
            return None
        from pathlib import Path

        from metaharness.dependencies import await_dependencies

        return await_dependencies(Path(self.dir).parent, self.spec.after, self.state, self._events, self._say,
                                  self._control, self._wake, lambda: self._requested_end(self._deadline),
                                  self._deadline)

    def _make_worktree(self) -> tuple[Status, str] | None:
        """With --worktree, check out branch mh/<id> now, after the dependencies, so it can start
        from what they committed; the agent runs there."""
        wanted = self.spec.worktree
        if not wanted:
            return None
        from pathlib import Path

        from metaharness import worktree

        directory = worktree.directory_for(Path(self.dir).parent, self.spec.id)
        repo = Path(wanted.repo)
        try:
            self._worktree_base, continued = worktree.create(repo, directory, self.spec.id, wanted.base)
        except MhError as e:
            return Status.FAILED, f"no worktree: {e}"
        except OSError as e:  # its lock file or directory: a read-only or full disk, say
            return Status.FAILED, f"no worktree: {e.filename}: {e.strerror}"
        workdir = directory / Path(self._workdir).resolve().relative_to(repo.resolve())  # --workdir sub: the worktree's sub
        workdir.mkdir(parents=True, exist_ok=True)  # an untracked directory has no copy in the worktree
        self._workdir = workdir
        made = {"path": str(directory), "branch": worktree.branch_for(self.spec.id), "base": self._worktree_base}
        self.state.publish(worktree=made)  # for mh-status
        self._events.emit("worktree", **made, continued=continued)
        return None

    def _loop(self) -> tuple[Status, str]:
        deadline = self._deadline
        failures = limited_streak = 0
        uncounted = 0  # iterations lost to rate limits or a pause --now: not toward the limit
        last_outcome = "This is the first iteration."
        iteration = 0
        try:
            if read_roadmap(self._roadmap)[1].all_done and not self.spec.verify:  # with a check, a claim like any
                return Status.COMPLETED, "every roadmap task was already checked"
        except (OSError, UnicodeDecodeError):
            pass  # reported by the iteration that needs it
        while True:
            ended = (self._requested_end(deadline) or self._pauses.hold(self._requested_end, deadline)
                     or self._limits.wait(self._requested_end, deadline)  # shared budgets: spent by others too
                     or _budget_spent(self.spec, self.state["usage"], self._budgets))
            if ended:
                return ended
            if iteration - uncounted >= self.spec.max_iterations:
                return Status.INCOMPLETE, f"reached the iteration limit ({self.spec.max_iterations}) without completing"
            iteration += 1
            outcome = self._runner.run(iteration, deadline, last_outcome, self._workdir, self._worktree_base)
            self._budgets.record(self.state["usage"])  # what it spent counts, however it ended
            if not outcome.cut_short:
                if outcome.found.blocked_reason is not None:
                    return Status.BLOCKED, outcome.found.blocked_reason
                if outcome.claim is not None:
                    refused = self._gate.refuse_claim(iteration, self._workdir, deadline)
                    if refused is None:
                        return Status.COMPLETED, outcome.claim + (" (verified)" if self.spec.verify else "")
                    outcome = replace(outcome, failed=True, summary=refused, refused_claim=True)
            ended = self._requested_end(deadline) or _budget_spent(self.spec, self.state["usage"], self._budgets)
            if ended:
                return ended
            if outcome.cut_short and self._pauses.cuts_iteration():  # paused --now: neither success nor failure
                uncounted += 1
                continue
            last_outcome = outcome.summary
            if outcome.stall_action == "stop":
                return Status.FAILED, outcome.cut_reason or "stalled"
            if outcome.stall_action is None:
                self._stalls.calm()
            if outcome.rate_limited:  # waiting out a limit is neither a failure nor a loop
                uncounted += 1
                limited_streak += 1
                self._wait_out_rate_limit(iteration, limited_streak, outcome.retry_at, deadline)
                continue
            limited_streak = 0
            looping = self._watch_for_loops(iteration, outcome)
            if looping:
                return looping
            if not outcome.failed or outcome.refused_claim:  # a refused claim is retried at once, uncounted
                failures = 0
                continue
            failures += 1
            if failures >= self.spec.max_failures:
                return Status.FAILED, f"{failures} failed iterations in a row; last: {outcome.summary}"
            if iteration - uncounted < self.spec.max_iterations:
                delay = min(self.spec.backoff * 2 ** (failures - 1), MAX_BACKOFF_SECONDS)
                self._pauses.wait(delay, f"retry in {delay:g}s", self._requested_end, deadline)

    def _watch_for_loops(self, n: int, outcome: IterationOutcome) -> tuple[Status, str] | None:
        """Apply the loop policy once iterations go in circles: FAILED if it says stop."""
        looping = self._loop_detector.observe(outcome.advanced, outcome.summary if outcome.failed else None)
        if not looping:
            if outcome.advanced:
                self._loops.calm()
                self.state.publish(looping=None)
            return None
        action = self._loops.next_action()
        self.state.publish(looping=looping)
        self._events.emit("looping", iteration=n, reason=looping, action=action)
        self._hook("loop", looping)
        self._say(f"looping ({looping}): {action}")
        if action == "stop":
            return Status.FAILED, f"looping: {looping}"
        if action == "nudge":
            self._nudge(f"You seem to be going in circles: {looping}. Step back, re-read the roadmap, "
                        "and try a different approach, or declare yourself blocked with the reason.")
        return None

    def _wait_out_rate_limit(self, n: int, times: int, retry_at: float | None, deadline: float | None) -> None:
        """Wait until the limit resets (if the agent said when), else back off exponentially."""
        delay = retry_at - time.time() if retry_at else self.spec.rate_limit_backoff * 2 ** (times - 1)
        delay = min(max(delay, 0.0), MAX_RATE_LIMIT_WAIT_SECONDS)
        until = time.strftime("%H:%M", time.localtime(time.time() + delay))
        self._events.emit("rate_limited", iteration=n, wait_s=round(delay, 1), until=until)
        self._limits.met(time.time() + delay, f"rate limited (iteration {n})")  # waited out before the next

    def _requested_end(self, deadline: float | None) -> tuple[Status, str] | None:
        """A signal, a stop request or the wall-clock deadline, if one has arrived."""
        if self._signals and self._signals.received is not None:
            import signal  # only to name it: the enum it brings costs 3 ms

            return Status.INTERRUPTED, f"received {signal.Signals(self._signals.received).name}"
        stop = stop_request(self.dir, self.spec.instance)
        if stop is not None:
            return Status.STOPPED, stop
        if deadline is not None and time.monotonic() >= deadline:
            return Status.TIMEOUT, f"wall-clock limit of {self.spec.timeout:g}s reached"
        return None

    def _cut_short(self, deadline: float | None) -> tuple[Status, str] | None:
        """Why the running iteration must end now: an end of the harness, or a pause --now."""
        return self._requested_end(deadline) or ((Status.PAUSED, "paused") if self._pauses.cuts_iteration() else None)

    # -- messages and hooks ------------------------------------------------------------

    def _nudge(self, text: str) -> None:
        """Put a message from the supervisor into the next prompt."""
        inbox.deliver_to(self.dir, self.spec.instance, "metaharness supervisor", text)

    def _hook(self, event: str, reason: str) -> None:
        self._hooks.run(event, {"MH_ID": self.spec.id, "MH_INSTANCE": self.spec.instance,
                                "MH_HARNESS_DIR": self.dir, "MH_ROOT": os.path.dirname(os.path.dirname(self.dir)),
                                "MH_REASON": reason})

    def _say(self, line: str) -> None:
        os.write(self._log_fd, f"--- {now_iso()[11:19]} {line}\n".encode())
        if self._narrate_to:
            try:
                self._narrate_to(f"{self.spec.id}: {line}")
            except OSError:
                self._narrate_to = None  # the terminal went away (SIGHUP follows): keep supervising

    def _finish(self, status: Status, reason: str, code: int | None = None) -> int:
        if code is None:
            code = exit_for(status, self._signals.received if self._signals else None)
        ended = now_iso()
        result = {
            "id": self.spec.id, "instance": self.spec.instance, "status": status.value, "exit_code": code,
            "reason": reason, "iterations": self.state.get("iteration", 0), "progress": self.state.get("progress"),
            "started": self.state.get("started"), "ended": ended, "usage": self.state.get("usage"),
            "duration_s": round(time.monotonic() - self._started, 3),
            "check": self._gate.last_check, "final_answer": final_answer(self.state.get("answer")),
        }
        if self.spec.worktree:
            from pathlib import Path

            from metaharness import worktree

            directory = worktree.directory_for(Path(self.dir).parent, self.spec.id)
            try:
                result["worktree"] = None if self._worktree_base is None else \
                    worktree.describe(directory, self.spec.id, self._worktree_base)
            except Exception as e:  # nothing may keep the result from being written
                result["worktree"] = {"path": str(directory), "error": f"{type(e).__name__}: {e}"}
        try:
            write_json(os.path.join(self.dir, "result.json"), result, durable=True)  # the moment the harness has ended
        except OSError as e:
            if e.errno not in DISK_FULL:
                raise
            self._free_reserve()
            result.update(status=Status.FAILED.value, exit_code=Exit.SYSTEM,
                          reason=f"{_disk_full(e)} (after: {reason})")
            status, code = Status.FAILED, int(Exit.SYSTEM)
            write_json(os.path.join(self.dir, "result.json"), result, durable=True)  # the moment the harness has ended
        self._free_reserve()
        try:  # all that follows is for readers' convenience: a full disk must not hold the lock
            self.state.publish(status=status, reason=result["reason"], agent_pid=None, next_attempt=None,
                                stalled_since=None)
            self._events.emit("ended", status=status.value, exit_code=code, reason=result["reason"])
            self._say(f"{status.value}: {result['reason']}")
        except OSError:
            pass  # the result is written: nothing else may keep the lock from waiters
        self.state.stop_beating()
        os.close(self._lock_fd)  # waiters wake now, and find the result
        self._hook(_HOOK_FOR_STATUS[status], reason)
        self._hook("end", reason)
        self._hooks.wait()  # each bounded by the hook timeout; nobody waits on us any more
        self._events.close()
        os.close(self._log_fd)
        return code


def _budget_spent(spec: Spec, usage: dict[str, Any], shared: Spender) -> tuple[Status, str] | None:
    """INCOMPLETE once the usage summed over iterations reaches a budget, its own or shared."""
    if (why := shared.exhausted()) is not None:
        return Status.INCOMPLETE, why
    if spec.budget_usd is not None and usage["cost_usd"] >= spec.budget_usd:
        return Status.INCOMPLETE, f"spent ${usage['cost_usd']:.4f} of the ${spec.budget_usd:g} budget"
    tokens = usage["input_tokens"] + usage["output_tokens"]
    if spec.budget_tokens is not None and tokens >= spec.budget_tokens:
        return Status.INCOMPLETE, f"used {tokens} tokens of the {spec.budget_tokens} token budget"
    return None


def _disk_full(e: OSError) -> str:
    return "the disk is full: " + (f"{e.filename}: " if e.filename else "") + (e.strerror or str(e))


_HOOK_FOR_STATUS: Final = {
    Status.COMPLETED: "complete", Status.FAILED: "fail", Status.BLOCKED: "blocked", Status.INCOMPLETE: "incomplete",
    Status.STOPPED: "stop", Status.TIMEOUT: "timeout", Status.INTERRUPTED: "interrupted",
}
