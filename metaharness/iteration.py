"""One iteration: its runner, its output and its verdict.

`IterationRunner` runs iteration after iteration for a Supervisor: it writes the prompt
(taking the messages it quotes), runs the agent in its own process group, watches it for a
stop, a limit or a stall, records its output and usage, and judges the outcome; the
Supervisor keeps the policy of what comes next.

`OutputRecorder` takes the agent's stdout line by line, on the output pump's thread: it
keeps the raw line in iterations/NNNN/output, feeds the adapter's parser, logs the events
(the model's words as a preview: they are whole in `log`), writes the readable rendering
to `log`, and reports progress markers and tool calls to the supervisor. It never raises:
the pump must keep draining, or the agent blocks on a full pipe.

`judge` decides, from what is known once the agent has gone, whether the iteration failed
and how to say so in one line. It is a pure function. See mh-harness(7).
"""

from __future__ import annotations

import os
import threading
import time

from metaharness import answers, inbox, markers, process
from metaharness.agents import PROGRESS_EVENTS, Report, adapter_for, preview
from metaharness.agents import render as render_event
from metaharness.escalation import Escalation
from metaharness.events import EventLog
from metaharness.harness import LiveState, supervisor_in
from metaharness.process import ExitInfo
from metaharness.prompt import build as build_prompt
from metaharness.records import replace, typed_record
from metaharness.roadmap import Progress, read_roadmap
from metaharness.spec import Spec
from metaharness.statuses import Status
from metaharness.tree import now_iso, write_json

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, BinaryIO, Callable, Final

    from metaharness.agents import Invocation, OutputParser
    from metaharness.notify import LazyWatch

# How long an iteration runs before its supervisor watches control/ (see _supervise).
QUICK_AGENT_SECONDS: Final = 0.05
# An iteration of a coding agent CLI that has gone on this long is stuck, whatever it prints
# (--iteration-timeout overrides it; a command has no default limit).
AGENT_ITERATION_SECONDS: Final = 3600.0


class OutputRecorder:
    """Where one iteration's agent output goes, line by line."""

    def __init__(self, output: str, parser: OutputParser, structured: bool, n: int, log_fd: int,
                 events: EventLog, on_progress: Callable[[str], None], on_tool: Callable[[str | None], None],
                 on_output: Callable[[], None], on_failure: Callable[[str], None]) -> None:
        self._output: BinaryIO = open(output, "wb")
        self.parser, self._structured, self._n = parser, structured, n
        self._log_fd, self._events = log_fd, events
        self._on_progress, self._on_tool, self._on_output, self._on_failure = on_progress, on_tool, on_output, on_failure
        self.progress_notes: list[str] = []
        self._closed = threading.Event()
        self._failed = False

    def on_line(self, raw: bytes) -> None:
        """Record one line of the agent's stdout (called on the output pump's thread)."""
        if self._closed.is_set():
            return  # from a process that escaped the group, after the iteration ended
        try:
            self._record(raw)
        except (OSError, ValueError) as e:
            if not self._failed:
                self._failed = True
                try:
                    self._on_failure(f"cannot record the agent's output: {e}")
                except OSError:
                    pass  # the log is on the same full disk

    def close(self) -> None:
        self._closed.set()
        self._output.close()

    def _record(self, raw: bytes) -> None:
        if not self._structured:
            self._on_output()  # a command's output is all there is to go by
        self._output.write(raw)
        self._output.flush()
        text = raw.decode("utf-8", "replace")
        events = self.parser.feed(text)
        if self._structured and any(event["event"] in PROGRESS_EVENTS for event in events):
            self._on_output()  # a step of its work: a trickle of partial text is not one
        for event in events:
            recorded = {**event, "text": preview(event["text"])} if event["event"] == "text" else event
            self._events.emit(**recorded, iteration=self._n)
        if not self._structured:
            self._show(text)
            self._note_progress(text)
        for event in events:
            if (line := render_event(event)) is not None:
                self._show(line)
            if event["event"] == "text":
                self._note_progress(event["text"])
            if event["event"] == "tool_call":
                self._on_tool(self.parser.report.last_tool)

    def _show(self, text: str) -> None:
        os.write(self._log_fd, (text if text.endswith("\n") else text + "\n").encode())

    def _note_progress(self, text: str) -> None:
        for note in markers.scan(text).progress:
            self.progress_notes.append(note)
            self._events.emit("progress", iteration=self._n, text=note)
            self._on_progress(note)


@typed_record(frozen=True)
class Verdict:
    failed: bool
    summary: str  # one line, for the log, the next prompt and result.json
    no_progress: bool = False  # a structured agent did nothing that shows


def judge(*, cut_short: str | None, elapsed: float, report: Report, exit_info: ExitInfo, structured: bool,
          progressed: bool, moved: bool, found: markers.Markers) -> Verdict:
    """Did the iteration fail? `progressed`: a progress marker was seen; `moved`: roadmap
    boxes were checked. The first reason that applies is the one given."""
    if cut_short:
        return Verdict(True, f"ended by the supervisor ({cut_short}) after {elapsed:.1f}s")
    if report.is_error:
        return Verdict(True, f"the agent reported an error: {report.error}")
    if not exit_info.ok:
        return Verdict(True, f"the agent failed ({exit_info.describe()})")
    if structured and not report.saw_result:
        return Verdict(True, "the agent exited without its final result record")
    if (structured and not report.tool_calls and not progressed and not moved
            and not found.complete and found.blocked_reason is None):
        return Verdict(True, "no progress: the agent made no tool call, reported no progress and checked no task",
                       no_progress=True)
    return Verdict(False, "the agent exited 0")


@typed_record(frozen=True)
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
    refused_claim: bool = False  # it claimed completion, and the check or before-complete said no

    @property
    def claim(self) -> str | None:
        """Why the agent says the work is done (its marker, or every box checked), if it does."""
        if self.found.complete:
            return "the agent printed the completion marker"
        if self.progress and self.progress.all_done:
            return "every roadmap task is checked"
        return None


class IterationRunner:
    """Runs one iteration after another for a supervisor: writes the prompt, runs the agent
    in its own group, watches it for a stop, a limit or a stall, records its output and
    usage, and judges the outcome. The supervisor keeps the policy: what happens next."""

    def __init__(self, spec: Spec, directory: Path | str, state: LiveState, events: EventLog, log_fd: int,
                 wake: threading.Event, stalls: Escalation, *, say: Callable[[str], None],
                 hook: Callable[[str, str], None], nudge: Callable[[str], None],
                 requested_end: Callable[[float | None], tuple[Status, str] | None], control: LazyWatch,
                 shared_budget_left: Callable[[], float | None]) -> None:
        self.spec, self.dir, self.state, self._events, self._log_fd = spec, os.fspath(directory), state, events, log_fd
        self._control, self._shared_budget_left = control, shared_budget_left
        self._wake, self._stalls = wake, stalls
        self._say, self._hook, self._nudge, self._requested_end = say, hook, nudge, requested_end
        self._adapter = adapter_for(spec.agent_name)
        self._roadmap = spec.roadmap
        self._workdir: Path | str = spec.workdir
        self._worktree_base: str | None = None
        self._last_output = time.monotonic()
        # A harness the agent spawned is supervised on its own: the end-of-iteration sweep spares it.
        self._other_supervisors = supervisor_in(os.path.dirname(self.dir))

    def run(self, n: int, deadline: float | None, last_outcome: str, workdir: Path | str,
            worktree_base: str | None) -> IterationOutcome:
        """Run iteration `n` in `workdir` (a --worktree harness's, once made) and say how it went."""
        self._workdir, self._worktree_base = workdir, worktree_base
        it_dir = os.path.join(self.dir, "iterations", f"{n:04d}")
        os.makedirs(it_dir, exist_ok=True)
        started = time.monotonic()
        try:
            roadmap_text, before = read_roadmap(self._roadmap)
        except (OSError, UnicodeDecodeError) as e:
            summary = f"the roadmap {self._roadmap} cannot be read: {getattr(e, 'strerror', None) or e}"
            self.state.publish(iteration=n, last_outcome=summary)
            write_json(os.path.join(it_dir, "meta.json"), {"iteration": n, "failed": True, "summary": summary})
            self._events.emit("iteration_failed", iteration=n, reason=summary)
            self._say(f"iteration {n}: {summary}")
            return IterationOutcome(True, summary, False, markers.scan(""), None)
        messages = self._write_prompt(n, it_dir, roadmap_text, before, last_outcome)
        self.state.publish(status=Status.RUNNING, iteration=n, progress=_progress_dict(before), task=before.current_task)
        self._events.emit("iteration_started", iteration=n, messages=len(messages), task=before.current_task)
        self._say(f"iteration {n} started" + (f": {before.current_task}" if before.current_task else ""))
        recorder, exit_info, cut_short, stall_action = self._run_agent(n, it_dir, started, deadline)
        return self._conclude(n, it_dir, started, before, messages, recorder, exit_info, cut_short, stall_action)

    def _run_agent(self, n: int, it_dir: str, started: float, deadline: float | None,
                   ) -> tuple[OutputRecorder, ExitInfo, str | None, str | None]:
        """Run the agent over the prompt written in `it_dir` until it ends or is ended."""
        prompt_file = os.path.join(it_dir, "prompt")
        with open(prompt_file) as f:
            invocation = self._adapter.invocation(self._agent_options(), f.read(), prompt_file)
        inherited = dict(os.environ)
        if self._worktree_base is not None:
            from metaharness.worktree import without_repository_variables

            inherited = without_repository_variables(inherited)  # git in the worktree must find the worktree
        env = {
            **inherited,
            "MH_ID": self.spec.id, "MH_INSTANCE": self.spec.instance, "MH_ROOT": os.path.dirname(os.path.dirname(self.dir)),
            "MH_ITERATION": str(n), "MH_HARNESS_DIR": self.dir, "MH_PROMPT_FILE": prompt_file,
            "MH_ROADMAP": self._roadmap, **invocation.env,
        }
        if self.spec.sandbox:
            invocation = self._sandboxed(invocation, env)
        # The agent's output is kept once as it came (output: what parsers and mh-logs
        # --iteration read) and once as a person reads it (log, beside the supervisor's lines).
        recorder = OutputRecorder(
            os.path.join(it_dir, "output"), self._adapter.parser(), self._adapter.structured, n, self._log_fd, self._events,
            on_progress=lambda note: self.state.publish(last_progress=note),
            on_tool=lambda tool: self.state.publish(last_tool=tool), on_output=self._heard_from_agent,
            on_failure=self._say,
        )
        try:
            agent = process.AgentProcess(invocation, cwd=self._workdir, env=env, stderr_path=os.path.join(it_dir, "stderr"),
                                         on_line=recorder.on_line, on_exit=self._wake.set)
            try:
                self.state.publish(agent_pid=agent.pid)
                cut_short, stall_action = self._supervise(agent, started, deadline, recorder.parser,
                                                          os.path.join(it_dir, "stderr"), n)
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
        return recorder, exit_info, cut_short, stall_action

    def _conclude(self, n: int, it_dir: str, started: float, before: Progress, messages: list[inbox.Message],
                  recorder: OutputRecorder, exit_info: ExitInfo, cut_short: str | None,
                  stall_action: str | None) -> IterationOutcome:
        """Judge the iteration, record it (meta.json, events, state, usage) and say how it went."""
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
        self._estimate_cost(report)
        write_json(os.path.join(it_dir, "meta.json"), {
            "iteration": n, "exit_code": exit_info.code, "signal": exit_info.signal, "cut_short": cut_short or None,
            "failed": failed, "rate_limited": rate_limited, "summary": summary,
            "duration_s": round(time.monotonic() - started, 3), "messages": [m.name for m in messages],
            "complete_marker": found.complete, "blocked_reason": found.blocked_reason,
            "progress": _progress_dict(after) if after else None, "session_id": report.session_id,
            "usage": report.usage(),
        })
        self._events.emit("iteration_ended", iteration=n, failed=failed, exit_code=exit_info.code,
                          signal=exit_info.signal, summary=summary)
        answer = answers.save(it_dir, report.final_text if report.answer is None else report.answer)
        self.state.publish(agent_pid=None, last_outcome=summary, last_progress=None, answer=answer, stalled_since=None,
                           **self._usage_after(report),
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

    def _sandboxed(self, invocation: Invocation, env: dict[str, str]) -> Invocation:
        """The invocation run inside --sandbox bwrap (sandbox.py)."""
        from pathlib import Path

        from metaharness import sandbox

        writable = [Path(self.dir)]  # its harness directory: the prompt, progress notes, artifacts
        if self.spec.worktree:  # git in a worktree writes to the repository's .git
            writable.append(Path(self.spec.worktree.repo) / ".git")
        argv = sandbox.wrap(invocation.argv, agent=self.spec.agent_name, env=env, workdir=Path(self._workdir),
                            writable=writable, network=self.spec.sandbox_net == "on")
        return replace(invocation, argv=argv)

    def _agent_options(self) -> dict[str, Any]:
        """The spec, plus what the agent must know of earlier iterations."""
        options = self.spec.to_json()
        left = [self._shared_budget_left()]  # what is left of its own budget and of every shared one
        if self.spec.budget_usd is not None:
            left.append(max(0.0, self.spec.budget_usd - self.state["usage"]["cost_usd"]))
        if any(x is not None for x in left):
            options["budget_left_usd"] = min(x for x in left if x is not None)
        if self.spec.resume_session:
            options["resume_session_id"] = self.state.get("session_id")
        return options

    def _estimate_cost(self, report: Report) -> None:
        """An agent that reports tokens but no cost (Codex, Gemini) is priced from the table."""
        if report.cost_usd or not (report.input_tokens or report.output_tokens):
            return
        model = report.model or self.spec.model
        by_model = report.tokens_by_model or (
            {model: [report.input_tokens, report.cached_input_tokens, report.output_tokens]} if model else {})
        from pathlib import Path

        from metaharness import prices

        usd, unpriced = prices.estimate(Path(self.dir).parent, by_model)
        report.cost_usd = report.estimated_cost_usd = usd
        if unpriced or (not by_model and self._adapter.structured):  # a command that names no model: its choice
            self._events.emit("cost_unknown", models=unpriced, reason="no price for these models (.harness/prices.json)"
                              if unpriced else "the agent did not say which model it used")

    def _usage_after(self, report: Report) -> dict[str, Any]:
        """The state's usage with this iteration's added, its session and model: published
        with the rest of the iteration's end (one write of state.json, not two)."""
        totals = dict(self.state["usage"])
        for key, value in report.usage().items():
            totals[key] = round(totals.get(key, 0) + value, 6)
        return {"usage": totals, "session_id": report.session_id or self.state.get("session_id"),
                "model": report.model or self.state.get("model")}

    def _write_prompt(self, n: int, it_dir: str, roadmap_text: str, progress: Progress,
                      last_outcome: str) -> list[inbox.Message]:
        """Write the iteration's prompt, then move the messages it quotes to cur/; return them."""
        box = os.path.join(self.dir, "inbox")
        waiting = inbox.waiting(box)
        mine = [m for m in waiting if m.instance in (None, self.spec.instance)]
        prompt = build_prompt(self.spec, os.path.dirname(self.dir), n, roadmap_text, progress, mine, last_outcome)
        with open(os.path.join(it_dir, "prompt"), "w") as f:
            f.write(prompt)
        inbox.take(box, waiting)  # only once the prompt quoting them exists
        for m in waiting:
            if m in mine:
                self._events.emit("message_taken", iteration=n, message=m.name, sender=m.sender, sent=m.sent)
            else:
                self._events.emit("message_ignored", message=m.name, reason=f"addressed to instance {m.instance}")
        return mine

    def _supervise(self, agent: process.AgentProcess, started: float, deadline: float | None,
                   parser: Any, stderr: str, n: int) -> tuple[str | None, str | None]:
        """Wait for the agent to exit; end it early for a stop, a signal, a deadline or a stall.

        Returns why it was cut short (None if it ended by itself, or lingered after its
        final result and was ended: a finished iteration) and the stall action taken.
        """
        it_limit = self.spec.iteration_timeout or (AGENT_ITERATION_SECONDS if self.spec.agent_name != "cmd" else None)
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
            quiet_since = self._last_output if self._adapter.structured else \
                max(self._last_output, now - _seconds_since_modified(stderr))  # a command's stderr is life too
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
            timeout = None if until == float("inf") else max(0.0, until - time.monotonic())
            if not self._control.started:
                # A quick agent is done before a watch on control/ pays for itself (closing an
                # inotify descriptor waits out a ~10 ms kernel grace period): give it a moment,
                # then watch, and look at control/ again. A stop is seen at most that late.
                self._wake.wait(QUICK_AGENT_SECONDS if timeout is None else min(timeout, QUICK_AGENT_SECONDS))
                self._control.start()
                continue
            self._wake.wait(timeout)

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


def _progress_dict(p: Progress) -> dict[str, int]:
    return {"done": p.done, "total": p.total}


def _seconds_since_modified(path: str) -> float:
    try:
        return max(0.0, time.time() - os.stat(path).st_mtime)
    except OSError:
        return float("inf")
