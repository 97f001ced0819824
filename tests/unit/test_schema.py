"""The schema: what a reader may rely on in spec.json, state.json and result.json."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaharness import schema

STATE = {"id": "a", "instance": "i", "status": "running", "pid": 123, "pid_start": 456, "host": "vm",
         "started": "2026-01-31T12:00:00.000Z", "iteration": 2, "progress": {"done": 1, "total": 3}, "task": "t",
         "heartbeat_interval": 5.0, "agent_pid": None, "model": None, "usage": {"turns": 1, "input_tokens": 10,
         "output_tokens": 5, "cost_usd": 0.01, "tool_calls": 0}, "worktree": {"path": "/p", "branch": "mh/a", "base": "HEAD"}}


def test_a_state_as_the_supervisor_writes_it_is_sound():
    assert schema.STATE.problem(STATE) is None


@pytest.mark.parametrize("field, value, problem", [
    ("usage", "abc", "usage should be an object, not 'abc'"),
    ("usage", {"turns": "x"}, "usage.turns should be a number from 0 to 1000000000000, not 'x'"),
    ("usage", {"turns": None}, "usage.turns should be a number from 0 to 1000000000000, not None"),
    ("usage", {"cost_usd": float("nan")}, "usage.cost_usd should be a number from 0 to 1000000000000, not nan"),
    ("usage", {"cost_usd": 10**400}, "usage.cost_usd should be a number from 0 to 1000000000000, not 1000"),
    ("progress", {"done": -1, "total": 3}, "progress.done should be an integer from 0 to 1000000000000, not -1"),
    ("worktree", {"branch": "mh/a"}, "worktree.path is missing"),
    ("worktree", {"path": "a\0b", "base": "HEAD"}, "worktree.path should be a non-empty string without NUL, not 'a\\x00b'"),
    ("agent_pid", "abc", "agent_pid should be an integer from 1 to 4194304, not 'abc'"),
    ("agent_pid", True, "agent_pid should be an integer from 1 to 4194304, not True"),
    ("heartbeat_interval", 1e308, "heartbeat_interval should be a number from 0 to 31536000, not 1e+308"),
    ("status", "dead", "status should be one of "),
])
def test_a_wrong_field_is_named_with_what_it_should_be(field, value, problem):
    found = schema.STATE.problem({**STATE, field: value})
    assert found is not None and found.startswith(problem)


def test_a_top_level_field_may_be_null_but_the_status_is_required():
    assert schema.STATE.problem({**STATE, "usage": None, "progress": None}) is None
    assert schema.STATE.problem({k: v for k, v in STATE.items() if k != "status"}) == "status is missing"
    assert schema.RESULT.problem({"status": "running"}).startswith("status should be one of blocked, completed")


def test_a_file_that_is_not_an_object_is_named():
    assert schema.SPEC.problem([1, 2]) == "it should be an object, not [1, 2]"


def test_fields_a_newer_writer_adds_are_ignored():
    assert schema.RESULT.problem({"status": "completed", "exit_code": 0, "something_new": {"x": [1]}}) is None


VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 2**23), st.just(10**400), st.floats(allow_nan=True), st.text(max_size=3),
                   st.sampled_from(["running", "completed", "a\0b", "HEAD", ""]), st.lists(st.text(max_size=2), max_size=2),
                   st.fixed_dictionaries({}, optional={"path": st.text(max_size=2), "base": st.text(max_size=2),
                                                        "done": st.integers(-1, 3),
                                                        "turns": st.none() | st.integers(-1, 3) | st.just(10**400)}))


@settings(max_examples=3000)
@given(st.dictionaries(st.sampled_from([*STATE, "extra"]), VALUES, max_size=6))
def test_the_quick_check_agrees_with_the_one_that_names_the_problem(changes):
    """problem() asks fits() first and walks the table in order only when something is wrong."""
    record = {**STATE, **changes}
    assert schema.STATE.fits(record) == (schema.STATE.first_problem(record) is None)
