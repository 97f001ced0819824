"""mh-merge: a merge queue for the harnesses' branches."""

from __future__ import annotations

import sys

from metaharness.cli import common
from metaharness.exits import Exit, MhError

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Sequence

DESCRIPTION = """\
Land the branches mh/ID of --worktree harnesses on a target branch, in order: bring each
up to date with the target (rebase, or a merge commit with --no-rebase) in a scratch
worktree, run --verify there, and only then fast-forward the target; the next one builds
on the new target. A conflict or a failed check changes nothing (the target, the branch
and its worktree stay as they were); --on-conflict says what happens next. The outcome of
each is kept in .harness/ID/merge.json and shown by mh-status."""

# What this verb can exit with; EPILOG and the man page list the same (tests/test_docs.py).
EXITS: tuple[Exit, ...] = (
    Exit.OK, Exit.FAILED, Exit.USAGE, Exit.NOT_FOUND, Exit.BAD_TREE, Exit.SYSTEM, Exit.REFUSED, Exit.SOFTWARE,
)
EPILOG = """\
exit status: 0 every branch landed (or would, with --dry-run), 1 a branch did not land (a conflict,
a failed check, or its resolver did not complete), 2 usage, 7 no such harness, 10 bad tree,
11 system error (git failed), 12 refused (a harness still running, not a --worktree one, or the
target checked out with uncommitted changes), 70 internal error. See mh-merge(1)."""


def build_parser() -> common.Parser:
    p = common.parser("merge", DESCRIPTION, EPILOG)
    p.add_argument("ids", nargs="*", metavar="ID")
    p.add_argument("--into", required=True, metavar="BRANCH", help="the branch to land them on (main, say)")
    p.add_argument("--all-completed", action="store_true",
                   help="every completed --worktree harness whose branch is not in the target yet, oldest first")
    p.add_argument("--verify", metavar="CMD", help="a shell command that must pass on each combined result")
    p.add_argument("--verify-timeout", type=common.positive_duration, default=600.0, metavar="DUR",
                   help="a check still running after this has failed (default 10m)")
    p.add_argument("--no-rebase", action="store_true", help="a merge commit instead of rebasing the branch")
    p.add_argument("-n", "--dry-run", action="store_true", help="say what would land; change nothing")
    p.add_argument("--on-conflict", choices=("stop", "skip", "spawn"), default="stop",
                   help="stop the queue (default), skip to the next, or spawn a harness to resolve it")
    p.add_argument("--agent", metavar="NAME", help="the resolver's agent, with --on-conflict spawn")
    p.add_argument("--agent-cmd", metavar="CMD", help="the resolver's command, with --on-conflict spawn")
    p.add_argument("--json", action="store_true", help="one JSON object per harness")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return common.run("merge", _merge, argv)


def _merge(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    import json

    from metaharness import merge
    from metaharness.tree import find_tree, validate_id

    if bool(args.ids) == args.all_completed:
        raise MhError("name the harnesses to merge, or give --all-completed", Exit.USAGE)
    if args.on_conflict == "spawn" and not (args.agent or args.agent_cmd):
        raise MhError("--on-conflict spawn needs the resolver's --agent NAME or --agent-cmd 'COMMAND'", Exit.USAGE)
    ids = [validate_id(i) for i in args.ids]
    tree = find_tree()
    if tree is None:
        raise MhError(f"no such harness: {ids[0]}" if ids else "no .harness tree here or above", Exit.NOT_FOUND)
    repo = _repository(tree, ids) if ids else None
    ids, repo = (ids, repo) if ids else _completed(tree, args.into)
    if not ids:
        return Exit.OK
    target = merge.target_of(repo, args.into)
    say = lambda line: print(f"mh-merge: {line}", file=sys.stderr, flush=True)  # noqa: E731
    code = Exit.OK
    with merge.one_merge_at_a_time(repo, say):
        merge.clear_leftovers(tree, repo)
        for harness_id in ids:
            target = merge.target_of(repo, args.into)  # where it is now: the last one moved it
            outcome = merge.land(tree, harness_id, target, rebase=not args.no_rebase, verify=args.verify,
                                 verify_timeout=args.verify_timeout, dry_run=args.dry_run)
            if outcome.status == "conflict" and args.on_conflict == "spawn" and not args.dry_run:
                outcome = _resolve(tree, repo, harness_id, outcome, args)
            if not args.dry_run and outcome.status != "skipped":
                merge.record(tree, outcome)
            print(json.dumps(outcome.record()) if args.json else _line(outcome), flush=True)
            if outcome.status in ("conflict", "check_failed"):
                code = Exit.FAILED
                if args.on_conflict != "skip":
                    break
    return code


def _line(o: Any) -> str:
    if o.status == "merged":
        return f"{o.id}: merged into {o.into} at {(o.commit or '')[:12]} ({o.reason})"
    if o.status == "would_merge":
        return f"{o.id}: would {o.reason} onto {o.into}"
    if o.status == "check_failed":
        return f"{o.id}: check failed ({o.reason}): {o.into} left where it was"
    if o.status == "conflict":
        return f"{o.id}: conflict: {o.reason}: nothing changed"
    return f"{o.id}: skipped: {o.reason}"


def _repository(tree: Path, ids: list[str]) -> Path:
    """The one repository the named harnesses' worktrees belong to; each must have ended."""
    from pathlib import Path

    from metaharness import harness

    repos = set()
    for harness_id in ids:
        view = harness.inspect(harness.harness_dir(tree, harness_id))
        if view.status.is_live:
            raise MhError(f"{harness_id} is {view.status.value}: merge it once it has ended", Exit.REFUSED)
        wanted = view.spec.get("worktree")
        if not isinstance(wanted, dict) or not wanted.get("repo"):
            raise MhError(f"{harness_id} was not spawned with --worktree: it has no branch to merge", Exit.REFUSED)
        repos.add(wanted["repo"])
    if len(repos) > 1:
        raise MhError(f"these harnesses work in different repositories ({', '.join(sorted(repos))}): one at a time",
                      Exit.USAGE)
    return Path(repos.pop())


def _completed(tree: Path, into: str) -> tuple[list[str], Path | None]:
    """Completed --worktree harnesses whose branch is not in `into` yet, oldest first."""
    from pathlib import Path

    from metaharness import harness, merge, worktree

    found = []
    for harness_id in harness.list_ids(tree):
        view = harness.inspect(tree / harness_id)
        wanted = view.spec.get("worktree")
        if view.status.value != "completed" or not isinstance(wanted, dict) or not wanted.get("repo"):
            continue
        repo, branch = Path(wanted["repo"]), worktree.branch_for(harness_id)
        if not worktree.branch_exists(repo, branch) or merge.contains(repo, f"refs/heads/{into}", f"refs/heads/{branch}"):
            continue
        found.append(((view.result or {}).get("ended") or "", harness_id, repo))
    found.sort()
    repos = {repo for _, _, repo in found}
    if len(repos) > 1:
        raise MhError("completed harnesses work in different repositories: name the ones to merge", Exit.USAGE)
    return [harness_id for _, harness_id, _ in found], (repos.pop() if repos else None)


def _resolve(tree: Path, repo: Path, harness_id: str, conflict: Any, args: Any) -> Any:
    """A harness that resolves the conflict on a branch of its own (from mh/ID), and, once
    it completes, its branch landed in place of mh/ID's."""
    from metaharness import merge
    from metaharness.resolver import spawn_resolver

    resolver = spawn_resolver(tree, repo, harness_id, conflict, agent=args.agent, agent_cmd=args.agent_cmd)
    print(f"{harness_id}: conflict in {', '.join(conflict.files)}: spawned {resolver} to resolve it", flush=True)
    from metaharness.waiter import end_of

    ended = end_of(tree, resolver, appear_within=60.0)
    if ended.status is None or ended.status.value != "completed":
        return merge.Outcome(harness_id, "conflict", conflict.into, files=conflict.files,
                             reason=f"{conflict.reason}; its resolver {resolver} did not complete ({ended.reason})")
    landed = merge.land(tree, resolver, merge.target_of(repo, args.into), rebase=False, verify=args.verify,
                        verify_timeout=args.verify_timeout, dry_run=False)
    merge.record(tree, landed)
    return merge.Outcome(harness_id, landed.status, landed.into, landed.commit, check=landed.check,
                         reason=f"resolved by {resolver}: {landed.reason}")


if __name__ == "__main__":
    sys.exit(main())
