"""The link(2)-claimed work queue: exactly-once claims under concurrency, retries, reclaim."""

import json
import multiprocessing
import os
import time

import pytest

from metaharness import liveness, queue
from metaharness.exits import MhError


@pytest.fixture
def tree(tmp_path):
    t = tmp_path / ".harness"
    t.mkdir()
    (tmp_path / "r.md").write_text("- [ ] t\n")
    return t


def _roadmap(tree):
    return tree.parent / "r.md"


def test_priority_then_fifo(tree):
    names = [queue.add(tree, _roadmap(tree), p, 3) for p in (50, 90, 10, 50)]
    order = [queue.claim(tree, "w")["item"] for _ in range(4)]
    assert order == [names[2], names[0], names[3], names[1]]
    assert queue.claim(tree, "w") is None


def _claimer(tree, worker, barrier, results):
    lock = liveness.hold_lock(queue.ensure(tree) / "workers" / f"{worker}.lock")
    barrier.wait()
    got = []
    while (item := queue.claim(tree, worker)) is not None:
        got.append(item["item"])
        queue.finish(tree, item["item"], True, "ok")
    results.put(got)
    os.close(lock)


def test_eight_concurrent_claimers_take_each_of_5000_items_exactly_once(tree):
    for _ in range(5000):
        queue.add(tree, _roadmap(tree), 50, 3)
    barrier, results = multiprocessing.Barrier(8), multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_claimer, args=(tree, f"w{i}", barrier, results)) for i in range(8)]
    for p in procs:
        p.start()
    claimed = [name for _ in procs for name in results.get(timeout=300)]
    for p in procs:
        p.join(60)
    assert len(claimed) == 5000 and len(set(claimed)) == 5000
    assert len(os.listdir(tree / "queue" / "done")) == 5000
    assert os.listdir(tree / "queue" / "pending") == [] and os.listdir(tree / "queue" / "claimed") == []


def test_failures_retry_with_backoff_then_fail_with_the_reason(tree):
    name = queue.add(tree, _roadmap(tree), 50, 2)
    assert queue.finish(tree, queue.claim(tree, "w")["item"], False, "boom", backoff=1000) == "pending"
    assert queue.claim(tree, "w") is None  # not before its backoff
    record = queue.items(tree)[0]
    record["not_before"] = 0
    (tree / "queue" / "pending" / name).write_text(__import__("json").dumps(record))
    assert queue.finish(tree, queue.claim(tree, "w")["item"], False, "boom again") == "failed"
    [item] = queue.items(tree)
    assert (item["state"], item["attempts"], item["last_reason"]) == ("failed", 2, "boom again")
    queue.operator_move(tree, name, "retry")
    assert queue.items(tree)[0]["state"] == "pending" and queue.items(tree)[0]["attempts"] == 0
    queue.operator_move(tree, name, "drop")
    assert queue.items(tree) == []
    with pytest.raises(MhError):
        queue.operator_move(tree, name, "drop")


def test_a_claim_of_a_vanished_worker_is_reclaimed_but_never_a_live_ones(tree):
    queue.add(tree, _roadmap(tree), 50, 3)
    queue.add(tree, _roadmap(tree), 50, 3)
    live_lock = liveness.hold_lock(queue.ensure(tree) / "workers" / "alive.lock")
    alive = queue.claim(tree, "alive")
    dead = queue.claim(tree, "gone")  # its lock was never held: as after kill -9
    assert queue.reclaim_stale(tree) == [dead["item"]]
    states = {i["item"]: (i["state"], i["attempts"]) for i in queue.items(tree)}
    assert states == {alive["item"]: ("claimed", 0), dead["item"]: ("pending", 1)}
    os.close(live_lock)


def test_bad_priorities_are_refused():
    assert queue.parse_priority("high") == 10 and queue.parse_priority("7") == 7
    for bad in ("urgent", "100", "-1"):
        with pytest.raises(MhError):
            queue.parse_priority(bad)


def test_a_renewed_lease_keeps_a_claim_from_another_host_alive(tree):
    name = queue.add(tree, _roadmap(tree), 50, 3)
    queue.claim(tree, "far", lease=-1)  # as if claimed elsewhere with a lease already run out
    claim_file = tree / "queue" / "claimed" / f"{name}.claim"
    record = __import__("json").loads(claim_file.read_text())
    record["host"] = "elsewhere"
    claim_file.write_text(__import__("json").dumps(record))
    queue.renew(tree, name, lease=3600)
    assert queue.reclaim_stale(tree) == []
    record = __import__("json").loads(claim_file.read_text())
    record["lease_until"] = time.time() - 1
    claim_file.write_text(__import__("json").dumps(record))
    assert queue.reclaim_stale(tree) == [name]


def test_an_item_name_is_what_add_makes_and_nothing_else(tree):
    name = queue.add(tree, _roadmap(tree), 50, 3)
    assert queue.is_item_name(name) and queue.validate_item_name(name) == name
    for bad in ("", "../../FORMAT", "/etc/passwd", f"../done/{name}", f"{name}.claim", f"{name}/x", "50-1-r",
                f"{name}{'x' * 40}", f".{name}", f"{name}\n"):
        assert not queue.is_item_name(bad), bad
        with pytest.raises(MhError) as refused:
            queue.validate_item_name(bad)
        assert refused.value.code == 2


def test_a_roadmap_name_in_any_script_makes_a_valid_item_name_and_harness_id(tree):
    from metaharness.tree import validate_id

    for stem in ("café", "路线图", "x.claim", "a b/c", "-" * 80, ".claim"):
        road = tree.parent / f"{stem.replace('/', '_')}.md"
        road.write_text("- [ ] t\n")
        name = queue.add(tree, road, 50, 3)
        assert queue.is_item_name(name), name
        [record] = [i for i in queue.items(tree) if i["item"] == name]
        assert validate_id(record["harness"])


def test_a_stray_file_in_a_state_directory_is_neither_listed_nor_claimed_nor_settled(tree):
    name = queue.add(tree, _roadmap(tree), 50, 3)
    record = json.loads((tree / "queue" / "pending" / name).read_text())
    (tree / "queue" / "pending" / "notes.json").write_text(json.dumps(record))
    (tree / "queue" / "pending" / name).write_text(json.dumps(dict(record, item="../../FORMAT")))
    assert [i["item"] for i in queue.items(tree)] == [name]  # the file's name, not what it says
    claimed = queue.claim(tree, "w")
    assert claimed["item"] == name and queue.claim(tree, "w") is None
    assert queue.finish(tree, claimed["item"], True, "ok") == "done"
    assert sorted(os.listdir(tree / "queue" / "done")) == [name]


def test_operator_move_refuses_a_path_and_leaves_the_file_alone(tree):
    victim = tree.parent / "victim.json"
    victim.write_text('{"attempts": 5}')
    for action in ("drop", "retry"):
        with pytest.raises(MhError) as refused:
            queue.operator_move(tree, str(victim), action)
        assert refused.value.code == 2 and "invalid item name" in str(refused.value)
    assert victim.read_text() == '{"attempts": 5}'
