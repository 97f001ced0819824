"""Plan files for mh-run: YAML naming harnesses, their roadmaps, agents and dependencies,
and a strategy. The only module that imports pyyaml.

Keys mirror mh-spawn's options with underscores (`--agent-cmd` -> `agent_cmd`), per
harness or under `defaults`. Every error names the file, the line and the field, even for
a value only mh-spawn's parser can judge: each option keeps the YAML node it came from.
A loaded plan is one mh-spawn accepts for every harness (option values, roadmaps, workdirs,
prompt templates, worktree bases), so a run that starts one harness starts them all.
Dependencies come from `depends` and from a roadmap's front matter (`depends: [a, b]`);
a cycle is refused with the cycle spelled out. With `worktree: true`, a pipeline stage's
branch starts from the previous stage's branch unless it names its own `base`.
"""

from __future__ import annotations

from pathlib import Path

from metaharness import strategies, values, worktree
from metaharness.exits import Exit, MhError
from metaharness.prompt import read_template
from metaharness.records import field, typed_record
from metaharness.spec import Options, option_keys, read_option, yaml_kind
from metaharness.start import Request
from metaharness.userfile import read_text

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any, Callable, Final, Mapping

    Source = tuple[Any, str]  # the YAML node an option's value came from, and the field to name

MAX_PLAN_BYTES: Final = 1024 * 1024  # 1 MiB: a plan of thousands of harnesses still fits
STRATEGIES: Final = tuple(strategies.REGISTRY)
# Keys for every strategy, then those a strategy alone takes (`min_votes`, ...).
TOP_KEYS: Final = frozenset({"strategy", "fail_fast", "max_parallel", "defaults", "harnesses", "on_dependency_failure",
                            "budget_usd", "budget_tokens"}
                            ).union(*(s.keys for s in strategies.REGISTRY.values()))
# What a plan may set for a harness, and the kind of YAML value each takes: the Spec's
# options, and what mh-spawn makes of its directory and worktree (the request's own keys).
_REQUEST_KINDS: Final = {"workdir": str, "prompt_template": str, "worktree": bool, "base": str}
REQUEST_KEYS: Final = frozenset(_REQUEST_KINDS)
HARNESS_KEYS: Final = {**{key: yaml_kind(key) for key in sorted(option_keys())}, **_REQUEST_KINDS}
OWN_KEYS: Final = frozenset({"id", "roadmap", "depends"})


@typed_record(frozen=True)
class HarnessPlan:
    id: str
    roadmap: Path
    depends: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)

    def request(self, base: Path, after: tuple[str, ...] = (), run: str | None = None,
                budget: str | None = None) -> Request:
        """What to start for this harness; its relative paths are from `base`, the plan's
        directory; `budget`, the run's own, is added to its budget groups. The options must
        have passed the plan's checks."""
        read = dict(read_option(key, value) for key, value in self.options.items() if key not in REQUEST_KEYS)
        if budget is not None:
            read["budget_groups"] = (*read.get("budget_groups", ()), budget)
        paths = {key: str(base / self.options[key]) for key in ("workdir", "prompt_template") if key in self.options}
        return Request(self.id, str(self.roadmap), Options(**read), workdir=paths.get("workdir", str(base)),
                       prompt_template=paths.get("prompt_template"), after=after, run=run,
                       worktree=bool(self.options.get("worktree")), base=self.options.get("base"))


@typed_record(frozen=True)
class Plan:
    path: Path
    strategy: str
    harnesses: tuple[HarnessPlan, ...]
    fail_fast: bool = False
    max_parallel: int | None = None
    on_dependency_failure: str = "fail"
    settings: Mapping[str, Any] = field(default_factory=dict)  # the strategy's own keys (strategies/)
    budget_usd: float | None = None  # a budget for the whole run, shared by all its harnesses
    budget_tokens: int | None = None

    @property
    def rules(self) -> strategies.Strategy:
        """What the plan's strategy means: see metaharness.strategies."""
        return strategies.get(self.strategy)

    def get(self, harness_id: str) -> HarnessPlan:
        return next(h for h in self.harnesses if h.id == harness_id)

    def dependencies(self, h: HarnessPlan) -> list[str]:
        """What `h` runs after, as the strategy says (a pipeline: the stage before it)."""
        return self.rules.dependencies(self, h)


def load(path: Path) -> Plan:
    """Read and validate a plan file."""
    import yaml

    try:
        text = read_text(path, MAX_PLAN_BYTES)
    except (OSError, UnicodeDecodeError) as e:
        raise MhError(f"cannot read plan {path}: {getattr(e, 'strerror', None) or e}", Exit.USAGE) from None
    try:
        node = yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise MhError(f"{path}{line}: not valid YAML: {getattr(e, 'problem', e)}", Exit.USAGE) from None
    return _Validator(path, node).plan()


class _Validator:
    def __init__(self, path: Path, node: Any) -> None:
        self.path = path
        self.root = node
        self.sources: dict[str, dict[str, Source]] = {}  # harness id -> option -> where it was set

    def fail(self, node: Any, where: str, message: str) -> MhError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        return MhError(f"{self.path}{line}: {where}: {message}", Exit.USAGE)

    def mapping(self, node: Any, where: str) -> dict[str, tuple[Any, Any]]:
        """A YAML mapping as {key: (value node, python value)}."""
        import yaml

        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, where, "should be a mapping")
        found: dict[str, tuple[Any, Any]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, where, "keys must be plain words")
            key = key_node.value
            if key in found:
                raise self.fail(key_node, f"{where}.{key}", "given twice")
            try:
                value = yaml.SafeLoader("").construct_object(value_node, deep=True)
            except yaml.YAMLError as e:
                raise self.fail(value_node, f"{where}.{key}", f"cannot read this value ({getattr(e, 'problem', e)})") from None
            found[key] = (value_node, value)
        return found

    def plan(self) -> Plan:
        if self.root is None:
            raise MhError(f"{self.path}: the plan is empty", Exit.USAGE)
        top = self.mapping(self.root, "plan")
        for key, (node, _) in top.items():
            if key not in TOP_KEYS:
                raise self.fail(node, key, f"unknown key (known: {', '.join(sorted(TOP_KEYS))})")
        strategy = self.value(top, "strategy", str, "parallel")
        if strategy not in STRATEGIES:
            raise self.fail(top["strategy"][0], "strategy", f"{strategy!r} is not one of {', '.join(STRATEGIES)}")
        defaults = self.options(top["defaults"][0], "defaults") if "defaults" in top else ({}, {})
        if "harnesses" not in top:
            raise MhError(f"{self.path}: harnesses: missing", Exit.USAGE)
        import yaml

        list_node = top["harnesses"][0]
        if not isinstance(list_node, yaml.SequenceNode) or not list_node.value:
            raise self.fail(list_node, "harnesses", "should be a non-empty list")
        harnesses: list[HarnessPlan] = []
        for index, node in enumerate(list_node.value):
            harnesses.append(self.harness(index, node, defaults, {h.id for h in harnesses}))
        ids = {h.id for h in harnesses}
        for h in harnesses:
            for dep in h.depends:
                if dep not in ids:
                    raise MhError(f"{self.path}: harnesses ({h.id}).depends: no harness {dep!r} in the plan", Exit.USAGE)
        cycle = find_cycle({h.id: list(h.depends) for h in harnesses})
        if cycle:
            raise MhError(f"{self.path}: dependency cycle: {' -> '.join(cycle)}", Exit.USAGE)
        harnesses = strategies.get(strategy).prepare(harnesses)
        settings = {key: self.value(top, key, kind, default) for key, (kind, default) in strategies.get(strategy).keys.items()}
        plan = Plan(self.path, strategy, tuple(harnesses), bool(self.value(top, "fail_fast", bool, False)),
                    self.value(top, "max_parallel", int, None), self.value(top, "on_dependency_failure", str, "fail"),
                    {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()},
                    self.amount(top, "budget_usd", values.positive_amount), self.amount(top, "budget_tokens", values.positive_int))
        self.check_strategy(plan, top)
        for h, node in zip(plan.harnesses, list_node.value):
            self.check_worktree(h, node, {worktree.branch_for(d) for d in plan.dependencies(h)})
        return plan

    def harness(self, index: int, node: Any, defaults: tuple[dict[str, Any], dict[str, Source]],
                taken: set[str]) -> HarnessPlan:
        """One entry of `harnesses`, checked as mh-spawn will check it."""
        from metaharness.tree import validate_id

        where = f"harnesses[{index}]"
        fields = self.mapping(node, where)
        if "id" not in fields:
            raise self.fail(node, f"{where}.id", "missing")
        if not isinstance(fields["id"][1], str):
            raise self.fail(fields["id"][0], f"{where}.id", "should be a string")
        harness_id = fields["id"][1]
        where = f"harnesses[{index}] ({harness_id})"
        try:
            validate_id(harness_id)
        except MhError as e:
            raise self.fail(fields["id"][0], f"{where}.id", str(e)) from None
        if harness_id in taken:
            raise self.fail(fields["id"][0], f"{where}.id", "duplicate id")
        if "roadmap" not in fields:
            raise self.fail(node, f"{where}.roadmap", "missing")
        roadmap = self.roadmap(*fields["roadmap"], f"{where}.roadmap")
        depends = fields.get("depends", (None, []))[1] or []
        if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
            raise self.fail(fields["depends"][0], f"{where}.depends", "should be a list of ids")
        own, own_sources = self.options_from({k: v for k, v in fields.items() if k not in OWN_KEYS}, where)
        options, sources = {**defaults[0], **own}, {**defaults[1], **own_sources}
        if "agent_cmd" in own and "agent" not in own:
            options["agent"], sources["agent"] = "cmd", own_sources["agent_cmd"]  # its own command beats a default agent
        if "agent" not in options and "agent_cmd" not in options:
            raise self.fail(node, where, "needs agent or agent_cmd (here or under defaults)")
        if options.get("agent") is not None and _option_problem("agent", options["agent"]):
            raise self.fail(sources["agent"][0], f"{where}.agent", f"unknown agent {options['agent']!r}")
        if options.get("agent", "cmd") != "cmd":
            options.pop("agent_cmd", None)  # defaults may carry one for the cmd agent
        planned = HarnessPlan(harness_id, roadmap, tuple(dict.fromkeys(depends + _front_matter_depends(roadmap))), options)
        self.sources[harness_id] = sources
        self.check_door(planned)
        return planned

    def roadmap(self, node: Any, value: Any, where: str) -> Path:
        """The roadmap's absolute path, refused as mh-spawn would refuse it."""
        from metaharness.roadmap import load_roadmap

        path = (self.path.parent / str(value)).resolve()
        try:
            load_roadmap(path)
        except MhError as e:
            raise self.fail(node, where, str(e)) from None
        return path

    def check_door(self, h: HarnessPlan) -> None:
        """Refuse, before anything starts, what mh-spawn would refuse at the door, naming the
        field that was set (under `defaults` or here): a value its parser rejects, a cmd agent
        without a command, a budget of nothing, a workdir or prompt template it cannot use."""
        sources = self.sources[h.id]

        def fail(key: str, message: str) -> MhError:
            return self.fail(*sources[key], message)

        for key, value in h.options.items():
            problem = _option_problem(key, value)
            if problem:
                raise fail(key, problem)
        if h.options.get("agent") == "cmd" and not h.options.get("agent_cmd"):
            raise fail("agent", "the cmd agent needs agent_cmd")
        workdir = self.path.parent / h.options.get("workdir", ".")  # mh-spawn runs in the plan's directory
        if not workdir.is_dir():
            raise fail("workdir", f"{workdir} is not a directory")
        if "prompt_template" in h.options:
            template = self.path.parent / h.options["prompt_template"]
            try:
                read_template(template)
            except OSError as e:
                raise fail("prompt_template", f"cannot read {template}: {e.strerror or e}") from None
            except UnicodeDecodeError:
                raise fail("prompt_template", f"cannot read {template}: not UTF-8 text") from None

    def check_strategy(self, plan: Plan, top: dict[str, tuple[Any, Any]]) -> None:
        if plan.max_parallel is not None and plan.max_parallel < 1:
            raise self.fail(top["max_parallel"][0], "max_parallel", "should be at least 1")
        if plan.on_dependency_failure not in ("fail", "skip"):
            raise self.fail(top["on_dependency_failure"][0], "on_dependency_failure", "should be fail or skip")
        problem = plan.rules.check(plan)
        if problem is not None:
            key, message = problem
            if key is None:
                raise MhError(f"{self.path}: strategy {plan.strategy}: {message}", Exit.USAGE)
            raise self.fail(top[key][0] if key in top else self.root, key, message)
        for other in strategies.REGISTRY.values():
            key = next((k for k in other.keys if k in top), None)
            if key is not None and other is not plan.rules:
                raise self.fail(top[key][0], key, f"only for strategy {other.name}, not {plan.strategy}")
        if plan.rules.independent and any(h.depends for h in plan.harnesses):
            raise MhError(f"{self.path}: strategy {plan.strategy}: candidates cannot depend on each other", Exit.USAGE)

    def check_worktree(self, h: HarnessPlan, node: Any, dependency_branches: set[str]) -> None:
        """What mh-spawn would refuse, refused before anything starts: a `base` without a
        worktree, a workdir outside git, an id that cannot name a branch, a base that names
        nothing (a dependency's branch is made as the plan runs)."""
        where = f"harnesses ({h.id})"
        if "base" in h.options and not h.options.get("worktree"):
            raise self.fail(node, f"{where}.base", "needs worktree: true")
        if not h.options.get("worktree"):
            return
        workdir = self.path.parent / h.options.get("workdir", ".")
        try:
            repo = worktree.repository_of(workdir)
            worktree.check_branch_name(repo, h.id)
            base = h.options.get("base", "HEAD")
            if base not in dependency_branches:  # made by a dependency as the plan runs
                worktree.resolve(repo, base)
        except MhError as e:
            raise self.fail(node, where, str(e)) from None

    def value(self, top: dict[str, tuple[Any, Any]], key: str, kind: type, default: Any) -> Any:
        if key not in top:
            return default
        node, value = top[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(node, key, f"should be {kind.__name__}")
        return value

    def amount(self, top: dict[str, tuple[Any, Any]], key: str, read: Callable[[str], Any]) -> Any:
        """A budget at the top of the plan, checked as its mh-spawn option is."""
        if key not in top or top[key][1] is None:
            return None
        node, value = top[key]
        try:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError("should be a number")
            return read(str(value))
        except ValueError as e:
            raise self.fail(node, key, str(e)) from None

    def options(self, node: Any, where: str) -> tuple[dict[str, Any], dict[str, Source]]:
        return self.options_from(self.mapping(node, where), where)

    def options_from(self, fields: dict[str, tuple[Any, Any]], where: str) -> tuple[dict[str, Any], dict[str, Source]]:
        """The mh-spawn options among `fields`, and where each was set."""
        options, sources = {}, {}
        for key, (node, value) in fields.items():
            kind = HARNESS_KEYS.get(key)
            if kind is None:
                raise self.fail(node, f"{where}.{key}", "unknown key")
            if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
                raise self.fail(node, f"{where}.{key}", "wrong kind of value")
            options[key], sources[key] = value, (node, f"{where}.{key}")
        return options, sources


def _option_problem(key: str, value: Any) -> str | None:
    """Why `value` cannot be the harness option `key` (as mh-spawn would refuse it), or None."""
    if key in REQUEST_KEYS:
        return None  # paths and flags: checked as mh-spawn checks them, in check_door
    try:
        read_option(key, value)
    except ValueError as e:
        return str(e)
    return None


def _front_matter_depends(roadmap: Path) -> list[str]:
    """`depends: [a, b]` from a roadmap's leading --- block."""
    import yaml

    lines = roadmap.read_text(encoding="utf-8", errors="replace").splitlines()
    if not lines or lines[0].strip() != "---":
        return []
    end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() in ("---", "...")), None)
    if end is None:
        return []
    try:
        meta = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError:
        return []
    depends = meta.get("depends") if isinstance(meta, dict) else None
    return [str(d) for d in depends] if isinstance(depends, list) else []


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, []):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if state.get(dep) is None and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if state.get(node) is None and (found := visit(node)):
            return found
    return None
