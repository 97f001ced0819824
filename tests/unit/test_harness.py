import json
import multiprocessing
import os
from pathlib import Path

import pytest

from metaharness import harness
from metaharness.exits import Exit, MhError
from metaharness.statuses import Status
from metaharness.tree import find_tree, write_json


def _created(tree, spec, state):
    """harness.create, its directory (a str: a detached spawn does without pathlib) as a Path."""
    directory, lock_fd = harness.create(tree, spec, state)
    assert isinstance(directory, str)
    return Path(directory), lock_fd


def _spec(harness_id="x", instance="i1"):
    return {"id": harness_id, "instance": instance, "max_iterations": 1}


def _state(instance="i1"):
    return {"id": "x", "instance": instance, "status": "running", "pid": os.getpid(), "host": os.uname().nodename}


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.setenv("MH_ROOT", str(tmp_path))
    return find_tree(create=True)


def _create(tree, instance, barrier, outcomes, release):
    barrier.wait()
    try:
        _, lock_fd = harness.create(tree, _spec(instance=instance), _state(instance))
    except MhError as e:
        outcomes.put(("lost", int(e.code)))
        return
    outcomes.put(("won", instance))
    release.wait(60)  # stay alive, holding the lock, while the others try


def test_concurrent_creation_of_one_id_has_exactly_one_winner(tree):
    n = 6
    barrier, release, outcomes = multiprocessing.Barrier(n), multiprocessing.Event(), multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_create, args=(tree, f"i{k}", barrier, outcomes, release)) for k in range(n)]
    for p in procs:
        p.start()
    results = [outcomes.get(timeout=60) for _ in range(n)]
    release.set()
    for p in procs:
        p.join(60)
    assert sorted(r[0] for r in results) == ["lost"] * (n - 1) + ["won"]
    assert {r[1] for r in results if r[0] == "lost"} == {Exit.ID_TAKEN}
    winner = next(r[1] for r in results if r[0] == "won")
    assert harness.inspect(tree / "x").spec["instance"] == winner
    assert os.listdir(tree / ".tmp") == []  # the losers cleaned up


def test_a_finished_harness_is_archived_when_its_id_is_spawned_again(tree):
    directory, lock_fd = _created(tree, _spec(instance="old"), _state("old"))
    write_json(directory / "result.json", {"status": "completed", "exit_code": 0})
    os.close(lock_fd)
    _, lock_fd = harness.create(tree, _spec(instance="new"), _state("new"))
    try:
        assert harness.inspect(tree / "x").instance == "new"
        assert (tree / ".archive" / "x.old" / "result.json").exists()
    finally:
        os.close(lock_fd)


def test_a_live_harness_is_never_replaced(tree):
    _, lock_fd = harness.create(tree, _spec(instance="live"), _state("live"))
    try:
        with pytest.raises(MhError) as e:
            harness.create(tree, _spec(instance="intruder"), _state("intruder"))
        assert e.value.code == Exit.ID_TAKEN
        assert harness.inspect(tree / "x").instance == "live"
    finally:
        os.close(lock_fd)


def test_readers_derive_dead_and_corrupt(tree):
    directory, lock_fd = _created(tree, _spec(), _state())
    assert harness.inspect(directory).status is Status.RUNNING
    os.close(lock_fd)  # as if the supervisor was killed: lock gone, no result
    assert harness.inspect(directory).status is Status.DEAD
    (directory / "state.json").write_text("{truncated")
    view = harness.inspect(directory)
    assert view.status is Status.CORRUPT and view.problem


@pytest.mark.parametrize("name, field, value, problem", [
    ("result.json", "usage", "abc", "result.json: usage should be an object, not 'abc'"),
    ("state.json", "progress", {"done": "x"}, "state.json: progress.done should be an integer"),
    ("state.json", "worktree", {"branch": "mh/x"}, "state.json: worktree.path is missing"),
    ("state.json", "agent_pid", "abc", "state.json: agent_pid should be an integer"),
    ("spec.json", "grace", "x", "spec.json: grace should be a number from 0 to 31536000"),
])
def test_a_file_with_a_wrong_field_makes_the_harness_corrupt_and_the_view_empty(tree, name, field, value, problem):
    directory, lock_fd = _created(tree, _spec(), _state())
    os.close(lock_fd)  # dead, so that its state.json is what readers go by
    if name == "result.json":
        write_json(directory / "result.json", {"status": "completed", "exit_code": 0})
    record = json.loads((directory / name).read_text())
    write_json(directory / name, {**record, field: value})
    view = harness.inspect(directory)
    assert view.status is Status.CORRUPT and view.problem.startswith(problem)
    assert (view.state, view.result) == ({}, None)  # safe for every reader
    assert view.spec == ({} if name == "spec.json" else _spec())


@pytest.mark.parametrize("how", ["directory", "symlink loop", "nested too deeply", "a list"])
def test_a_state_file_that_cannot_be_read_makes_the_harness_corrupt(tree, how):
    directory, lock_fd = _created(tree, _spec(), _state())
    os.close(lock_fd)
    state = directory / "state.json"
    state.unlink()
    if how == "directory":
        state.mkdir()
    elif how == "symlink loop":
        state.symlink_to("state.json")
    else:
        state.write_text("[" * 100_000 if how == "nested too deeply" else "[1]")
    view = harness.inspect(directory)
    assert view.status is Status.CORRUPT and view.problem.startswith("state.json")
