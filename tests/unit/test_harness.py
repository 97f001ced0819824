import multiprocessing
import os

import pytest

from metaharness import harness
from metaharness.status import Exit, MhError, Status
from metaharness.tree import find_tree, write_json


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
    directory, lock_fd = harness.create(tree, _spec(instance="old"), _state("old"))
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
    directory, lock_fd = harness.create(tree, _spec(), _state())
    assert harness.inspect(directory).status is Status.RUNNING
    os.close(lock_fd)  # as if the supervisor was killed: lock gone, no result
    assert harness.inspect(directory).status is Status.DEAD
    (directory / "state.json").write_text("{truncated")
    view = harness.inspect(directory)
    assert view.status is Status.CORRUPT and view.problem
