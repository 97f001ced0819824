"""A usage limit one harness meets holds every harness of its account until the reset
(`.harness/limits/<account>`), and no other account; mh-resume --account lifts it."""

import json
import time

import pytest

from conftest import TIMEOUT

from metaharness.loop import MAX_RATE_LIMIT_WAIT_SECONDS
from metaharness.notify import wait_until

COMPLETE = "echo '<promise>COMPLETE</promise>'"


def _starts(project, harness_id):
    """When each iteration of the harness started (epoch seconds), from its agent's own notes."""
    try:
        return [float(t) for t in (project.root / f"starts-{harness_id}").read_text().split()]
    except FileNotFoundError:
        return []


def _agent(harness_id, limited_until=None):
    """Notes the time each iteration starts; the first iteration of a limited one reports a
    limit with a reset; every later iteration (and every one of the others, after go) completes."""
    note = f'date +%s.%N >> "$MH_ROOT/starts-{harness_id}"; '
    if limited_until is not None:
        return (note + f'if [ "$MH_ITERATION" = 1 ]; then echo \'<limit until="{limited_until}">quota</limit>\'; '
                f'exit 1; fi; {COMPLETE}')
    return note + f'while [ ! -e "$MH_ROOT/go" ]; do sleep 0.05; done; {COMPLETE}'


def test_a_limit_holds_the_whole_account_until_its_reset_and_no_other_account(project):
    until = time.time() + 4
    # b and c (account acme) wait at a gate in their first iteration; d is another account.
    for harness_id, account in (("b", "acme"), ("c", "acme"), ("d", "other")):
        project.spawn(harness_id, _agent(harness_id), "--account", account, "--max-iterations", "3")
        project.wait_for_agent(harness_id)
    project.spawn("a", _agent("a", f"{until:.3f}"), "--account", "acme", "--max-iterations", "3")
    project.wait_for_state("a", lambda s: s["status"] == "waiting")
    limit = json.loads((project.tree / "limits" / "acme").read_text())
    assert limit["seen_by"] == "a" and abs(limit["until"] - until) < 1
    (project.root / "go").touch()  # b, c, d finish their first iteration: b and c complete
    for harness_id in ("a", "b", "c", "d"):
        assert project.run("wait", harness_id, "-t", str(TIMEOUT)).returncode == 0
    assert len(_starts(project, "a")) == 2 and _starts(project, "a")[1] >= until  # a's retry waited for the reset
    assert len(_starts(project, "d")) == 1  # the other account was never held
    status = [json.loads(line) for line in project.run("status", "--json", "a").stdout.splitlines()[:1]]
    assert status[0]["status"] == "completed"


def test_harnesses_of_the_account_started_during_the_limit_wait_for_the_reset(project):
    until = time.time() + 3
    project.spawn("a", _agent("a", f"{until:.3f}"), "--account", "acme")
    project.wait_for_state("a", lambda s: s["status"] == "waiting")
    project.spawn("late", "date +%s.%N >> \"$MH_ROOT/starts-late\"; " + COMPLETE, "--account", "acme")
    state = project.wait_for_state("late", lambda s: s["status"] == "waiting")
    assert state["waiting_for"].startswith("rate limit until ") and "(account acme, seen by a)" in state["waiting_for"]
    assert project.run("wait", "late", "-t", str(TIMEOUT)).returncode == 0
    assert _starts(project, "late")[0] >= until
    project.run("wait", "a", "-t", str(TIMEOUT))


def test_mh_resume_account_lifts_the_limit_early(project):
    until = time.time() + 3600  # an hour: only a lift lets it go on within the test
    project.spawn("a", _agent("a", f"{until:.3f}"), "--account", "acme")
    project.wait_for_state("a", lambda s: s["status"] == "waiting")
    r = project.run("resume", "--account", "acme")
    assert r.returncode == 0 and r.stdout == "acme\n", r.stderr
    assert project.run("wait", "a", "-t", str(TIMEOUT)).returncode == 0
    assert not (project.tree / "limits" / "acme").exists()
    assert project.run("resume", "--account", "acme").stdout == ""  # nothing left to lift


def test_the_account_is_the_agent_s_name_unless_given_and_must_be_a_name(project):
    until = time.time() + 3600
    project.spawn("a", _agent("a", f"{until:.3f}"))
    project.wait_for_state("a", lambda s: s["status"] == "waiting")
    assert (project.tree / "limits" / "cmd").is_file()
    project.run("stop", "a")
    r = project.run("spawn", "x", str(project.roadmap()), "--agent-cmd", "true", "--account", "../etc")
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_a_pool_claims_nothing_while_its_account_is_limited(project):
    project.spawn("a", _agent("a", f"{time.time() + 3600:.3f}"), "--account", "acme")
    project.wait_for_state("a", lambda s: s["status"] == "waiting")
    project.run("queue", "add", str(project.roadmap("item.md", tasks=1)))
    pool = project.start("pool", "-n", "1", "--exit-when-empty", "-q", "--account", "acme", "--agent-cmd", COMPLETE)
    assert wait_until(lambda: any(json.loads(line)["alive"] for line in project.run("pool", "ls", "--json")
                                  .stdout.splitlines()), project.tree, TIMEOUT, recursive=True)
    # A claim comes within milliseconds of a worker's start; a second without one is no race:
    # a correct pool passes however slow the machine, one that claims fails.
    time.sleep(1)
    [item] = [json.loads(line) for line in project.run("queue", "ls", "--json").stdout.splitlines()]
    assert item["state"] == "pending"
    assert project.run("resume", "--account", "acme").returncode == 0  # lifted: the pool goes on at once
    assert pool.wait(TIMEOUT) == 0
    [item] = [json.loads(line) for line in project.run("queue", "ls", "--json").stdout.splitlines()]
    assert item["state"] == "done"
    project.run("wait", "a", "-t", str(TIMEOUT))


def test_mh_status_shows_the_limits_that_hold(project):
    until = time.time() + 3600
    project.spawn("a", _agent("a", f"{until:.3f}"), "--account", "acme")
    project.wait_for_state("a", lambda s: s["status"] == "waiting")
    table = project.run("status").stdout
    assert "limit: acme limited until " in table and "(seen by a: " in table
    records = [json.loads(line) for line in project.run("status", "--json").stdout.splitlines()]
    [limits] = [r["limits"] for r in records if "limits" in r]
    assert [(limit["account"], limit["seen_by"]) for limit in limits] == [("acme", "a")]
    project.run("resume", "--account", "acme")
    assert "limit:" not in project.run("status").stdout
    project.run("wait", "a", "-t", str(TIMEOUT))


def _next_utc_clock(hour, minute, now):
    """The end of the next minute hour:minute UTC (a reset stated to the minute)."""
    from datetime import datetime, timedelta, timezone

    moment = datetime.fromtimestamp(now, timezone.utc).replace(hour=hour, minute=minute, second=0, microsecond=0)
    while moment.timestamp() + 60 < now - 300:
        moment += timedelta(days=1)
    return moment.timestamp() + 60


@pytest.mark.parametrize("agent", ["claude", "codex", "gemini"])
def test_a_real_cli_s_recorded_usage_limit_holds_its_account(project, agent, tmp_path):
    """The CLIs' own output at a usage limit (recorded, tests/fixtures) publishes the limit
    with the reset it states: Claude's rate_limit_event epoch (moved an hour ahead: the
    recording's is past), Codex's "try again at 9:30 AM" to the minute, Gemini's "retry in
    37.68s" from now. A wait is never longer than MAX_RATE_LIMIT_WAIT_SECONDS."""
    from test_mh_spawn_agents import _rewritten

    project.env["TZ"] = "UTC"  # Codex states its reset in local time
    before = time.time()
    limited = (_rewritten(tmp_path, "claude-rate_limit.jsonl", '"resetsAt":1796031000', f'"resetsAt":{before + 3600:.0f}')
               if agent == "claude" else f"{agent}-rate_limit.jsonl")
    project.fake_cli(agent, limited, f"{agent}-success.jsonl")
    assert project.run("spawn", "a", str(project.roadmap("a.md")), "--agent", agent, "--account", "acme",
                       "--detach").returncode == 0
    project.wait_for_state("a", lambda s: s["status"] == "waiting")
    limit = json.loads((project.tree / "limits" / "acme").read_text())
    expected = {"claude": round(before + 3600), "codex": min(_next_utc_clock(9, 30, before), before + MAX_RATE_LIMIT_WAIT_SECONDS), "gemini": before + 37.68}[agent]
    assert limit["seen_by"] == "a" and abs(limit["until"] - expected) < 10, (limit, expected)
    project.spawn("b", _agent("b").replace('while [ ! -e "$MH_ROOT/go" ]; do sleep 0.05; done; ', ""),
                  "--account", "acme")
    state = project.wait_for_state("b", lambda s: s["status"] == "waiting")
    assert "(account acme, seen by a)" in state["waiting_for"] and _starts(project, "b") == []
    assert project.run("resume", "--account", "acme").returncode == 0
    for harness_id in ("a", "b"):
        assert project.run("wait", harness_id, "-t", str(TIMEOUT)).returncode == 0


def test_the_trees_own_directories_are_never_taken_for_harnesses(project):
    """limits/ and budgets/ sit beside the harnesses: no verb may list them as one, and no
    harness may take their names."""
    project.spawn("a", _agent("a", f"{time.time() + 3600:.3f}"), "--account", "acme")
    project.wait_for_state("a", lambda s: s["status"] == "waiting")
    project.run("budget", "set", "team", "--usd", "1")
    ids = [json.loads(line).get("id") for line in project.run("status", "--json").stdout.splitlines()]
    assert [i for i in ids if i] == ["a"]
    for name in ("limits", "budgets", "prices.json"):
        r = project.run("spawn", name, str(project.roadmap()), "--agent-cmd", "true")
        assert r.returncode == 2 and "reserved" in r.stderr
    project.run("resume", "--account", "acme")
    project.run("wait", "a", "-t", str(TIMEOUT))
