"""The supervisor: runs an agent over a roadmap, iteration after iteration, until it ends.

Each iteration honours control/stop, takes the inbox, writes the prompt, runs the agent
in its own process group, records its output under iterations/NNNN/, and decides:
completed (the COMPLETE marker, or every roadmap box checked), blocked (the BLOCKED
marker), a failure (non-zero exit, iteration timeout: retried after an exponential
backoff until --max-failures in a row), or on to the next iteration until
--max-iterations (then incomplete). A wall-clock --timeout ends it as timeout.

The main thread only ever sleeps on one Event, set by the agent's exit, a change under
control/, a signal, or a deadline: a stop or Ctrl+C is acted on at once, never on a tick.
The result is published (durably) before the lock is released. See mh-harness(7).
"""

from __future__ import annotations

import errno
import os
import queue
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Final

from metaharness import inbox, liveness, markers, process
from metaharness.agents import USAGE_FIELDS, Report, adapter_for
from metaharness.escalation import Escalation, LoopDetector
from metaharness.events import EventLog
from metaharness.harness import RESERVE_NAME, LiveState, supervisor_in
from metaharness.hooks import Hooks
from metaharness.iteration import OutputRecorder, judge
from metaharness.prompt import build as build_prompt
from metaharness.roadmap import Progress, read_roadmap
from metaharness.signals import SignalCatcher
from metaharness.spec import Spec
from metaharness.status import Exit, MhError, Status, exit_for
from metaharness.tree import now_iso, read_json, write_json
from metaharness.watch import DirectoryWatch

MAX_BACKOFF_SECONDS: Final = 600.0
MAX_RATE_LIMIT_WAIT_SECONDS: Final = 6 * 3600.0  # usage limits reset within hours
DISK_FULL: Final = frozenset({errno.ENOSPC, errno.EDQUOT})


@dataclass(frozen=True)
class IterationOutcome:
    failed: bool
    summary: str  # one line, for the log, the next prompt and result.json
    cut_short: bool  # the supervisor ended the agent (stop, signal, deadline)
    found: markers.Markers
    progress: Progress | None
    rate_limited: bool = False  # retried after a wait; counts as neither iteration nor failure
    retry_at: float | None = None
    stall_action: str | None = None  # what the stall policy did to this iteration
    cut_reason: str | None = None
    advanced: bool = False  # roadmap boxes checked or progress reported


class Supervisor:
    """Owns one harness directory for the life of its supervisor process."""

    def __init__(self, directory: Path, spec: Spec, lock_fd: int, narrate: Callable[[str], None] | None = None) -> None:
        self.dir = directory
        self.spec = spec
        self.state = LiveState(directory)
        self._lock_fd = lock_fd
        self._narrate_to = narrate
        self._adapter = adapter_for(self.spec.agent)
        self._events = EventLog(directory / "events.jsonl")
        self._log_fd = os.open(directory / "log", os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        self._wake = threading.Event()
        self._signals: SignalCatcher | None = None
        # A harness the agent spawned is supervised on its own: the end-of-iteration sweep spares it.
        self._other_supervisors = supervisor_in(directory.parent)
        self._roadmap = Path(self.spec.roadmap)
        self._workdir = Path(self.spec.workdir)
        self._worktree_base: str | None = None  # the commit a --worktree branch started from
        self._started = time.monotonic()
        self._last_output = self._started
        self._stalls = Escalation(list(self.spec.on_stall))
        self._loops = Escalation(list(self.spec.on_loop))
        self._loop_detector = LoopDetector(self.spec.loop_after)
        self._hooks = Hooks(directory.parent, lambda hook, why: self._events.emit("hook_failed", hook=hook, reason=why),
                            self.spec.hook_timeout)

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> int:
        """Supervise until the harness ends; return the exit status for its outcome."""
        self._signals = SignalCatcher(self._wake)
        process.become_subreaper()
        self.state.publish(
            status=Status.RUNNING, pid=os.getpid(), pid_start=liveness.process_start_time(os.getpid()),
            host=liveness.this_host(), started=now_iso(), usage=dict.fromkeys(USAGE_FIELDS, 0),
        )
        self._events.emit("started", instance=self.spec.instance, pid=os.getpid(), agent=self.spec.agent)
        self._hook("start", "")
        self.state.beat_every(self.spec.heartbeat_interval)
        watch = DirectoryWatch(self.dir / "control", self._wake.set)
        code = None
        try:
            status, reason = self._await_dependencies() or self._make_worktree() or self._loop()
        except Exception as e:  # a bug or a broken disk must still end in a result
            if isinstance(e, OSError) and e.errno in DISK_FULL:
                self._free_reserve()  # the space set aside at spawn: enough to write the result
                status, reason, code = Status.FAILED, _disk_full(e), Exit.SYSTEM
            else:
                status, reason, code = Status.FAILED, f"supervisor error: {type(e).__name__}: {e}", Exit.SOFTWARE
            try:
                os.write(self._log_fd, traceback.format_exc().encode())
            except OSError:
                pass
        finally:
            watch.close()
        return self._finish(status, reason, code)

    def _free_reserve(self) -> None:
        try:
            os.unlink(self.dir / RESERVE_NAME)
        except FileNotFoundError:
            pass

    def _make_worktree(self) -> tuple[Status, str] | None:
        """With --worktree, check out branch mh/<id> now, after the dependencies, so it can start
        from what they committed; the agent runs there."""
        wanted = self.spec.worktree
        if not wanted:
            return None
        from metaharness import worktree

        directory = worktree.directory_for(self.dir.parent, self.spec.id)
        repo = Path(wanted.repo)
        try:
            self._worktree_base, continued = worktree.create(repo, directory, self.spec.id, wanted.base)
        except MhError as e:
            return Status.FAILED, f"no worktree: {e}"
        except OSError as e:  # its lock file or directory: a read-only or full disk, say
            return Status.FAILED, f"no worktree: {e.filename}: {e.strerror}"
        self._workdir = directory / self._workdir.resolve().relative_to(repo.resolve())  # --workdir sub: the worktree's sub
        self._workdir.mkdir(parents=True, exist_ok=True)  # an untracked directory has no copy in the worktree
        made = {"path": str(directory), "branch": worktree.branch_for(self.spec.id), "base": self._worktree_base}
        self.state.publish(worktree=made)  # for mh-status
        self._events.emit("worktree", **made, continued=continued)
        return None

    def _await_dependencies(self) -> tuple[Status, str] | None:
        """Stay `pending` until every --after harness has completed; fail if one did not."""
        after = list(self.spec.after)
        if not after:
            return None
        from metaharness.waiter import Outcome, await_end

        self.state.publish(status=Status.PENDING, waiting_for=f"after {', '.join(after)}")
        self._events.emit("pending", after=after)
        self._say(f"pending until {', '.join(after)} completed")
        ended: queue.Queue[Any] = queue.Queue()

        def wait_for(dependency: str) -> None:
            try:
                ended.put(await_end(self.dir.parent, dependency, appear_within=None))
            except OSError as e:  # never leave the dependent pending for ever
                ended.put(Outcome(dependency, Status.CORRUPT, Exit.SYSTEM, f"cannot wait for it: {e}"))
            self._wake.set()

        for dependency in after:
            threading.Thread(target=wait_for, args=(dependency,), daemon=True).start()
        deadline = self._started + self.spec.timeout if self.spec.timeout else None
        done = 0
        while done < len(after):
            self._wake.clear()
            while not ended.empty():
                outcome = ended.get()
                done += 1
                if outcome.status is not Status.COMPLETED:
                    status = outcome.status.value if outcome.status else "missing"
                    return Status.FAILED, f"dependency {outcome.id} did not complete ({status}: {outcome.reason})"
            requested = self._requested_end(deadline)
            if requested:
                return requested
            if done < len(after):
                self._wake.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        self._events.emit("dependencies_met", after=after)
        self.state.publish(status=Status.RUNNING, waiting_for=None)
        return None

    def _loop(self) -> tuple[Status, str]:
        deadline = self._started + self.spec.timeout if self.spec.timeout else None
        failures = limited_streak = 0
        rate_limited = 0  # iterations lost to rate limits: they do not count toward the limit
        last_outcome = "This is the first iteration."
        iteration = 0
        try:
            if read_roadmap(self._roadmap)[1].all_done:
                return Status.COMPLETED, "every roadmap task was already checked"
        except (OSError, UnicodeDecodeError):
            pass  # reported by the iteration that needs it
        while True:
            ended = self._requested_end(deadline)
            if ended:
                return ended
            if iteration - rate_limited >= self.spec.max_iterations:
                return Status.INCOMPLETE, f"reached the iteration limit ({self.spec.max_iterations}) without completing"
            iteration += 1
            outcome = self._iterate(iteration, deadline, last_outcome)
            if not outcome.cut_short:
                if outcome.found.blocked_reason is not None:
                    return Status.BLOCKED, outcome.found.blocked_reason
                if outcome.found.complete:
                    return Status.COMPLETED, "the agent printed the completion marker"
                if outcome.progress and outcome.progress.all_done:
                    return Status.COMPLETED, "every roadmap task is checked"
            ended = self._requested_end(deadline) or self._budget_spent()
            if ended:
                return ended
            last_outcome = outcome.summary
            if outcome.stall_action == "stop":
                return Status.FAILED, outcome.cut_reason or "stalled"
            if outcome.stall_action is None:
                self._stalls.calm()
            if outcome.rate_limited:  # waiting out a limit is neither a failure nor a loop
                rate_limited += 1
                limited_streak += 1
                self._wait_out_rate_limit(iteration, limited_streak, outcome.retry_at, deadline)
                continue
            limited_streak = 0
            looping = self._loop_detector.observe(outcome.advanced, outcome.summary if outcome.failed else None)
            if looping:
                action = self._loops.next_action()
                self.state.publish(looping=looping)
                self._events.emit("looping", iteration=iteration, reason=looping, action=action)
                self._hook("loop", looping)
                self._say(f"looping ({looping}): {action}")
                if action == "stop":
                    return Status.FAILED, f"looping: {looping}"
                if action == "nudge":
                    self._nudge(f"You seem to be going in circles: {looping}. Step back, re-read the roadmap, "
                                "and try a different approach, or declare yourself blocked with the reason.")
            elif outcome.advanced:
                self._loops.calm()
                self.state.publish(looping=None)
            if not outcome.failed:
                failures = 0
                continue
            failures += 1
            if failures >= self.spec.max_failures:
                return Status.FAILED, f"{failures} failed iterations in a row; last: {outcome.summary}"
            if iteration - rate_limited < self.spec.max_iterations:
                delay = min(self.spec.backoff * 2 ** (failures - 1), MAX_BACKOFF_SECONDS)
                self._pause(delay, f"retry in {delay:g}s", deadline)

    def _budget_spent(self) -> tuple[Status, str] | None:
        """INCOMPLETE once the usage summed over iterations reaches a budget."""
        usage = self.state["usage"]
        budget_usd, budget_tokens = self.spec.budget_usd, self.spec.budget_tokens
        if budget_usd is not None and usage["cost_usd"] >= budget_usd:
            return Status.INCOMPLETE, f"spent ${usage['cost_usd']:.4f} of the ${budget_usd:g} budget"
        tokens = usage["input_tokens"] + usage["output_tokens"]
        if budget_tokens is not None and tokens >= budget_tokens:
            return Status.INCOMPLETE, f"used {tokens} tokens of the {budget_tokens} token budget"
        return None

    def _wait_out_rate_limit(self, n: int, times: int, retry_at: float | None, deadline: float | None) -> None:
        """Wait until the limit resets (if the agent said when), else back off exponentially."""
        delay = retry_at - time.time() if retry_at else self.spec.rate_limit_backoff * 2 ** (times - 1)
        delay = min(max(delay, 0.0), MAX_RATE_LIMIT_WAIT_SECONDS)
        until = time.strftime("%H:%M", time.localtime(time.time() + delay))
        self._events.emit("rate_limited", iteration=n, wait_s=round(delay, 1), until=until)
        self._pause(delay, f"rate limit until {until}", deadline)

    def _requested_end(self, deadline: float | None) -> tuple[Status, str] | None:
        """A signal, a stop request or the wall-clock deadline, if one has arrived."""
        if self._signals and self._signals.received is not None:
            return Status.INTERRUPTED, f"received {signal.Signals(self._signals.received).name}"
        stop = self._stop_request()
        if stop is not None:
            return Status.STOPPED, stop
        if deadline is not None and time.monotonic() >= deadline:
            return Status.TIMEOUT, f"wall-clock limit of {self.spec.timeout:g}s reached"
        return None

    def _stop_request(self) -> str | None:
        try:
            request = read_json(self.dir / "control" / "stop")
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return "stop requested"  # an unreadable request is still a request
        if request.get("instance") not in (None, self.spec.instance):
            return None  # addressed to an earlier harness of this id
        return f"stopped by {request.get('from', 'mh-stop')}" + (f": {request['reason']}" if request.get("reason") else "")

    def _pause(self, delay: float, why: str, deadline: float | None) -> None:
        """Sleep `delay` seconds in state `waiting`, cut short by a stop, a signal or the deadline."""
        if delay <= 0:
            return
        self.state.publish(status=Status.WAITING, next_attempt=now_iso(time.time() + delay), waiting_for=why)
        self._say(f"waiting: {why}")
        until = time.monotonic() + delay
        while self._requested_end(deadline) is None and (remaining := until - time.monotonic()) > 0:
            self._wake.clear()
            if self._requested_end(deadline) is None:
                self._wake.wait(remaining if deadline is None else min(remaining, max(0.0, deadline - time.monotonic())))
        self.state.publish(status=Status.RUNNING, next_attempt=None, waiting_for=None)

    # -- one iteration -----------------------------------------------------------------

    def _iterate(self, n: int, deadline: float | None, last_outcome: str) -> IterationOutcome:
        it_dir = self.dir / "iterations" / f"{n:04d}"
        it_dir.mkdir(exist_ok=True)
        started = time.monotonic()
        try:
            roadmap_text, before = read_roadmap(self._roadmap)
        except (OSError, UnicodeDecodeError) as e:
            summary = f"the roadmap {self._roadmap} cannot be read: {getattr(e, 'strerror', None) or e}"
            self.state.publish(iteration=n, last_outcome=summary)
            write_json(it_dir / "meta.json", {"iteration": n, "failed": True, "summary": summary})
            self._events.emit("iteration_failed", iteration=n, reason=summary)
            self._say(f"iteration {n}: {summary}")
            return IterationOutcome(True, summary, False, markers.scan(""), None)

        messages = self._write_prompt(n, it_dir, roadmap_text, before, last_outcome)
        invocation = self._adapter.invocation(self._agent_options(), (it_dir / "prompt").read_text(), str(it_dir / "prompt"))
        inherited = dict(os.environ)
        if self._worktree_base is not None:
            from metaharness.worktree import without_repository_variables

            inherited = without_repository_variables(inherited)  # git in the worktree must find the worktree
        env = {
            **inherited,
            "MH_ID": self.spec.id, "MH_INSTANCE": self.spec.instance, "MH_ROOT": str(self.dir.parent.parent),
            "MH_ITERATION": str(n), "MH_HARNESS_DIR": str(self.dir), "MH_PROMPT_FILE": str(it_dir / "prompt"),
            "MH_ROADMAP": str(self._roadmap), **invocation.env,
        }
        self.state.publish(status=Status.RUNNING, iteration=n, progress=_progress_dict(before), task=before.current_task)
        self._events.emit("iteration_started", iteration=n, messages=len(messages), task=before.current_task)
        self._say(f"iteration {n} started" + (f": {before.current_task}" if before.current_task else ""))

        # The agent's output is kept once as it came (output: what parsers and mh-logs
        # --iteration read) and once as a person reads it (log, beside the supervisor's lines).
        recorder = OutputRecorder(
            it_dir / "output", self._adapter.parser(), self._adapter.structured, n, self._log_fd, self._events,
            on_progress=lambda note: self.state.publish(last_progress=note),
            on_tool=lambda tool: self.state.publish(last_tool=tool), on_output=self._heard_from_agent,
            on_failure=self._say,
        )
        try:
            agent = process.AgentProcess(invocation, cwd=self._workdir, env=env, stderr_path=it_dir / "stderr",
                                         on_line=recorder.on_line, on_exit=self._wake.set)
            try:
                self.state.publish(agent_pid=agent.pid)
                cut_short, stall_action = self._supervise(agent, started, deadline, recorder.parser,
                                                          it_dir / "stderr", n)
            except BaseException:
                agent.terminate(self.spec.grace)  # never leave an agent behind a failing supervisor
                raise
            finally:
                exit_info = agent.finish(self.spec.grace, sweep_sparing=self._other_supervisors)
        finally:
            recorder.close()
        if agent.survivors:
            self._events.emit("survivors", iteration=n, pids=agent.survivors)
            self._say(f"processes the agent started outlived SIGKILL: {agent.survivors}")

        report = recorder.parser.report
        found = markers.scan(report.final_text)
        try:
            after: Progress | None = read_roadmap(self._roadmap)[1]
        except (OSError, UnicodeDecodeError):
            after = None
        moved = after is not None and after.done != before.done
        verdict = judge(cut_short=cut_short, elapsed=time.monotonic() - started, report=report, exit_info=exit_info,
                        structured=self._adapter.structured, progressed=bool(recorder.progress_notes), moved=moved,
                        found=found)
        failed, summary = verdict.failed, verdict.summary
        if verdict.no_progress:
            self._events.emit("no_progress", iteration=n)
        rate_limited = report.rate_limited and failed and not cut_short
        if moved:
            summary += f"; roadmap {before.done}/{before.total} -> {after.done}/{after.total}"  # type: ignore[union-attr]
        self._add_usage(report)
        write_json(it_dir / "meta.json", {
            "iteration": n, "exit_code": exit_info.code, "signal": exit_info.signal, "cut_short": cut_short or None,
            "failed": failed, "rate_limited": rate_limited, "summary": summary,
            "duration_s": round(time.monotonic() - started, 3), "messages": [m.name for m in messages],
            "complete_marker": found.complete, "blocked_reason": found.blocked_reason,
            "progress": _progress_dict(after) if after else None, "session_id": report.session_id,
            "usage": report.usage(),
        })
        self._events.emit("iteration_ended", iteration=n, failed=failed, exit_code=exit_info.code,
                          signal=exit_info.signal, summary=summary)
        self.state.publish(agent_pid=None, last_outcome=summary, last_progress=None,
                            **({"progress": _progress_dict(after), "task": after.current_task} if after else {}))
        self._say(f"iteration {n} ended: {summary}")
        process.reap_strays()
        return IterationOutcome(failed, summary, bool(cut_short), found, after, rate_limited=rate_limited,
                                retry_at=report.retry_at, stall_action=stall_action,
                                advanced=moved or bool(recorder.progress_notes), cut_reason=cut_short)

    def _heard_from_agent(self) -> None:
        """The agent printed something: it is alive, and not stalled (the output pump's thread)."""
        self._last_output = time.monotonic()
        self.state.beat(throttled=True)
        if self.state.get("stalled_since"):
            self.state.publish(stalled_since=None)

    def _agent_options(self) -> dict[str, Any]:
        """The spec, plus what the agent must know of earlier iterations."""
        options = self.spec.to_json()
        if self.spec.budget_usd is not None:
            options["budget_left_usd"] = max(0.0, self.spec.budget_usd - self.state["usage"]["cost_usd"])
        if self.spec.resume_session:
            options["resume_session_id"] = self.state.get("session_id")
        return options

    def _add_usage(self, report: Report) -> None:
        totals = dict(self.state["usage"])
        for key, value in report.usage().items():
            totals[key] = round(totals[key] + value, 6)
        self.state.publish(usage=totals, session_id=report.session_id or self.state.get("session_id"),
                            model=report.model or self.state.get("model"))

    def _write_prompt(self, n: int, it_dir: Path, roadmap_text: str, progress: Progress,
                      last_outcome: str) -> list[inbox.Message]:
        """Write the iteration's prompt, then move the messages it quotes to cur/; return them."""
        box = self.dir / "inbox"
        waiting = inbox.waiting(box)
        mine = [m for m in waiting if m.instance in (None, self.spec.instance)]
        prompt = build_prompt(self.spec, self.dir.parent, n, roadmap_text, progress, mine, last_outcome)
        (it_dir / "prompt").write_text(prompt)
        inbox.take(box, waiting)  # only once the prompt quoting them exists
        for m in waiting:
            if m in mine:
                self._events.emit("message_taken", iteration=n, message=m.name, sender=m.sender, sent=m.sent)
            else:
                self._events.emit("message_ignored", message=m.name, reason=f"addressed to instance {m.instance}")
        return mine

    def _supervise(self, agent: process.AgentProcess, started: float, deadline: float | None,
                   parser: Any, stderr: Path, n: int) -> tuple[str | None, str | None]:
        """Wait for the agent to exit; end it early for a stop, a signal, a deadline or a stall.

        Returns why it was cut short (None if it ended by itself, or lingered after its
        final result and was ended: a finished iteration) and the stall action taken.
        """
        it_limit = self.spec.iteration_timeout
        limits = [d for d in (deadline, started + it_limit if it_limit else None) if d is not None]
        limit = min(limits) if limits else None
        self._last_output = time.monotonic()
        reported_silence = None
        while True:
            self._wake.clear()
            if agent.exited:
                return None, None
            now = time.monotonic()
            ended = self._requested_end(None)
            if ended is None and limit is not None and now >= limit:
                ended = (Status.TIMEOUT, "wall-clock limit" if limit == deadline else f"iteration timeout of {it_limit:g}s")
            if ended:
                self._say(f"ending the agent: {ended[1]}")
                agent.terminate(self.spec.grace)
                return ended[1], None
            quiet_since = max(self._last_output, now - _seconds_since_modified(stderr))
            if parser.report.saw_result:
                # Finished: silence now is the agent taking its time to exit, not a stall.
                alarm = quiet_since + self.spec.result_grace
                if now >= alarm:
                    self._say("the agent lingers after its final result: ending it")
                    agent.terminate(self.spec.grace)
                    return None, None
            elif reported_silence is not None and quiet_since - reported_silence < 0.01:
                alarm = float("inf")  # this silence has been reported: wait for output, or the end
            else:
                alarm = quiet_since + self.spec.stall_after
                if now >= alarm:
                    action = self._stall(n, now - quiet_since)
                    if action != "none":
                        agent.terminate(self.spec.grace)
                        return f"stalled: no output for {now - quiet_since:.1f}s ({action})", action
                    reported_silence = quiet_since
                    continue
            until = min([alarm] + ([limit] if limit is not None else []))
            self._wake.wait(None if until == float("inf") else max(0.0, until - time.monotonic()))

    def _stall(self, n: int, silent: float) -> str:
        action = self._stalls.next_action()
        self.state.publish(stalled_since=now_iso(time.time() - silent))
        self._events.emit("stalled", iteration=n, silent_s=round(silent, 1), action=action)
        self._hook("stall", f"no output for {silent:.0f}s")
        self._say(f"stalled: no output for {silent:.1f}s; action: {action}")
        if action == "nudge":
            self._nudge(f"Your previous iteration went silent for {silent:.0f}s and was ended. Work in small "
                        "steps and keep printing what you do.")
        return action

    def _nudge(self, text: str) -> None:
        """Put a message from the supervisor into the next prompt."""
        inbox.deliver_to(self.dir, self.spec.instance, "metaharness supervisor", text)

    def _hook(self, event: str, reason: str) -> None:
        self._hooks.run(event, {"MH_ID": self.spec.id, "MH_INSTANCE": self.spec.instance,
                                "MH_HARNESS_DIR": str(self.dir), "MH_ROOT": str(self.dir.parent.parent),
                                "MH_REASON": reason})

    # -- narration and the end -------------------------------------------------------

    def _say(self, line: str) -> None:
        stamp = now_iso()[11:19]
        os.write(self._log_fd, f"--- {stamp} {line}\n".encode())
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
        }
        if self.spec.worktree:
            from metaharness import worktree

            directory = worktree.directory_for(self.dir.parent, self.spec.id)
            try:
                result["worktree"] = None if self._worktree_base is None else \
                    worktree.describe(directory, self.spec.id, self._worktree_base)
            except Exception as e:  # nothing may keep the result from being written
                result["worktree"] = {"path": str(directory), "error": f"{type(e).__name__}: {e}"}
        try:
            write_json(self.dir / "result.json", result, durable=True)  # the moment the harness has ended
        except OSError as e:
            if e.errno not in DISK_FULL:
                raise
            self._free_reserve()
            result.update(status=Status.FAILED.value, exit_code=Exit.SYSTEM,
                          reason=f"{_disk_full(e)} (after: {reason})")
            status, code = Status.FAILED, int(Exit.SYSTEM)
            write_json(self.dir / "result.json", result, durable=True)  # the moment the harness has ended
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


def _disk_full(e: OSError) -> str:
    return "the disk is full: " + (f"{e.filename}: " if e.filename else "") + (e.strerror or str(e))


def _seconds_since_modified(path: Path) -> float:
    try:
        return max(0.0, time.time() - path.stat().st_mtime)
    except OSError:
        return float("inf")


_HOOK_FOR_STATUS: Final = {
    Status.COMPLETED: "complete", Status.FAILED: "fail", Status.BLOCKED: "blocked", Status.INCOMPLETE: "incomplete",
    Status.STOPPED: "stop", Status.TIMEOUT: "timeout", Status.INTERRUPTED: "interrupted",
}


def _progress_dict(p: Progress) -> dict[str, int]:
    return {"done": p.done, "total": p.total}
