"""Strategies for mh-run: what a plan's `strategy` means, one module per strategy.

A strategy answers four questions, each a pure function of the plan and the outcomes so
far, so the coordinator never compares strategy names: which plan keys it alone takes and
whether the plan sets them sensibly (`keys`, `check`, `independent`), which harnesses run
after which (`dependencies`; a pipeline adds an implicit chain, `prepare` lets a stage
branch from the one before), whether the run is decided once a harness has ended
(`decided`: the coordinator then cancels what still runs), and how the run concludes
(`conclude`: its exit status and its winner). Outcomes arrive in the order the harnesses
ended; `outcomes` keeps that order, which is how a race knows who finished first.

Adding a strategy is one module defining a `Strategy` subclass and one line in
`REGISTRY` below. See mh-run(1).
"""

from __future__ import annotations

from metaharness.waiter import Outcome, aggregate_exit

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any, Callable, ClassVar

    from metaharness.plan import HarnessPlan, Plan

    Problem = tuple[str | None, str]  # the plan key to name (None: the plan as a whole), and what is wrong
    Rank = Callable[[list[str]], str | None]  # completed candidates, in plan order -> the winner


class Strategy:
    """The default answers: everything runs, after its `depends`; nothing ends the run
    early; the run's status is that of the first harness, in plan order, that did not
    complete, and there is no winner."""

    name: ClassVar[str]
    # Plan keys only this strategy may set, in the order errors name them: their YAML kind and
    # default. The plan keeps their values in Plan.settings.
    keys: ClassVar[dict[str, tuple[type, Any]]] = {}
    independent: ClassVar[bool] = False  # whether harnesses are rival candidates, so none may depend on another

    def check(self, plan: Plan) -> Problem | None:
        """What is wrong with the plan for this strategy, beyond each value's kind, or None."""
        return None

    def prepare(self, harnesses: list[HarnessPlan]) -> list[HarnessPlan]:
        """The plan's harnesses as this strategy runs them."""
        return harnesses

    def dependencies(self, plan: Plan, h: HarnessPlan) -> list[str]:
        """The ids `h` runs after."""
        return list(h.depends)

    def decided(self, plan: Plan, outcome: Outcome, outcomes: dict[str, Outcome]) -> bool:
        """Whether `outcome`, just arrived (and already in `outcomes`), leaves nothing to wait for."""
        return False

    def conclude(self, plan: Plan, outcomes: dict[str, Outcome], rank: Rank) -> tuple[int, str | None]:
        """The run's exit status and its winner (or None). `rank` may run the plan's scorer."""
        return aggregate_exit([h.id for h in plan.harnesses], outcomes), None


def _registry() -> dict[str, Strategy]:
    from metaharness.strategies import parallel, pipeline, race, voting

    # The order is the order mh-run's errors list them in.
    return {s.name: s for s in (parallel.Parallel(), pipeline.Pipeline(), race.Race(), voting.Voting())}


REGISTRY: dict[str, Strategy] = _registry()


def get(name: str) -> Strategy:
    """The strategy called `name`; KeyError if there is none."""
    return REGISTRY[name]
