"""A git worktree per harness, on branch `mh/<id>`, in `.harness-worktrees/<id>` beside the tree.

A branch is never reset: spawning an id again continues it, and only mh-clean removes it.
Worktrees are made (and removed) under one lock per repository. Git runs
non-interactively (no editor, pager, prompt or credential helper), in the C locale so its
messages are what we match, without the caller's GIT_DIR and kin, and is retried when
another git process holds one of the repository's lock files. See mh-harness(7).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from metaharness.exits import Exit, MhError

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any, Final, Iterator

BRANCH_PREFIX: Final = "mh/"
MIN_FREE_BYTES: Final = 512 * 1024 * 1024  # refuse a new worktree below this much free space
LOCK_RETRIES: Final = 40
GIT_TIMEOUT = 600.0  # seconds: a git hook that hangs must not hold a harness for ever
# No editor, pager or prompt; messages in English; and no optional locks, so reading a
# worktree's state (mh-status) never makes the agent's own `git add` find index.lock taken.
_ENV: Final = {"GIT_TERMINAL_PROMPT": "0", "GIT_EDITOR": "true", "GIT_SEQUENCE_EDITOR": "true",
               "GIT_PAGER": "cat", "PAGER": "cat", "GIT_ASKPASS": "true", "SSH_ASKPASS": "true", "LC_ALL": "C",
               "GIT_OPTIONAL_LOCKS": "0"}
# Inherited (from a git hook, say) these would point git, and the agent, at another checkout.
# (`git rev-parse --local-env-vars` but the configuration ones, which a user may mean,
# and the quarantine a pre-receive hook runs in.)
REPOSITORY_VARIABLES: Final = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_GRAFT_FILE", "GIT_SHALLOW_FILE", "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE", "GIT_NAMESPACE", "GIT_PREFIX", "GIT_INTERNAL_SUPER_PREFIX", "GIT_QUARANTINE_PATH")


def without_repository_variables(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in REPOSITORY_VARIABLES}


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run git in `repo`, retrying while another git holds a lock; MhError if it fails."""
    from metaharness.process import capture_bounded

    env = {**without_repository_variables(dict(os.environ)), **_ENV}
    for attempt in range(LOCK_RETRIES):
        try:
            r = capture_bounded(["git", "-C", str(repo), *args], env, GIT_TIMEOUT)
        except FileNotFoundError:
            raise MhError("git is not installed (not found on PATH)", Exit.SYSTEM) from None
        if r is None:
            raise MhError(f"git {args[0]}: no answer in {GIT_TIMEOUT:g}s (a git hook waiting?); it was killed", Exit.SYSTEM)
        if r.returncode == 0 or ".lock': File exists" not in r.stderr or attempt == LOCK_RETRIES - 1:
            break
        time.sleep(min(0.05 * 2 ** attempt, 1.0))  # the other git finishes in milliseconds
    if check and r.returncode != 0:
        lines = r.stderr.strip().splitlines()
        message = next((line for line in lines if line.startswith(("fatal:", "error:"))), lines[-1] if lines else None)
        raise MhError(f"git {args[0]}: {message or f'exit {r.returncode}'}", Exit.SYSTEM)
    return r


@contextmanager
def repository_lock(repo: Path) -> Iterator[None]:
    """Exclusive use of the repository's worktrees: a `git worktree add` reads the other
    worktrees' records and fails on one another add is half-way through writing, and
    mh-clean must not judge and remove a worktree a new harness is taking up."""
    import fcntl

    common = repo / git(repo, "rev-parse", "--git-common-dir").stdout.strip()  # relative to repo, or absolute
    fd = os.open(common / "mh-worktrees.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def repository_of(path: Path) -> Path:
    """The top of the git checkout holding `path`; a usage error if there is none."""
    r = git(path, "rev-parse", "--show-toplevel", check=False)
    if r.returncode != 0:
        raise MhError(f"--worktree needs a git repository, and {path} is not in one", Exit.USAGE)
    return Path(r.stdout.strip())


def resolve(repo: Path, ref: str) -> str:
    """The commit `ref` names; a usage error if it names none."""
    r = git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if r.returncode != 0:
        raise MhError(f"--base {ref}: no such commit, branch or tag in {repo}", Exit.USAGE)
    return r.stdout.strip()


def branch_for(harness_id: str) -> str:
    return f"{BRANCH_PREFIX}{harness_id}"


def check_branch_name(repo: Path, harness_id: str) -> None:
    """A usage error if mh/<id> cannot be a branch (ids like `x.lock` or `a..b` are valid ids)."""
    if git(repo, "check-ref-format", "--branch", branch_for(harness_id), check=False).returncode != 0:
        raise MhError(f"--worktree: {branch_for(harness_id)!r} is not a valid git branch name; choose another id",
                      Exit.USAGE)


def worktrees_root(tree: Path) -> Path:
    """Beside the tree, not in it: the watches over the tree must not cover whole checkouts."""
    return tree.parent / ".harness-worktrees"


def directory_for(tree: Path, harness_id: str) -> Path:
    return worktrees_root(tree) / harness_id


def create(repo: Path, directory: Path, harness_id: str, base: str) -> tuple[str, bool]:
    """Check out branch mh/<id> in `directory`; return the commit it started from, and
    whether an existing branch was continued.

    A new branch starts at `base`. An existing branch is never reset (it may hold work
    nobody merged): the harness continues it, in its worktree if that is still there, and
    its starting point is where it forked from `base`. `mh-clean` is how to start afresh.
    """
    commit = resolve(repo, base)
    branch = branch_for(harness_id)
    with repository_lock(repo):  # mh-clean judges and removes a worktree under it too
        if directory.exists():
            if current_branch(directory) != branch:
                raise MhError(f"{directory} exists and is not the worktree of {branch}", Exit.SYSTEM)
            return fork_point(directory, commit), True
        directory.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(directory.parent).free
        if free < MIN_FREE_BYTES:
            raise MhError(f"only {free // 2**20} MiB free under {directory.parent}: "
                          f"a worktree needs at least {MIN_FREE_BYTES // 2**20} MiB", Exit.SYSTEM)
        if branch_exists(repo, branch):
            git(repo, "worktree", "prune")  # forget a worktree of this branch deleted by hand
            _add(repo, directory, None, str(directory), branch)
            return fork_point(directory, commit), True
        _keep_out_of_the_checkout(repo, directory.parent)
        _add(repo, directory, branch, "-b", branch, str(directory), commit)
    return commit, False


def _add(repo: Path, directory: Path, new_branch: str | None, *args: str) -> None:
    """`git worktree add`, undone if it fails half-way (a hook or a filter killed at its
    time limit, say), so that no half-made worktree is taken up by the next spawn."""
    try:
        git(repo, "worktree", "add", "--quiet", *args)
    except MhError:
        git(repo, "worktree", "remove", "--force", "--force", str(directory), check=False)
        git(repo, "worktree", "prune", check=False)
        shutil.rmtree(directory, ignore_errors=True)  # it did not exist before: we are under the lock
        if new_branch:
            git(repo, "branch", "-D", new_branch, check=False)  # just made, at the base: it holds nothing
        raise


def _keep_out_of_the_checkout(repo: Path, worktrees: Path) -> None:
    """Have git ignore the worktrees' directory if it is inside the checkout, in the
    repository's local info/exclude, so they never show in `git status` or get added by
    `git add -A` there."""
    top = Path(git(repo, "rev-parse", "--show-toplevel").stdout.strip())
    try:
        inside = worktrees.resolve().relative_to(top.resolve())
    except ValueError:
        return
    if git(top, "check-ignore", "--quiet", f"{inside}/", check=False).returncode == 0:
        return
    exclude = top / git(top, "rev-parse", "--git-path", "info/exclude").stdout.strip()
    exclude.parent.mkdir(exist_ok=True)
    with open(exclude, "a") as f:  # one append: concurrent creators at worst repeat the line
        f.write(f"/{inside}/\n")


def current_branch(directory: Path) -> str | None:
    """The branch checked out at the top of worktree `directory`, or None."""
    top = git(directory, "rev-parse", "--show-toplevel", check=False)
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != directory.resolve():
        return None
    ref = git(directory, "symbolic-ref", "--quiet", "HEAD", check=False).stdout.strip()
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None


def branch_exists(repo: Path, branch: str) -> bool:
    return git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False).returncode == 0


def fork_point(directory: Path, base: str) -> str:
    """Where the branch checked out in `directory` left `base` (`base` itself if unrelated)."""
    r = git(directory, "merge-base", base, "HEAD", check=False)
    return r.stdout.strip() if r.returncode == 0 else base


def describe(directory: Path, harness_id: str, base: str) -> dict[str, Any]:
    """Where the worktree stands against the commit it started from, as result.json and
    mh-status report it; an `error` instead of the figures if git cannot tell."""
    where = {"path": str(directory), "branch": branch_for(harness_id), "base": base}
    if not directory.is_dir():
        return {**where, "error": "the worktree is gone"}
    try:
        status = git(directory, "status", "--porcelain=v2", "--branch").stdout.splitlines()
        ahead = int(git(directory, "rev-list", "--count", f"{base}..HEAD").stdout)
        files = git(directory, "diff", "--name-only", "-z", base, "HEAD").stdout.split("\0")
    except MhError as e:
        return {**where, "error": str(e)}
    head = next((line.split()[2] for line in status if line.startswith("# branch.oid ")), None)
    return {**where, "head": head, "ahead": ahead, "files_changed": len([f for f in files if f]),
            "dirty": any(not line.startswith("#") for line in status)}


def main_checkout(path: Path) -> Path | None:
    """The main working tree (or bare repository) of the repository holding `path`, or None."""
    r = git(path, "worktree", "list", "--porcelain", check=False)
    first = r.stdout.split("\n", 1)[0]
    return Path(first.removeprefix("worktree ")) if r.returncode == 0 and first.startswith("worktree ") else None


def checked_out_at(repo: Path, branch: str) -> list[Path]:
    """Where `branch` is checked out, ignoring worktrees whose directory was deleted by hand."""
    places = []
    for entry in git(repo, "worktree", "list", "--porcelain").stdout.split("\n\n"):
        fields = dict(line.partition(" ")[::2] for line in entry.splitlines())
        if fields.get("branch") == f"refs/heads/{branch}" and Path(fields["worktree"]).exists():
            places.append(Path(fields["worktree"]))
    return places


def uncommitted_files(directory: Path) -> int:
    """How many files in worktree `directory` differ from HEAD, untracked ones included."""
    return len(git(directory, "status", "--porcelain", "--untracked-files=all").stdout.splitlines())


def tracked_changes(directory: Path) -> int:
    """How many tracked files in `directory` differ from HEAD (untracked ones, which a
    fast-forward leaves alone unless it would overwrite them, are not counted)."""
    return len(git(directory, "status", "--porcelain", "--untracked-files=no").stdout.splitlines())


def unmerged_commits(repo: Path, branch: str, *ignoring: str) -> int:
    """How many commits of `branch` no other branch, local or remote-tracking, contains
    (counting none of the branches `ignoring`)."""
    # --exclude takes the name --branches sees, without refs/heads/ (ids hold no glob characters).
    excluded = [f"--exclude={b}" for b in (branch, *ignoring)]
    return int(git(repo, "rev-list", "--count", f"refs/heads/{branch}", "--not", *excluded, "--branches",
                   "--remotes").stdout)
