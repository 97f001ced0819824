"""Pools and harnesses on several hosts over one tree: hosts emulated with bubblewrap (their
own hostname and pid space, this filesystem). CI installs bubblewrap; elsewhere these skip."""

import json
import time

import pytest

from conftest import TIMEOUT
from hosts.emulated import Hosts, completed_results, eventually, items, needs_bwrap, pools

from metaharness.notify import wait_until

pytestmark = needs_bwrap
GATE = 'while [ ! -e "$MH_ROOT/go" ]; do sleep 0.05; done; echo "<promise>COMPLETE</promise>"'
# A dead host found in seconds. Only where one host dies: with two live hosts, a host timeout
# this short could take a pool starved of CPU for 3 s for dead.
FAST = ["--host-timeout", "3s", "--heartbeat", "0.5s", "--retry-backoff", "0"]


@pytest.fixture
def hosts(project):
    h = Hosts(project)
    try:
        yield h
    finally:
        h.cleanup()


def _queue(project, *names):
    r = project.run("queue", "add", *[str(project.roadmap(n, tasks=1)) for n in names])
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def _wait(project, predicate):
    """Until `predicate` holds, re-checked on every change anywhere in the tree."""
    assert wait_until(predicate, project.tree, TIMEOUT, recursive=True), "never happened"


def _claimed_by(project):
    return {i["item"]: i["owner"]["host"] for i in items(project).values() if i["state"] == "claimed" and i["owner"]}


def test_two_pools_with_the_same_pid_on_two_hosts_share_the_queue(project, hosts):
    names = _queue(project, "a.md", "b.md", "c.md", "d.md")
    # Both live throughout: a generous host timeout, so a slow machine never makes one look dead.
    a = hosts.mh("hostA", "pool", "-n", "1", "--exit-when-empty", "--host-timeout", "60s", "--agent-cmd", GATE)
    b = hosts.mh("hostB", "pool", "-n", "1", "--exit-when-empty", "--host-timeout", "60s", "--agent-cmd", GATE)
    # Both hold an item before any may finish: neither pool can have done it all alone.
    _wait(project, lambda: sorted(_claimed_by(project).values()) == ["hostA", "hostB"])
    listed = {p["host"]: p for p in pools(project)}
    assert set(listed) == {"hostA", "hostB"} and all(p["alive"] for p in listed.values())
    assert listed["hostA"]["pid"] == listed["hostB"]["pid"]  # the same pid in each host's pid space
    assert listed["hostA"]["id"] != listed["hostB"]["id"]
    assert all(len(p["items"]) == 1 and p["workers"] == 1 for p in listed.values())
    (project.root / "go").touch()
    assert a.wait(TIMEOUT) == 0 and b.wait(TIMEOUT) == 0
    done = items(project)
    assert sorted(done) == sorted(names)
    assert all(i["state"] == "done" and i["attempts"] == 1 for i in done.values())
    hosts_seen = {json.loads((project.tree / i["harness"] / "state.json").read_text())["host"] for i in done.values()}
    assert hosts_seen == {"hostA", "hostB"}
    assert project.run("pool", "ls").stdout == ""  # both went, and took their directories with them


def test_a_dead_host_s_item_is_redone_exactly_once_by_another_host(project, hosts):
    [name] = _queue(project, "only.md")
    a = hosts.mh("hostA", "pool", "-n", "1", *FAST, "--agent-cmd", GATE)
    _wait(project, lambda: _claimed_by(project) == {name: "hostA"})
    harness_id = items(project)[name]["harness"]
    project.wait_for_agent(harness_id)
    b = hosts.mh("hostB", "pool", "-n", "1", "--exit-when-empty", *FAST, "--agent-cmd", GATE)
    _wait(project, lambda: any(p["host"] == "hostB" and p["alive"] for p in pools(project)))
    hosts.crash(a)  # its pool, its supervisor and its agent die at once, as in a power cut
    crashed = time.monotonic()
    eventually(lambda: _claimed_by(project) == {name: "hostB"}, "hostB claims the dead host's item")
    reclaimed_after = time.monotonic() - crashed
    (project.root / "go").touch()
    assert b.wait(TIMEOUT) == 0
    item = items(project)[name]
    assert item["state"] == "done" and item["attempts"] == 2  # the dead host's try counts
    assert len(completed_results(project.tree, harness_id)) == 1
    assert json.loads((project.tree / harness_id / "state.json").read_text())["host"] == "hostB"
    assert [p for p in pools(project) if p["host"] == "hostA"] == []  # the dead pool's directory is gone
    print(f"reclaimed {reclaimed_after:.1f}s after the crash (host timeout 2s)")


def test_mh_queue_reclaim_returns_a_dead_host_s_item_once_its_heartbeat_is_old(project, hosts):
    [name] = _queue(project, "only.md")
    a = hosts.mh("hostA", "pool", "-n", "1", *FAST, "--agent-cmd", GATE)
    _wait(project, lambda: _claimed_by(project) == {name: "hostA"})
    assert project.run("queue", "reclaim").stdout == ""  # alive: nothing to reclaim, however often asked
    hosts.crash(a)
    reclaimed = eventually(lambda: project.run("queue", "reclaim").stdout.split(), "a reclaim after the timeout")
    assert reclaimed == [name]
    item = items(project)[name]
    assert item["state"] == "pending" and item["attempts"] == 1 and "hostA" in item["last_reason"]
    assert project.run("queue", "reclaim").stdout == ""  # exactly once


def test_status_send_stop_and_wait_reach_a_harness_on_another_host(project, hosts):
    road = project.roadmap("a.md")
    agent = 'while [ -z "$(ls "$MH_HARNESS_DIR/inbox/new")" ]; do sleep 0.05; done; sleep 600'
    spawn = hosts.mh("hostA", "spawn", "a", str(road), "--agent-cmd", agent)
    project.wait_for_agent("a")
    status = json.loads(project.run("status", "--json", "a").stdout.splitlines()[0])
    assert status["host"] == "hostA" and status["status"] == "running"
    header, row = project.run("status", "a").stdout.splitlines()[:2]
    assert header.split()[-1] == "HOST" and row.split()[-1] == "hostA"
    assert project.run("send", "a", "hello from the other host").returncode == 0
    [message] = (project.tree / "a" / "inbox" / "new").iterdir()
    assert json.loads(message.read_text())["body"] == "hello from the other host"
    stop = project.run("stop", "a")
    assert stop.returncode == 0, stop.stderr
    assert spawn.wait(TIMEOUT) == 4  # stopped
    assert project.run("wait", "a").returncode == 4
    assert project.result("a")["status"] == "stopped"


def test_ls_scale_and_stop_reach_a_pool_on_another_host(project, hosts):
    [name] = _queue(project, "only.md")
    a = hosts.mh("hostA", "pool", "-n", "1", *FAST, "--agent-cmd", GATE)
    _wait(project, lambda: _claimed_by(project) == {name: "hostA"})
    [pool] = pools(project)
    assert pool["host"] == "hostA" and pool["alive"] and pool["items"] == [name]
    assert project.run("pool", "scale", "3", "--pool", pool["id"]).returncode == 0
    _wait(project, lambda: pools(project)[0]["workers"] == 3)
    table = project.run("pool", "ls").stdout
    assert "hostA: 1 pool alive, 3 workers, 1 items in hand" in table
    stop = project.run("pool", "stop", pool["id"])
    assert stop.returncode == 0, stop.stderr
    assert a.wait(TIMEOUT) == 0
    item = items(project)[name]
    assert item["state"] == "pending" and item["attempts"] == 0  # put back untried
    assert project.run("pool", "stop", pool["id"]).returncode == 7  # gone
