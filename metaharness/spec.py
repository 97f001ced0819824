"""A harness's spec: what was asked of it, in one typed record.

`Options` is the one list of what a user may set for a harness (mh-spawn's options, a
plan's keys, a pool's spawn options), with their types and defaults; `Spec` adds who the
harness is (id, instance, roadmap, workdir, dependencies). A Spec is built once, at the
door (see start.py), written to spec.json (never rewritten) and handed to the supervisor
as it is; spec.json is its JSON form, field for field, so a reader of the file and the
supervisor see the same names. Adding an option is a field here (its default, how its
text is read, its --help line, its name on a command line if not the field's), its check
in schema.SPEC (a test holds the two equal) and its lines in mh-spawn(1) and
mh-harness(7); mh-spawn's parser, plans, pools and the supervisor take it from here.
"""

from __future__ import annotations

from metaharness import values
from metaharness.records import Field, asdict, field, fields, typed_record

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any, Callable, Final

FORMAT: Final = 1


@typed_record(frozen=True)
class WorktreeRequest:
    """--worktree: the repository's top and the ref its branch starts from."""

    repo: str
    base: str


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


def _sandbox(text: str) -> str:
    if text != "bwrap":
        raise ValueError(f"{text!r} is not a sandbox this knows (bwrap)")
    return text


def _on_off(text: str) -> str:
    if text not in ("on", "off"):
        raise ValueError(f"not on or off: {text!r}")
    return text


def option(default: Any, read: Callable[[str], Any], help: str, metavar: str | None = None,
           key: str | None = None) -> Any:
    """A field of Options: its default, how its text is read (values.py), its line in
    mh-spawn --help, and the name a command line (--key) and a plan (key:) give it when
    that is not the field's own."""
    return field(default=default, metadata={"read": read, "help": help, "metavar": metavar, "key": key})


@typed_record(frozen=True, kw_only=True)
class Options:
    """What a user may set for a harness; every default is the one documented."""

    agent: str | None = option(None, _agent, "the agent CLI to run (default: cmd, given --agent-cmd)")
    agent_cmd: str | None = option(None, _text, "shell command run each iteration (the cmd agent)", "CMD")
    model: str | None = option(None, _text, "model name passed to the agent CLI")
    max_turns: int | None = option(None, values.positive_int, "turn limit per iteration (claude)", "N")
    allowed_tools: str | None = option(None, _text, "tools the agent may use without asking (claude)", "TOOLS")
    permission_mode: str | None = option(
        None, _text, "claude --permission-mode (default bypassPermissions), codex --sandbox (default: no "
        "sandbox, no approvals), gemini --approval-mode (default yolo)", "MODE")
    agent_args: tuple[str, ...] = option((), _text, "extra argument for the agent CLI (repeatable)", "ARG",
                                         key="agent_arg")
    resume_session: bool = option(False, _flag, "continue the previous iteration's session (claude --resume, codex "
                                  "exec resume, gemini --resume; aider and commands have none to continue)")
    budget_usd: float | None = option(None, values.positive_amount, "end incomplete once the agent has cost this much",
                                      "USD")
    budget_groups: tuple[str, ...] = option((), values.account, "a named budget this harness spends from, "
                                            "shared with every harness in it (mh-budget; repeatable)", "NAME",
                                            key="budget_group")
    budget_tokens: int | None = option(None, values.positive_int,
                                       "end incomplete once the agent has used this many tokens", "N")
    account: str | None = option(None, values.account, "harnesses of one account wait out a usage limit any of "
                                 "them meets (default: the agent's name)", "NAME")
    rate_limit_backoff: float = option(60.0, values.positive_duration,
                                       "first wait after a rate limit with no reset time, doubling (default 60s)", "DUR")
    max_iterations: int = option(50, values.positive_int, "default 50", "N")
    max_failures: int = option(5, values.positive_int,
                               "consecutive failed iterations before the harness fails (default 5)", "N")
    timeout: float | None = option(None, values.positive_duration, "wall-clock limit for the harness", "DUR")
    iteration_timeout: float | None = option(None, values.positive_duration, "limit for one iteration (default 1h for "
                                             "claude, codex, gemini and aider; none for a command)", "DUR")
    backoff: float = option(2.0, values.duration,
                            "delay after the first failure, doubling after each further one (default 2s)", "DUR")
    grace: float = option(10.0, values.duration, "time between TERM and KILL when ending an agent (default 10s)",
                          "DUR")
    heartbeat_interval: float = option(5.0, values.positive_duration, "heartbeat interval (default 5s)", "DUR",
                                       key="heartbeat")
    stall_after: float = option(300.0, values.positive_duration, "an agent silent this long has stalled (default 5m)",
                                "DUR")
    on_stall: tuple[str, ...] = option(
        ("nudge", "restart", "stop"), values.policy, "actions on successive stalls, the last repeating: nudge, "
        "restart, stop, none (default nudge,restart,stop)", "POLICY")
    loop_after: int = option(5, values.positive_int,
                             "N iterations without progress, or with the same failure, is a loop (default 5)", "N")
    on_loop: tuple[str, ...] = option(("nudge", "stop"), values.policy,
                                      "actions on successive loops (default nudge,stop)", "POLICY")
    result_grace: float = option(
        5.0, values.duration, "how long an agent may linger after its final result before it is ended (default 5s)",
        "DUR")
    verify: str | None = option(None, _text, "a shell command, run in the working directory when the agent claims "
                                "completion, that must exit 0 for the harness to complete", "CMD")
    verify_timeout: float = option(600.0, values.positive_duration,
                                   "a check still running after this has failed (default 10m)", "DUR")
    sandbox: str | None = option(None, _sandbox, "run the agent in a bubblewrap sandbox: it can write only to its "
                                 "working directory, its harness directory and a private /tmp", "bwrap")
    sandbox_net: str = option("on", _on_off, "off: the sandboxed agent has no network (default on)", "on|off")
    hook_timeout: float = option(30.0, values.positive_duration,
                                 "a hook still running after this is killed and reported (default 30s)", "DUR")

    @property
    def agent_name(self) -> str:
        return self.agent or "cmd"

    @property
    def account_name(self) -> str:
        """Whose usage limits these harnesses share (limits.py)."""
        return self.account or self.agent_name


@typed_record(frozen=True, kw_only=True)
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

    def to_json(self) -> dict[str, Any]:
        """The spec.json form: every field, tuples as lists."""
        written = {f.name: getattr(self, f.name) for f in fields(self)}
        written["agent"] = self.agent_name
        written["worktree"] = None if self.worktree is None else asdict(self.worktree)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in written.items()}

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Spec:
        """Read spec.json back (fields a newer writer added are ignored; missing ones take
        their defaults). The record is trusted: readers check it against schema.SPEC."""
        known = {f.name: f for f in fields(cls)}
        values = {k: v for k, v in record.items() if k in known and v is not None}
        for name, value in values.items():
            if isinstance(value, list):
                values[name] = tuple(value)
        if isinstance(values.get("worktree"), dict):
            values["worktree"] = WorktreeRequest(**values["worktree"])
        return cls(**values)


_FIELDS_BY_KEY: dict[str, Field] = {}  # filled on first use (functools.cache: 2 ms to import)


def _fields_by_key() -> dict[str, Field]:
    if not _FIELDS_BY_KEY:
        # Made whole, then merged in one step: a second thread never sees half of it.
        _FIELDS_BY_KEY.update({f.metadata.get("key") or f.name: f for f in fields(Options)})
    return _FIELDS_BY_KEY


def _repeatable(f: Field) -> bool:
    """An option given once per value (--agent-arg), as opposed to a list in one value (a policy)."""
    return isinstance(f.default, tuple) and f.metadata["read"] is not values.policy


def option_keys() -> frozenset[str]:
    """The names a command line (--name) and a plan (name:) give the options."""
    return frozenset(_fields_by_key())


def command_line() -> list[tuple[str, dict[str, Any]]]:
    """Each option as mh-spawn's parser takes it: its flag and add_argument's keywords,
    `type` the option's reader (raising ValueError: the parser must translate it)."""
    found = []
    for key, f in _fields_by_key().items():
        read, words = f.metadata["read"], {"help": f.metadata["help"]}
        if read is _flag:
            words["action"] = "store_true"
        elif _repeatable(f):
            words.update(action="append", metavar=f.metadata["metavar"])
        elif read is _agent:
            from metaharness.agents import ADAPTERS

            words["choices"] = list(ADAPTERS)
        else:
            words.update(metavar=f.metadata["metavar"], **({} if read is _text else {"type": read}))
        found.append(("--" + key.replace("_", "-"), words))
    return found


def read_option(key: str, value: Any) -> tuple[str, Any]:
    """An option as a plan writes it read into its field's name and value; ValueError
    naming what is wrong. A repeatable option takes a list."""
    found = _fields_by_key().get(key)
    if found is None:
        raise ValueError(f"not an option: {key}")
    read = found.metadata["read"]
    if _repeatable(found):
        return found.name, tuple(read(str(item)) for item in (value if isinstance(value, list) else [value]))
    converted = read(str(value))
    return found.name, tuple(converted) if isinstance(converted, list) else converted


def options_from(given: dict[str, Any]) -> Options:
    """Options from values already read, by key (mh-spawn's parsed command line); an
    option not given takes its default."""
    return Options(**{f.name: tuple(given[key]) if isinstance(given[key], list) else given[key]
                      for key, f in _fields_by_key().items() if key in given})


def yaml_kind(key: str) -> type | tuple[type, ...]:
    """What kind of YAML value a plan may give option `key`: a duration may be a number or
    text (5m), a repeatable option a list; the reader then checks the value itself."""
    found = _fields_by_key()[key]
    read = found.metadata["read"]
    if _repeatable(found):
        return list
    if read is values.positive_int:
        return int
    if read is values.positive_amount:
        return (int, float)
    if read is _flag:
        return bool
    if read in (values.duration, values.positive_duration):
        return (str, int, float)
    return str

