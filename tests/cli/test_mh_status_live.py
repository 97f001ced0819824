"""mh-status on a real terminal: the table fitted to its width, and the live dashboard of
--watch in tmux (CI installs tmux; elsewhere the tmux test skips). Also --prometheus,
checked by a parser of the exposition format here and by promtool where it is installed
(CI installs Debian's prometheus for it)."""

import fcntl
import json
import os
import pty
import re
import shlex
import shutil
import struct
import subprocess
import sys
import termios
import time

import pytest

from conftest import BIN, TIMEOUT

COMPLETE = "echo '<promise>COMPLETE</promise>'"
TMUX = shutil.which("tmux")
PROMTOOL = shutil.which("promtool")


def _on_a_terminal(project, *args, columns=80):
    """Run mh-status with a pseudo-terminal of `columns` columns as its stdout."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen([sys.executable, str(BIN / "mh-status"), *args], cwd=project.root, env=project.env,
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other end is closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(TIMEOUT) == 0, proc.stderr.read()
    return out.decode().replace("\r\n", "\n")


def _long_running_harnesses(project):
    long_task = "wire the new billing service into the checkout flow and the nightly invoices"
    for harness_id in ("api", "ui", "docs"):
        road = project.root / f"{harness_id}.md"
        road.write_text(f"- [ ] {long_task} ({harness_id})\n- [ ] second\n")
        project.spawn(harness_id, COMPLETE, roadmap=str(road))
    for harness_id in ("api", "ui", "docs"):
        project.run("wait", harness_id, "-t", str(TIMEOUT))


def test_on_a_narrow_terminal_every_row_fits_and_empty_columns_go(project):
    _long_running_harnesses(project)
    shown = _on_a_terminal(project, columns=80)
    lines = shown.splitlines()
    assert all(len(line) <= 80 for line in lines), shown
    header = lines[0].split()
    assert header[:2] == ["ID", "STATUS"] and "PID" not in header and "TURNS" not in header  # nothing to show
    assert [line.split()[0] for line in lines[1:4]] == ["api", "docs", "ui"]
    assert "..." in lines[1]  # the task column gave way
    wide = _on_a_terminal(project, "--wide", columns=80)
    assert wide.splitlines()[0].split()[:3] == ["ID", "STATUS", "ITER"] and "PID" in wide.splitlines()[0]
    piped = project.run("status").stdout  # not a terminal: every column, as scripts expect
    assert piped.splitlines()[0].split() == ["ID", "STATUS", "ITER", "PROGRESS", "TASK", "AGE", "BEAT", "PID",
                                             "TURNS", "TOKENS", "COST", "LAST", "TOOL", "ALERTS"]


class _Tmux:
    """A tmux server of the test's own (-L), with one 80x30 window running a command."""

    def __init__(self, command):
        self.socket = f"mh-test-{os.getpid()}"
        self("new-session", "-d", "-s", "main", "-x", "80", "-y", "30", command)

    def __call__(self, *args):
        return subprocess.run([TMUX, "-L", self.socket, *args], capture_output=True, text=True,
                              env={**os.environ, "TMUX": ""}, timeout=TIMEOUT)

    def until(self, predicate):
        """The pane's text once `predicate` holds of it (a terminal has no events to wait
        on: asked every 50 ms, for up to TIMEOUT)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            text = self("capture-pane", "-p", "-t", "main").stdout
            if predicate(text):
                return text
            assert time.monotonic() < deadline, f"the pane never showed what was expected:\n{text}"
            time.sleep(0.05)

    def close(self):
        self("kill-server")


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (Debian package tmux)")
def test_the_live_dashboard_in_an_80_column_terminal(project):
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in project.env.items())
    watch = f"cd {shlex.quote(str(project.root))} && env {env} {sys.executable} {BIN / 'mh-status'} --watch"
    tmux = _Tmux(f"{watch}; echo EXITED $?; sleep 600")
    try:
        tmux.until(lambda t: "waiting for" in t)  # the tree does not exist yet: it says so
        project.spawn("api", f'while [ ! -e "$MH_ROOT/go" ]; do sleep 0.05; done; {COMPLETE}',
                      roadmap=str(_road(project, "api")))
        project.spawn("broken", "exit 1", "--max-failures", "1", roadmap=str(_road(project, "broken")))
        shown = tmux.until(lambda t: re.search(r"^api +running", t, re.M) and "broken: failed" in t)
        assert "tasks [" in shown and "harnesses: 1 failed, 1 running" in shown and "alerts:" in shown
        assert all(len(line) <= 80 for line in shown.splitlines())
        rows = [line for line in shown.splitlines() if line.startswith(("api ", "broken "))]
        assert len(rows) == 2  # each harness on one line, not wrapped
        (project.root / "go").touch()
        shown = tmux.until(lambda t: "harnesses: 1 completed, 1 failed" in t)
        assert re.search(r"^api +completed", shown, re.M) and "tasks [" in shown
        tmux("send-keys", "-t", "main", "q")
        tmux.until(lambda t: "EXITED 0" in t)
    finally:
        tmux.close()


def _road(project, harness_id):
    road = project.root / f"{harness_id}.md"
    road.write_text(f"- [ ] the {harness_id} work\n- [ ] and then the rest\n")
    return road


# -- Prometheus --------------------------------------------------------------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
                     r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$')


def _parse(text):
    """The exposition format, strictly: HELP then TYPE before a family's samples, names
    legal, counters ending in _total, no family twice. Returns {name: [(labels, value)]}."""
    families, current, seen = {}, None, set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in seen, f"{name} twice"
            seen.add(name)
            current = name
            families[name] = []
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert name == current and kind in ("gauge", "counter")
            assert name.endswith("_total") == (kind == "counter"), name
        else:
            m = _SAMPLE.match(line)
            assert m and m.group(1) == current, f"not a sample of {current}: {line!r}"
            labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
            families[current].append((labels, float(m.group(4))))
    assert text.endswith("\n")
    return families


def test_prometheus_metrics_say_what_the_tree_says(project):
    spend = 'echo \'<usage cost_usd="0.25" input_tokens="100" output_tokens="7"/>\'; ' + COMPLETE
    project.spawn("a", spend)
    project.spawn("b", "exit 1", "--max-failures", "2")
    for harness_id in ("a", "b"):
        project.run("wait", harness_id, "-t", str(TIMEOUT))
    project.run("budget", "set", "team", "--usd", "5")
    project.run("queue", "add", str(project.roadmap("q.md")))
    text = project.run("status", "--prometheus").stdout
    families = _parse(text)
    harnesses = {labels["status"]: value for labels, value in families["mh_harnesses"]}
    assert harnesses["completed"] == 1 and harnesses["failed"] == 1 and harnesses["running"] == 0
    assert ({"harness": "b"}, 2.0) in families["mh_iterations_total"]
    assert ({"harness": "a"}, 0.25) in families["mh_cost_usd_total"]
    assert ({"harness": "a", "direction": "output"}, 7.0) in families["mh_tokens_total"]
    assert ({"state": "pending"}, 1.0) in families["mh_queue_items"]
    assert ({"budget": "team"}, 5.0) in families["mh_budget_usd"]
    assert json.loads(project.run("status", "--json").stdout.splitlines()[0])["id"] == "a"


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian package prometheus)")
def test_promtool_accepts_the_metrics(project):
    project.spawn("a", COMPLETE)
    project.spawn("weird", COMPLETE)
    for harness_id in ("a", "weird"):
        project.run("wait", harness_id, "-t", str(TIMEOUT))
    text = project.run("status", "--prometheus").stdout
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
