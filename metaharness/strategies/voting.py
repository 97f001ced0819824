"""voting: rival candidates run at once until `min_votes` of them have completed (the rest
are then cancelled); the completed ones are ranked by `score_by` (the coordinator runs
`score_cmd` for the score) and the best wins. Fewer completions than `min_votes` is the
run's failure."""

from __future__ import annotations

from metaharness.exits import Exit
from metaharness.statuses import Status
from metaharness.strategies import Strategy
from metaharness.waiter import Outcome

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Final

    from metaharness.plan import Plan
    from metaharness.strategies import Problem, Rank

CRITERIA: Final = ("score", "cost", "duration")  # score: higher wins; cost, duration: lower wins


class Voting(Strategy):
    name = "voting"
    keys = {"min_votes": (int, None), "score_cmd": (str, None), "score_by": (list, list(CRITERIA))}
    independent = True

    def check(self, plan: Plan) -> Problem | None:
        min_votes, score_by = plan.settings.get("min_votes"), plan.settings.get("score_by", CRITERIA)
        if min_votes is None or not 1 <= min_votes <= len(plan.harnesses):
            return "min_votes", f"voting needs min_votes between 1 and {len(plan.harnesses)}"
        if not score_by or any(c not in CRITERIA for c in score_by):
            return "score_by", f"a list of {', '.join(CRITERIA)}"
        return None

    def decided(self, plan: Plan, outcome: Outcome, outcomes: dict[str, Outcome]) -> bool:
        return _votes(outcomes) >= (plan.settings.get("min_votes") or 1)

    def conclude(self, plan: Plan, outcomes: dict[str, Outcome], rank: Rank) -> tuple[int, str | None]:
        completed = [h.id for h in plan.harnesses if h.id in outcomes and outcomes[h.id].status is Status.COMPLETED]
        winner = rank(completed) if len(completed) >= (plan.settings.get("min_votes") or 1) else None
        return (Exit.OK if winner else Exit.FAILED), winner


def _votes(outcomes: dict[str, Outcome]) -> int:
    return sum(o.status is Status.COMPLETED for o in outcomes.values())
