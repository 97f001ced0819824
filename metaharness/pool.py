"""A pool of workers pulling roadmaps from the queue, one supervised harness per item.

Each worker holds an flock on `queue/workers/<worker>.lock` for as long as it lives (its
claims are reclaimable the moment it dies), claims an item with link(2), runs
`mh-spawn <item's harness> <roadmap> <options>` as a child in the foreground, and settles
the item by the harness's exit status. The pool's size is a control file,
`queue/pools/<pool>/size`, watched for changes: more workers start at once, surplus ones
retire after their current item. On shutdown each running harness is interrupted and its
item released to pending untried. See mh-harness(7).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from metaharness import harness, liveness, queue
from metaharness.status import Status
from metaharness.waiter import await_end
from metaharness.process import interrupt
from metaharness.tree import atomic_write, read_json

RECLAIM_SECONDS = 30.0  # how often an idle pool looks for claims of vanished workers elsewhere


def pools_dir(tree: Path) -> Path:
    return queue.queue_dir(tree) / "pools"


def set_size(tree: Path, pool_id: str, size: int) -> None:
    atomic_write(pools_dir(tree) / pool_id / "size", f"{size}\n")


def live_pools(tree: Path) -> list[str]:
    directory = pools_dir(tree)
    return sorted(p.name for p in directory.iterdir() if liveness.lock_is_held(p / "lock")) if directory.is_dir() else []


class Pool:
    def __init__(self, tree: Path, size: int, spawn_args: list[str], say: Callable[[str], None],
                 exit_when_empty: bool = False, retry_backoff: float = 60.0) -> None:
        self.tree, self.spawn_args, self.say, self.exit_when_empty = tree, spawn_args, say, exit_when_empty
        self.retry_backoff = retry_backoff
        self.id = f"pool-{os.getpid()}"
        self.dir = pools_dir(tree) / self.id
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = liveness.hold_lock(self.dir / "lock")
        set_size(tree, self.id, size)
        self.wake = threading.Event()
        self._mutex = threading.Lock()
        self._workers: dict[str, threading.Thread] = {}
        self._children: dict[str, tuple[subprocess.Popen[bytes], str]] = {}  # worker -> (mh-spawn, item)
        self._stopping = False
        self._serial = 0

    def size(self) -> int:
        try:
            return max(0, int((self.dir / "size").read_text().strip()))
        except (OSError, ValueError):
            return len(self._workers)

    def run(self, stop_requested: Callable[[], bool]) -> None:
        """Keep `size` workers running until `stop_requested()`, or the queue drains with exit_when_empty."""
        from metaharness.watch import DirectoryWatch

        q = queue.ensure(self.tree)
        queue.reclaim_stale(self.tree)
        try:
            # New items, retries and the size file: claims and results elsewhere need no wake-up.
            with DirectoryWatch(q / "pending", self.wake.set), DirectoryWatch(self.dir, self.wake.set):
                self._keep_staffed(stop_requested)
        finally:
            self.shutdown()

    def _keep_staffed(self, stop_requested: Callable[[], bool]) -> None:
        while not stop_requested():
            self.wake.clear()
            with self._mutex:
                self._workers = {w: t for w, t in self._workers.items() if t.is_alive()}
                while len(self._workers) < self.size():
                    self._serial += 1
                    worker = f"{self.id}-{self._serial}"
                    thread = threading.Thread(target=self._work, args=(worker,), daemon=True)
                    self._workers[worker] = thread
                    thread.start()
            if self.exit_when_empty and self._drained() and not any(t.is_alive() for t in self._workers.values()):
                return
            self.wake.wait(RECLAIM_SECONDS)

    def _drained(self) -> bool:
        return not any(i["state"] in ("pending", "claimed") for i in queue.items(self.tree))

    def _retiring(self, worker: str) -> bool:
        with self._mutex:
            order = sorted(self._workers, key=lambda w: int(w.rsplit("-", 1)[1]))
            return self._stopping or order.index(worker) >= self.size() if worker in order else True

    def _work(self, worker: str) -> None:
        lock = liveness.hold_lock(queue.queue_dir(self.tree) / "workers" / f"{worker}.lock")
        try:
            while not self._retiring(worker):
                item = queue.claim(self.tree, worker)
                if item is None:
                    if self.exit_when_empty and self._drained():
                        return
                    self._idle()
                    continue
                self._run_item(worker, item)
        finally:
            os.close(lock)
            self.wake.set()

    def _idle(self) -> None:
        """Wait for a change under the queue (a new item, a retry coming due, a scale)."""
        due = [i["not_before"] for i in queue.items(self.tree) if i["state"] == "pending" and i.get("not_before")]
        timeout = max(0.05, min(due) - time.time()) if due else RECLAIM_SECONDS
        self.wake.wait(min(timeout, RECLAIM_SECONDS))
        self.wake.clear()
        queue.reclaim_stale(self.tree)

    def _run_item(self, worker: str, item: dict[str, object]) -> None:
        name, harness_id = str(item["item"]), str(item["harness"])
        earlier = self._earlier_harness(harness_id, name)
        if earlier is not None:
            # Reclaimed from a worker that died: its harness ran on (or finished). Adopt it
            # rather than start the same work twice.
            self.say(f"{worker}: {name}: adopting harness {harness_id} ({earlier.value})")
            outcome = await_end(self.tree, harness_id, appear_within=0)
            self._settle(worker, name, harness_id, outcome.exit_code)
            return
        self.say(f"{worker}: {name} -> harness {harness_id}")
        argv = [sys.executable, "-m", "metaharness.cli.spawn", harness_id, str(item["roadmap"]), *self.spawn_args,
                "--run", name, "--quiet"]
        with self._mutex:
            if self._stopping:
                queue.release(self.tree, name)
                return
            child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env={**os.environ, "MH_ROOT": str(self.tree.parent)})
            self._children[worker] = (child, name)
        while True:
            try:
                child.wait(queue.DEFAULT_LEASE_SECONDS / 3)
                break
            except subprocess.TimeoutExpired:
                queue.renew(self.tree, name)  # a long item must not look abandoned from another host
        with self._mutex:
            self._children.pop(worker, None)
            if self._stopping:
                queue.release(self.tree, name)  # interrupted by the shutdown: not an attempt
                return
        self._settle(worker, name, harness_id, child.returncode)

    def _earlier_harness(self, harness_id: str, item_name: str) -> Status | None:
        """The status of a harness a vanished worker started for this item, if it is live or completed."""
        directory = self.tree / harness_id
        if not directory.is_dir():
            return None
        view = harness.inspect(directory)
        if view.spec.get("run") != item_name:
            return None
        return view.status if view.status.is_live or view.status is Status.COMPLETED else None

    def _settle(self, worker: str, name: str, harness_id: str, code: int) -> None:
        try:
            reason = str(read_json(self.tree / harness_id / "result.json").get("reason"))
        except (OSError, ValueError):
            reason = f"mh-spawn exited {code} without a result"
        where = queue.finish(self.tree, name, code == 0, reason, self.retry_backoff)
        self.say(f"{worker}: {name} {'done' if where == 'done' else f'-> {where}'} ({reason})")

    def shutdown(self) -> None:
        """Interrupt the running harnesses; their items go back to pending untried."""
        with self._mutex:
            self._stopping = True
            children = list(self._children.values())
        for child, _ in children:
            interrupt(child)  # the supervisor ends its agent's group and records `interrupted`
        self.wake.set()
        for thread in list(self._workers.values()):
            thread.join()
        os.close(self._lock)
