"""The maildir inbox: delivery in order, exactly once, within limits, and what a supervisor will not read."""

import multiprocessing
import os
import threading

import pytest

from conftest import TIMEOUT

from metaharness import inbox
from metaharness.exits import MhError


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


def test_deliver_refuses_a_message_over_the_limit_in_bytes_and_delivers_nothing(box):
    root, fd = box
    with pytest.raises(MhError) as refused:
        inbox.deliver(fd, "inst", "me", "é" * (inbox.MAX_MESSAGE_BYTES // 2 + 1))  # 2 bytes each in UTF-8
    assert (refused.value.code, str(refused.value)) == (2, "the message is longer than the limit of 64 KiB")
    with pytest.raises(MhError):
        inbox.deliver(fd, "inst", "n" * (inbox.MAX_SENDER_CHARS + 1), "hi")
    assert os.listdir(root / "inbox" / "new") == [] and os.listdir(root / "inbox" / "tmp") == []


def test_the_largest_message_deliver_can_write_is_read_back_whole(box):
    root, fd = box
    body, sender = "\x01" * inbox.MAX_MESSAGE_BYTES, "\U0001d11e" * inbox.MAX_SENDER_CHARS  # the costliest escapes
    inbox.deliver(fd, "inst", sender, body)
    [m] = inbox.waiting(root / "inbox")
    assert (m.body, m.sender) == (body, sender)


def test_a_fifo_or_an_oversized_file_in_new_is_reported_without_being_read(box):
    root, _ = box
    os.mkfifo(root / "inbox" / "new" / "1.fifo")
    (root / "inbox" / "new" / "2.huge").write_text('{"body": "' + "x" * inbox.MAX_MESSAGE_FILE_BYTES + '"}')
    found = []
    reader = threading.Thread(target=lambda: found.extend(inbox.waiting(root / "inbox")), daemon=True)
    reader.start()
    reader.join(TIMEOUT)
    assert [(m.name, m.body) for m in found] == [("1.fifo", "(unreadable message file)"),
                                                 ("2.huge", "(unreadable message file)")]
