"""Hosts that share this filesystem but have their own hostname and pid space (bubblewrap),
as machines on one NFS export would: what runs on a host dies with it, all at once, when
its first process is killed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BIN, TIMEOUT

BWRAP = shutil.which("bwrap")
needs_bwrap = pytest.mark.skipif(BWRAP is None, reason="bubblewrap is not installed (Debian package bubblewrap)")


def on_host(host: str, argv: list[str]) -> list[str]:
    assert BWRAP is not None
    return [BWRAP, "--dev-bind", "/", "/", "--proc", "/proc", "--unshare-pid", "--unshare-uts",
            "--hostname", host, "--die-with-parent", "--", *argv]


class Hosts:
    """Start programs on emulated hosts; crash a host; end all at teardown (by pid)."""

    def __init__(self, project) -> None:  # type: ignore[no-untyped-def]
        self.project = project
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, host: str, argv: list[str], log: str) -> subprocess.Popen[bytes]:
        """Run `argv` on `host`, its output in the file `log` under the project."""
        with open(self.project.root / log, "wb") as out:
            proc = subprocess.Popen(on_host(host, argv), cwd=self.project.root, env=self.project.env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        self.started.append(proc)
        return proc

    def mh(self, host: str, verb: str, *args: str) -> subprocess.Popen[bytes]:
        return self.start(host, [sys.executable, str(BIN / f"mh-{verb}"), *args], f"{host}-{verb}.log")

    def crash(self, proc: subprocess.Popen[bytes]) -> None:
        """kill -9 of the host's first process: everything in its pid space dies with it."""
        proc.kill()
        proc.wait()

    def cleanup(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def eventually(predicate, what: str, timeout: float = TIMEOUT, every: float = 0.1):  # type: ignore[no-untyped-def]
    """Re-check `predicate` until it holds, for conditions no file event announces (a
    heartbeat growing old); fail after a generous `timeout`. Returns its value."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(every)
    return value


def pools(project) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    r = project.run("pool", "ls", "--json")
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def items(project) -> dict[str, dict]:  # type: ignore[type-arg]
    r = project.run("queue", "ls", "--json")
    assert r.returncode == 0, r.stderr
    return {i["item"]: i for i in map(json.loads, r.stdout.splitlines())}


def completed_results(tree: Path, harness_id: str) -> list[dict]:  # type: ignore[type-arg]
    """The completed results of every instance of `harness_id`, live and archived."""
    found = []
    for directory in [tree / harness_id, *(tree / ".archive").glob(f"{harness_id}.*")]:
        try:
            result = json.loads((directory / "result.json").read_text())
        except FileNotFoundError:
            continue
        if result["status"] == "completed":
            found.append(result)
    return found
