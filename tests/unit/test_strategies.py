"""Strategies decide from outcomes alone: which harnesses run after which, when a run is
decided, and how it concludes."""

from pathlib import Path

import pytest

from metaharness import strategies
from metaharness.exits import Exit
from metaharness.plan import HarnessPlan, Plan
from metaharness.records import fields as record_fields
from metaharness.statuses import Status
from metaharness.waiter import Outcome


def _plan(strategy, *ids, depends=None, **fields):
    harnesses = tuple(HarnessPlan(i, Path(f"{i}.md"), tuple((depends or {}).get(i, ()))) for i in ids)
    own = {k: v for k, v in fields.items() if k in {f.name for f in record_fields(Plan)}}
    return Plan(Path("plan.yaml"), strategy, harnesses, **own, settings={k: v for k, v in fields.items() if k not in own})


def _outcomes(*pairs):
    """Outcomes in the order the harnesses ended."""
    codes = {Status.COMPLETED: Exit.OK, Status.FAILED: Exit.FAILED, Status.STOPPED: Exit.STOPPED, None: Exit.OK}
    return {i: Outcome(i, status, codes[status], "") for i, status in pairs}


def _never(completed):
    raise AssertionError("no ranking expected")


def test_the_registry_names_the_four_strategies_in_the_order_errors_list_them():
    assert list(strategies.REGISTRY) == ["parallel", "pipeline", "race", "voting"]
    assert all(strategies.get(name).name == name for name in strategies.REGISTRY)


def test_a_pipeline_chains_its_stages_in_plan_order_and_ignores_depends():
    plan = _plan("pipeline", "a", "b", "c", depends={"a": ("c",)})
    assert [plan.dependencies(h) for h in plan.harnesses] == [[], ["a"], ["b"]]


def test_other_strategies_run_a_harness_after_its_depends():
    plan = _plan("parallel", "a", "b", depends={"b": ("a",)})
    assert [plan.dependencies(h) for h in plan.harnesses] == [[], ["a"]]


def test_a_pipeline_stage_with_a_worktree_branches_from_the_stage_before():
    stages = [HarnessPlan("a", Path("a.md"), (), {"worktree": True}), HarnessPlan("b", Path("b.md"), (), {"worktree": True}),
              HarnessPlan("c", Path("c.md"), (), {"worktree": True, "base": "main"})]
    prepared = strategies.get("pipeline").prepare(stages)
    assert [h.options.get("base") for h in prepared] == [None, "mh/a", "main"]
    assert strategies.get("parallel").prepare(stages) == stages


def test_a_race_is_decided_by_the_first_completion_and_won_by_it():
    plan, race = _plan("race", "a", "b", "c"), strategies.get("race")
    outcomes = _outcomes(("a", Status.FAILED))
    assert not race.decided(plan, outcomes["a"], outcomes)
    outcomes = _outcomes(("a", Status.FAILED), ("c", Status.COMPLETED), ("b", Status.COMPLETED))
    assert race.decided(plan, outcomes["c"], outcomes)
    assert race.conclude(plan, outcomes, _never) == (Exit.OK, "c")


def test_a_race_nobody_completed_fails_without_a_winner():
    plan, race = _plan("race", "a", "b"), strategies.get("race")
    assert race.conclude(plan, _outcomes(("a", Status.FAILED), ("b", Status.STOPPED)), _never) == (Exit.FAILED, None)


def test_parallel_is_decided_early_only_by_a_failure_under_fail_fast():
    outcomes = _outcomes(("a", Status.COMPLETED), ("b", Status.FAILED), ("c", None))
    parallel = strategies.get("parallel")
    for fail_fast, expected in ((False, [False, False, False]), (True, [False, True, False])):
        plan = _plan("parallel", "a", "b", "c", fail_fast=fail_fast)
        assert [parallel.decided(plan, o, outcomes) for o in outcomes.values()] == expected


@pytest.mark.parametrize("name", ["parallel", "pipeline"])
def test_parallel_and_pipeline_exit_with_the_first_failure_in_plan_order_and_no_winner(name):
    plan = _plan(name, "a", "b", "c")
    outcomes = _outcomes(("c", Status.FAILED), ("b", Status.STOPPED), ("a", Status.COMPLETED))
    assert strategies.get(name).conclude(plan, outcomes, _never) == (Exit.STOPPED, None)
    assert strategies.get(name).conclude(plan, _outcomes(("a", Status.COMPLETED)), _never) == (Exit.OK, None)
    assert not strategies.get("pipeline").decided(plan, outcomes["c"], outcomes)


def test_voting_is_decided_at_min_votes_and_ranks_the_completed_in_plan_order():
    plan, voting = _plan("voting", "a", "b", "c", min_votes=2), strategies.get("voting")
    outcomes = _outcomes(("c", Status.COMPLETED))
    assert not voting.decided(plan, outcomes["c"], outcomes)
    outcomes = _outcomes(("c", Status.COMPLETED), ("b", Status.FAILED), ("a", Status.COMPLETED))
    assert voting.decided(plan, outcomes["a"], outcomes)
    ranked = []
    assert voting.conclude(plan, outcomes, lambda completed: ranked.append(completed) or "c") == (Exit.OK, "c")
    assert ranked == [["a", "c"]]


def test_voting_with_too_few_completions_fails_without_ranking():
    plan = _plan("voting", "a", "b", min_votes=2)
    assert strategies.get("voting").conclude(plan, _outcomes(("a", Status.COMPLETED)), _never) == (Exit.FAILED, None)


def test_voting_needs_min_votes_between_one_and_the_number_of_candidates():
    voting = strategies.get("voting")
    for min_votes in (None, 0, 3):
        assert voting.check(_plan("voting", "a", "b", min_votes=min_votes)) == (
            "min_votes", "voting needs min_votes between 1 and 2")
    assert voting.check(_plan("voting", "a", "b", min_votes=2)) is None


def test_only_race_and_voting_candidates_must_be_independent_and_only_voting_takes_its_keys():
    assert [s.name for s in strategies.REGISTRY.values() if s.independent] == ["race", "voting"]
    assert {s.name: tuple(s.keys) for s in strategies.REGISTRY.values() if s.keys} == {
        "voting": ("min_votes", "score_cmd", "score_by")}
