"""mh-merge --on-conflict spawn: a harness whose roadmap is to resolve a merge conflict.

It is spawned with --worktree on a branch of its own, `mh/ID-resolve`, started from the
conflicting branch `mh/ID`; its roadmap (kept beside the conflicting harness, in
`.harness/ID/resolve.md`) asks it to merge the target into that branch, resolve the
conflicted files keeping the intent of both sides, and commit. mh-merge waits for it and,
if it completes, lands its branch with a merge commit (its history holds a merge).
"""

from __future__ import annotations

from pathlib import Path

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any


def roadmap(branch: str, target: str, files: tuple[str, ...]) -> str:
    listed = "\n".join(f"  - `{f}`" for f in files)
    return (f"# Resolve the conflict of {branch} with {target}\n\n"
            f"`{branch}` conflicts with `{target}` in:\n{listed}\n\n"
            f"- [ ] Merge `{target}` into this branch (`git merge {target}`), resolve the conflicts in those files "
            "so that both sides' changes are kept, and commit the merge. Leave no conflict markers.\n")


def spawn_resolver(tree: Path, repo: Path, harness_id: str, conflict: Any, *, agent: str | None,
                   agent_cmd: str | None) -> str:
    """Spawn (detached) the resolver of `harness_id`'s conflict; its id."""
    from metaharness import worktree
    from metaharness.spec import options_from
    from metaharness.start import Request, prepare, start_elsewhere

    resolver = f"{harness_id}-resolve"[:64]
    road = tree / harness_id / "resolve.md"
    road.write_text(roadmap(worktree.branch_for(harness_id), conflict.into, conflict.files))
    options = options_from({"agent": agent, "agent_cmd": agent_cmd})
    request = Request(resolver, str(road), options, workdir=str(repo), worktree=True,
                      base=worktree.branch_for(harness_id))
    spec, _ = prepare(request)
    start_elsewhere(tree, spec, repo)
    return resolver
