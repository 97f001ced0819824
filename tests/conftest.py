"""Fixtures: run the real bin/ programs in a temporary project, and reap everything they start.

pytest makes itself a child subreaper, so detached supervisors (whose parent mh-spawn
exits at once) are re-parented to it and can be reaped here: no zombies, no orphans.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

from metaharness.liveness import block_until_released, same_process
from metaharness.notify import wait_for_path, wait_until
from metaharness.process import reap_strays

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / "bin"
DEMO_AGENT = REPO / "examples" / "demo-agent.py"
FIXTURES = REPO / "tests" / "fixtures"
TIMEOUT = 60  # generous upper bound for anything a test waits on

ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def base_env(root: Path) -> dict[str, str]:
    """A scrubbed environment whose PATH finds this checkout's mh-* first."""
    return {
        "PATH": f"{BIN}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(root),
        "USER": "tester",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "GIT_CEILING_DIRECTORIES": str(root.parent),  # a test directory is in no enclosing repository
        **({"MH_POLL": os.environ["MH_POLL"]} if "MH_POLL" in os.environ else {}),
    }


class Project:
    """A temporary project directory with a .harness tree, driven through the real commands."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = base_env(root)
        self.tree = root / ".harness"
        self._started: list[subprocess.Popen[str]] = []

    def run(self, verb: str, *args: str, input: str | None = None, timeout: float = TIMEOUT,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run mh-VERB to completion; stdout and stderr are captured."""
        return subprocess.run(
            [sys.executable, str(BIN / f"mh-{verb}"), *args], cwd=self.root, env={**self.env, **(env or {})},
            input=input, capture_output=True, text=True, timeout=timeout, check=False,
        )

    def start(self, verb: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start mh-VERB in the background; it is killed and reaped at teardown if still running."""
        proc = subprocess.Popen(
            [sys.executable, str(BIN / f"mh-{verb}"), *args], cwd=self.root, env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self._started.append(proc)
        return proc

    def fake_cli(self, name: str, *transcripts: str | Path) -> Path:
        """Put a stand-in for the real CLI `name` first on PATH, replaying recorded
        transcripts (fixture names or paths), one per iteration; return its call log dir."""
        bin_dir, log = self.root / "fake-bin", self.root / "fake-log"
        bin_dir.mkdir(exist_ok=True)
        log.mkdir(exist_ok=True)
        (bin_dir / name).symlink_to(REPO / "tests" / "fake_cli.py")
        paths = [str(t if isinstance(t, Path) else FIXTURES / "transcripts" / t) for t in transcripts]
        self.env.update(PATH=f"{bin_dir}:{self.env['PATH']}", FAKE_TRANSCRIPTS=",".join(paths), FAKE_LOG=str(log))
        return log

    def roadmap(self, name: str = "roadmap.md", tasks: int = 2, done: int = 0) -> Path:
        path = self.root / name
        lines = [f"- [{'x' if i < done else ' '}] task {i + 1}" for i in range(tasks)]
        path.write_text("# Roadmap\n\n" + "\n".join(lines) + "\n")
        return path

    def spawn(self, harness_id: str, agent_cmd: str, *options: str, roadmap: str | None = None) -> subprocess.CompletedProcess[str]:
        """Spawn a detached harness; assert it was created."""
        road = roadmap or str(self.roadmap(f"{harness_id}.md"))
        result = self.run("spawn", harness_id, road, "--agent-cmd", agent_cmd, "--detach", "--backoff", "0", *options)
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"{harness_id}\n"
        return result

    def state(self, harness_id: str) -> dict[str, Any]:
        return json.loads((self.tree / harness_id / "state.json").read_text())

    def result(self, harness_id: str) -> dict[str, Any]:
        return json.loads((self.tree / harness_id / "result.json").read_text())

    def events(self, harness_id: str) -> list[dict[str, Any]]:
        lines = (self.tree / harness_id / "events.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    def wait_for_state(self, harness_id: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = TIMEOUT) -> dict[str, Any]:
        """Block (on filesystem events) until the harness's state satisfies `predicate`."""
        directory = self.tree / harness_id
        assert wait_for_path(directory, timeout)

        def holds() -> bool:
            try:
                return predicate(self.state(harness_id))
            except (FileNotFoundError, ValueError):
                return False

        assert wait_for(holds, directory, timeout), f"state never matched: {self.state(harness_id)}"
        return self.state(harness_id)

    def wait_for_agent(self, harness_id: str, iteration: int = 1) -> int:
        """Block until iteration `iteration`'s agent runs; return its pid."""
        state = self.wait_for_state(harness_id, lambda s: s.get("agent_pid") and s.get("iteration") == iteration)
        return int(state["agent_pid"])

    def kill_supervisor(self, harness_id: str) -> None:
        """kill -9 the harness's supervisor and reap it (the test's subreaper adopted it)."""
        supervisor = self.state(harness_id)["pid"]
        os.kill(supervisor, signal.SIGKILL)
        os.waitpid(supervisor, 0)

    def supervisor_pids(self) -> list[int]:
        pids = []
        for state_file in self.tree.glob("*/state.json"):
            try:
                state = json.loads(state_file.read_text())
            except ValueError:
                continue
            if state.get("pid") and same_process(state["pid"], state.get("pid_start")):
                pids.append(state["pid"])
        return pids

    def cleanup(self) -> None:
        for proc in self._started:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=TIMEOUT)
        pids = self.supervisor_pids()
        for pid in pids:
            os.kill(pid, signal.SIGTERM)  # a supervisor ends its agent's group on TERM
        for lock in self.tree.glob("*/lock"):
            waiter = threading.Thread(target=block_until_released, args=(lock,), daemon=True)
            waiter.start()
            waiter.join(TIMEOUT)
        for pid in pids:
            try:
                os.waitpid(pid, 0)  # adopted through the subreaper
            except ChildProcessError:
                pass
        self._kill_orphaned_agents()
        reap_strays()

    def _kill_orphaned_agents(self) -> None:
        """Agents of supervisors a test killed with -9 (identified by their environment)."""
        for state_file in self.tree.glob("*/state.json"):
            try:
                pid = json.loads(state_file.read_text()).get("agent_pid")
                with open(f"/proc/{pid}/environ", "rb") as f:
                    mine = f"MH_HARNESS_DIR={state_file.parent}".encode() in f.read().split(b"\0")
            except (ValueError, OSError, TypeError):
                continue
            if mine:
                os.killpg(pid, signal.SIGKILL)


def wait_for(predicate: Callable[[], bool], directory: Path, timeout: float = TIMEOUT) -> bool:
    """Event-driven wait: re-check `predicate` on every change in `directory`."""
    return wait_until(predicate, directory, timeout)


def process_exists(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.fixture
def project(tmp_path: Path):
    p = Project(tmp_path)
    try:
        yield p
    finally:
        p.cleanup()


@pytest.fixture
def repo(project):
    """The project directory as a git repository with one commit of f.txt ("base")."""
    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "t@example.com"], ["config", "user.name", "t"]):
        subprocess.run(["git", "-C", str(project.root), *args], check=True)
    (project.root / "f.txt").write_text("base\n")
    (project.root / ".gitignore").write_text(".harness/\n*.md\n")
    subprocess.run(["git", "-C", str(project.root), "add", "f.txt", ".gitignore"], check=True)
    subprocess.run(["git", "-C", str(project.root), "commit", "-qm", "base"], check=True)
    return project.root


@pytest.fixture(autouse=True, scope="session")
def _no_zombies_at_the_end():
    yield
    reap_strays()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """In CI (CI=true) a skip is a failure: a tier whose tools are missing there (the real
    CLIs, a root mount) would otherwise pass unseen. .ci/run installs what every tier needs."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") == "true" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every tier must run: {reason}"
