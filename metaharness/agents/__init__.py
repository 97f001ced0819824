"""Agent adapters: the seam between the supervisor and one kind of agent program.

An adapter turns a prompt and the harness spec into an Invocation (argv, extra
environment, stdin) and gives a parser that turns the agent's stdout, line by line, into
events for events.jsonl, human-readable lines for the log, and a Report: the final answer
(where markers are looked for), whether the run failed and why, rate limiting, and usage.

Adapters: `cmd` (any command, plain text), `claude`, `codex`, `gemini` (JSON streams) and
`aider` (plain text). A structured adapter knows the agent's tool calls, so an iteration
that exits 0 without a tool call or any progress can be told apart from real work.

A rate-limited run's Report carries `retry_at`, the reset the agent stated, if still
ahead (read by resets.py).
"""

from __future__ import annotations

import time

from metaharness import jsonio
from metaharness.exits import Exit, MhError
from metaharness.records import asdict, field, typed_record

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any, Final, Protocol

# name -> module under metaharness.agents; imported only when a harness uses it.
ADAPTERS: Final = {"claude": "claude", "codex": "codex", "gemini": "gemini", "aider": "aider", "cmd": "cmd"}
PREVIEW_CHARS: Final = 200
# What shows a structured agent getting on with its work: without one of these for the stall
# time it has stalled, however much else (partial text, retries on stderr) it prints.
PROGRESS_EVENTS: Final = frozenset({"session", "text", "tool_call", "tool_result", "result"})

# Looked for only in failures: compiled (and cached) by re when the first one comes.
_RATE_LIMIT: Final = (
    r"(?i)\b429\b|\b529\b|rate[ _-]?limit|too many requests|overloaded|usage limit|quota|resource[_ ]exhausted"
    r"|hit your [\w ]*limit")  # Claude Code: "You've hit your session limit · resets 3pm (UTC)"


@typed_record(frozen=True)
class Invocation:
    argv: list[str]
    stdin: bytes | None  # None: the agent's stdin is /dev/null
    env: dict[str, str] = field(default_factory=dict)


@typed_record
class Report:
    """What one iteration of an agent amounted to, filled in as its output is parsed."""

    final_text: str = ""  # where markers are looked for: the agent's final message
    answer: str | None = None  # its final answer, when not the final text (a command's last output)
    is_error: bool = False
    error: str | None = None  # why the run failed, in the agent's words
    rate_limited: bool = False
    retry_at: float | None = None  # epoch seconds: the reset the agent stated, if still ahead
    saw_result: bool = False  # the agent's own end-of-run record arrived
    session_id: str | None = None
    model: str | None = None
    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0  # what the agent reported, or the estimate from prices.py
    estimated_cost_usd: float = 0.0  # the part of cost_usd that is an estimate
    cached_input_tokens: int = 0  # of input_tokens, read from a cache (priced lower)
    tokens_by_model: dict[str, list[int]] = field(default_factory=dict)  # [input, cached, output], if the agent says
    tool_calls: int = 0
    last_tool: str | None = None

    def usage(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k in USAGE_FIELDS}


USAGE_FIELDS: Final = ("turns", "input_tokens", "output_tokens", "cost_usd", "estimated_cost_usd", "tool_calls")


if TYPE_CHECKING:  # what an adapter is, for the type checker; adapters need not inherit it
    class OutputParser(Protocol):
        report: Report

        def feed(self, line: str) -> list[dict[str, Any]]:
            """Take one line of stdout; return events to log (each has an `event` key)."""


    class Adapter(Protocol):
        name: str
        structured: bool  # its output names tool calls and ends with a result record

        def invocation(self, options: dict[str, Any], prompt: str, prompt_file: str) -> Invocation:
            """Build the command for one iteration (options are the harness spec)."""

        def parser(self) -> OutputParser:
            """A fresh parser for one iteration's output."""


def adapter_for(name: str) -> Adapter:
    """Load the adapter called `name`, or raise a usage error listing the known ones."""
    module = check_agent(name)
    return __import__(f"metaharness.agents.{module}", fromlist=["ADAPTER"]).ADAPTER


def check_agent(name: str) -> str:
    """The module of the adapter called `name` (not imported), or a usage error listing
    the known ones."""
    module = ADAPTERS.get(name)
    if module is None:
        raise MhError(f"unknown agent {name!r} (known: {', '.join(sorted(ADAPTERS))})", Exit.USAGE)
    return module


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """A one-line, bounded rendering of a tool input or output."""
    text = value if isinstance(value, str) else jsonio.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


_SALIENT_KEYS: Final = ("command", "file_path", "path", "pattern", "url", "query", "description")


def _salient(tool_input: Any) -> Any:
    """The part of a tool's input a person would want to see: the command, the file, ..."""
    if isinstance(tool_input, dict):
        return next((tool_input[k] for k in _SALIENT_KEYS if isinstance(tool_input.get(k), str)), tool_input)
    return tool_input


def note_rate_limit(report: Report, text: str, now: float | None = None, *, known: bool = False,
                    read_reset: bool = True) -> bool:
    """Mark the report rate limited if `text` says so (or it is `known`), with the reset
    time if it states one and none is known yet (and `read_reset`)."""
    if not known:
        import re  # only for a failure: a supervisor that meets none never loads it

        if not re.search(_RATE_LIMIT, text):
            return False
    report.rate_limited = True
    if read_reset and report.retry_at is None:
        from metaharness.agents.resets import stated_reset  # dates and zones: only when limited

        report.retry_at = stated_reset(text, time.time() if now is None else now)
    return True


class JsonLinesParser:
    """Shared skeleton of the JSON-stream parsers: one object per line, never a crash.

    A line that is not a JSON object is recorded as `unparsed`; an object the subclass
    cannot make sense of as `malformed`; a type it does not know as `unknown`.
    """

    def __init__(self) -> None:
        self.report = Report()
        self.clock = time.time  # when "now" is, for resets stated as delays or clock times
        self.reset_stated = False  # a structured reset came, even a past one: the error text's is not read
        self._awaiting_reply = True  # the model has the word: its next text or tool call starts a reply

    def feed(self, line: str) -> list[dict[str, Any]]:
        line = line.strip()
        if not line:
            return []
        try:
            record = jsonio.loads(line)
        except ValueError:
            return [{"event": "unparsed", "line": preview(line)}]
        if not isinstance(record, dict):
            return [{"event": "unparsed", "line": preview(line)}]
        try:
            return self._count_replies(self.handle(record))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError, OSError) as e:
            # A record of an unexpected shape (a reset of 1e308, say) is logged, never a crash.
            return [{"event": "malformed", "type": str(record.get("type")), "error": f"{type(e).__name__}: {e}"}]

    def _count_replies(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Turns, the same for every agent: the model's replies, a reply being what it says
        and the tools it calls between two tool results (Claude Code counts API calls,
        Codex exec turns, Gemini CLI nothing: their own counts do not compare)."""
        for event in events:
            kind = event["event"]
            if kind in ("text", "tool_call") and self._awaiting_reply:
                self.report.turns += 1
                self._awaiting_reply = False
            elif kind == "tool_result":
                self._awaiting_reply = True
            elif kind == "result":
                event["turns"] = self.report.turns
        return events

    def handle(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def tool_call(self, name: str, tool_input: Any) -> dict[str, Any]:
        self.report.tool_calls += 1
        self.report.last_tool = f"{name}: {preview(_salient(tool_input), 60)}"
        return {"event": "tool_call", "name": name, "input": preview(tool_input)}

    def fail(self, reason: str, *, rate_limited: bool = False) -> None:
        self.report.is_error = True
        self.report.error = reason
        note_rate_limit(self.report, reason, self.clock(), known=rate_limited, read_reset=not self.reset_stated)


def render(event: dict[str, Any]) -> str | None:
    """The human-readable log line for an agent event (None: not worth a line)."""
    kind = event["event"]
    if kind == "text":
        return event["text"]
    if kind == "tool_call":
        return f"-> {event['name']}: {event['input']}"
    if kind == "tool_result":
        return f"<- {'error: ' if event.get('is_error') else ''}{event.get('output', '')}"
    if kind == "session":
        return f"== session {event.get('session_id')} model {event.get('model')}"
    if kind == "result":
        cost = f", ${event['cost_usd']:.4f}" if event.get("cost_usd") else ""
        return f"== result: {event.get('subtype') or ('error' if event.get('is_error') else 'ok')}, {event.get('turns', 0)} turns{cost}"
    if kind in ("error", "retry", "unparsed", "malformed"):
        return f"!! {kind}: {event.get('message') or event.get('error') or event.get('line', '')}"
    return None
