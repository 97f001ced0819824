"""A pool of workers pulling roadmaps from the queue, one supervised harness per item.

Each worker holds an flock on `queue/workers/<worker>.lock` for as long as it lives (its
claims are reclaimable the moment it dies), claims an item with link(2), has the pool's
fork server (which imported the supervisor once) start and supervise its harness, as
`mh-spawn <item's harness> <roadmap> <options>` would, and settles the item by the
supervisor's exit status. The pool describes itself and beats in `queue/pools/<pool>/`
(fleet.py), so pools on other hosts can tell it is alive; its control files there are
watched: `size` (more workers start at once, surplus ones retire after their current
item) and `stop`. On shutdown each running harness is interrupted and its item released
to pending untried. See mh-harness(7).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time
from pathlib import Path

from metaharness import budgets, fleet, harness, limits, liveness, queue
from metaharness.exits import MhError
from metaharness.forkserver import ForkServer
from metaharness.notify import wait_until
from metaharness.records import replace
from metaharness.start import Request
from metaharness.statuses import Status
from metaharness.tree import read_json
from metaharness.waiter import Outcome, await_end

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Callable, Final

RECLAIM_SECONDS = 30.0  # at most this long between looks for claims of vanished workers
MAX_WORKERS: Final = 1000  # each is a thread, a supervisor and an agent: more is a typing mistake
ADOPTED_RECHECK_SECONDS: Final = 1.0  # how often an adopted harness on another host is looked at
# What of a harness's result.json a settled item keeps, so its directory can be pruned.
RESULT_KEPT: Final = ("status", "exit_code", "reason", "iterations", "progress", "usage", "started", "ended",
                      "instance", "worktree")


def prune_done(tree: Path, keep: int | None, older_than: float | None) -> list[str]:
    """Remove the harness directories (and archived instances, and worktrees mh-clean may
    remove) of done items beyond the `keep` most recently settled, or settled more than
    `older_than` seconds ago; return the items whose harness went. Their results stay in
    the items; a harness mh-clean refuses (unmerged work) stays too."""
    from metaharness.clean import Action, clean

    done = queue.queue_dir(tree) / "done"
    settled = sorted(((e.stat().st_mtime, e.name) for e in os.scandir(done) if queue.is_item_name(e.name)),
                     reverse=True)  # newest first; the file's mtime is when it was settled
    old = settled[keep:] if keep is not None else [s for s in settled if time.time() - s[0] > (older_than or 0)]
    by_harness = {queue.harness_for(name): name for _, name in old if (tree / queue.harness_for(name)).is_dir()}
    try:
        return [by_harness[r.id] for r in clean(tree, list(by_harness)) if r.action is Action.REMOVED]
    except MhError:
        return []  # another pool pruned one meanwhile: the next settle tries again


class Pool:
    def __init__(self, tree: Path, size: int, template: Request, say: Callable[[str], None],
                 exit_when_empty: bool = False, retry_backoff: float = 60.0,
                 lease: float = queue.DEFAULT_LEASE_SECONDS,
                 host_timeout: float = fleet.DEFAULT_HOST_TIMEOUT_SECONDS,
                 keep_done: tuple[int | None, float | None] | None = None,
                 total_budget_usd: float | None = None) -> None:
        self.tree, self.template, self.say, self.exit_when_empty = tree, template, say, exit_when_empty
        self.retry_backoff, self.lease, self.keep_done = retry_backoff, lease, keep_done
        self.account = template.options.account_name  # its harnesses', whose limits it respects
        self.spent: str | None = None  # why no more is claimed: a budget of its harnesses is spent
        # Others reclaim a dead host's items after its host timeout; look as often.
        self.reclaim_every = min(RECLAIM_SECONDS, max(0.5, host_timeout / 3))
        self.id = fleet.new_pool_id()
        self.dir, self._lock = fleet.register(tree, self.id, size, host_timeout, lease)
        if total_budget_usd is not None:  # a budget of the pool's own, named after it, for all its harnesses
            budgets.set_budget(tree, self.id, total_budget_usd, None, False)
            groups = template.options.budget_groups + (self.id,)
            self.template = replace(template, options=replace(template.options, budget_groups=groups))
        self.budget_groups = self.template.options.budget_groups
        self._heartbeat = fleet.Heartbeat(self.dir, fleet.heartbeat_interval(host_timeout))
        self.wake = threading.Event()
        self._mutex = threading.Lock()
        self._workers: dict[str, threading.Thread] = {}
        self._children: dict[str, tuple[ForkServer, int, str]] = {}  # worker -> (its server, supervisor pid, item)
        self._server: ForkServer | None = None
        self._stopping = False
        self.started = 0  # workers started so far; numbers their ids
        self._reclaimed = time.monotonic()

    def size(self) -> int:
        size = fleet.read_size(self.dir)
        return len(self._workers) if size is None else min(max(0, size), MAX_WORKERS)

    def run(self, stop_requested: Callable[[], bool]) -> None:
        """Keep `size` workers running until `stop_requested()`, or the queue drains with exit_when_empty."""
        from metaharness.notify import DirectoryWatch

        q = queue.ensure(self.tree)
        queue.reclaim_stale(self.tree)
        try:
            # New items, retries, the size and stop files; and, for a pool that leaves once the
            # queue is drained, results: the last item may be settled by another pool.
            with contextlib.ExitStack() as watches:
                os.makedirs(limits.limits_dir(self.tree), exist_ok=True)
                watched = (q / "pending", self.dir, limits.limits_dir(self.tree))
                for directory in watched + ((q / "claimed",) if self.exit_when_empty else ()):
                    watches.enter_context(DirectoryWatch(directory, self.wake.set))
                self._keep_staffed(stop_requested)
        finally:
            self.shutdown()

    def _keep_staffed(self, stop_requested: Callable[[], bool]) -> None:
        while not stop_requested() and not fleet.stop_requested(self.dir):
            self.wake.clear()
            with self._mutex:
                finishing = self.exit_when_empty and queue.drained(self.tree) or self.spent is not None
                if finishing and not self._workers:
                    return
                # Once drained, the workers left are on their way out: replacing them would
                # only start workers that find nothing and leave, over and over.
                while not finishing and len(self._workers) < self.size():
                    self.started += 1
                    worker = f"{self.id}-{self.started}"
                    thread = threading.Thread(target=self._work, args=(worker,), daemon=True)
                    self._workers[worker] = thread
                    thread.start()
            self.wake.wait(self.reclaim_every)
            if time.monotonic() - self._reclaimed >= self.reclaim_every:  # a host may have died meanwhile
                self._reclaimed = time.monotonic()
                queue.reclaim_stale(self.tree)

    def _retiring(self, worker: str) -> bool:
        with self._mutex:
            order = sorted(self._workers, key=lambda w: int(w.rsplit("-", 1)[1]))
            return self._stopping or order.index(worker) >= self.size() if worker in order else True

    def _work(self, worker: str) -> None:
        lock_path = queue.queue_dir(self.tree) / "workers" / f"{worker}.lock"
        lock = liveness.hold_lock(lock_path)
        try:
            while not self._retiring(worker):
                self.spent = self.spent or budgets.exhausted(self.tree, self.budget_groups)
                if self.spent is not None:  # its items' harnesses would end at once: claim no more
                    return
                limit = limits.current(self.tree, self.account)
                if limit is not None:  # the account's harnesses would only wait: claim nothing
                    self._idle(until=limit["until"])
                    continue
                item = queue.claim(self.tree, worker, self.lease, self.id)
                if item is None:
                    if self.exit_when_empty and queue.drained(self.tree):
                        return
                    self._idle()
                    continue
                self._run_item(worker, item)
        finally:
            # Every item this worker claimed is settled or released by now, so nothing can
            # need its lock: remove the file rather than leave one per worker ever started.
            lock_path.unlink(missing_ok=True)
            os.close(lock)
            with self._mutex:
                del self._workers[worker]  # before the wake-up, so the staffing loop sees it gone
            self.wake.set()

    def _idle(self, until: float | None = None) -> None:
        """Wait for a change under the queue (a new item, a retry coming due, a scale, a
        lifted limit), or until `until` (epoch seconds: an account limit's reset)."""
        due = [i["not_before"] for i in queue.items(self.tree) if i["state"] == "pending" and i.get("not_before")]
        due += [until] if until is not None else []
        timeout = max(0.05, min(due) - time.time()) if due else self.reclaim_every
        self.wake.wait(min(timeout, self.reclaim_every))
        self.wake.clear()
        queue.reclaim_stale(self.tree)

    def _run_item(self, worker: str, item: dict[str, object]) -> None:
        name = str(item["item"])
        harness_id = queue.harness_for(name)
        earlier = self._earlier_harness(harness_id, name)
        if earlier is not None:
            # Reclaimed from a worker that died: its harness ran on (or finished). Adopt it
            # rather than start the same work twice.
            self.say(f"{worker}: {name}: adopting harness {harness_id} ({earlier.value})")
            outcome = self._await_adopted(harness_id)
            if outcome.status is not Status.DEAD:
                self._settle(worker, name, harness_id, outcome.exit_code)
                return
            # It died with its worker's host (the reclaim counted that attempt): run it again.
            self.say(f"{worker}: {name}: harness {harness_id} died with its host; starting it again")
        self.say(f"{worker}: {name} -> harness {harness_id}")
        request = replace(self.template, id=harness_id, roadmap=str(item["roadmap"]), run=name)
        with self._mutex:
            if self._stopping:
                queue.release(self.tree, name)
                return
            server = self._forkserver()
            pid = server.start(request)
            if pid is None:  # the fork server died just now; the next item gets a new one
                queue.release(self.tree, name)
                return
            self._children[worker] = (server, pid, name)
        while (code := server.wait(pid, self.lease / 3)) is None and not server.gone:
            queue.renew(self.tree, name, self.lease)  # a long item must not look abandoned from another host
        if code is None:  # the server died; the supervisor it forked lives on, so ask its harness
            code = await_end(self.tree, harness_id, appear_within=0).exit_code
        with self._mutex:
            self._children.pop(worker, None)
            if self._stopping:
                queue.release(self.tree, name)  # interrupted by the shutdown: not an attempt
                return
        self._settle(worker, name, harness_id, code)

    def _forkserver(self) -> ForkServer:
        """The running fork server, started anew if it died (call holding the mutex)."""
        if self._server is None or self._server.gone:
            if self._server is not None:
                self._server.close()  # reap it
            self._server = ForkServer({**os.environ, "MH_ROOT": str(self.tree.parent)})
        return self._server

    def _await_adopted(self, harness_id: str) -> Outcome:
        """Wait for an adopted harness to end. One on another host is judged by its
        heartbeat, as mh-status judges it: its lock may be out of sight from here."""
        directory = self.tree / harness_id
        if harness.inspect(directory).state.get("host") not in (None, liveness.this_host()):
            def ended() -> bool:
                return not harness.inspect(directory).status.is_live

            while not wait_until(ended, directory, ADOPTED_RECHECK_SECONDS):
                pass  # a dead host's heartbeat just stops: no event says so, so look again
        return await_end(self.tree, harness_id, appear_within=0)

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
            result = read_json(self.tree / harness_id / "result.json")
            reason = str(result.get("reason"))
        except (OSError, ValueError):
            result, reason = None, f"mh-spawn exited {code} without a result"
        kept = {key: result.get(key) for key in RESULT_KEPT} if result else None
        where = queue.finish(self.tree, name, code == 0, reason, self.retry_backoff, kept)
        self.say(f"{worker}: {name} {'done' if where == 'done' else f'-> {where}'} ({reason})")
        if where == "done" and self.keep_done is not None:
            for pruned in prune_done(self.tree, *self.keep_done):
                self.say(f"{worker}: pruned the harness of {pruned} (its result stays with the item)")

    def shutdown(self) -> None:
        """Interrupt the running harnesses; their items go back to pending untried."""
        with self._mutex:
            self._stopping = True
            children = list(self._children.values())
            threads = list(self._workers.values())
        for server, pid, _ in children:
            server.signal(pid, signal.SIGTERM)  # the supervisor ends its agent's group, records `interrupted`
        self.wake.set()
        for thread in threads:
            thread.join()
        if self._server is not None:
            self._server.close()
        self._heartbeat.stop()
        shutil.rmtree(self.dir, ignore_errors=True)  # still locked: `mh-pool scale` cannot pick it meanwhile
        os.close(self._lock)
