"""mh-budget: a budget shared by harnesses ends them all once spent, whoever spent it."""

import json

from conftest import TIMEOUT

SPEND = 'echo \'<usage cost_usd="0.30" input_tokens="100" output_tokens="20"/>\''


def _spent_files(project, name):
    return [json.loads(p.read_text()) for p in (project.tree / "budgets" / name / "spent").rglob("*.*") if p.is_file()]


def test_three_harnesses_on_one_budget_all_end_incomplete_within_one_iteration_each_of_the_cap(project):
    assert project.run("budget", "set", "team", "--usd", "1").returncode == 0
    for harness_id in ("a", "b", "c"):
        project.spawn(harness_id, SPEND, "--budget-group", "team", "--max-iterations", "50")
    for harness_id in ("a", "b", "c"):
        assert project.run("wait", harness_id, "-t", str(TIMEOUT)).returncode == 3  # incomplete
        assert "budget team spent" in project.result(harness_id)["reason"]
    spent = sum(project.result(h)["usage"]["cost_usd"] for h in ("a", "b", "c"))
    assert 1.0 <= spent <= 1.0 + 3 * 0.30 + 1e-9  # at most one iteration per harness past the cap
    # The budget's record is exactly what the harnesses say they spent: no update lost.
    assert abs(sum(f["usd"] for f in _spent_files(project, "team")) - spent) < 1e-6
    [listed] = [json.loads(line) for line in project.run("budget", "ls", "--json").stdout.splitlines()]
    assert listed["name"] == "team" and abs(listed["spent_usd"] - spent) < 1e-6


def test_a_harness_of_a_spent_budget_does_not_start_an_iteration(project):
    project.run("budget", "set", "tiny", "--tokens", "100")
    project.spawn("first", SPEND, "--budget-group", "tiny")
    assert project.run("wait", "first").returncode == 3
    r = project.run("spawn", "later", str(project.roadmap("later.md")), "--agent-cmd", SPEND,
                    "--budget-group", "tiny")
    assert r.returncode == 3
    assert project.result("later")["iterations"] == 0 and "budget tiny spent" in project.result("later")["reason"]


def test_a_budget_group_that_does_not_exist_ends_the_harness_at_once(project):
    r = project.run("spawn", "x", str(project.roadmap()), "--agent-cmd", SPEND, "--budget-group", "nope")
    assert r.returncode == 3 and "budget nope does not exist" in project.result("x")["reason"]


def test_set_ls_rm_and_bad_input(project):
    assert project.run("budget", "set", "t", "--usd", "20", "--tokens", "5M", "--daily").returncode == 0
    assert project.run("budget", "ls").stdout == "t\t$0.0000 of $20, 0 of 5000000 tokens today\n"
    for bad in (["set", "t"], ["set", "../x", "--usd", "1"], ["set", "t", "--usd", "-1"],
                ["set", "t", "--tokens", "5X"], ["set", "t", "--tokens", "0"]):
        r = project.run("budget", *bad)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (bad, r.stderr)
    assert project.run("budget", "rm", "t").returncode == 0
    r = project.run("budget", "rm", "t")
    assert r.returncode == 7 and r.stderr.count("\n") == 1
    assert project.run("budget", "ls").stdout == ""


def test_a_pool_stops_claiming_once_its_budget_is_spent_and_leaves_the_rest_pending(project):
    project.run("budget", "set", "small", "--usd", "0.5")
    project.run("queue", "add", *[str(project.roadmap(f"r{i}.md", tasks=1)) for i in range(5)])
    done_after_spending = SPEND + "; echo '<promise>COMPLETE</promise>'"
    r = project.run("pool", "-n", "1", "--exit-when-empty", "-q", "--budget-group", "small",
                    "--agent-cmd", done_after_spending)
    assert r.returncode == 3 and "stopped claiming: budget small spent" in r.stderr
    states = [json.loads(line)["state"] for line in project.run("queue", "ls", "--json").stdout.splitlines()]
    assert states.count("done") == 2 and states.count("pending") == 3  # $0.30 + $0.30 reached $0.50


def test_mh_status_shows_the_budgets(project):
    project.run("budget", "set", "team", "--usd", "1")
    project.spawn("a", SPEND + "; echo '<promise>COMPLETE</promise>'", "--budget-group", "team")
    assert project.run("wait", "a").returncode == 0
    assert "budget: team $0.3000 of $1" in project.run("status").stdout
    records = [json.loads(line) for line in project.run("status", "--json").stdout.splitlines()]
    [budgets] = [r["budgets"] for r in records if "budgets" in r]
    assert budgets[0]["name"] == "team" and budgets[0]["spent_usd"] == 0.3


def test_a_pool_s_total_budget_is_a_budget_of_its_own_for_all_its_harnesses(project):
    project.run("queue", "add", *[str(project.roadmap(f"r{i}.md", tasks=1)) for i in range(4)])
    r = project.run("pool", "-n", "2", "--exit-when-empty", "-q", "--total-budget-usd", "0.5",
                    "--agent-cmd", SPEND + "; echo '<promise>COMPLETE</promise>'")
    assert r.returncode == 3 and "stopped claiming: budget pool-" in r.stderr, r.stderr
    [budget] = [json.loads(line) for line in project.run("budget", "ls", "--json").stdout.splitlines()]
    assert budget["name"].startswith("pool-") and budget["usd"] == 0.5
    assert 0.5 <= budget["spent_usd"] <= 0.5 + 2 * 0.30 + 1e-9  # at most one iteration per worker past it


def test_claude_is_told_the_least_left_of_its_own_and_its_groups_budgets(project):
    from test_mh_spawn_agents import _calls

    project.run("budget", "set", "team", "--usd", "1")
    project.run("budget", "set", "wide", "--usd", "100")
    project.spawn("spender", SPEND, "--budget-group", "team", "--max-iterations", "1")  # spends $0.30 of team's $1
    assert project.run("wait", "spender", "-t", str(TIMEOUT)).returncode == 3
    log = project.fake_cli("claude", "claude-success.jsonl")
    r = project.run("spawn", "a", str(project.roadmap("a.md")), "--agent", "claude", "--budget-usd", "5",
                    "--budget-group", "team", "--budget-group", "wide")
    assert r.returncode == 0, r.stderr
    argv = _calls(log)[0]["argv"]
    assert argv[argv.index("--max-budget-usd") + 1] == "0.7000"  # team's $1 less the $0.30 spent


def test_many_supervisors_spending_at_once_lose_no_update(project):
    """Eight harnesses spend a cent per iteration for twenty iterations each, all at once:
    the budget's ledger sums to exactly what the harnesses say they spent."""
    project.run("budget", "set", "shared", "--usd", "1000")
    spend = 'echo \'<usage cost_usd="0.01" input_tokens="3" output_tokens="2"/>\''
    ids = [f"h{n}" for n in range(8)]
    for harness_id in ids:
        project.spawn(harness_id, spend, "--budget-group", "shared", "--max-iterations", "20", "--loop-after", "50")
    for harness_id in ids:
        assert project.run("wait", harness_id, "-t", str(TIMEOUT)).returncode == 3  # ran out of iterations
    usage = [project.result(h)["usage"] for h in ids]
    assert [u["cost_usd"] for u in usage] == [0.2] * 8
    [listed] = [json.loads(line) for line in project.run("budget", "ls", "--json").stdout.splitlines()]
    assert abs(listed["spent_usd"] - 1.6) < 1e-6 and listed["spent_tokens"] == 8 * 20 * 5


def test_codex_and_gemini_costs_are_estimated_from_token_prices_and_marked_so(project):
    project.fake_cli("gemini", "gemini-success.jsonl")  # gemini-2.5-pro: 2500 tokens in, 60 out
    assert project.run("spawn", "g", str(project.roadmap("g.md")), "--agent", "gemini").returncode == 0
    usage = project.result("g")["usage"]
    assert usage["cost_usd"] == usage["estimated_cost_usd"] == round((2500 * 1.25 + 60 * 10.0) / 1e6, 6)
    row = next(line for line in project.run("status").stdout.splitlines() if line.startswith("g "))
    assert "~$0.0037" in row
    assert "(~: estimated from token prices)" in project.run("status").stdout


def test_a_price_file_in_the_tree_prices_a_model_the_table_does_not_know(project):
    project.fake_cli("codex", "codex-success.jsonl")  # 2500 tokens in, 60 out; Codex never names its model
    assert project.run("spawn", "unknown", str(project.roadmap("u.md")), "--agent", "codex",
                       "--model", "gpt-9").returncode == 0
    assert project.result("unknown")["usage"]["cost_usd"] == 0
    [event] = [e for e in project.events("unknown") if e["event"] == "cost_unknown"]
    assert event["models"] == ["gpt-9"]
    (project.tree / "prices.json").write_text(json.dumps({"models": {"gpt-9": {"input": 100, "output": 1000}}}))
    assert project.run("spawn", "known", str(project.roadmap("k.md")), "--agent", "codex",
                       "--model", "gpt-9").returncode == 0
    assert project.result("known")["usage"]["estimated_cost_usd"] == round((2500 * 100 + 60 * 1000) / 1e6, 6)


def test_an_estimated_cost_counts_toward_a_shared_budget(project):
    project.run("budget", "set", "team", "--usd", "0.001")
    project.fake_cli("codex", "codex-tool_error.jsonl")  # never completes; priced as gpt-5
    r = project.run("spawn", "a", str(project.roadmap()), "--agent", "codex", "--model", "gpt-5",
                    "--budget-group", "team", "--max-iterations", "10")
    assert r.returncode == 3 and "budget team spent" in project.result("a")["reason"]
    assert project.result("a")["iterations"] < 10
