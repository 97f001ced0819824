"""The watches: changes wake a watcher, reads do not; every kind of watch stops cleanly."""

import os
import threading

import pytest

from conftest import TIMEOUT

from metaharness.notify import DirectoryWatch

KINDS = {"inotify": {"recursive": False}, "watchdog": {"recursive": True}}


class Wakes:
    """Records, at each wake, whether the sentinel existed yet."""

    def __init__(self, sentinel):
        self.sentinel, self.saw, self.seen = sentinel, [], threading.Event()

    early = None

    def __call__(self):
        if self.early is not None:
            self.early.set()
        exists = self.sentinel.exists()
        self.saw.append(exists)
        if exists:
            self.seen.set()


@pytest.mark.parametrize("kind", KINDS)
def test_reading_a_watched_file_wakes_nobody_and_a_change_does(tmp_path, kind):
    (tmp_path / "item").write_text("x")
    wakes = Wakes(tmp_path / "sentinel")
    with DirectoryWatch(tmp_path, wakes, **KINDS[kind]):
        for _ in range(3):
            (tmp_path / "item").read_text()
        # A wake by the reads comes within milliseconds; a second without one is no race:
        # a correct watch passes however slow the machine, a wrong one fails.
        woke_early = threading.Event()
        wakes.early = woke_early
        assert not woke_early.wait(1.0), "reading woke the watcher"
        (tmp_path / "sentinel").mkdir()
        assert wakes.seen.wait(TIMEOUT)
    # A watcher that re-reads its directory on each wake would otherwise wake itself for ever.
    assert wakes.saw[0] is True, wakes.saw


@pytest.mark.parametrize("kind", KINDS)
def test_a_rename_into_the_directory_wakes_the_watcher(tmp_path, kind):
    """How the tree publishes: a file written elsewhere, renamed into place."""
    (tmp_path / "watched").mkdir()
    (tmp_path / "staged").write_text("stop")
    woke = threading.Event()
    with DirectoryWatch(tmp_path / "watched", woke.set, **KINDS[kind]):
        os.rename(tmp_path / "staged", tmp_path / "watched" / "request")
        assert woke.wait(TIMEOUT)


def test_closing_a_watch_leaves_no_thread_or_descriptor(tmp_path):
    threads, fds = threading.active_count(), len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        DirectoryWatch(tmp_path, lambda: None).close()
    assert threading.active_count() == threads
    assert len(os.listdir("/proc/self/fd")) == fds


def test_a_directory_that_does_not_exist_is_an_error(tmp_path):
    with pytest.raises(OSError):
        DirectoryWatch(tmp_path / "missing", lambda: None)
