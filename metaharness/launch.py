"""Start pools on other hosts through the engines that already exist: ssh, Slurm's sbatch.

Nothing travels but the command line: every host sees the project (and its .harness/)
at the same path on a shared filesystem, and has metaharness at the same path, so a
pool started there coordinates with the rest through the tree alone. Each pool's output
goes to a log under `.harness/queue/logs/`. See mh-pool(1), "Many machines".
"""

from __future__ import annotations

import os
import shlex
import sys
import time

from metaharness import process
from metaharness.exits import Exit, MhError
from metaharness.liveness import this_host

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Final

LAUNCH_TIMEOUT_SECONDS: Final = 60.0  # one ssh connection or one sbatch


def logs_dir(tree: Path) -> Path:
    directory = tree / "queue" / "logs"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def pool_program() -> str:
    """This mh-pool's absolute path, which every host must have too."""
    here = os.path.abspath(sys.argv[0])
    if os.path.basename(here) == "mh-pool":
        return here
    import shutil

    found = shutil.which("mh-pool")
    if found is None:
        raise MhError("cannot find mh-pool on PATH to start on the hosts", Exit.SYSTEM)
    return os.path.abspath(found)


def pool_command(tree: Path, pool_args: list[str]) -> str:
    """The shell command that runs a pool over `tree` with `pool_args`, on any host."""
    project = str(tree.parent)
    env = ["MH_ROOT=" + project] + ([f"MH_POLL={os.environ['MH_POLL']}"] if os.environ.get("MH_POLL") else [])
    argv = [sys.executable, pool_program(), *pool_args]  # this interpreter too: the same path everywhere
    return f"cd {shlex.quote(project)} && exec env {' '.join(map(shlex.quote, env + argv))}"


def over_ssh(tree: Path, hosts: list[str], pool_args: list[str]) -> list[tuple[str, str | None, str]]:
    """Start one pool on each host, detached from the ssh session; return (host, error or
    None, its log) for each. `MH_SSH` is the ssh command (default `ssh`), so a port, key or
    config file can be given (`MH_SSH='ssh -F ~/.ssh/fleet'`)."""
    ssh = shlex.split(os.environ.get("MH_SSH") or "ssh")
    outcomes = []
    for host in hosts:
        log = logs_dir(tree) / f"{_safe(host)}.{time.strftime('%Y%m%dT%H%M%S')}.{os.urandom(2).hex()}.log"
        remote = (f"nohup setsid sh -c {shlex.quote(pool_command(tree, pool_args))} >> {shlex.quote(str(log))} 2>&1 "
                  "</dev/null & echo started")
        done = process.capture_bounded([*ssh, "-o", "BatchMode=yes", host, remote], dict(os.environ),
                                       LAUNCH_TIMEOUT_SECONDS)
        if done is None:
            error: str | None = f"ssh took more than {LAUNCH_TIMEOUT_SECONDS:g}s"
        elif done.returncode != 0 or "started" not in done.stdout:
            error = (done.stderr.strip().splitlines() or [f"ssh exited {done.returncode}"])[-1]
        else:
            error = None
        outcomes.append((host, error, str(log)))
    return outcomes


def over_slurm(tree: Path, count: int, pool_args: list[str], sbatch_args: list[str]) -> str:
    """Submit a job array of `count` pools; return its job id."""
    log = logs_dir(tree) / "slurm-%A_%a.log"
    argv = ["sbatch", "--parsable", f"--array=1-{count}", "--job-name=mh-pool", f"--output={log}",
            *sbatch_args, "--wrap", pool_command(tree, pool_args)]
    try:
        done = process.capture_bounded(argv, dict(os.environ), LAUNCH_TIMEOUT_SECONDS)
    except FileNotFoundError:
        raise MhError("sbatch is not installed here (Slurm's client)", Exit.SYSTEM) from None
    if done is None:
        raise MhError(f"sbatch took more than {LAUNCH_TIMEOUT_SECONDS:g}s", Exit.SYSTEM)
    if done.returncode != 0:
        raise MhError("sbatch: " + (done.stderr.strip().splitlines() or [f"exited {done.returncode}"])[-1],
                      Exit.FAILED)
    return done.stdout.strip().split(";")[0]


def _safe(host: str) -> str:
    return "".join(c if c.isalnum() or c in ".-" else "-" for c in host)[:64] or this_host()
