"""mh-watch: alerts for the whole tree, as they happen."""

import json
import os
import signal

from conftest import TIMEOUT, wait_for


def _alerts(watcher, until):
    """Read JSON alerts from a running mh-watch until `until(alert)` holds."""
    got = []
    while not got or not until(got[-1]):
        line = watcher.stdout.readline()
        assert line, "mh-watch ended early"
        got.append(json.loads(line))
    return got


def test_a_killed_supervisor_is_reported_dead_once_with_its_last_output(project):
    project.tree.mkdir()
    watcher = project.start("watch", "--json")
    project.spawn("a", "echo 'compiling module x'; exec sleep 1000")
    agent = project.wait_for_agent("a")
    output = project.tree / "a" / "iterations" / "0001" / "output"
    assert wait_for(lambda: output.stat().st_size > 0, output.parent)
    project.kill_supervisor("a")
    [dead] = [a for a in _alerts(watcher, lambda a: a["event"] == "dead") if a["event"] == "dead"]
    assert dead["id"] == "a" and dead["iteration"] == 1 and dead["last_output"] == "compiling module x"
    os.killpg(agent, signal.SIGKILL)
    watcher.send_signal(signal.SIGTERM)
    out, _ = watcher.communicate(timeout=TIMEOUT)
    assert watcher.returncode == 0 and '"dead"' not in out  # reported once


def test_stalls_loops_and_failures_are_alerts_and_exec_runs_per_alert(project):
    project.tree.mkdir()
    log = project.root / "alerts.log"
    watcher = project.start("watch", "--json", "--exec", f'echo "$MH_ID $MH_EVENT" >> {log}')
    project.spawn("s", "echo hi; exec sleep 1000", "--stall-after", "0.2", "--on-stall", "stop")
    project.spawn("l", "echo same >&2; exit 3", "--loop-after", "2", "--on-loop", "stop", "--max-failures", "9")
    events = set()
    while not {("s", "stalled"), ("s", "failed"), ("l", "looping"), ("l", "failed")} <= events:
        alert = json.loads(watcher.stdout.readline())
        events.add((alert["id"], alert["event"]))
    watcher.send_signal(signal.SIGINT)
    assert watcher.wait(TIMEOUT) == 0
    project.run("wait", "s", "l")
    assert wait_for(lambda: log.exists() and {"s stalled", "l looping"} <= set(log.read_text().splitlines()), project.root)


def test_the_on_dead_hook_runs_for_a_death(project):
    hooks = project.tree / "hooks"
    hooks.mkdir(parents=True)
    (hooks / "on-dead").write_text(f'#!/bin/sh\necho "$MH_ID $MH_REASON" > {project.root}/dead.txt\n')
    (hooks / "on-dead").chmod(0o755)
    watcher = project.start("watch")
    project.spawn("a", "exec sleep 1000")
    agent = project.wait_for_agent("a")
    project.kill_supervisor("a")
    assert wait_for(lambda: (project.root / "dead.txt").exists(), project.root)
    assert (project.root / "dead.txt").read_text().startswith("a the supervisor")
    os.killpg(agent, signal.SIGKILL)
    watcher.send_signal(signal.SIGTERM)
    assert watcher.wait(TIMEOUT) == 0


def test_an_account_s_usage_limit_is_one_alert_when_it_starts_and_one_when_it_ends(project):
    import time

    project.tree.mkdir()
    watcher = project.start("watch", "--json")
    until = time.time() + 3600
    agent = f'if [ "$MH_ITERATION" = 1 ]; then echo \'<limit until="{until:.0f}">quota</limit>\'; exit 1; fi; exec sleep 1000'
    project.spawn("a", agent, "--account", "acme")
    project.spawn("b", "exec sleep 1000", "--account", "acme")
    limited = [a for a in _alerts(watcher, lambda a: a["event"] == "account_limited") if a["id"] == "acme"]
    assert len(limited) == 1 and "seen by a" in limited[0]["reason"]
    assert project.run("resume", "--account", "acme").returncode == 0
    lifted = _alerts(watcher, lambda a: a["event"] == "account_limit_lifted")
    assert [a["event"] for a in lifted].count("account_limited") == 0  # not again for the other harness
    project.run("stop", "a", "b")
    watcher.send_signal(signal.SIGTERM)
    assert watcher.wait(TIMEOUT) == 0
