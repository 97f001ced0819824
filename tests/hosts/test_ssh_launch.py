"""`mh-pool launch --ssh` to two emulated hosts, each running a real sshd (Debian's
openssh-server) on a loopback port, reached with a throwaway key. CI installs both."""

import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import TIMEOUT
from hosts.emulated import Hosts, eventually, items, needs_bwrap, on_host, pools

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.access("/usr/sbin/sshd", os.X_OK) else None)
pytestmark = [needs_bwrap,
              pytest.mark.skipif(SSHD is None or shutil.which("ssh") is None,
                                 reason="openssh-server and openssh-client are not installed")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def ssh_hosts(project):
    """hostA and hostB, each an sshd in its own emulated host; yields the ssh config file."""
    keys = project.root / "ssh"
    keys.mkdir(mode=0o700)
    for name in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True)
    (keys / "authorized_keys").write_text((keys / "user_key.pub").read_text())
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory, if root
    hosts, ports, config = Hosts(project), {}, []
    try:
        for host in ("hostA", "hostB"):
            ports[host] = port = _free_port()
            (keys / f"{host}.conf").write_text(
                f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys / 'host_key'}\nPidFile none\n"
                f"AuthorizedKeysFile {keys / 'authorized_keys'}\nStrictModes no\nUsePAM no\n"
                "PermitRootLogin yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n")
            hosts.start(host, [SSHD, "-D", "-e", "-f", str(keys / f"{host}.conf")], f"sshd-{host}.log")
            config.append(f"Host {host}\n  HostName 127.0.0.1\n  Port {port}\n")
        config.append(f"Host *\n  IdentityFile {keys / 'user_key'}\n  IdentitiesOnly yes\n"
                      "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n")
        (keys / "config").write_text("".join(config))
        for host, port in ports.items():
            eventually(lambda port=port: _listening(port), f"sshd of {host} listening")
        yield keys / "config"
    finally:
        hosts.cleanup()  # each sshd's host, with every pool it started


def test_launch_over_ssh_starts_a_pool_on_each_host_and_they_drain_the_queue(project, ssh_hosts):
    names = project.run("queue", "add", *[str(project.roadmap(f"r{i}.md", tasks=1)) for i in range(6)]).stdout.split()
    gate = 'while [ ! -e "$MH_ROOT/go" ]; do sleep 0.05; done; echo "<promise>COMPLETE</promise>"'
    env = {"MH_SSH": f"ssh -F {ssh_hosts}"}
    r = project.run("pool", "launch", "--ssh", "hostA,hostB", "-n", "2", "--exit-when-empty",
                    "--agent-cmd", gate, env=env)
    assert r.returncode == 0, r.stderr
    launched = dict(line.split("\t") for line in r.stdout.splitlines())
    assert sorted(launched) == ["hostA", "hostB"]
    assert all(os.path.dirname(log) == str(project.tree / "queue" / "logs") for log in launched.values())
    # Both hosts hold items before any may finish.
    eventually(lambda: {p["host"] for p in pools(project) if p["items"]} == {"hostA", "hostB"}, "both hosts working")
    (project.root / "go").touch()
    eventually(lambda: all(i["state"] == "done" for i in items(project).values()), "the queue drained")
    eventually(lambda: not pools(project), "the pools exited when the queue was empty")
    assert sorted(items(project)) == sorted(names)
    assert all(i["attempts"] == 1 for i in items(project).values())
    for log in launched.values():
        assert "done" in open(log).read()  # each pool's progress lines went to its log in the tree


def test_a_host_ssh_cannot_reach_is_reported_and_the_others_still_launch(project, ssh_hosts):
    (ssh_hosts.parent / "config").write_text(ssh_hosts.read_text() + "Host nowhere\n  HostName 127.0.0.1\n"
                                             f"  Port {_free_port()}\n  ConnectTimeout 5\n")
    started = time.monotonic()
    r = project.run("pool", "launch", "--ssh", "nowhere,hostA", "-n", "1", "--exit-when-empty",
                    "--agent-cmd", "true", env={"MH_SSH": f"ssh -F {ssh_hosts}"})
    assert r.returncode == 1
    assert r.stderr.startswith("mh-pool: error: nowhere: ") and len(r.stderr.splitlines()) == 1
    assert r.stdout.split("\t")[0] == "hostA"
    assert time.monotonic() - started < TIMEOUT


def test_launch_refuses_bad_pool_options_before_asking_any_host(project):
    r = project.run("pool", "launch", "--ssh", "hostA", "-n", "2", "--no-such-option", env={"MH_SSH": "false"})
    assert r.returncode == 2 and "--no-such-option" in r.stderr
    assert len(r.stderr.splitlines()) == 1
    r = project.run("pool", "launch", "--ssh", "hostA", "-n", "2", env={"MH_SSH": "false"})
    assert r.returncode == 2 and "--agent" in r.stderr  # no agent named


def test_the_command_a_host_runs_is_this_interpreter_and_mh_pool_over_the_same_project(project, monkeypatch):
    import sys

    from conftest import BIN

    from metaharness.launch import pool_command

    monkeypatch.setenv("PATH", f"{BIN}:{os.environ['PATH']}")

    command = pool_command(project.tree, ["-n", "2", "--agent-cmd", "echo 'it''s'"])
    assert command.startswith(f"cd {project.root} && exec env MH_ROOT={project.root} {sys.executable} ")
    assert subprocess.run(["sh", "-n", "-c", command]).returncode == 0  # quoted for a shell
    assert on_host("x", ["true"])[0].endswith("bwrap")
