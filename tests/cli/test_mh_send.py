"""mh-send: maildir delivery into the next iteration's prompt."""

import json
import subprocess
import sys

from conftest import BIN, TIMEOUT

# Iteration 1 waits until the test releases it; iteration 2 completes.
GATED = ('[ "$MH_ITERATION" = 1 ] && { while [ ! -e "$MH_HARNESS_DIR/go" ]; do sleep 0.05; done; exit 0; }; '
         "echo '<promise>COMPLETE</promise>'")


def _release(project, harness_id):
    (project.tree / harness_id / "go").touch()


def _prompt(project, harness_id, n):
    return (project.tree / harness_id / "iterations" / f"{n:04d}" / "prompt").read_text()


def test_messages_reach_the_next_prompt_exactly_once_in_order(project):
    project.spawn("a", GATED + "; true", "--max-iterations", "3")
    project.wait_for_agent("a")
    for text in ("first: use sqlite", "second: keep the API stable", "third"):
        assert project.run("send", "a", text).returncode == 0
    _release(project, "a")
    assert project.run("wait", "a").returncode == 0
    second = _prompt(project, "a", 2)
    positions = [second.index(t) for t in ("first: use sqlite", "second: keep the API stable", "third")]
    assert positions == sorted(positions)
    assert "From tester@" in second
    assert "use sqlite" not in _prompt(project, "a", 1)
    taken = [e for e in project.events("a") if e["event"] == "message_taken"]
    assert len(taken) == 3 and {e["iteration"] for e in taken} == {2}


def test_a_message_can_come_from_stdin_and_name_its_sender(project):
    project.spawn("a", GATED)
    project.wait_for_agent("a")
    r = project.run("send", "--from", "ci", "a", "-", input="line one\nline two\n")
    assert r.returncode == 0
    _release(project, "a")
    project.run("wait", "a")
    assert "From ci at" in _prompt(project, "a", 2) and "line one\nline two" in _prompt(project, "a", 2)


def test_broadcast_reaches_every_running_harness(project):
    for harness_id in ("a", "b"):
        project.spawn(harness_id, GATED)
        project.wait_for_agent(harness_id)
    assert project.run("send", "--all", "hello", "everyone").returncode == 0
    for harness_id in ("a", "b"):
        _release(project, harness_id)
        assert project.run("wait", harness_id).returncode == 0
        assert "hello everyone" in _prompt(project, harness_id, 2)


def test_an_agent_can_message_another_harness(project):
    project.spawn("b", GATED)
    project.wait_for_agent("b")
    project.spawn("a", "mh-send b 'schema is ready' && echo '<promise>COMPLETE</promise>'")
    assert project.run("wait", "a").returncode == 0
    _release(project, "b")
    project.run("wait", "b")
    assert "From a at" in _prompt(project, "b", 2) and "schema is ready" in _prompt(project, "b", 2)


def test_a_message_over_64_kib_is_refused_naming_the_limit_and_nothing_is_delivered(project):
    project.spawn("a", GATED)
    project.wait_for_agent("a")
    half = "x" * 32 * 1024
    for r in (project.run("send", "a", "-", input="x" * (64 * 1024 + 1)),
              project.run("send", "a", "x" * (64 * 1024 + 1)),
              project.run("send", "a", half, half)):  # joined with a space: one byte over
        assert (r.returncode, r.stdout, r.stderr) == (2, "", "mh-send: error: the message is longer than the limit of 64 KiB\n")
    inbox = project.tree / "a" / "inbox"
    assert not any(list((inbox / d).iterdir()) for d in ("tmp", "new"))
    assert project.run("send", "a", "-", input="x" * 64 * 1024).returncode == 0  # exactly the limit


def test_a_sender_name_over_256_characters_is_refused(project):
    project.spawn("a", GATED)
    project.wait_for_agent("a")
    r = project.run("send", "--from", "n" * 257, "a", "hi")
    assert (r.returncode, r.stderr) == (2, "mh-send: error: the sender's name is longer than the limit of 256 characters\n")
    assert not list((project.tree / "a" / "inbox" / "new").iterdir())


def test_an_empty_message_is_refused(project):
    project.spawn("a", GATED)
    assert project.run("send", "a", " ").returncode == 2


def test_sending_to_an_unknown_or_finished_harness_fails_clearly(project):
    r = project.run("send", "--grace", "0", "nobody", "hi")
    assert (r.returncode, r.stderr) == (7, "mh-send: error: no such harness: nobody\n")
    project.spawn("done", "echo '<promise>COMPLETE</promise>'")
    project.run("wait", "done")
    r = project.run("send", "done", "too late")
    assert r.returncode == 9 and "has ended (completed)" in r.stderr


def test_a_message_addressed_to_an_earlier_instance_is_ignored(project):
    project.spawn("a", GATED)
    project.wait_for_agent("a")
    stale = project.tree / "a" / "inbox" / "new" / "1.0_x.host"
    stale.write_text(json.dumps({"from": "old", "sent": "x", "instance": "an-earlier-one", "body": "stale news"}))
    _release(project, "a")
    assert project.run("wait", "a").returncode == 0
    assert "stale news" not in _prompt(project, "a", 2)
    assert any(e["event"] == "message_ignored" for e in project.events("a"))


def test_a_message_that_is_not_utf8_is_refused_in_one_line(project):
    project.spawn("a", GATED)
    project.wait_for_agent("a")
    r = subprocess.run([sys.executable, str(BIN / "mh-send"), "a", "-"], cwd=project.root, env=project.env,
                       input=b"\xff\xfe broken\n", capture_output=True, timeout=TIMEOUT)
    assert (r.returncode, r.stderr) == (2, b"mh-send: error: the message is not valid UTF-8\n")


def test_messages_sent_while_iterations_run_are_each_delivered_exactly_once(project):
    project.spawn("a", 'sleep 0.05; [ "$MH_ITERATION" -ge 8 ] && echo "<promise>COMPLETE</promise>"; true',
                  "--max-iterations", "8")
    project.wait_for_agent("a")
    sent = [f"message-{i:03d}" for i in range(40)]
    for text in sent:
        if project.run("send", "a", text).returncode != 0:
            break  # the harness ended: later messages are refused, not lost
        delivered = text
    assert project.run("wait", "a").returncode == 0
    prompts = "".join(p.read_text() for p in sorted((project.tree / "a" / "iterations").glob("*/prompt")))
    received = [t for t in sent if t in prompts]
    assert all(prompts.count(t) == 1 for t in received)  # never twice
    assert received == sent[: len(received)]  # in order, none skipped
    waiting = list((project.tree / "a" / "inbox" / "new").iterdir())
    assert len(received) + len(waiting) == sent.index(delivered) + 1  # every accepted one is somewhere


def test_send_right_after_a_background_spawn_waits_for_the_harness_to_appear(project):
    road = project.roadmap("r.md")
    agent = "cat \"$MH_PROMPT_FILE\" > seen; grep -q 'use sqlite' seen && echo '<promise>COMPLETE</promise>'"
    # A Makefile's `a: ; mh-spawn a r.md & mh-send a "use sqlite"`: the send may come first.
    spawn = project.start("spawn", "a", str(road), "-q", "--backoff", "0", "--agent-cmd", agent)
    r = project.run("send", "a", "use sqlite")
    assert (r.returncode, r.stderr) == (0, "")
    assert spawn.wait(TIMEOUT) == 0


def test_send_gives_up_on_a_harness_that_never_appears_after_its_grace(project):
    r = project.run("send", "--grace", "0.1", "ghost", "hi")
    assert (r.returncode, r.stderr) == (7, "mh-send: error: no such harness: ghost\n")
