"""One iteration's output and its verdict.

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
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from metaharness import markers
from metaharness.agents import OutputParser, Report, preview
from metaharness.agents import render as render_event
from metaharness.events import EventLog
from metaharness.process import ExitInfo


class OutputRecorder:
    """Where one iteration's agent output goes, line by line."""

    def __init__(self, output: Path, parser: OutputParser, structured: bool, n: int, log_fd: int,
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
        self._on_output()
        self._output.write(raw)
        self._output.flush()
        text = raw.decode("utf-8", "replace")
        events = self.parser.feed(text)
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


@dataclass(frozen=True)
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

