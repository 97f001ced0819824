"""mh-spawn: create a harness and supervise its agent loop until it ends."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Sequence

from metaharness.cli import common
from metaharness.status import Exit, MhError

DESCRIPTION = """\
Create harness ID and run an agent over ROADMAP in a supervised loop until the roadmap is
done, the agent is blocked, a limit is reached or the harness is stopped. In the
foreground (the default) mh-spawn is the supervisor and exits with the harness's outcome;
with --detach it prints ID and leaves a background supervisor."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (
    Exit.OK, Exit.FAILED, Exit.USAGE, Exit.INCOMPLETE, Exit.STOPPED, Exit.BLOCKED, Exit.ID_TAKEN,
    Exit.BAD_TREE, Exit.SYSTEM, Exit.SOFTWARE, Exit.TIMEOUT, Exit.SIGHUP, Exit.SIGINT, Exit.SIGTERM,
)
EPILOG = """\
exit status: 0 completed, 1 failed, 2 usage, 3 incomplete, 4 stopped, 6 blocked,
8 id taken, 10 bad tree, 11 system error, 70 internal error, 124 timeout,
129/130/143 interrupted (SIGHUP/SIGINT/SIGTERM).
See mh-spawn(1)."""


def build_parser() -> common.Parser:
    p = common.parser("spawn", DESCRIPTION, EPILOG)
    p.add_argument("id", help="harness id: letters, digits, '.', '_', '-'")
    p.add_argument("roadmap", help="Markdown roadmap with - [ ] tasks")
    p.add_argument("--agent", choices=("claude", "codex", "gemini", "aider", "cmd"),
                   help="the agent CLI to run (default: cmd, given --agent-cmd)")
    p.add_argument("--agent-cmd", metavar="CMD", help="shell command run each iteration (the cmd agent)")
    p.add_argument("--model", help="model name passed to the agent CLI")
    p.add_argument("--max-turns", type=common.positive_int, metavar="N", help="turn limit per iteration (claude)")
    p.add_argument("--allowed-tools", metavar="TOOLS", help="tools the agent may use without asking (claude)")
    p.add_argument("--permission-mode", metavar="MODE",
                   help="claude --permission-mode (default bypassPermissions), codex --sandbox "
                        "(default: no sandbox, no approvals), gemini --approval-mode (default yolo)")
    p.add_argument("--agent-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for the agent CLI (repeatable)")
    p.add_argument("--resume-session", action="store_true",
                   help="continue the previous iteration's session (claude --resume)")
    p.add_argument("--budget-usd", type=common.positive_amount, metavar="USD", help="end incomplete once the agent has cost this much")
    p.add_argument("--budget-tokens", type=common.positive_int, metavar="N",
                   help="end incomplete once the agent has used this many tokens")
    p.add_argument("--rate-limit-backoff", type=common.positive_duration, default=60.0, metavar="DUR",
                   help="first wait after a rate limit with no reset time, doubling (default 60s)")
    p.add_argument("--after", action="append", default=[], metavar="ID[,ID]",
                   help="stay pending until these harnesses have completed; fail if one does not (repeatable)")
    p.add_argument("-d", "--detach", action="store_true", help="supervise in the background; print the id")
    p.add_argument("--max-iterations", type=common.positive_int, default=50, metavar="N", help="default 50")
    p.add_argument("--max-failures", type=common.positive_int, default=5, metavar="N",
                   help="consecutive failed iterations before the harness fails (default 5)")
    p.add_argument("--timeout", type=common.positive_duration, metavar="DUR", help="wall-clock limit for the harness")
    p.add_argument("--iteration-timeout", type=common.positive_duration, metavar="DUR", help="limit for one iteration")
    p.add_argument("--backoff", type=common.duration, default=2.0, metavar="DUR",
                   help="delay after the first failure, doubling after each further one (default 2s)")
    p.add_argument("--grace", type=common.duration, default=10.0, metavar="DUR",
                   help="time between TERM and KILL when ending an agent (default 10s)")
    p.add_argument("--heartbeat", type=common.positive_duration, default=5.0, metavar="DUR", help="heartbeat interval (default 5s)")
    p.add_argument("--stall-after", type=common.positive_duration, default=300.0, metavar="DUR",
                   help="an agent silent this long has stalled (default 5m)")
    p.add_argument("--on-stall", type=common.policy, default="nudge,restart,stop", metavar="POLICY",
                   help="actions on successive stalls, the last repeating: nudge, restart, stop, none "
                        "(default nudge,restart,stop)")
    p.add_argument("--loop-after", type=common.positive_int, default=5, metavar="N",
                   help="N iterations without progress, or with the same failure, is a loop (default 5)")
    p.add_argument("--on-loop", type=common.policy, default="nudge,stop", metavar="POLICY",
                   help="actions on successive loops (default nudge,stop)")
    p.add_argument("--result-grace", type=common.duration, default=5.0, metavar="DUR",
                   help="how long an agent may linger after its final result before it is ended (default 5s)")
    p.add_argument("--hook-timeout", type=common.positive_duration, default=30.0, metavar="DUR",
                   help="a hook still running after this is killed and reported (default 30s)")
    p.add_argument("--workdir", metavar="DIR", help="where the agent runs (default: the current directory)")
    p.add_argument("--worktree", action="store_true",
                   help="run the agent in a git worktree of WORKDIR's repository on branch mh/ID")
    p.add_argument("--base", metavar="REF", help="where the --worktree branch starts (default HEAD)")
    p.add_argument("--prompt-template", metavar="FILE", help="prompt template with {{VARIABLES}}")
    p.add_argument("--run", metavar="RUN-ID", help="the mh-run run this harness belongs to (set by mh-run)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.run("spawn", _spawn, argv)


def _worktree_spec(args: Any, workdir: Path, after: list[str]) -> dict[str, str] | None:
    if args.base and not args.worktree:
        raise MhError("--base needs --worktree", Exit.USAGE)
    if not args.worktree:
        return None
    from metaharness import worktree

    repo = worktree.repository_of(workdir)
    worktree.check_branch_name(repo, args.id)
    base = args.base or "HEAD"
    if base not in {worktree.branch_for(i) for i in after}:  # a dependency's branch may not exist yet
        worktree.resolve(repo, base)
    return {"repo": str(repo), "base": base}


def check_options(args: Any) -> tuple[str, Path, str | None]:
    """Refuse what mh-spawn refuses at the door, but for the id and the roadmap (mh-pool asks
    too, before it claims an item); return the agent, the workdir and the template path."""
    from metaharness.agents import adapter_for

    agent = args.agent or ("cmd" if args.agent_cmd else None)
    if agent is None:
        raise MhError("say which agent runs: --agent claude|codex|gemini|aider, or --agent-cmd 'COMMAND'", Exit.USAGE)
    adapter_for(agent)
    if agent == "cmd" and not args.agent_cmd:
        raise MhError("the cmd agent needs --agent-cmd 'COMMAND'", Exit.USAGE)
    if agent != "cmd" and args.agent_cmd:
        raise MhError(f"--agent-cmd is for the cmd agent, not {agent}", Exit.USAGE)
    workdir = Path(args.workdir or ".").absolute()
    if not workdir.is_dir():
        raise MhError(f"workdir {workdir} is not a directory", Exit.USAGE)
    template = None
    if args.prompt_template:
        from metaharness.prompt import read_template

        template = str(Path(args.prompt_template).absolute())
        try:
            read_template(template)
        except (OSError, UnicodeDecodeError) as e:
            raise MhError(f"cannot read prompt template {args.prompt_template}: {getattr(e, 'strerror', None) or e}",
                          Exit.USAGE) from None
    return agent, workdir, template


def _spawn(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from metaharness import harness, liveness, process, signals
    from metaharness.roadmap import load_roadmap
    from metaharness.tree import find_tree, new_instance_id, now_iso, validate_id

    validate_id(args.id)
    agent, workdir, template = check_options(args)
    _, progress = load_roadmap(Path(args.roadmap))
    roadmap = Path(args.roadmap).absolute()

    after = list(dict.fromkeys(i for group in args.after for i in group.split(",") if i))
    for dependency in after:
        validate_id(dependency)
    worktree_spec = _worktree_spec(args, workdir, after)
    tree = find_tree(create=True)
    assert tree is not None
    check_no_cycle(tree, args.id, after)
    instance = new_instance_id()
    spec: dict[str, Any] = {
        "format": 1, "id": args.id, "instance": instance, "created": now_iso(), "roadmap": str(roadmap),
        "run": args.run, "after": after, "agent": agent, "agent_cmd": args.agent_cmd, "workdir": str(workdir), "worktree": worktree_spec,
        "model": args.model,
        "max_turns": args.max_turns, "allowed_tools": args.allowed_tools, "permission_mode": args.permission_mode,
        "agent_args": args.agent_arg, "resume_session": args.resume_session, "budget_usd": args.budget_usd,
        "budget_tokens": args.budget_tokens, "rate_limit_backoff": args.rate_limit_backoff,
        "stall_after": args.stall_after, "on_stall": args.on_stall, "loop_after": args.loop_after,
        "on_loop": args.on_loop, "result_grace": args.result_grace, "hook_timeout": args.hook_timeout,
        "max_iterations": args.max_iterations, "max_failures": args.max_failures, "timeout": args.timeout,
        "iteration_timeout": args.iteration_timeout, "backoff": args.backoff, "grace": args.grace,
        "heartbeat_interval": args.heartbeat, "prompt_template": template,
    }
    state: dict[str, Any] = {
        "id": args.id, "instance": instance, "status": "starting", "pid": os.getpid(),
        "pid_start": liveness.process_start_time(os.getpid()), "host": liveness.this_host(),
        "started": spec["created"], "iteration": 0, "progress": {"done": progress.done, "total": progress.total},
        "task": progress.current_task, "heartbeat_interval": args.heartbeat,
    }
    from metaharness.loop import Supervisor  # before the harness exists: an import error leaves nothing behind

    signals.hold()  # from here a signal must end in an `interrupted` result, not a dead harness
    directory, lock_fd = harness.create(tree, spec, state)

    if args.detach:
        sys.stdout.flush()
        sys.stderr.flush()
        if process.detach(directory / "log"):
            code = Exit.SOFTWARE
            try:
                code = Supervisor(directory, lock_fd).run()
            except BaseException:
                import traceback

                traceback.print_exc()  # stderr is the harness log now
            finally:
                os._exit(code)
        os.close(lock_fd)  # the supervisor child holds the lock now
        print(args.id)
        return Exit.OK
    narrate = None if args.quiet or not sys.stderr.isatty() else _narrate
    return Supervisor(directory, lock_fd, narrate).run()


def check_no_cycle(tree: Path, harness_id: str, after: list[str]) -> None:
    """Refuse --after dependencies that lead back to `harness_id` through harnesses still
    waiting on theirs, naming the cycle (an ended harness waits for nothing)."""
    from metaharness.liveness import lock_is_held
    from metaharness.tree import read_json

    def path_back(node: str, trail: list[str]) -> list[str] | None:
        if node == harness_id:
            return trail
        if not lock_is_held(tree / node / "lock"):
            return None
        try:
            deps = read_json(tree / node / "spec.json").get("after") or []
        except (OSError, ValueError):
            return None
        for dep in deps:
            if dep == harness_id or dep not in trail:
                found = path_back(dep, trail + [dep])
                if found:
                    return found
        return None

    for dependency in after:
        cycle = path_back(dependency, [harness_id, dependency])
        if cycle:
            raise MhError(f"dependency cycle: {' -> '.join(cycle)}", Exit.USAGE)


def _narrate(line: str) -> None:
    print(f"mh-spawn: {line}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
