import multiprocessing
import os

import pytest

from metaharness import inbox


@pytest.fixture
def box(tmp_path):
    for sub in ("tmp", "new", "cur"):
        (tmp_path / "inbox" / sub).mkdir(parents=True)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    yield tmp_path, fd
    os.close(fd)


def test_messages_are_read_in_sending_order_and_taken_once(box):
    root, fd = box
    for body in ("one", "two", "three"):
        inbox.deliver(fd, "inst", "me", body)
    waiting = inbox.waiting(root / "inbox")
    assert [m.body for m in waiting] == ["one", "two", "three"]
    assert {m.instance for m in waiting} == {"inst"}
    inbox.take(root / "inbox", waiting)
    assert inbox.waiting(root / "inbox") == []
    assert len(os.listdir(root / "inbox" / "cur")) == 3
    assert os.listdir(root / "inbox" / "tmp") == []


def test_an_unreadable_message_is_reported_not_fatal(box):
    root, _ = box
    (root / "inbox" / "new" / "1.garbage").write_text("{not json")
    [m] = inbox.waiting(root / "inbox")
    assert "unreadable" in m.body


def _deliver_many(path, n, barrier):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    barrier.wait()
    for i in range(n):
        inbox.deliver(fd, "inst", f"p{os.getpid()}", str(i))


def test_concurrent_senders_lose_nothing_and_leave_no_temporaries(box):
    root, _ = box
    barrier = multiprocessing.Barrier(4)
    procs = [multiprocessing.Process(target=_deliver_many, args=(root, 50, barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    messages = inbox.waiting(root / "inbox")
    assert len(messages) == 200
    by_sender = {}
    for m in messages:
        by_sender.setdefault(m.sender, []).append(int(m.body))
    assert all(v == list(range(50)) for v in by_sender.values())  # each sender's order is kept
    assert os.listdir(root / "inbox" / "tmp") == []
