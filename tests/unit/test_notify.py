"""The watch filter: changes wake a watcher, reads do not."""

import threading

from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer

from conftest import TIMEOUT

from metaharness.notify import CHANGES


class Recorder(FileSystemEventHandler):
    def __init__(self, sentinel):
        self.events, self.sentinel, self.seen = [], sentinel, threading.Event()

    def on_any_event(self, event):
        self.events.append(event.event_type)
        if event.src_path == self.sentinel:
            self.seen.set()


def test_reading_a_watched_file_raises_no_event(tmp_path):
    (tmp_path / "item").write_text("x")
    recorder = Recorder(str(tmp_path / "sentinel"))
    observer = Observer()
    observer.schedule(recorder, str(tmp_path), event_filter=CHANGES)
    observer.start()
    try:
        for _ in range(3):
            (tmp_path / "item").read_text()
        (tmp_path / "sentinel").mkdir()  # inotify keeps order: events of the reads would come first
        assert recorder.seen.wait(TIMEOUT)
    finally:
        observer.stop()
        observer.join()
    # A watcher that re-reads its directory on each event would otherwise wake itself for ever.
    assert recorder.events[0] == "created", recorder.events
