"""mh-merge: land harnesses' branches on a target branch, one at a time, never losing work.

For each harness in order: in a scratch worktree of its own (under .harness/.tmp/), bring
the branch `mh/<id>` up to date with the target (rebase it onto the target, or with
`rebase=False` make a merge commit on the target's tip), run the check there, and only
if everything passed move the target forward, by fast-forward, to the result; then, for a
rebase, the branch to the same commit (its worktree with it, if it has one). A conflict
or a failed check changes nothing: the scratch worktree goes, the target, the branch and
the harness's worktree are as they were. Each step is idempotent, so a merge killed at any
point is finished by running it again. The outcome is `.harness/<id>/merge.json`, written
atomically, and an event in the harness's log. One mh-merge at a time per repository
(`mh-merge.lock` in its git directory); a second waits.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from metaharness import worktree
from metaharness.exits import Exit, MhError
from metaharness.records import typed_record
from metaharness.tree import now_iso, write_json

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator

MERGE_RECORD = "merge.json"


@typed_record(frozen=True)
class Target:
    repo: Path
    branch: str
    checkout: Path | None  # where the target is checked out, if anywhere: it moves with it


@typed_record(frozen=True)
class Outcome:
    id: str
    status: str  # merged, conflict, check_failed, skipped, would_merge
    into: str
    commit: str | None = None
    files: tuple[str, ...] = ()
    check: dict[str, Any] | None = None
    reason: str = ""

    def record(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "into": self.into, "commit": self.commit,
                "files": list(self.files), "check": self.check, "reason": self.reason, "at": now_iso()}


def target_of(repo: Path, branch: str) -> Target:
    """The target branch and where it is checked out; refused if that checkout has changes."""
    if not worktree.branch_exists(repo, branch):
        raise MhError(f"no branch {branch} in {repo}", Exit.USAGE)
    places = worktree.checked_out_at(repo, branch)
    checkout = places[0] if places else None
    if checkout is not None and worktree.tracked_changes(checkout):
        raise MhError(f"{branch} is checked out in {checkout} with uncommitted changes: commit or stash them first",
                      Exit.REFUSED)
    return Target(repo, branch, checkout)


@contextmanager
def one_merge_at_a_time(repo: Path, say: Callable[[str], None]) -> Iterator[None]:
    import fcntl

    common = repo / worktree.git(repo, "rev-parse", "--git-common-dir").stdout.strip()
    fd = os.open(common / "mh-merge.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"another mh-merge is landing branches in {repo}: waiting for it")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def land(tree: Path, harness_id: str, target: Target, *, rebase: bool, verify: str | None, verify_timeout: float,
         dry_run: bool) -> Outcome:
    """Bring mh/<id> onto the target, check it, and move the target forward, or change nothing."""
    branch = worktree.branch_for(harness_id)
    repo = target.repo
    if not worktree.branch_exists(repo, branch):
        return Outcome(harness_id, "skipped", target.branch, reason=f"no branch {branch}")
    own = worktree.directory_for(tree, harness_id)
    if own.is_dir() and worktree.current_branch(own) == branch and worktree.uncommitted_files(own):
        return Outcome(harness_id, "skipped", target.branch, reason=f"its worktree {own} has uncommitted changes")
    tip = worktree.resolve(repo, f"refs/heads/{target.branch}")
    if contains(repo, tip, f"refs/heads/{branch}"):
        return Outcome(harness_id, "merged", target.branch, tip, reason=f"{branch} is already in {target.branch}")
    if dry_run:
        return Outcome(harness_id, "would_merge", target.branch, reason=_would(repo, branch, tip, rebase))
    scratch = _scratch(tree, harness_id)
    with _scratch_worktree(repo, scratch, branch if rebase else tip):
        conflict = _combine(scratch, branch, target.branch, tip, rebase)
        if conflict:
            return Outcome(harness_id, "conflict", target.branch, files=tuple(conflict),
                           reason=f"{branch} conflicts with {target.branch} in {', '.join(conflict)}")
        result = worktree.git(scratch, "rev-parse", "HEAD").stdout.strip()
        if verify:
            check = _check(verify, scratch, verify_timeout)
            if not check["passed"]:
                return Outcome(harness_id, "check_failed", target.branch, result, check=check,
                               reason=f"the check `{verify}` failed on {branch} combined with {target.branch}")
        else:
            check = None
        _advance(target, tip, result)
        if rebase:
            _move_branch(repo, branch, result, own)
    return Outcome(harness_id, "merged", target.branch, result, check=check,
                   reason=f"{branch} {'rebased onto' if rebase else 'merged into'} {target.branch}")


def contains(repo: Path, commit: str, ref: str) -> bool:
    """Whether `ref` is already in `commit`'s history."""
    return worktree.git(repo, "merge-base", "--is-ancestor", ref, commit, check=False).returncode == 0


def _would(repo: Path, branch: str, tip: str, rebase: bool) -> str:
    count = worktree.git(repo, "rev-list", "--count", f"{tip}..refs/heads/{branch}").stdout.strip()
    return f"{'rebase' if rebase else 'merge'} {count} commit(s) of {branch}"


def _scratch(tree: Path, harness_id: str) -> Path:
    return tree / ".tmp" / f"merge-{harness_id}-{os.getpid()}"


@contextmanager
def _scratch_worktree(repo: Path, directory: Path, start: str) -> Iterator[None]:
    """A detached worktree at `start` for the duration; removed, whatever happens."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    with worktree.repository_lock(repo):
        worktree.git(repo, "worktree", "add", "--detach", "--quiet", str(directory), start)
    try:
        yield
    finally:
        with worktree.repository_lock(repo):
            worktree.git(repo, "worktree", "remove", "--force", str(directory), check=False)
            worktree.git(repo, "worktree", "prune", check=False)


def clear_leftovers(tree: Path, repo: Path) -> None:
    """The scratch worktrees (and check outputs) of an mh-merge that was killed. Called
    holding the merge lock, so every one but this process's is a leftover."""
    import shutil

    scratch = tree / ".tmp"
    for entry in sorted(scratch.glob("merge-*")) if scratch.is_dir() else []:
        if entry.name.removesuffix(".check").endswith(f"-{os.getpid()}"):
            continue
        if not entry.is_dir():  # a check's output
            entry.unlink(missing_ok=True)
            continue
        with worktree.repository_lock(repo):
            worktree.git(repo, "worktree", "remove", "--force", str(entry), check=False)
            worktree.git(repo, "worktree", "prune", check=False)
        shutil.rmtree(entry, ignore_errors=True)


def _combine(scratch: Path, branch: str, target: str, tip: str, rebase: bool) -> list[str]:
    """Rebase (or merge) in the scratch worktree; the conflicted files, if it could not."""
    args = ["rebase", "--quiet", tip] if rebase else ["merge", "--no-ff", "--quiet", "-m", f"Merge {branch} into {target}",
                                                      f"refs/heads/{branch}"]
    r = worktree.git(scratch, "-c", "user.name=mh-merge", "-c", "user.email=mh-merge@localhost", *args, check=False)
    if r.returncode == 0:
        return []
    # The half-done rebase or merge goes with the scratch worktree: nothing to abort.
    files = [f for f in worktree.git(scratch, "diff", "--name-only", "--diff-filter=U").stdout.splitlines() if f]
    if not files:
        lines = (r.stderr or r.stdout).strip().splitlines()
        raise MhError(f"git {args[0]} of {branch} failed: {lines[-1] if lines else f'exit {r.returncode}'}", Exit.SYSTEM)
    return files


def _check(command: str, scratch: Path, timeout: float) -> dict[str, Any]:
    """The check, run in the scratch worktree."""
    import threading

    from metaharness.gate import run_check

    output = scratch.with_name(scratch.name + ".check")  # gone with the scratch: merge.json keeps its tail
    try:
        check = run_check(command, scratch, output, timeout, dict(os.environ), threading.Event(), lambda: None)
    finally:
        output.unlink(missing_ok=True)
    del check["output"]
    return check


def _advance(target: Target, old: str, new: str) -> None:
    """The target forward to `new`, by fast-forward only, and its checkout with it."""
    if target.checkout is not None:
        if worktree.tracked_changes(target.checkout):
            raise MhError(f"{target.checkout} has uncommitted changes now: {target.branch} left at {old[:12]}",
                          Exit.REFUSED)
        worktree.git(target.checkout, "merge", "--ff-only", "--quiet", new)
    else:  # compare-and-swap: another writer in between makes it fail, not lose commits
        worktree.git(target.repo, "update-ref", f"refs/heads/{target.branch}", new, old)


def _move_branch(repo: Path, branch: str, new: str, own: Path) -> None:
    """The rebased branch to its new commit, and its clean worktree with it."""
    if own.is_dir() and worktree.current_branch(own) == branch:
        worktree.git(own, "reset", "--keep", "--quiet", new)
    else:
        worktree.git(repo, "update-ref", f"refs/heads/{branch}", new)


def record(tree: Path, outcome: Outcome) -> None:
    """merge.json in the harness's directory, and an event in its log."""
    directory = tree / outcome.id
    if not directory.is_dir():
        return
    write_json(directory / MERGE_RECORD, outcome.record(), durable=True)
    from metaharness.events import EventLog

    log = EventLog(directory / "events.jsonl")
    try:
        log.emit(f"merge_{outcome.status}", into=outcome.into, commit=outcome.commit, files=list(outcome.files),
                 reason=outcome.reason)
    finally:
        log.close()
