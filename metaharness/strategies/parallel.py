"""parallel: every harness runs (dependents after their dependencies); with `fail_fast`,
the first harness that ends without completing ends the run."""

from __future__ import annotations

from metaharness.statuses import Status
from metaharness.strategies import Strategy
from metaharness.waiter import Outcome

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from metaharness.plan import Plan


class Parallel(Strategy):
    name = "parallel"

    def decided(self, plan: Plan, outcome: Outcome, outcomes: dict[str, Outcome]) -> bool:
        # None: skipped (its dependency failed) or never appeared; not a failure of its own
        return plan.fail_fast and outcome.status not in (Status.COMPLETED, None)
