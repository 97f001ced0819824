"""A harness's spec: what was asked of it, in one typed record.

`Options` is the one list of what a user may set for a harness (mh-spawn's options, a
plan's keys, a pool's spawn options), with their types and defaults; `Spec` adds who the
harness is (id, instance, roadmap, workdir, dependencies). A Spec is built once, at the
door (see start.py), written to spec.json (never rewritten) and handed to the supervisor
as it is; spec.json is its JSON form, field for field, so a reader of the file and the
supervisor see the same names. Adding an option is a field here, a parser line in
cli/spawn.py and a line in mh-spawn(1). See mh-harness(7).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Final

FORMAT: Final = 1


@dataclass(frozen=True)
class WorktreeRequest:
    """--worktree: the repository's top and the ref its branch starts from."""

    repo: str
    base: str


@dataclass(frozen=True, kw_only=True)
class Options:
    """What a user may set for a harness; every default is the one documented."""

    agent: str | None = None  # None: cmd, given agent_cmd
    agent_cmd: str | None = None
    model: str | None = None
    max_turns: int | None = None
    allowed_tools: str | None = None
    permission_mode: str | None = None
    agent_args: tuple[str, ...] = ()
    resume_session: bool = False
    budget_usd: float | None = None
    budget_tokens: int | None = None
    rate_limit_backoff: float = 60.0  # seconds; doubles while no reset time is stated
    max_iterations: int = 50
    max_failures: int = 5
    timeout: float | None = None  # seconds of wall clock for the harness
    iteration_timeout: float | None = None
    backoff: float = 2.0  # seconds after the first failure, doubling
    grace: float = 10.0  # seconds between TERM and KILL
    heartbeat_interval: float = 5.0
    stall_after: float = 300.0
    on_stall: tuple[str, ...] = ("nudge", "restart", "stop")
    loop_after: int = 5
    on_loop: tuple[str, ...] = ("nudge", "stop")
    result_grace: float = 5.0
    hook_timeout: float = 30.0


DEFAULTS: Final = Options()


@dataclass(frozen=True, kw_only=True)
class Spec(Options):
    """One harness: who it is, where it works, and its options."""

    id: str
    instance: str
    created: str  # ISO 8601, UTC
    roadmap: str  # absolute path
    workdir: str  # absolute path
    run: str | None = None  # the mh-run run (or queue item) it belongs to
    after: tuple[str, ...] = ()
    worktree: WorktreeRequest | None = None
    prompt_template: str | None = None  # absolute path
    format: int = FORMAT

    @property
    def agent_name(self) -> str:
        return self.agent or "cmd"

    def to_json(self) -> dict[str, Any]:
        """The spec.json form: every field, tuples as lists."""
        record = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        record["agent"] = self.agent_name
        record["worktree"] = None if self.worktree is None else dataclasses.asdict(self.worktree)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in record.items()}

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Spec:
        """Read spec.json back (fields a newer writer added are ignored; missing ones take
        their defaults). The record is trusted: readers check it against schema.SPEC."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        values = {k: v for k, v in record.items() if k in known and v is not None}
        for name, value in values.items():
            if isinstance(value, list):
                values[name] = tuple(value)
        if isinstance(values.get("worktree"), dict):
            values["worktree"] = WorktreeRequest(**values["worktree"])
        return cls(**values)


def _text(text: str) -> str:
    return text


def _agent(text: str) -> str:
    from metaharness.agents import ADAPTERS

    if text not in ADAPTERS:
        raise ValueError(f"{text!r} is not one of {', '.join(ADAPTERS)}")
    return text


def _flag(text: str) -> bool:
    if text not in ("True", "False"):
        raise ValueError(f"not true or false: {text!r}")
    return text == "True"


def _readers() -> dict[str, tuple[str, Callable[[str], Any]]]:
    from metaharness import values

    return {
        "agent": ("agent", _agent), "agent_cmd": ("agent_cmd", _text), "model": ("model", _text),
        "max_turns": ("max_turns", values.positive_int), "allowed_tools": ("allowed_tools", _text),
        "permission_mode": ("permission_mode", _text), "agent_arg": ("agent_args", _text),
        "resume_session": ("resume_session", _flag), "budget_usd": ("budget_usd", values.positive_amount),
        "budget_tokens": ("budget_tokens", values.positive_int),
        "rate_limit_backoff": ("rate_limit_backoff", values.positive_duration),
        "max_iterations": ("max_iterations", values.positive_int),
        "max_failures": ("max_failures", values.positive_int), "timeout": ("timeout", values.positive_duration),
        "iteration_timeout": ("iteration_timeout", values.positive_duration),
        "backoff": ("backoff", values.duration), "grace": ("grace", values.duration),
        "heartbeat": ("heartbeat_interval", values.positive_duration),
        "stall_after": ("stall_after", values.positive_duration), "on_stall": ("on_stall", values.policy),
        "loop_after": ("loop_after", values.positive_int), "on_loop": ("on_loop", values.policy),
        "result_grace": ("result_grace", values.duration), "hook_timeout": ("hook_timeout", values.positive_duration),
    }


def read_option(key: str, value: Any) -> tuple[str, Any]:
    """An option as a plan writes it (mh-spawn's --flag without the dashes, `agent_arg`,
    `heartbeat`) read into its field and value; ValueError naming what is wrong."""
    readers = _readers()
    if key not in readers:
        raise ValueError(f"not an option: {key}")
    name, read = readers[key]
    if key == "agent_arg":
        items = value if isinstance(value, list) else [value]
        return name, tuple(read(str(item)) for item in items)
    converted = read(str(value))
    return name, tuple(converted) if isinstance(converted, list) else converted


def option_keys() -> frozenset[str]:
    """The option names a plan may use."""
    return frozenset(_readers())
