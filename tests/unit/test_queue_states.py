"""A property-based model of the queue: any interleaving of add, claim, finish, release,
worker death and reclaim keeps every item in exactly one state, never claimed twice,
never lost (hypothesis stateful testing)."""

import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from metaharness import liveness, queue

WORKERS = ("w0", "w1", "w2")


def scratch_project() -> tuple[Path, Path, Path]:
    """A temporary project for a state machine: its root, its tree and a one-task roadmap."""
    root = Path(tempfile.mkdtemp())
    (root / ".harness").mkdir()
    (root / "r.md").write_text("- [ ] t\n")
    return root, root / ".harness", root / "r.md"


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root, self.tree, self.roadmap = scratch_project()
        self.locks = {w: liveness.hold_lock(queue.ensure(self.tree) / "workers" / f"{w}.lock") for w in WORKERS}
        self.added: set[str] = set()
        self.held: dict[str, str] = {}  # item -> live worker holding it

    def teardown(self) -> None:
        for fd in self.locks.values():
            if fd is not None:
                os.close(fd)
        shutil.rmtree(self.root)

    @rule(priority=st.sampled_from([10, 50, 90]))
    def add(self, priority: int) -> None:
        self.added.add(queue.add(self.tree, self.roadmap, priority, 3))

    @rule(worker=st.sampled_from(WORKERS))
    def claim(self, worker: str) -> None:
        if self.locks[worker] is None:
            return
        item = queue.claim(self.tree, worker)
        if item is not None:
            assert item["item"] not in self.held, "claimed twice"
            self.held[item["item"]] = worker

    @precondition(lambda self: self.held)
    @rule(data=st.data(), ok=st.booleans())
    def finish(self, data: st.DataObject, ok: bool) -> None:
        name = data.draw(st.sampled_from(sorted(self.held)))
        queue.finish(self.tree, name, ok, "x", backoff=0)
        del self.held[name]

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.held)))
        queue.release(self.tree, name)
        del self.held[name]

    @rule(worker=st.sampled_from(WORKERS))
    def die(self, worker: str) -> None:
        """kill -9 of a worker: its lock goes; its claims stay until reclaimed."""
        if self.locks[worker] is not None:
            os.close(self.locks[worker])
            self.locks[worker] = None

    @rule()
    def reclaim(self) -> None:
        returned = set(queue.reclaim_stale(self.tree))
        assert not returned & {i for i, w in self.held.items() if self.locks[w] is not None}, "reclaimed from a live worker"
        for name in returned:
            self.held.pop(name, None)

    @invariant()
    def every_item_is_in_exactly_one_state(self) -> None:
        items = queue.items(self.tree)
        names = [i["item"] for i in items]
        assert len(names) == len(set(names)) and set(names) == self.added
        claimed = {i["item"] for i in items if i["state"] == "claimed"}
        assert {i for i, w in self.held.items() if self.locks[w] is not None} <= claimed


TestQueueStates = QueueMachine.TestCase
TestQueueStates.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


def test_a_claim_whose_link_reply_was_lost_is_still_the_claimer_s(tmp_path, monkeypatch):
    """NFS: the server made the link, the reply was lost, the retry says EEXIST."""
    tree = tmp_path / ".harness"
    tree.mkdir()
    (tmp_path / "r.md").write_text("- [ ] t\n")
    name = queue.add(tree, tmp_path / "r.md", 50, 3)
    real_link = os.link

    def link_then_lose_the_reply(src, dst):  # type: ignore[no-untyped-def]
        real_link(src, dst)
        raise FileExistsError(17, "File exists", str(dst))

    monkeypatch.setattr(os, "link", link_then_lose_the_reply)
    item = queue.claim(tree, "w0")
    assert item is not None and item["item"] == name
    assert [i["state"] for i in queue.items(tree)] == ["claimed"]
    queue.finish(tree, name, True, "done")
    assert [i["state"] for i in queue.items(tree)] == ["done"]


def test_a_reclaim_whose_rename_reply_was_lost_still_returns_the_item(tmp_path, monkeypatch):
    """NFS: the server renamed the stale claim away, the reply was lost, the retry says ENOENT."""
    tree = tmp_path / ".harness"
    tree.mkdir()
    (tmp_path / "r.md").write_text("- [ ] t\n")
    name = queue.add(tree, tmp_path / "r.md", 50, 3)
    lock = liveness.hold_lock(queue.ensure(tree) / "workers" / "w0.lock")
    assert queue.claim(tree, "w0")["item"] == name
    os.close(lock)  # the worker died
    real_rename = os.rename

    def rename_then_lose_the_reply(src, dst, **fds):  # type: ignore[no-untyped-def]
        real_rename(src, dst, **fds)
        if str(dst).endswith(".reclaim"):
            raise FileNotFoundError(2, "No such file or directory", str(src))

    monkeypatch.setattr(os, "rename", rename_then_lose_the_reply)
    assert queue.reclaim_stale(tree) == [name]
    assert [(i["state"], i["attempts"]) for i in queue.items(tree)] == [("pending", 1)]
