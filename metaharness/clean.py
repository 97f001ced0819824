"""Removing ended harnesses: the directory, archived instances, worktree and branch of an id.

Clean never loses work. An id is refused, and nothing of it removed, while its harness
lives, while its worktree has uncommitted changes (untracked files included), while its
branch `mh/<id>` has commits that no other branch, local or remote-tracking, contains, or
while that branch is checked out anywhere but its own worktree. `force` overrides only
the two refusals about work.

A harness directory is removed only by a cleaner holding its lock, so its supervisor is
gone and no spawner is archiving it, after checking that the name still denotes the
directory it locked. The directory is then renamed into `.harness/.tmp/` before it is
deleted, so readers see the whole harness or none of it; git goes first, so a git failure
leaves the harness, and the record of what it was, in place. Judging and removing happen
under the repository's worktree lock, which a new harness takes to make or take up its
worktree, so a worktree is never removed from under one. Ids are decided one after
another against the repository as it is then: of two branches holding the same commits
(a pipeline stage and the stage it started from), the first is removable, the second not.
See mh-clean(1).
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import ExitStack
from pathlib import Path

from metaharness import liveness, worktree
from metaharness.enums import StrEnum
from metaharness.exits import Exit, MhError
from metaharness.harness import end_orphans, inspect, list_ids, take_ended_lock
from metaharness.records import typed_record
from metaharness.statuses import Status
from metaharness.tree import parse_iso, read_json, validate_id

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Iterator, Sequence


class Action(StrEnum):
    """The words `mh-clean --json` writes."""

    REMOVED = "removed"
    WOULD_REMOVE = "would_remove"
    REFUSED = "refused"


@typed_record(frozen=True)
class Removal:
    """What was done with one id; the paths and branch are those removed, or kept if refused."""

    id: str
    action: Action
    reason: str | None = None  # why it was refused
    worktree: Path | None = None
    branch: str | None = None
    directory: bool = False  # the harness directory itself
    archived: int = 0  # instances under .archive/


@typed_record(frozen=True)
class _Target:
    """Everything an id has, as found before deciding."""

    id: str
    directory: Path | None
    archives: list[Path]
    worktree: Path | None
    repo: Path | None
    branch: str | None  # mh/<id> if it exists in `repo`

    @property
    def empty(self) -> bool:
        return not (self.directory or self.archives or self.worktree or self.branch)


def clean(tree: Path, ids: Sequence[str] | None, *, force: bool = False, dry_run: bool = False,
          older_than: float | None = None) -> Iterator[Removal]:
    """Remove the named ids, or with `ids` None every ended harness and orphaned worktree
    (with `older_than`, only harnesses that ended at least that many seconds ago).

    Yields one Removal per id as it is dealt with. A named id with nothing to remove is a
    NOT_FOUND error raised before anything changes; a git failure is a SYSTEM error.
    """
    if ids is None:
        ended = _ended(tree) if older_than is None else _ended_before(tree, time.time() - older_than)
        targets = [t for t in (_find(tree, i) for i in ended) if not t.empty]
    else:
        targets = [_find(tree, validate_id(i)) for i in dict.fromkeys(ids)]
        missing = [t.id for t in targets if t.empty]
        if missing:
            raise MhError(f"no such harness: {', '.join(missing)}", Exit.NOT_FOUND)
    needed = _bases_of_live_harnesses(tree)
    judged_gone: list[str] = []  # with dry_run, branches a real run would have deleted by now
    for target in targets:
        outcome = _clean_one(tree, target, force, dry_run, needed, judged_gone)
        if outcome is not None:
            if outcome.action is Action.WOULD_REMOVE and outcome.branch:
                judged_gone.append(outcome.branch)
            yield outcome


def _bases_of_live_harnesses(tree: Path) -> dict[str, str]:
    """Branch -> the live --worktree harness that starts (or started) from it."""
    needed = {}
    for harness_id in list_ids(tree):
        view = inspect(tree / harness_id)
        wanted = view.spec.get("worktree")
        if view.status.is_live and isinstance(wanted, dict) and isinstance(wanted.get("base"), str):
            needed[wanted["base"].removeprefix("refs/heads/")] = harness_id
    return needed


def _ended(tree: Path) -> list[str]:
    """Ids with a harness that is not live, or with leftovers (a worktree, archives) and no harness."""
    ids = set(list_ids(tree))
    for leftovers, name_to_id in ((worktree.worktrees_root(tree), lambda n: n), (tree / ".archive", _archived_id)):
        try:
            ids.update(name_to_id(n) for n in os.listdir(leftovers))
        except FileNotFoundError:
            pass
    found = []
    for harness_id in sorted(ids):
        try:
            validate_id(harness_id)
        except MhError:
            continue  # not ours to remove
        directory = tree / harness_id
        if directory.is_dir():
            view = inspect(directory)
            # A queue item's result is the item's until its worker has settled it.
            busy = view.status.is_live or _settling(tree, view.spec)
        else:
            busy = _being_spawned(tree, harness_id)
        if not busy:
            found.append(harness_id)
    return found


def _ended_before(tree: Path, cutoff: float) -> list[str]:
    """Ids whose harness has a result that says it ended before `cutoff` (epoch seconds)."""
    found = []
    for harness_id in _ended(tree):
        try:
            ended = parse_iso(read_json(tree / harness_id / "result.json")["ended"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # no result to date it by (leftovers, a dead harness): not judged old
        if ended < cutoff:
            found.append(harness_id)
    return found


def _settling(tree: Path, view_spec: dict[str, object]) -> bool:
    """Is this the harness of a queue item a worker holds: ended, but not yet settled?"""
    run = view_spec.get("run")
    return isinstance(run, str) and (tree / "queue" / "claimed" / f"{run}.claim").exists()


def _archived_id(name: str) -> str:
    return name.rpartition(".")[0]  # ID.INSTANCE, and instances hold no dot


def _find(tree: Path, harness_id: str) -> _Target:
    directory = tree / harness_id
    archive = tree / ".archive"
    archives = sorted(p for p in archive.glob(f"{harness_id}.*") if _archived_id(p.name) == harness_id)
    place = worktree.directory_for(tree, harness_id)
    directory_found = directory if directory.is_dir() else None
    repo = _repository([place, *_spec_repos([directory, *archives]), tree.parent])
    branch = worktree.branch_for(harness_id)
    return _Target(harness_id, directory_found, archives, place if os.path.lexists(place) else None, repo,
                   branch if repo is not None and worktree.branch_exists(repo, branch) else None)


def _spec_repos(directories: list[Path]) -> list[Path]:
    """The repositories --worktree spawns of this id recorded, newest instance first."""
    repos = []
    for directory in directories:
        try:
            repo = (read_json(directory / "spec.json").get("worktree") or {}).get("repo")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(repo, str):
            repos.append(Path(repo))
    return repos


def _repository(candidates: list[Path]) -> Path | None:
    """The main checkout of the first candidate inside a git repository."""
    for candidate in candidates:
        if candidate.is_dir():
            found = worktree.main_checkout(candidate)
            if found is not None:
                return found
    return None


def _clean_one(tree: Path, t: _Target, force: bool, dry_run: bool, needed: dict[str, str],
               judged_gone: list[str]) -> Removal | None:
    """Decide on one id and, unless `dry_run`, remove it; None if another cleaner just did."""
    def refused(reason: str) -> Removal:
        return Removal(t.id, Action.REFUSED, reason, t.worktree, t.branch)

    with ExitStack() as held:
        view = inspect(t.directory) if t.directory is not None else None
        if view is not None:
            if view.status.is_live:
                return refused(f"it is {view.status.value}")
            if not dry_run:
                lock_fd = _lock(view.dir)
                if lock_fd is None:
                    return refused("it is running (or was just spawned again)") if view.dir.exists() else None
                held.callback(os.close, lock_fd)
        if t.repo is not None and not dry_run:
            held.enter_context(worktree.repository_lock(t.repo))  # a spawn making this id's worktree waits
            t = _find(tree, t.id)  # as it is now: another cleaner may have been first
            if t.empty:
                return None
        if view is None and (_being_spawned(tree, t.id) or (tree / t.id).is_dir()):
            return refused("it is being spawned")
        if t.branch in needed:
            return refused(f"{needed[t.branch]}, which is live, starts from {t.branch}")
        reason = _objection(t, force, judged_gone)
        if reason:
            return refused(reason)
        if dry_run:
            return Removal(t.id, Action.WOULD_REMOVE, None, t.worktree, t.branch, view is not None, len(t.archives))
        if view is not None and view.status is Status.DEAD:
            # Its supervisor was killed and its agent may still be at work: end it, and judge again.
            try:
                end_orphans(view.dir, view.instance, view.spec.get("grace"))
            except MhError as e:
                return refused(str(e))
            reason = _objection(t, force, judged_gone)
            if reason:
                return refused(reason)
        if t.worktree is not None and t.worktree.is_dir():
            from metaharness.gate import before_remove
            from metaharness.hooks import HOOK_TIMEOUT_SECONDS

            reason = before_remove(tree, t.id, t.worktree, HOOK_TIMEOUT_SECONDS)
            if reason:
                return refused(reason)
        _remove(tree, t, force)
        return Removal(t.id, Action.REMOVED, None, t.worktree, t.branch, view is not None, len(t.archives))


def _lock(directory: Path) -> int | None:
    """Lock an ended harness for removal; None if a supervisor holds it or the name moved on."""
    try:
        fd = take_ended_lock(directory / "lock")  # waits out a reader's momentary probe
    except FileNotFoundError:
        return None  # archived by a spawner a moment ago
    if fd is None:
        return None
    try:
        same = os.fstat(fd).st_ino == os.stat(directory / "lock").st_ino
    except FileNotFoundError:
        same = False
    if not same:  # a new harness took the name after we looked
        os.close(fd)
        return None
    return fd


def _being_spawned(tree: Path, harness_id: str) -> bool:
    """A spawn of this id is building under .tmp/ (its worktree may be about to be reused)."""
    return any(_archived_id(p.name) == harness_id and liveness.lock_is_held(p / "lock")
               for p in (tree / ".tmp").glob(f"{harness_id}.*"))


def _objection(t: _Target, force: bool, judged_gone: list[str]) -> str | None:
    """Why removing this id would lose work or break a checkout, or None. `judged_gone`:
    branches not to count as holding its commits."""
    branch = worktree.branch_for(t.id)
    if t.worktree is not None and worktree.current_branch(t.worktree) != branch:
        return f"{t.worktree} is not a git worktree on {branch}; remove it by hand"
    if t.branch is not None and t.repo is not None:
        own = t.worktree.resolve() if t.worktree is not None else None
        elsewhere = [p for p in worktree.checked_out_at(t.repo, branch) if p.resolve() != own]
        if elsewhere:
            return f"{branch} is checked out in {elsewhere[0]}"
    if force:
        return None
    problems = []
    dirty = worktree.uncommitted_files(t.worktree) if t.worktree is not None else 0
    if dirty:
        problems.append(f"its worktree has {_count(dirty, 'uncommitted file')}")
    unmerged = worktree.unmerged_commits(t.repo, branch, *judged_gone) if t.branch is not None and t.repo is not None else 0
    if unmerged:
        problems.append(f"{branch} has {_count(unmerged, 'commit')} on no other branch")
    return " and ".join(problems) or None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _remove(tree: Path, t: _Target, force: bool) -> None:
    """Git first, so a git failure leaves the harness and its record in place."""
    if t.repo is not None:
        if t.worktree is not None:
            worktree.git(t.repo, "worktree", "remove", *(["--force"] if force else []), str(t.worktree))
        if t.branch is not None:
            worktree.git(t.repo, "worktree", "prune")  # a worktree deleted by hand still "has" the branch
            worktree.git(t.repo, "branch", "-D", t.branch)
    for directory in ([t.directory] if t.directory is not None else []) + t.archives:
        _discard(tree, directory)


def _discard(tree: Path, directory: Path) -> None:
    """Make `directory` vanish in one rename, then delete it."""
    doomed = tree / ".tmp" / f"removing.{directory.name}.{os.urandom(4).hex()}"
    doomed.parent.mkdir(exist_ok=True)
    os.rename(directory, doomed)  # the moment it is gone
    # A leftover (a permission problem, a kill) is swept from .tmp/ by a later mh-spawn.
    shutil.rmtree(doomed, ignore_errors=True)
