"""A property-based model of the queue shared by pools on several hosts whose clocks differ
by seconds: any interleaving of claims, settles, heartbeats, the passing of time, host
deaths and reclaims by any host never reclaims from a live pool, never loses or doubles
an item, and returns a dead host's items once its host timeout has passed."""

import os
import shutil
import time as real_time
from contextlib import contextmanager
from unittest import mock

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from test_queue_states import scratch_project

from metaharness import fleet, liveness, queue

HOSTS = ("hA", "hB", "hC")
HOST_TIMEOUT = 10.0
LEASE = 60.0


class Clock:
    """time as one host sees it: the true time plus its skew; the rest is the real module."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(real_time, name)


class HostsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root, self.tree, self.roadmap = scratch_project()
        self.true_time = real_time.time()
        self.skew = {"hA": 0.0, "hB": 2.5, "hC": -3.0}  # seconds each host's clock is off
        self.alive = dict.fromkeys(HOSTS, True)
        self.locks: dict[str, list[int]] = {}
        for host in HOSTS:
            with self.on(host):
                pool_dir, pool_lock = fleet.register(self.tree, f"pool-{host}", 1, HOST_TIMEOUT, LEASE)
            worker_lock = liveness.hold_lock(queue.ensure(self.tree) / "workers" / f"{host}-w.lock")
            self.locks[host] = [pool_lock, worker_lock]
        self.added: set[str] = set()
        self.held: dict[str, str] = {}  # item -> the host whose pool holds it
        self.settled: dict[str, int] = {}  # item -> times settled as done
        self.beat_all()

    def teardown(self) -> None:
        for fds in self.locks.values():
            for fd in fds:
                os.close(fd)
        shutil.rmtree(self.root)

    @contextmanager
    def on(self, host: str):  # type: ignore[no-untyped-def]
        """Run queue code as `host` would: its name, its clock."""
        clock = Clock(self.true_time + self.skew[host])
        with mock.patch.object(liveness, "this_host", return_value=host), \
                mock.patch.object(queue, "time", clock), mock.patch.object(fleet, "time", clock):
            yield

    def beat_all(self) -> None:
        """Every live pool's heartbeat (the server's clock sets the mtime), and its leases."""
        for host in HOSTS:
            if self.alive[host]:
                heartbeat = fleet.pools_dir(self.tree) / f"pool-{host}" / "heartbeat"
                os.utime(heartbeat, (self.true_time, self.true_time))
                with self.on(host):
                    for item in [i for i, h in self.held.items() if h == host]:
                        queue.renew(self.tree, item, LEASE)

    @rule()
    def add(self) -> None:
        with self.on("hA"):
            self.added.add(queue.add(self.tree, self.roadmap, 50, 5))

    @rule(host=st.sampled_from(HOSTS))
    def claim(self, host: str) -> None:
        if not self.alive[host]:
            return
        with self.on(host):
            item = queue.claim(self.tree, f"{host}-w", LEASE, f"pool-{host}")
        if item is not None:
            assert item["item"] not in self.held, "claimed twice"
            self.held[item["item"]] = host

    @precondition(lambda self: any(self.alive[h] for h in self.held.values()))
    @rule(data=st.data(), ok=st.booleans())
    def settle(self, data: st.DataObject, ok: bool) -> None:
        name = data.draw(st.sampled_from(sorted(i for i, h in self.held.items() if self.alive[h])))
        with self.on(self.held.pop(name)):
            if queue.finish(self.tree, name, ok, "x", backoff=0) == "done":
                self.settled[name] = self.settled.get(name, 0) + 1

    @rule(seconds=st.sampled_from([0.5, 1.5, 4.0, 9.0]))
    def time_passes(self, seconds: float) -> None:
        """Less than the host timeout at a step: live pools beat and renew as they go."""
        self.true_time += seconds
        self.beat_all()

    @precondition(lambda self: sum(self.alive.values()) > 1)
    @rule(host=st.sampled_from(HOSTS))
    def host_dies(self, host: str) -> None:
        """The host is gone with everything on it: no more beats, locks released."""
        if self.alive[host]:
            self.alive[host] = False
            for fd in self.locks.pop(host):
                os.close(fd)
            self.locks[host] = []

    @precondition(lambda self: sum(self.alive.values()) > 1)
    @rule(host=st.sampled_from(HOSTS))
    def host_dies_holding_an_item(self, host: str) -> None:
        self.add()
        self.claim(host)
        self.host_dies(host)

    @rule(host=st.sampled_from(HOSTS))
    def reclaim(self, host: str) -> None:
        if not self.alive[host]:
            return
        with self.on(host):
            returned = set(queue.reclaim_stale(self.tree))
        assert not returned & {i for i, h in self.held.items() if self.alive[h]}, "reclaimed from a live pool"
        for name in returned:
            self.held.pop(name, None)

    @precondition(lambda self: any(not self.alive[h] for h in self.held.values()))
    @rule()
    def a_dead_host_s_items_come_back_after_its_timeout(self) -> None:
        self.true_time += HOST_TIMEOUT + max(self.skew.values()) - min(self.skew.values()) + 0.1
        self.beat_all()
        survivor = next(h for h in HOSTS if self.alive[h])
        orphaned = {i for i, h in self.held.items() if not self.alive[h]}
        with self.on(survivor):
            returned = set(queue.reclaim_stale(self.tree))
        assert orphaned <= returned, f"never reclaimed: {orphaned - returned}"
        assert not returned - orphaned, "reclaimed from a live pool"
        for name in returned:
            del self.held[name]

    @invariant()
    def every_item_is_in_exactly_one_state_and_done_at_most_once(self) -> None:
        items = queue.items(self.tree)
        names = [i["item"] for i in items]
        assert len(names) == len(set(names)) and set(names) == self.added
        claimed = {i["item"] for i in items if i["state"] == "claimed"}
        assert set(self.held) <= claimed
        assert all(n == 1 for n in self.settled.values())


TestQueueAcrossHosts = HostsMachine.TestCase
TestQueueAcrossHosts.settings = settings(max_examples=80, stateful_step_count=30, deadline=None)
