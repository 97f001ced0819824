"""Starting a harness: the one path from a request to a supervised harness.

`prepare` refuses at the door everything a harness could not run with (a bad id, an agent
without its command, a workdir or prompt template it cannot use, a roadmap it would
refuse, a --worktree it cannot make) and returns the Spec; nothing is created until then.
`start` checks --after for a cycle, publishes the harness (harness.create), and supervises
it, here or in a detached child (process.detach). mh-spawn, mh-run and the pool's fork
server all come through here; errors are MhError, never text on a stream.
"""

from __future__ import annotations

import os
import sys

from metaharness import jsonio
from metaharness.exits import Exit, MhError
from metaharness.records import fields, typed_record
from metaharness.roadmap import Progress
from metaharness.spec import Options, Spec, WorktreeRequest

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path  # not imported to start: a detached mh-spawn returns without it (3 ms)
    from typing import Any, Callable, Final

_START_TIMEOUT_SECONDS: Final = 60.0  # creating a harness takes milliseconds; a bound for a hung disk


def check_options(options: Options, workdir: str | None, prompt_template: str | None) -> tuple[str, str | None]:
    """Refuse the options a harness cannot run with, whatever its id and roadmap (mh-pool
    asks before it claims an item); return the absolute workdir and template path."""
    from metaharness.agents import ADAPTERS, check_agent

    if options.agent is None and not options.agent_cmd:
        named = "|".join(name for name in ADAPTERS if name != "cmd")
        raise MhError(f"say which agent runs: --agent {named}, or --agent-cmd 'COMMAND'", Exit.USAGE)
    agent = options.agent or "cmd"
    check_agent(agent)
    if agent == "cmd" and not options.agent_cmd:
        raise MhError("the cmd agent needs --agent-cmd 'COMMAND'", Exit.USAGE)
    if agent != "cmd" and options.agent_cmd:
        raise MhError(f"--agent-cmd is for the cmd agent, not {agent}", Exit.USAGE)
    where = _absolute(workdir or ".")
    if not os.path.isdir(where):
        raise MhError(f"workdir {where} is not a directory", Exit.USAGE)
    if options.sandbox:
        from metaharness.sandbox import require

        require()  # bubblewrap installed, or one clear line now rather than a failed harness later
    if options.sandbox_net == "off" and not options.sandbox:
        raise MhError("--sandbox-net off needs --sandbox bwrap", Exit.USAGE)
    template = None
    if prompt_template:
        from metaharness.prompt import read_template

        template = _absolute(prompt_template)
        try:
            read_template(template)
        except (OSError, UnicodeDecodeError) as e:
            raise MhError(f"cannot read prompt template {prompt_template}: {getattr(e, 'strerror', None) or e}",
                          Exit.USAGE) from None
    return where, template


def _absolute(path: str) -> str:
    """`path` made absolute as pathlib's absolute() writes it: joined to the cwd, with '.'
    parts and repeated or trailing slashes dropped, '..' and links kept."""
    full = os.path.join(os.getcwd(), path)
    root = "//" if full.startswith("//") and not full.startswith("///") else "/"
    return root + "/".join(part for part in full.split("/") if part not in ("", "."))


@typed_record(frozen=True)
class Request:
    """What is asked for a harness before it is checked: mh-spawn's command line, a plan's
    entry, a queue item with its pool's options. Relative paths are from where it is made."""

    id: str
    roadmap: str
    options: Options
    workdir: str | None = None
    after: tuple[str, ...] = ()
    run: str | None = None
    worktree: bool = False
    base: str | None = None
    prompt_template: str | None = None

    def to_json(self) -> dict[str, Any]:
        written = {f.name: getattr(self, f.name) for f in fields(self)}
        written["options"] = {f.name: getattr(self.options, f.name) for f in fields(self.options)}
        return written

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Request:
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in data["options"].items()}
        return cls(**{**data, "options": Options(**options), "after": tuple(data.get("after") or ())})


def prepare(request: Request) -> tuple[Spec, Progress]:
    """The Spec of a harness about to start, and its roadmap's progress; MhError(USAGE)
    for anything it could not run with."""
    from metaharness.roadmap import load_roadmap
    from metaharness.tree import new_instance_id, now_iso, validate_id

    validate_id(request.id)
    options = request.options
    where, template = check_options(options, request.workdir, request.prompt_template)
    _, progress = load_roadmap(request.roadmap)
    after = tuple(dict.fromkeys(request.after))
    for dependency in after:
        validate_id(dependency)
    spec = Spec(**{f.name: getattr(options, f.name) for f in fields(options)},
                id=request.id, instance=new_instance_id(), created=now_iso(),
                roadmap=_absolute(request.roadmap), workdir=where, run=request.run, after=after,
                prompt_template=template,
                worktree=_worktree_request(request.id, where, list(after), request.worktree, request.base))
    return spec, progress


def _worktree_request(harness_id: str, workdir: str, after: list[str], wanted: bool,
                      base: str | None) -> WorktreeRequest | None:
    if base and not wanted:
        raise MhError("--base needs --worktree", Exit.USAGE)
    if not wanted:
        return None
    from pathlib import Path

    from metaharness import worktree

    repo = worktree.repository_of(Path(workdir))
    worktree.check_branch_name(repo, harness_id)
    base = base or "HEAD"
    if base not in {worktree.branch_for(i) for i in after}:  # a dependency's branch may not exist yet
        worktree.resolve(repo, base)
    return WorktreeRequest(str(repo), base)


def start(tree: Path | str, spec: Spec, progress: Progress, *, detach: bool,
          narrate: Callable[[str], None] | None = None, before_detach: Callable[[], None] | None = None) -> int:
    """Publish the harness of `spec` in `tree` and supervise it until it ends, returning the
    exit status for its outcome; or, with `detach`, leave a supervisor in a child of its
    own session and return OK at once. `before_detach` runs just before the fork (flush!).

    Call it from a process with one thread: it forks (a fresh interpreter runs it for
    mh-run; see start_elsewhere)."""
    from metaharness import harness, process, signals

    check_no_cycle(tree, spec.id, list(spec.after))
    if not detach:
        from metaharness.loop import (
            Supervisor,  # before the harness exists: an import error leaves nothing
        )

    mask = signals.hold()  # from here a signal must end in an `interrupted` result, not a dead harness
    try:
        directory, lock_fd = harness.create(tree, spec.to_json(), harness.starting_state(spec, progress))
    except BaseException:
        signals.release(mask)
        raise
    if not detach:
        return Supervisor(directory, spec, lock_fd, narrate).run()
    try:
        if before_detach:
            before_detach()
        if process.detach(os.path.join(directory, "log"), keep=(lock_fd,)):
            _supervise_detached(directory, spec, lock_fd)
    finally:
        os.close(lock_fd)  # the supervisor holds the lock now (or, had the fork failed, nobody)
        signals.release(mask)
    return Exit.OK


def _supervise_detached(directory: str, spec: Spec, lock_fd: int) -> None:
    """In the detached child: supervise, then exit with the outcome; never return.

    The supervisor is imported here, after the fork, so that `mh-spawn --detach` returns
    without paying for it; should that import fail (a broken install), the harness ends
    `dead` with the traceback in its log."""
    code = Exit.SOFTWARE
    try:
        from metaharness.loop import Supervisor

        code = Supervisor(directory, spec, lock_fd).run()
    except BaseException:
        import traceback

        traceback.print_exc()  # stderr is the harness log now
    finally:
        sys.stderr.flush()
        os._exit(code)


def start_elsewhere(tree: Path, spec: Spec, cwd: Path) -> None:
    """Start the harness of `spec` detached, from a fresh interpreter running in `cwd` (its
    hooks' directory) in a session of its own: mh-run, which has threads and a terminal's
    Ctrl+C, must not fork a supervisor itself. Raises the MhError the start met."""

    from metaharness import process

    # Where this metaharness lives, first on the path: a checkout's bin/ runs under any python3.
    root = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    boot = f"import sys; sys.path.insert(0, {root!r}); from metaharness.start import _start_here; sys.exit(_start_here())"
    reply = process.capture_bounded([sys.executable, "-c", boot],
                                    {**os.environ, "MH_ROOT": os.path.dirname(tree)}, _START_TIMEOUT_SECONDS,
                                    cwd=cwd, input=jsonio.dumps(spec.to_json()))
    if reply is None:
        raise MhError(f"starting the harness took more than {_START_TIMEOUT_SECONDS:g}s", Exit.SYSTEM)
    try:
        answer = jsonio.loads(reply.stdout)
    except ValueError:
        answer = {"error": (reply.stderr.strip().splitlines() or ["it died"])[-1], "code": Exit.SOFTWARE}
    if answer.get("error"):
        raise MhError(str(answer["error"]), Exit(answer.get("code", Exit.SOFTWARE)))


def _start_here() -> int:
    """The fresh interpreter of start_elsewhere: the Spec (JSON) on stdin, the answer on stdout."""

    from metaharness.roadmap import load_roadmap
    from metaharness.tree import find_tree_dir

    try:
        spec = Spec.from_json(jsonio.loads(sys.stdin.read()))
        tree = find_tree_dir(create=True)
        assert tree is not None
        start(tree, spec, load_roadmap(spec.roadmap)[1], detach=True)
        answer: dict[str, Any] = {"started": spec.id}
    except MhError as e:
        answer = {"error": str(e), "code": int(e.code)}
    except OSError as e:
        answer = {"error": f"{e.filename or ''}: {e.strerror or e}".lstrip(": "), "code": int(Exit.SYSTEM)}
    print(jsonio.dumps(answer), flush=True)
    return 0



def check_no_cycle(tree: Path | str, harness_id: str, after: list[str]) -> None:
    """Refuse --after dependencies that lead back to `harness_id` through harnesses still
    waiting on theirs, naming the cycle (an ended harness waits for nothing)."""
    from metaharness.liveness import lock_is_held
    from metaharness.tree import read_json

    def path_back(node: str, trail: list[str]) -> list[str] | None:
        if node == harness_id:
            return trail
        if not lock_is_held(os.path.join(tree, node, "lock")):
            return None
        try:
            deps = read_json(os.path.join(tree, node, "spec.json")).get("after") or []
        except (OSError, ValueError, AttributeError):
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


if __name__ == "__main__":
    sys.exit(_start_here())
