"""mh-pool: workers over the queue; drain, failure, kill -9, Ctrl+C, scaling."""

import json
import os
import signal

from conftest import TIMEOUT

from metaharness.notify import wait_until

GATED = ('while [ ! -e "$MH_ROOT/go-$(basename "$MH_ROADMAP")" ]; do sleep 0.05; done; '
         "echo '<promise>COMPLETE</promise>'")


def _items(project):
    return {i["item"]: i for i in map(json.loads, project.run("queue", "ls", "--json").stdout.splitlines())}


def _queue(project, *names, **options):
    args = []
    for key, value in options.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return project.run("queue", "add", *[str(project.roadmap(n)) for n in names], *args).stdout.split()


def _running_agents(project, n):
    def running():
        try:
            return sum(bool(json.loads(p.read_text()).get("agent_pid")) for p in project.tree.glob("q-*/state.json")) >= n
        except (ValueError, FileNotFoundError):
            return False

    assert wait_until(running, project.tree, TIMEOUT, recursive=True)


def test_a_pool_drains_the_queue_and_reports_failures(project):
    good = _queue(project, "a.md", "b.md", "c.md")
    [bad] = _queue(project, "bad.md", max_attempts=2)
    agent = 'case "$MH_ROADMAP" in *bad.md) exit 1;; esac; echo "<promise>COMPLETE</promise>"'
    r = project.run("pool", "-n", "2", "--exit-when-empty", "--retry-backoff", "0", "--agent-cmd", agent,
                    "--max-failures", "1", "-q")
    assert r.returncode == 1 and r.stderr == ""
    items = _items(project)
    assert {items[g]["state"] for g in good} == {"done"}
    assert (items[bad]["state"], items[bad]["attempts"]) == ("failed", 2) and "failed" in items[bad]["last_reason"]
    queue = project.tree / "queue"
    assert not list((queue / "workers").iterdir()) and not list((queue / "pools").iterdir())  # nothing left behind


def test_with_worktree_each_item_works_on_a_branch_of_its_own(project, repo):
    items = _queue(project, "a.md", "b.md")
    agent = "echo $MH_ID > f.txt && git commit -qam $MH_ID && echo '<promise>COMPLETE</promise>'"
    r = project.run("pool", "-n", "2", "--exit-when-empty", "--worktree", "--agent-cmd", agent, "-q")
    assert r.returncode == 0, r.stderr
    for item in map(_items(project).get, items):
        wt = project.result(item["harness"])["worktree"]
        assert (wt["branch"], wt["ahead"], wt["dirty"]) == (f"mh/{item['harness']}", 1, False)
    assert (repo / "f.txt").read_text() == "base\n"


def test_bad_pool_options_are_refused_before_anything_is_claimed(project):
    _queue(project, "a.md")
    r = project.run("pool", "--exit-when-empty", "--max-iterations", "0", "--agent-cmd", "true")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    r = project.run("pool", "--exit-when-empty")
    assert r.returncode == 2 and "--agent" in r.stderr
    # What every item's mh-spawn would refuse is refused once, before an attempt is spent.
    r = project.run("pool", "--exit-when-empty", "--workdir", "no-such-dir", "--agent-cmd", "true")
    assert (r.returncode, r.stderr) == (2, f"mh-pool: error: workdir {project.root / 'no-such-dir'} is not a directory\n")
    r = project.run("pool", "--exit-when-empty", "--prompt-template", "missing.md", "--agent-cmd", "true")
    assert r.returncode == 2 and r.stderr.startswith("mh-pool: error: cannot read prompt template missing.md")
    assert [(i["state"], i["attempts"]) for i in _items(project).values()] == [("pending", 0)]


def test_ctrl_c_puts_the_claimed_items_back_in_pending_untried(project):
    _queue(project, "a.md", "b.md")
    pool = project.start("pool", "-n", "2", "--agent-cmd", GATED, "--grace", "1")
    _running_agents(project, 2)
    pool.send_signal(signal.SIGINT)
    assert pool.wait(TIMEOUT) == 130
    assert [(i["state"], i["attempts"]) for i in _items(project).values()] == [("pending", 0), ("pending", 0)]
    assert {json.loads(p.read_text())["status"] for p in project.tree.glob("q-*/result.json")} == {"interrupted"}


def test_an_item_of_a_killed_worker_is_reclaimed_and_finished_once(project):
    [item] = _queue(project, "a.md")
    first = project.start("pool", "-n", "1", "--agent-cmd", GATED)
    _running_agents(project, 1)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(TIMEOUT)
    second = project.start("pool", "-n", "1", "--exit-when-empty", "--agent-cmd", GATED)
    (project.root / "go-a.md").touch()
    assert second.wait(TIMEOUT) == 0, second.stderr.read()
    assert _items(project)[item]["state"] == "done"
    assert not list((project.tree / ".archive").glob("q-*"))  # the harness was adopted, not run again


def test_scaling_a_running_pool_starts_more_workers(project):
    _queue(project, "a.md", "b.md", "c.md")
    pool = project.start("pool", "-n", "1", "--exit-when-empty", "--agent-cmd", GATED)
    _running_agents(project, 1)
    assert project.run("pool", "scale", "3").returncode == 0
    _running_agents(project, 3)
    for name in ("a.md", "b.md", "c.md"):
        (project.root / f"go-{name}").touch()
    assert pool.wait(TIMEOUT) == 0
    assert {i["state"] for i in _items(project).values()} == {"done"}
    r = project.run("pool", "scale", "2")
    assert r.returncode == 7 and "no such pool" in r.stderr


def test_wait_queue_blocks_until_drained_and_status_counts_the_queue(project):
    _queue(project, "a.md")
    waiter = project.start("wait", "--queue")
    pool = project.start("pool", "-n", "1", "--agent-cmd", GATED)
    _running_agents(project, 1)
    assert project.run("status").stdout.splitlines()[-1] == "queue: 0 pending, 1 claimed, 0 done, 0 failed"
    (project.root / "go-a.md").touch()
    assert waiter.wait(TIMEOUT) == 0
    pool.send_signal(signal.SIGINT)
    assert pool.wait(TIMEOUT) == 130
    assert json.loads(project.run("status", "--json").stdout.splitlines()[-1]) == {
        "queue": {"pending": 0, "claimed": 0, "done": 1, "failed": 0}}


def _fork_server_of(pool):
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pool.pid and b"metaharness.forkserver" in cmdline:
            return int(entry)
    raise AssertionError("the pool runs no fork server")


def test_a_dead_fork_server_loses_no_item(project):
    items = _queue(project, "a.md", "b.md")
    pool = project.start("pool", "-n", "1", "--exit-when-empty", "--agent-cmd", GATED)
    _running_agents(project, 1)
    os.kill(_fork_server_of(pool), signal.SIGKILL)  # the supervisor it forked runs on
    for name in ("a.md", "b.md"):
        (project.root / f"go-{name}").touch()
    assert pool.wait(TIMEOUT) == 0, pool.stderr.read()
    assert [_items(project)[i]["state"] for i in items] == ["done", "done"]


def test_a_forged_harness_field_in_an_item_cannot_point_a_worker_outside_the_tree(project):
    [item] = _queue(project, "a.md")
    pending = project.tree / "queue" / "pending" / item
    record = json.loads(pending.read_text())
    (project.root / "outside").mkdir()
    pending.write_text(json.dumps({**record, "harness": "../../outside"}))
    r = project.run("pool", "-n", "1", "--exit-when-empty", "--agent-cmd", "echo '<promise>COMPLETE</promise>'", "-q")
    assert (r.returncode, r.stderr) == (0, "")
    assert _items(project)[item]["state"] == "done"
    assert (project.tree / record["harness"] / "result.json").exists()  # the id its name gives
    assert list((project.root / "outside").iterdir()) == []


def test_keep_done_prunes_the_harnesses_of_done_items_but_their_results_stay(project):
    names = _queue(project, "a.md", "b.md", "c.md", "d.md", "e.md")
    r = project.run("pool", "-n", "1", "--exit-when-empty", "--keep-done", "2",
                    "--agent-cmd", "echo '<promise>COMPLETE</promise>'")
    assert r.returncode == 0, r.stderr
    left = sorted(p.name for p in project.tree.glob("q-*"))
    assert len(left) == 2
    done = _items(project)
    assert sorted(done) == sorted(names)
    assert {i["harness"] for i in done.values() if i["item"] in names[-2:]} == set(left)  # the last two kept
    for item in done.values():
        assert item["state"] == "done" and item["result"]["status"] == "completed" and item["settled"]


def test_keep_done_takes_a_count_or_an_age_and_refuses_anything_else(project):
    for bad in ("-1", "1x", "many"):
        r = project.run("pool", "--keep-done", bad, "--agent-cmd", "true")
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (bad, r.stderr)
