"""Stall detection and its escalation, the loop detector, agents killed under the
supervisor, and hooks (mh-spawn --stall-after/--on-stall/--loop-after/--on-loop)."""

import json
import os
import signal

import pytest

from conftest import wait_for

from metaharness.tree import parse_iso

SILENT = "echo working; exec sleep 1000"


def _of(project, kind):
    return [e for e in project.events("a") if e["event"] == kind]


def test_a_silent_agent_is_nudged_then_restarted_then_stopped_each_step_an_event(project):
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", SILENT, "--stall-after", "0.5",
                    "--on-stall", "nudge,restart,stop", "--backoff", "0", "--grace", "1", "--max-failures", "9")
    assert r.returncode == 1
    result = project.result("a")
    assert result["status"] == "failed" and result["reason"].startswith("stalled: no output for")
    stalls = _of(project, "stalled")
    assert [s["action"] for s in stalls] == ["nudge", "restart", "stop"]
    started = {e["iteration"]: parse_iso(e["t"]) for e in _of(project, "iteration_started")}
    for stall in stalls:
        assert stall["silent_s"] >= 0.5
        assert parse_iso(stall["t"]) - started[stall["iteration"]] < 0.5 + 1  # reported within stall-after + 1s
    second_prompt = (project.tree / "a" / "iterations" / "0002" / "prompt").read_text()
    assert "From metaharness supervisor" in second_prompt and "went silent" in second_prompt


def test_a_stall_policy_of_none_only_reports(project):
    script = 'echo one; sleep 1; echo "<promise>COMPLETE</promise>"'
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", script, "--stall-after", "0.3",
                    "--on-stall", "none")
    assert r.returncode == 0
    assert {s["action"] for s in _of(project, "stalled")} == {"none"}


def test_silence_after_the_final_result_is_not_a_stall(project):
    project.fake_cli("claude", "claude-success.jsonl")
    project.env["FAKE_LINGER"] = "1000"
    r = project.run("spawn", "a", str(project.roadmap()), "--agent", "claude", "--stall-after", "0.2",
                    "--result-grace", "0.5", "--grace", "1")
    assert r.returncode == 0 and project.result("a")["status"] == "completed"
    assert _of(project, "stalled") == []


def test_the_same_failure_again_and_again_is_cut_off_as_a_loop(project):
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", "echo 'cannot import foo' >&2; exit 2",
                    "--loop-after", "3", "--on-loop", "stop", "--max-failures", "50", "--backoff", "0")
    assert r.returncode == 1
    assert project.result("a")["reason"].startswith("looping: the same failure 3 times in a row")
    assert project.result("a")["iterations"] == 3


def test_iterations_without_progress_are_nudged_then_stopped(project):
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", "echo thinking", "--loop-after", "2",
                    "--on-loop", "nudge,stop")
    assert r.returncode == 1
    assert [e["action"] for e in _of(project, "looping")] == ["nudge", "stop"]
    assert project.result("a")["iterations"] == 4
    assert "going in circles" in (project.tree / "a" / "iterations" / "0003" / "prompt").read_text()


def test_an_agent_killed_with_signal_9_is_a_failed_iteration_and_the_loop_goes_on(project):
    script = ('[ "$MH_ITERATION" = 1 ] && exec sleep 1000; echo "<promise>COMPLETE</promise>"')
    project.spawn("a", script)
    agent = project.wait_for_agent("a")
    os.kill(agent, signal.SIGKILL)
    assert project.run("wait", "a").returncode == 0
    meta = json.loads((project.tree / "a" / "iterations" / "0001" / "meta.json").read_text())
    assert meta["failed"] and meta["signal"] == signal.SIGKILL and "killed by SIGKILL" in meta["summary"]


def _hook(project, name, body):
    hooks = project.tree / "hooks"
    hooks.mkdir(parents=True, exist_ok=True)
    path = hooks / f"on-{name}"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def test_hooks_run_with_the_event_in_their_environment(project):
    project.tree.mkdir()
    _hook(project, "complete", 'env | grep ^MH_ | sort > "$MH_HARNESS_DIR/../hook-env"')
    _hook(project, "end", 'exit 3')
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", "echo '<promise>COMPLETE</promise>'")
    assert r.returncode == 0
    env = dict(line.split("=", 1) for line in (project.tree / "hook-env").read_text().splitlines())
    assert env["MH_ID"] == "a" and env["MH_EVENT"] == "complete"
    assert env["MH_REASON"] == "the agent printed the completion marker" and env["MH_HARNESS_DIR"] == str(project.tree / "a")
    assert [(e["hook"], e["reason"]) for e in _of(project, "hook_failed")] == [("on-end", "exit 3")]


def test_a_hook_that_hangs_never_stalls_the_supervisor(project):
    project.tree.mkdir()
    _hook(project, "start", "exec sleep 1000")
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", "echo '<promise>COMPLETE</promise>'",
                    "--hook-timeout", "0.5")
    assert r.returncode == 0
    assert [(e["hook"], e["reason"]) for e in _of(project, "hook_failed")] == [("on-start", "killed after 0.5s")]
    ended = next(e for e in project.events("a") if e["event"] == "ended")
    iteration = next(e for e in project.events("a") if e["event"] == "iteration_started")
    assert parse_iso(iteration["t"]) <= parse_iso(ended["t"])  # the loop ran while the hook hung


def test_the_loop_goes_on_to_its_result_while_a_hook_is_still_running(project):
    """A hook runs beside the loop: held open by a FIFO, it must not hold the iteration back."""
    project.tree.mkdir()
    release = project.root / "release"
    os.mkfifo(release)
    # On Linux a FIFO opened read-write opens at once: the hook's read blocks until the
    # line is written, however early or late the hook (started from a thread) opens it.
    writer = os.open(release, os.O_RDWR)
    try:
        _hook(project, "start", f'read line < "{release}"; echo "$line" > "$MH_HARNESS_DIR/../hook-done"')
        project.spawn("a", "echo '<promise>COMPLETE</promise>'", "--hook-timeout", "60")
        try:
            assert wait_for(lambda: (project.tree / "a" / "result.json").exists(), project.tree / "a")
            assert not (project.tree / "hook-done").exists()  # the hook is still blocked on the FIFO
            assert project.result("a")["status"] == "completed"
        finally:
            os.write(writer, b"released\n")  # release the hook, even when an assertion failed
        done = project.tree / "hook-done"
        assert wait_for(lambda: done.exists() and done.read_text() == "released\n", project.tree)
    finally:
        os.close(writer)
    assert project.run("wait", "a").returncode == 0
    assert _of(project, "hook_failed") == []


def test_an_agent_killed_by_a_real_time_signal_is_a_failed_iteration_too(project):
    """Such a signal has no name to report: the summary gives its number."""
    rt = signal.SIGRTMIN + 6
    script = f'[ "$MH_ITERATION" = 1 ] && kill -{rt} $$; echo "<promise>COMPLETE</promise>"'
    r = project.run("spawn", "a", str(project.roadmap()), "--agent-cmd", script, "--backoff", "0")
    assert r.returncode == 0, r.stderr
    meta = json.loads((project.tree / "a" / "iterations" / "0001" / "meta.json").read_text())
    assert meta["failed"] and meta["signal"] == rt and f"killed by signal {rt}" in meta["summary"]


# A structured agent that never stops printing and never gets anywhere: the first line of a
# real session, then partial output forever (Claude's --include-partial-messages tokens,
# Gemini's reply chunks).
DRIPS = {
    "claude": ('{"type":"system","subtype":"init","session_id":"s1","model":"m","tools":[]}',
               '{"type":"stream_event","event":{"type":"content_block_delta","index":0,'
               '"delta":{"type":"text_delta","text":"and "}},"session_id":"s1","parent_tool_use_id":null}'),
    "gemini": ('{"type":"init","timestamp":"2026-11-30T08:30:04.472Z","session_id":"s1","model":"gemini-2.5-pro"}',
               '{"type":"message","timestamp":"2026-11-30T08:30:05.000Z","role":"assistant","content":"and ","delta":true}'),
}


@pytest.mark.parametrize("agent", sorted(DRIPS))
def test_an_endless_drip_without_progress_is_a_stall_and_floods_no_events(project, agent):
    first, drip = DRIPS[agent]
    bin_dir = project.root / "fake-bin"
    bin_dir.mkdir()
    cli = bin_dir / agent
    cli.write_text(f"#!/bin/sh\ncat > /dev/null\necho '{first}'\nwhile true; do echo '{drip}'; sleep 0.02; done\n")
    cli.chmod(0o755)
    project.env["PATH"] = f"{bin_dir}:{project.env['PATH']}"
    r = project.run("spawn", "a", str(project.roadmap()), "--agent", agent, "--stall-after", "1",
                    "--on-stall", "stop", "--grace", "1")
    assert r.returncode == 1 and project.result("a")["reason"].startswith("stalled: no output for"), \
        project.result("a")
    kinds = [e["event"] for e in project.events("a")]
    assert "unknown" not in kinds and kinds.count("stalled") == 1
    assert project.state("a").get("stalled_since") is None  # over when the iteration is


def test_the_stall_flag_is_down_while_the_harness_waits_to_retry(project):
    project.spawn("a", SILENT, "--stall-after", "0.3", "--on-stall", "restart", "--backoff", "600", "--grace", "1")
    state = project.wait_for_state("a", lambda s: s["status"] == "waiting")
    assert state.get("stalled_since") is None and "STALLED" not in project.run("status").stdout
    project.run("stop", "a")
