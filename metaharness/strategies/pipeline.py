"""pipeline: the harnesses run in plan order, each after the one before it (an implicit
chain: `depends` is not consulted). A failed stage fails the stages after it by itself,
in their own supervisors, so nothing ends the run early. With worktrees, a stage's branch
starts from the previous stage's branch unless it names its own `base`."""

from __future__ import annotations

from metaharness import worktree
from metaharness.records import replace
from metaharness.strategies import Strategy

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from metaharness.plan import HarnessPlan, Plan


class Pipeline(Strategy):
    name = "pipeline"

    def prepare(self, harnesses: list[HarnessPlan]) -> list[HarnessPlan]:
        """A stage with a worktree builds on what the stage before it committed."""
        chained = harnesses[:1]
        for before, stage in zip(harnesses, harnesses[1:]):
            if stage.options.get("worktree") and before.options.get("worktree") and "base" not in stage.options:
                stage = replace(stage, options={**stage.options, "base": worktree.branch_for(before.id)})
            chained.append(stage)
        return chained

    def dependencies(self, plan: Plan, h: HarnessPlan) -> list[str]:
        index = plan.harnesses.index(h)
        return [plan.harnesses[index - 1].id] if index else []
