"""A Slurm cluster on localhost for the tests: munged, slurmctld and three slurmd (n1..n3),
all in the foreground as children of the test (ended by pid), with their configuration,
key, state and logs in a temporary directory. Debian's slurm-wlm 22.05 and munge."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "scontrol", "squeue", "scancel")
MISSING = [d for d in DAEMONS if not (shutil.which(d) or os.access(f"/usr/sbin/{d}", os.X_OK))]
needs_slurm = pytest.mark.skipif(bool(MISSING) or os.geteuid() != 0,
                                 reason=f"Slurm on localhost needs root and {', '.join(MISSING) or 'its daemons'} "
                                        "(Debian packages slurm-wlm and munge)")
NODES = ("n1", "n2", "n3")


def _program(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class LocalSlurm:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.daemons: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        for sub in ("state", "log", *(f"spool/{n}" for n in NODES)):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        key, sock = self.root / "munge.key", self.root / "munge.socket"
        subprocess.run([_program("mungekey"), "--create", "--keyfile", str(key)], check=True)
        os.chmod(key, 0o600)
        self._daemon([_program("munged"), "--foreground", "--force", f"--socket={sock}", f"--key-file={key}",
                      f"--pid-file={self.root / 'munged.pid'}", f"--log-file={self.root / 'log' / 'munged.log'}",
                      f"--seed-file={self.root / 'munged.seed'}"])
        self._wait(lambda: sock.exists(), "munged's socket")
        ctld, slurmd, *node_ports = _free_ports(2 + len(NODES))
        host = socket.gethostname()
        nodes = "".join(f"NodeName={n} NodeHostname={host} NodeAddr=127.0.0.1 Port={p} CPUs=2 State=UNKNOWN\n"
                        for n, p in zip(NODES, node_ports))
        self.conf.write_text(
            f"ClusterName=mh\nSlurmctldHost={host}(127.0.0.1)\nSlurmctldPort={ctld}\nSlurmdPort={slurmd}\n"
            f"AuthType=auth/munge\nAuthInfo=socket={sock}\nCredType=cred/munge\n"
            "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSelectType=select/cons_tres\n"
            "SelectTypeParameters=CR_CPU\nAccountingStorageType=accounting_storage/none\n"
            "JobAcctGatherType=jobacct_gather/none\nJobCompType=jobcomp/none\nReturnToService=2\n"
            "SlurmUser=root\nSlurmdUser=root\nMpiDefault=none\nKillWait=2\nSlurmdTimeout=10\n"
            f"StateSaveLocation={self.root / 'state'}\nSlurmdSpoolDir={self.root / 'spool'}/%n\n"
            f"SlurmctldPidFile={self.root / 'slurmctld.pid'}\nSlurmdPidFile={self.root / 'slurmd-%n.pid'}\n"
            f"SlurmctldLogFile={self.root / 'log' / 'slurmctld.log'}\n"
            f"SlurmdLogFile={self.root / 'log' / 'slurmd-%n.log'}\n{nodes}"
            f"PartitionName=debug Nodes={','.join(NODES)} Default=YES MaxTime=INFINITE State=UP "
            "OverSubscribe=FORCE:4\n")
        self._daemon([_program("slurmctld"), "-D", "-i"])
        for node in NODES:
            self._daemon([_program("slurmd"), "-D", "-N", node])
        self._wait(lambda: self.idle_nodes() == len(NODES), "three idle nodes")

    def _daemon(self, argv: list[str]) -> None:
        self.daemons.append(subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def _wait(self, ready, what: str, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout  # daemons announce nothing on disk we could watch
        while not ready():
            dead = [d.args[0] for d in self.daemons if d.poll() is not None]
            assert not dead, f"{dead} exited; see {self.root / 'log'}"
            assert time.monotonic() < deadline, f"no {what} after {timeout}s; see {self.root / 'log'}"
            time.sleep(0.2)

    def run(self, *argv: str) -> str:
        return subprocess.run(list(argv), env=self.env, capture_output=True, text=True, check=True).stdout

    def idle_nodes(self) -> int:
        try:
            return self.run("sinfo", "-h", "-N", "-t", "idle", "-o", "%N").split().__len__()
        except subprocess.CalledProcessError:
            return 0

    def jobs(self) -> list[tuple[str, str]]:
        """(job id, node) of every job running or pending."""
        return [tuple(line.split()) if len(line.split()) == 2 else (line.strip(), "")  # type: ignore[misc]
                for line in self.run("squeue", "-h", "-o", "%i %N").splitlines() if line.strip()]

    def stop(self) -> None:
        try:
            subprocess.run(["scancel", "--full", "-u", "root"], env=self.env, capture_output=True, timeout=30)
            self._wait(lambda: not self.jobs(), "end of every job", timeout=30)
        except (AssertionError, subprocess.SubprocessError):
            pass  # the daemons go anyway, and their job processes with the test's process tree
        for daemon in reversed(self.daemons):
            if daemon.poll() is None:
                daemon.terminate()
            try:
                daemon.wait(15)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
