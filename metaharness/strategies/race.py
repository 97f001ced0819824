"""race: rival candidates run at once; the first to complete wins and the rest are
cancelled. No winner (none completed) is the run's failure."""

from __future__ import annotations

from metaharness.exits import Exit
from metaharness.statuses import Status
from metaharness.strategies import Strategy
from metaharness.waiter import Outcome

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from metaharness.plan import Plan
    from metaharness.strategies import Rank


class Race(Strategy):
    name = "race"
    independent = True

    def decided(self, plan: Plan, outcome: Outcome, outcomes: dict[str, Outcome]) -> bool:
        return outcome.status is Status.COMPLETED

    def conclude(self, plan: Plan, outcomes: dict[str, Outcome], rank: Rank) -> tuple[int, str | None]:
        winner = next((o.id for o in outcomes.values() if o.status is Status.COMPLETED), None)  # the first to end so
        return (Exit.OK if winner else Exit.FAILED), winner
