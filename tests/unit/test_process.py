import signal
import sys
import threading
import time

from conftest import process_exists

from metaharness.agents import Invocation
from metaharness.process import AgentProcess


def _run(tmp_path, script, stdin=None, first_line=None):
    lines, exited = [], threading.Event()

    def on_line(line):
        lines.append(line)
        if first_line:
            first_line.set()

    agent = AgentProcess(Invocation(["/bin/sh", "-c", script], stdin), cwd=tmp_path, env={"PATH": "/usr/bin:/bin"},
                         stderr_path=tmp_path / "stderr", on_line=on_line, on_exit=exited.set)
    return agent, lines, exited


def test_output_and_exit_code_are_collected(tmp_path):
    agent, lines, exited = _run(tmp_path, "cat; echo err >&2; exit 3", stdin=b"hello\n")
    assert exited.wait(30)
    info = agent.finish(grace=5)
    assert (info.code, info.signal, info.ok) == (3, None, False)
    assert lines == [b"hello\n"]
    assert (tmp_path / "stderr").read_bytes() == b"err\n"


def test_what_an_agent_leaves_behind_in_its_group_is_ended(tmp_path):
    agent, lines, exited = _run(tmp_path, "sleep 1000 & echo $!")
    assert exited.wait(30)
    agent.finish(grace=5)
    leftover = int(lines[0])
    assert not process_exists(leftover)


def test_an_agent_ignoring_term_is_killed_after_the_grace(tmp_path):
    ready = threading.Event()
    agent, _, _ = _run(tmp_path, "trap '' TERM; echo ready; while :; do sleep 1; done", first_line=ready)
    assert ready.wait(30)  # the trap is set once it speaks
    started = time.monotonic()
    agent.terminate(grace=0.5)
    info = agent.finish(grace=0.5)
    assert info.signal == signal.SIGKILL
    assert time.monotonic() - started < 30


def test_an_agent_starts_in_its_directory_and_session_with_only_stdio_and_default_sigpipe(tmp_path):
    """posix_spawn passes every inheritable descriptor on unless told not to: one the
    user's shell or make handed the supervisor must not reach the agent."""
    import os

    inherited_r, inherited_w = os.pipe()
    os.set_inheritable(inherited_w, True)
    try:
        # Which descriptors the agent has above stderr, probed with stat (which opens none) by a
        # child with no redirections: a pipeline or $(...) would show the shell's own pipes.
        probe = "import os; print(*[fd for fd in range(3, 1024) if os.path.exists(f'/proc/self/fd/{fd}')])"
        agent, lines, exited = _run(tmp_path, f"pwd; {sys.executable} -c \"{probe}\"; "
                                              "ps -o sid= -p $$; grep SigIgn /proc/$$/status")
        assert exited.wait(30)
        info = agent.finish(grace=5)
    finally:
        os.close(inherited_r)
        os.close(inherited_w)
    assert info.ok, (tmp_path / "stderr").read_text()
    cwd, fds, session, ignored = (line.decode().strip() for line in lines)
    assert cwd == str(tmp_path)
    assert fds == ""  # none: stdin, stdout and stderr only
    assert int(session) == agent.pid  # the leader of a session of its own
    assert not int(ignored.split()[1], 16) & (1 << (signal.SIGPIPE - 1))  # Python ignores SIGPIPE; agents must not
