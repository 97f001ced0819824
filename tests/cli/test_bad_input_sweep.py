"""Bad input never crashes a verb. Every verb runs over a tree of malformed files (each
harness broken in one way) and with malformed arguments; whatever it answers, stderr holds
only `mh-VERB: ...` lines, never a traceback, and the exit status is never 70.

The malformed harnesses, about a hundred, live in one tree (the zoo), built once and
shared by the commands that only read; a verb that changes the tree gets a copy. Each way
of breaking the tree as a whole has a small project of its own. The commands of one test
run side by side, to keep the sweep fast.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import pytest

from conftest import BIN, TIMEOUT, Project
from test_docs import VERBS

from metaharness.liveness import this_host
from metaharness.process import reap_strays

COMPLETE = "echo '<promise>COMPLETE</promise>'"
T = "2026-01-31T12:00:00.000Z"
PARALLEL = 3

# -- the tree of malformed harnesses ---------------------------------------------------------

USAGE = {"turns": 1, "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.01, "tool_calls": 1}


def _spec(hid: str, root: Path) -> dict[str, Any]:
    return {"format": 1, "id": hid, "instance": f"{hid}-1", "created": T, "roadmap": str(root / "r.md"), "run": None,
            "after": [], "agent": "cmd", "agent_cmd": "true", "workdir": str(root), "worktree": None, "model": None,
            "agent_args": [], "resume_session": False, "budget_usd": None, "rate_limit_backoff": 60.0,
            "stall_after": 300.0, "on_stall": ["nudge", "restart", "stop"], "loop_after": 5, "on_loop": ["nudge", "stop"],
            "result_grace": 5.0, "hook_timeout": 30.0, "max_iterations": 3, "max_failures": 5, "timeout": None,
            "backoff": 2.0, "grace": 1.0, "heartbeat_interval": 5.0, "prompt_template": None}


def _state(hid: str) -> dict[str, Any]:
    """A running harness whose supervisor is gone: readers derive `dead` from its free lock."""
    return {"id": hid, "instance": f"{hid}-1", "status": "running", "pid": 4_000_000, "pid_start": 1,
            "host": this_host(), "started": T, "updated": T, "iteration": 1, "progress": {"done": 0, "total": 2},
            "task": "task 1", "heartbeat_interval": 5.0, "agent_pid": None, "usage": dict(USAGE), "last_tool": "Bash ls",
            "stalled_since": T, "looping": None, "worktree": None}


def _result(hid: str) -> dict[str, Any]:
    return {"id": hid, "instance": f"{hid}-1", "status": "completed", "exit_code": 0, "reason": "done",
            "iterations": 1, "progress": {"done": 2, "total": 2}, "started": T, "ended": T, "usage": dict(USAGE),
            "duration_s": 1.5}


def _harness(tree: Path, hid: str, ended: bool) -> Path:
    d = tree / hid
    for sub in ("iterations/0001", "inbox/tmp", "inbox/new", "inbox/cur", "control"):
        (d / sub).mkdir(parents=True)
    (d / "spec.json").write_text(json.dumps(_spec(hid, tree.parent)))
    state = _state(hid)
    if ended:
        state.update(status="completed", stalled_since=None)
        (d / "result.json").write_text(json.dumps(_result(hid)))
    (d / "state.json").write_text(json.dumps(state))
    for name in ("heartbeat", "lock"):
        (d / name).touch()
    (d / "events.jsonl").write_text(f'{{"t": "{T}", "event": "started"}}\n{{"t": "{T}", "event": "iteration_started", "iteration": 1}}\n')
    (d / "log").write_text("--- 12:00:00 iteration 1\nhello\n")
    (d / "iterations/0001/transcript").write_text("hello\n")
    (d / "iterations/0001/output").write_text("hello\n")
    return d


def _set(path: Path, dotted: str, value: Any) -> None:
    """Set field `dotted` (a.b for nested) of the JSON object in `path`; the value is raw JSON text."""
    record = json.loads(path.read_text())
    *parents, last = dotted.split(".")
    where = record
    for key in parents:
        where = where[key]
    where[last] = "@@RAW@@"
    path.write_text(json.dumps(record).replace('"@@RAW@@"', value))


def _replace(path: Path, how: str) -> None:
    """Make the file at `path` malformed in the way `how` names."""
    original = b""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        original = path.read_bytes()
        path.unlink()
    if how == "dir":
        path.mkdir()
    elif how == "loop":
        path.symlink_to(path.name)
    else:
        path.write_bytes({"truncated": original[: len(original) // 2], "garbage": b"\xff\xfe\x00 not json\n",
                          "list": b"[1, 2]\n", "empty": b"", "deep": b"[" * 100_000, "number": b"1e999"}[how])


# Each malformed harness: (its id, whether it had ended, what to do to it). Ids are valid.
FILE_KINDS = ("truncated", "garbage", "list", "empty", "dir", "loop", "deep", "number")
WRONG_STATE = {  # on a dead harness, so that its state.json is what readers go by
    "usage": '"abc"', "usage.turns": '"x"', "usage.cost_usd": "NaN", "progress": '"abc"', "progress.done": '"x"',
    "progress.total": "-1", "worktree": '{"branch": "mh/x"}', "iteration": '"x"', "started": "5",
    "stalled_since": "5", "heartbeat_interval": '"x"', "pid": '"abc"', "pid_start": '"x"', "agent_pid": '"abc"',
    "status": '"bogus"', "host": "5", "instance": "5", "task": "5", "last_tool": '["x"]', "looping": "5",
}
WRONG_STATE_EXTRA = {  # values of the right kind that are still impossible
    "agent-pid-huge": ("agent_pid", "1e308"), "agent-pid-negative": ("agent_pid", "-1"),
    "agent-pid-bool": ("agent_pid", "true"), "agent-pid-bignum": ("agent_pid", "1" + "0" * 30),
    "heartbeat-huge": ("heartbeat_interval", "1e308"), "status-dead": ("status", '"dead"'),
    "status-number": ("status", "5"), "worktree-text": ("worktree", '"x"'),
    "worktree-path-nul": ("worktree", '{"path": "a\\u0000b", "base": "HEAD"}'),
    "iteration-negative": ("iteration", "-1"), "waiting": ("waiting_for", "5"),
}
WRONG_RESULT = {
    "status": '"running"', "exit_code": '"x"', "usage": '"abc"', "usage.turns": '"x"', "progress.done": '"x"',
    "reason": "5", "instance": "5", "worktree": '"x"', "iterations": '"x"',
}
WRONG_RESULT_EXTRA = {
    "exit-code-huge": ("exit_code", "1e308"), "exit-code-negative": ("exit_code", "-1"),
    "exit-code-bignum": ("exit_code", "1" + "0" * 30), "result-status-bogus": ("status", '"bogus"'),
    "result-status-corrupt": ("status", '"corrupt"'),
}
WRONG_SPEC = {
    "grace": '"x"', "heartbeat_interval": '"x"', "created": "5", "worktree": '"x"', "after": '"x"',
    "max_iterations": '"x"', "instance": "5", "on_stall": '"x"', "budget_usd": '"x"',
}
WRONG_SPEC_EXTRA = {"spec-grace-huge": ("grace", "1e308"), "spec-grace-negative": ("grace", "-1"),
                    "spec-after-numbers": ("after", "[5]"), "spec-worktree-base": ("worktree", '{"base": 5}')}
OTHER_FILES = {  # file -> how it is broken, on a dead harness (so a follower finds it ended)
    "events.jsonl": ("dir", "loop"), "log": ("dir", "loop", "garbage"), "heartbeat": ("dir", "loop"),
    "lock": ("dir", "loop"), "iterations": ("empty",), "iterations/0001/transcript": ("dir",),
    "inbox": ("empty",), "control": ("empty",),
}
BAD_EVENT_LINES = [
    b"not json", b"[1, 2]", b"5", b'"x"', b"null", b'{"event": [1]}', b'{"event": 5}', b'{"t": 5, "event": "stalled"}',
    b'{"event": "ended", "status": 5}', b'{"event": "ended", "status": [1]}', b'{"event": "stalled", "silent_s": {}}',
    b'{"t": "' + T.encode() + b'", "event": "hook_failed", "reason": "a\\u0000b", "iteration": "x\\u0000"}',
    b"[" * 100_000, b"\xff\xfe\x00", b'{"event": "looping", "iteration": 1e308}',
]


def _slug(text: str) -> str:
    return text.replace("_", "-").replace(".", "-")


def build_zoo(root: Path) -> list[str]:
    """A tree of harnesses each broken in one way, plus one good one; return their ids."""
    tree = root / ".harness"
    for sub in (".tmp", ".archive"):
        (tree / sub).mkdir(parents=True)
    (tree / "FORMAT").write_text("1\n")
    (root / "r.md").write_text("# Roadmap\n\n- [ ] task 1\n")
    ids = []

    def make(hid: str, ended: bool) -> Path:
        ids.append(hid)
        return _harness(tree, hid, ended)

    make("good", ended=True)
    make("zdead", ended=False)
    for name, ended in (("state", False), ("result", True), ("spec", True)):
        for how in FILE_KINDS:
            _replace(make(f"{name}-{how}", ended) / f"{name}.json", how)
    for prefix, table, extra, name, ended in (("state", WRONG_STATE, WRONG_STATE_EXTRA, "state.json", False),
                                              ("result", WRONG_RESULT, WRONG_RESULT_EXTRA, "result.json", True),
                                              ("spec", WRONG_SPEC, WRONG_SPEC_EXTRA, "spec.json", True)):
        cases = {f"{prefix}-field-{_slug(f)}": (f, v) for f, v in table.items()} | extra
        for hid, (field, value) in cases.items():
            _set(make(hid, ended) / name, field, value)
    _set(make("spec-dead-grace", ended=False) / "spec.json", "grace", '"x"')
    _set(make("spec-dead-grace-huge", ended=False) / "spec.json", "grace", "1e308")
    (make("no-state", ended=False) / "state.json").unlink()
    for d in (make("no-spec", ended=True), make("no-files", ended=True)):
        (d / "spec.json").unlink()
    for name in os.listdir(tree / "no-files"):
        path = tree / "no-files" / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    for name, kinds in OTHER_FILES.items():
        for how in kinds:
            _replace(make(f"{_slug(name.replace('/', '-'))}-{how}", ended=False) / name, how)
    d = make("events-garbage", ended=False)
    (d / "events.jsonl").write_bytes(b"\n".join(BAD_EVENT_LINES) + b'\n{"t": "' + T.encode() + b'", "event": "x"}')
    (tree / "a-file").write_text("not a harness\n")  # a harness directory that is a file
    (tree / "a-loop").symlink_to("a-loop")
    (tree / "a-dangling").symlink_to("/nonexistent/harness")
    ids += ["a-file", "a-loop", "a-dangling"]
    _shared_files(tree)
    (root / "plan.yaml").write_text(
        f'strategy: parallel\ndefaults: {{agent_cmd: "{COMPLETE}"}}\nharnesses:\n'
        + "".join(f"  - {{id: {i}, roadmap: r.md}}\n" for i in ("good", "state-garbage", "state-field-usage", "zdead")))
    return ids


def _shared_files(tree: Path) -> None:
    """A context value that is a directory; artifacts with corrupt metadata."""
    (tree / "shared" / "context" / "a-dir").mkdir(parents=True)
    (tree / "shared" / "context" / "k").write_text("v\n")
    for name, meta in (("list", "[1]"), ("garbage", "\xff"), ("fields", '{"name": 5}'), ("deep", "[" * 100_000)):
        directory = tree / "shared" / "artifacts" / "good" / name
        directory.mkdir(parents=True)
        (directory / "0001").write_text("data\n")
        (directory / "0001.json").write_text(meta)
    (tree / "shared" / "artifacts" / "good" / "not-a-dir").write_text("x")


# -- running commands and judging what they said ---------------------------------------------

Command = tuple[str, ...]  # verb, then its arguments


def _run(project: Project, command: Command, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    verb, *args = command
    program = BIN / ("mh" if verb == "mh" else f"mh-{verb}")
    return subprocess.run([sys.executable, str(program), *args], cwd=project.root, env=project.env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
                          timeout=timeout, check=False)


def problems_in(command: Command, r: subprocess.CompletedProcess[str]) -> list[str]:
    """What is wrong with how a verb answered: a traceback, exit 70, a signal, or stderr
    lines that are not its own one-line messages."""
    verb = command[0]
    prefixes = ("mh: ", "mh-") if verb == "mh" else (f"mh-{verb}: ",)
    found = []
    if "Traceback" in r.stderr:
        found.append("a traceback")
    if r.returncode == 70 or r.returncode < 0:
        found.append(f"exit {r.returncode}")
    strays = [line for line in r.stderr.split("\n")[:-1] if not line.startswith(prefixes)]
    if strays or (r.stderr and not r.stderr.endswith("\n")):
        found.append(f"stderr lines not from mh-{verb}: {strays[:2]!r}")
    if not found:
        return []
    shown = " ".join(c if c and c.isprintable() and len(c) < 60 else repr(c[:60]) for c in command)
    return [f"{shown}: {', '.join(found)}\n{r.stderr[-1500:]}"]


def run_all(project: Project, commands: list[Command], timeout: float = TIMEOUT) -> list[str]:
    """Run the commands side by side; the problems found, in the commands' order."""
    def one(command: Command) -> list[str]:
        try:
            return problems_in(command, _run(project, command, timeout))
        except subprocess.TimeoutExpired:
            return [f"{command}: still running after {timeout}s"]

    with ThreadPoolExecutor(PARALLEL) as pool:
        return [p for found in pool.map(one, commands) for p in found]


def assert_sound(found: list[str]) -> None:
    assert not found, f"{len(found)} problem(s):\n\n" + "\n\n".join(found[:8])


def _reap(project: Project) -> None:
    """End what the test started; no supervisor outlives a command here (all run in the foreground)."""
    for proc in project._started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=TIMEOUT)
    reap_strays()


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory):
    """One project holding the malformed harnesses, shared by the commands that only read."""
    project = Project(tmp_path_factory.mktemp("zoo"))
    ids = build_zoo(project.root)
    try:
        yield project, ids
    finally:
        _reap(project)


@pytest.fixture
def zoo_copy(zoo, tmp_path: Path):
    """A private copy of the zoo, for a verb that changes the tree."""
    shutil.copytree(zoo[0].root, tmp_path / "zoo", symlinks=True)
    project = Project(tmp_path / "zoo")
    try:
        yield project
    finally:
        _reap(project)


# The harnesses each single-harness command is run on: one of each way of being broken
# that a verb could read differently (every harness is read by the commands that take many).
ONE_OF_EACH = ["good", "zdead", "no-state", "no-files", "a-file", "a-loop", "a-dangling", "events-garbage",
               *(f"{name}-{how}" for name in ("state", "result", "spec") for how in ("garbage", "dir", "loop", "deep")),
               "state-field-worktree", "worktree-path-nul", "state-field-agent-pid", "agent-pid-bignum",
               "state-field-usage-turns", "result-field-exit-code", "exit-code-huge", "spec-field-grace",
               "spec-dead-grace-huge", "spec-field-worktree",
               *(f"{_slug(name.replace('/', '-'))}-{how}" for name, kinds in OTHER_FILES.items() for how in kinds)]


# What each verb is asked about the malformed tree: commands over the whole tree or many
# harnesses, then about one harness at a time. Verbs in CHANGES_THE_TREE get their own copy.
def _zoo_commands(verb: str, ids: list[str]) -> list[Command]:
    each = lambda *args: [(verb, *[a.replace("ID", i) for a in args]) for i in ONE_OF_EACH]  # noqa: E731
    many = [i for i in ids if not i.startswith("a-")]
    return {
        "spawn": each("ID", "r.md", "--agent-cmd", COMPLETE, "-q", "--backoff", "0")
        + [("spawn", "new", "r.md", "--agent-cmd", COMPLETE, "-q", "--after", "good,zdead")],
        "wait": [("wait", "-t", "0.1", "--grace", "0", *many), ("wait", "--all", "-t", "0.1", "--json"),
                 ("wait", "--any", "-t", "0.1", "--grace", "0", *many)] + each("ID", "-t", "0.1", "--grace", "0", "--json"),
        "send": each("ID", "--grace", "0", "hello") + [("send", "--all", "hello")],
        "pause": [("pause", "--all", "--wait", "-t", "0.1"), ("pause", "--grace", "0", *many)] + each("ID", "--grace", "0"),
        "resume": [("resume", "--all"), ("resume", "--grace", "0", *many)] + each("ID", "--grace", "0"),
        "budget": [("budget", "ls"), ("budget", "ls", "--json"), ("budget", "set", "b1", "--usd", "1")],
        "stop": [("stop", "--all", "-t", "0.1"), ("stop", "-t", "0.1", "--no-wait", *many)]
        + each("ID", "-t", "0.1", "--grace", "0"),
        "status": [("status",), ("status", "--json"), ("status", *many), ("status", "--json", *many), ("status", "--prometheus"),
                   ("status", "--wide", *many)] + each("ID", "--json"),
        "report": [("report", "-o", "report.html"), ("report", "--svg", "-"), ("report", "--archived", "-o", "-"),
                   ("report", "--run", "r1", "-o", "-")],
        "events": each("ID") + each("ID", "-f", "--json", "--since", "5m", "--type", "ended,stalled"),
        "logs": each("ID", "-f") + each("ID", "--iteration", "1"),
        "watch": [("watch", "--help")],  # it runs until interrupted: see the test of the live views
        "context": [("context", "ls"), ("context", "ls", "--json"), ("context", "get", "k"), ("context", "get", "a-dir"),
                    ("context", "set", "k2", "v"), ("context", "rm", "a-dir")],
        "artifact": [("artifact", "ls"), ("artifact", "ls", "--json"), ("artifact", "ls", "good"),
                     ("artifact", "publish", "good", "r.md")]
        + [("artifact", "get", "good", n) for n in ("list", "garbage", "fields", "deep", "not-a-dir")],
        "run": [("run", "plan.yaml", "--check"), ("run", "plan.yaml", "--resume", "--run-id", "r1"),
                ("run", "plan.yaml", "--json", "--run-id", "r2")],
        "queue": [("queue", "ls"), ("queue", "ls", "--json"), ("queue", "add", "r.md"), ("queue", "reclaim")],
        "pool": [("pool", "--exit-when-empty", "-q", "--agent-cmd", COMPLETE), ("pool", "scale", "2"), ("pool", "ls"),
                 ("pool", "ls", "--json"), ("pool", "stop", "--all", "--timeout", "1")],
        "diff": each("ID"),
        "clean": [("clean", "--dry-run"), ("clean", "--dry-run", "--json"), ("clean", "--dry-run", *many)]
        + each("--dry-run", "ID"),
        "merge": [("merge", "--all-completed", "--into", "main", "--dry-run"), ("merge", "--dry-run", "--into", "main", *many)]
        + each("--dry-run", "--into", "main", "ID"),
        "mh": [("mh", "status"), ("mh", "wait", "--all", "-t", "0.1"), ("mh", "events", "events-garbage")],
    }[verb]


CHANGES_THE_TREE = {"spawn", "send", "stop", "pause", "resume", "budget", "context", "artifact", "run", "queue", "pool"}
ALL_VERBS = [*VERBS, "mh"]


@pytest.mark.parametrize("verb", ALL_VERBS)
def test_every_verb_survives_a_tree_of_malformed_harnesses(verb, zoo, request):
    project = request.getfixturevalue("zoo_copy") if verb in CHANGES_THE_TREE else zoo[0]
    assert_sound(run_all(project, _zoo_commands(verb, zoo[1])))


def test_a_clean_that_removes_every_malformed_harness_survives_them(zoo, zoo_copy):
    assert_sound(run_all(zoo_copy, [("clean", "--force", *[i for i in zoo[1] if not i.startswith("a-")][::2])]))
    assert_sound(run_all(zoo_copy, [("clean", "--force", "--json")]))


def _reader(proc: subprocess.Popen[str]) -> Callable[[str], None]:
    """A function that reads proc's stdout until a line holds its argument, failing, with
    proc's stderr, if proc ends first (a thread reads, so a silent proc cannot hang the test)."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in iter(proc.stdout.readline, "")] + [lines.put("")],
                     daemon=True).start()

    def read_until(marker: str) -> None:
        while marker not in (line := lines.get(timeout=TIMEOUT)):
            if not line:
                proc.kill()
                pytest.fail(f"{proc.args[1]} ended early: {proc.communicate()[1]}")
    return read_until


def test_status_watch_and_watch_survive_a_tree_of_malformed_harnesses(zoo_copy):
    """The views that run until interrupted: the first frame of mh-status --watch, and
    mh-watch reading malformed events appended to a log, then a marker after them."""
    status = zoo_copy.start("status", "--watch")
    _reader(status)(" good completed ")  # off a terminal: a line per harness, the first time it is seen
    watcher = zoo_copy.start("watch", "--json", "--exec", "true")
    read_alerts_until = _reader(watcher)
    read_alerts_until('"id": "zdead", "event": "dead"')  # the harnesses already dead are reported first
    with open(zoo_copy.tree / "zdead" / "events.jsonl", "ab") as log:
        log.write(b"\n".join(BAD_EVENT_LINES) + b"\n")
        log.write(f'{{"t": "{T}", "event": "looping", "reason": "the end marker"}}\n'.encode())
    read_alerts_until("the end marker")
    for verb, proc in (("status", status), ("watch", watcher)):
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
        assert_sound(problems_in((verb,), subprocess.CompletedProcess(proc.args, proc.returncode, "", err)))
        assert proc.returncode == 0


# -- a tree that is wrong as a whole ----------------------------------------------------------

TREE_CASES = {
    "format-garbage": lambda t: (t / "FORMAT").write_bytes(b"\xff\xfe garbage\n"),
    "format-newer": lambda t: (t / "FORMAT").write_text("99\n"),
    "format-huge": lambda t: (t / "FORMAT").write_text("9" * 5000 + "\n"),
    "format-unicode-digit": lambda t: (t / "FORMAT").write_text("\u00b2\n"),
    "format-directory": lambda t: ((t / "FORMAT").unlink(), (t / "FORMAT").mkdir()),
    "format-loop": lambda t: ((t / "FORMAT").unlink(), (t / "FORMAT").symlink_to("FORMAT")),
    "tree-is-a-file": lambda t: (shutil.rmtree(t), t.write_text("not a tree\n")),
}


def _plain_project(root: Path) -> Project:
    """A sound project: one ended harness `good`, a roadmap and a plan."""
    project = Project(root)
    tree = root / ".harness"
    (tree / ".tmp").mkdir(parents=True)
    (tree / "FORMAT").write_text("1\n")
    (root / "r.md").write_text("- [ ] task 1\n")
    (root / "plan.yaml").write_text("harnesses:\n  - {id: p, roadmap: r.md, agent_cmd: true}\n")
    _harness(tree, "good", ended=True)
    return project


@pytest.fixture
def bad_trees(tmp_path: Path):
    """One project per way of breaking the tree as a whole."""
    projects = []
    for case, breaks in TREE_CASES.items():
        projects.append(_plain_project(tmp_path / case))
        breaks(projects[-1].tree)
    yield projects
    for project in projects:
        _reap(project)


def _tree_commands(verb: str) -> list[Command]:
    return {
        "spawn": [("spawn", "new", "r.md", "--agent-cmd", COMPLETE, "-q")],
        "wait": [("wait", "good", "-t", "0.1", "--grace", "0"), ("wait", "--queue", "-t", "0.1")],
        "send": [("send", "good", "--grace", "0", "hi")],
        "stop": [("stop", "--all", "-t", "0.1")],
        "pause": [("pause", "good", "--grace", "0")],
        "resume": [("resume", "good", "--grace", "0")],
        "budget": [("budget", "ls")],
        "status": [("status", "--json")],
        "report": [("report", "-o", "-")],
        "events": [("events", "good", "-f")],
        "logs": [("logs", "good")],
        "watch": [("watch", "--json")],  # a tree it cannot read ends it at once
        "context": [("context", "ls"), ("context", "set", "k", "v")],
        "artifact": [("artifact", "ls"), ("artifact", "publish", "good", "r.md")],
        "run": [("run", "plan.yaml")],
        "queue": [("queue", "ls"), ("queue", "add", "r.md")],
        "pool": [("pool", "--exit-when-empty", "-q", "--agent-cmd", "true")],
        "diff": [("diff", "good")],
        "clean": [("clean",)],
        "merge": [("merge", "good", "--into", "main")],
        "mh": [("mh", "status")],
    }[verb]


@pytest.mark.parametrize("verb", ALL_VERBS)
def test_every_verb_refuses_a_broken_tree_in_one_line(verb, bad_trees):
    assert_sound([p for project in bad_trees for p in run_all(project, _tree_commands(verb), timeout=10)])


# -- malformed arguments ---------------------------------------------------------------------

BAD_IDS = ["nope", "../x", "-", "", "x" * 300, "a\x01b", "a\nb", "..", "FORMAT", "-x", "\u00e9"]
BAD_NUMBERS = ["1e308", "nan", "inf", "-1", "9" * 30, "0x10", "", "\u00b2"]  # '²' passes str.isdigit()
BAD_DURATIONS = ["1e308", "nan", "-5", "1e10", "99999999d", ""]


def _argument_commands(verb: str) -> list[Command]:
    def sweep(values: list[str], placeholder: str, *args: str) -> list[Command]:
        return [(verb, *[a.replace(placeholder, v) for a in args]) for v in values]

    ids = lambda *args: sweep(BAD_IDS, "ID", *args)  # noqa: E731
    nums = lambda *args: sweep(BAD_NUMBERS, "N", *args)  # noqa: E731
    durs = lambda *args: sweep(BAD_DURATIONS, "DUR", *args)  # noqa: E731
    spawn = ("s", "r.md", "--agent-cmd", COMPLETE, "-q")
    return {
        "spawn": ids("ID", "r.md", "--agent-cmd", COMPLETE, "-q") + ids(*spawn, "--after", "ID") + ids(*spawn, "--account", "ID")
        + [c for option in ("--max-iterations", "--max-failures", "--max-turns", "--budget-tokens", "--loop-after")
           for c in nums(*spawn, option, "N")]
        + [c for option in ("--timeout", "--iteration-timeout", "--backoff", "--grace", "--heartbeat", "--stall-after",
                            "--result-grace", "--hook-timeout", "--rate-limit-backoff", "--verify-timeout")
           for c in durs(*spawn, option, "DUR")],
        "wait": ids("ID", "-t", "0.1", "--grace", "0") + durs("good", "-t", "DUR") + durs("nope", "-t", "0.1", "--grace", "DUR"),
        "send": ids("ID", "--grace", "0", "hello") + durs("nope", "--grace", "DUR", "hello"),
        "stop": ids("ID", "-t", "0.1", "--grace", "0") + durs("good", "-t", "DUR") + durs("nope", "--grace", "DUR"),
        "pause": ids("ID", "--grace", "0") + durs("good", "--wait", "-t", "DUR") + durs("nope", "--grace", "DUR"),
        "resume": ids("ID", "--grace", "0") + durs("nope", "--grace", "DUR") + ids("--account", "ID"),
        "budget": ids("set", "ID", "--usd", "1") + ids("rm", "ID") + nums("set", "b", "--usd", "N")
        + nums("set", "b", "--tokens", "N"),
        "status": ids("--json", "good", "ID"),
        "report": ids("--run", "ID", "-o", "-"),
        "events": ids("ID") + durs("good", "--since", "DUR") + nums("good", "--iteration", "N")
        + [("events", "good", "--since", t) for t in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-13-45T99:00:00Z")],
        "logs": ids("ID") + nums("good", "--iteration", "N"),
        "watch": [("watch", "--bogus"), ("watch", "--exec")],
        "context": ids("get", "ID") + ids("set", "ID", "v") + ids("rm", "ID") + [("context", "set", "k", "a\udcffb")],
        "artifact": ids("get", "ID", "x") + ids("ls", "ID") + ids("publish", "ID", "r.md") + ids("publish", "good", "ID")
        + nums("get", "good", "x", "--version", "N"),
        "run": ids("ID") + ids("plan.yaml", "--check", "--run-id", "ID"),
        "queue": ids("retry", "ID") + ids("add", "ID") + nums("add", "r.md", "--max-attempts", "N")
        + nums("add", "r.md", "--priority", "N")[:-1],  # '²': see test_a_priority_that_int_refuses_is_a_usage_error
        "pool": nums("-n", "N", "--exit-when-empty", "-q", "--agent-cmd", "true") + nums("scale", "N")
        + durs("--retry-backoff", "DUR", "--exit-when-empty", "-q", "--agent-cmd", "true") + ids("scale", "1", "--pool", "ID")
        + [c for option in ("--lease", "--host-timeout", "--keep-done")
           for c in durs(option, "DUR", "--exit-when-empty", "-q", "--agent-cmd", "true")]
        + ids("stop", "ID") + durs("stop", "--all", "--timeout", "DUR") + nums("launch", "--slurm", "N", "--agent-cmd", "true")
        + [("pool", "launch", "--agent-cmd", "true"), ("pool", "launch", "--ssh", ",", "--agent-cmd", "true"),
           ("pool", "launch", "--ssh", "h", "--slurm", "2", "--agent-cmd", "true"), ("pool", "stop"),
           ("pool", "ls", "--bogus")],
        "diff": ids("ID"),
        "clean": ids("--dry-run", "ID"),
        "merge": ids("ID", "--into", "main") + durs("good", "--into", "main", "--verify", "true", "--verify-timeout", "DUR"),
        "mh": ids("ID") + ids("status", "ID"),
    }[verb]


@pytest.fixture
def plain(tmp_path: Path):
    project = _plain_project(tmp_path / "plain")
    try:
        yield project
    finally:
        _reap(project)


@pytest.mark.parametrize("verb", ALL_VERBS)
def test_every_verb_refuses_malformed_arguments_in_one_line(verb, plain):
    assert_sound(run_all(plain, _argument_commands(verb)))


@pytest.mark.parametrize("command", [
    ("wait", "good", "-t", "1e10"), ("stop", "good", "-t", "1e10"), ("events", "good", "--since", "1e308"),
    ("wait", "good", "--grace", "inf"), ("pool", "-n", "1000000", "--exit-when-empty", "--agent-cmd", "true"),
    ("logs", "good", "--iteration", "1" + "0" * 15), ("artifact", "get", "good", "x", "--version", "-1"),
])
def test_huge_and_impossible_numbers_are_usage_errors_naming_the_limit(command, plain):
    r = _run(plain, command)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"mh-{command[0]}: error: ") and r.stderr.count("\n") == 1
    assert any(limit in r.stderr for limit in ("a year", "365d", "from 0 to", "from 1 to")), r.stderr


@pytest.mark.parametrize("value", ["1e308", "inf"])
def test_a_budget_must_be_a_finite_sane_amount(value, plain):
    r = _run(plain, ("spawn", "b", "r.md", "--agent-cmd", COMPLETE, "-q", "--budget-usd", value))
    assert r.returncode == 2 and r.stderr.startswith("mh-spawn: error: "), r.stderr


def test_a_priority_that_int_refuses_is_a_usage_error(plain):
    r = _run(plain, ("queue", "add", "r.md", "--priority", "\u00b2"))
    assert r.returncode == 2 and r.stderr.startswith("mh-queue: error: "), r.stderr


@pytest.mark.parametrize("option", ["--stall-after", "--grace", "--heartbeat", "--timeout", "--backoff"])
def test_spawn_refuses_durations_beyond_a_year(option, plain):
    r = _run(plain, ("spawn", "b", "r.md", "--agent-cmd", COMPLETE, "-q", option, "1e308"))
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.startswith(f"mh-spawn: error: argument {option}: not a duration: '1e308'") and "a year" in r.stderr


@pytest.mark.parametrize("command", [
    ("context", "set", "../x", "v"), ("context", "set", "k", "v", "--bogus"), ("artifact", "publish", "../x", "r.md"),
    ("artifact", "publish", "good", "r.md", "--as", "a b"), ("spawn", "../x", "r.md", "--agent-cmd", "true"),
    ("spawn", "s", "r.md", "--agent-cmd", "true", "--stall-after", "1e308"), ("pool", "-n", "1e308"),
    ("queue", "add", "r.md", "--max-attempts", "nan"),
])
def test_a_refused_command_creates_no_tree(command, tmp_path):
    """Exit 2 means nothing was started or changed: not even a .harness in the cwd."""
    project = Project(tmp_path)
    (tmp_path / "r.md").write_text("- [ ] task 1\n")
    r = _run(project, command)
    assert r.returncode == 2 and r.stderr.startswith(f"mh-{command[0]}: error: "), r.stderr
    assert not (tmp_path / ".harness").exists()
