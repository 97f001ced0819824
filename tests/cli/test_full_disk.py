"""A full disk ends a harness with a result that says so (exit 11), never as `dead`:
space set aside at spawn (the `reserve` file) is freed to write the result."""

import os
import subprocess

import pytest

from conftest import Project


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs as the project directory (root only: it is a mount)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_full_disk_ends_the_harness_failed_with_the_reason_not_dead(small_disk):
    project = Project(small_disk)
    try:
        road = project.roadmap("r.md", tasks=1)
        fill = "dd if=/dev/zero of=fill bs=4k 2>/dev/null; for i in $(seq 20000); do echo line $i of output; done; exit 1"  # far more than the pipe and the reserve
        r = project.run("spawn", "a", str(road), "-q", "--backoff", "0", "--agent-cmd", fill)
        assert r.returncode == 11
        result = project.result("a")
        assert (result["status"], result["exit_code"]) == ("failed", 11)
        assert result["reason"].startswith("the disk is full")
        assert not (project.tree / "a" / "reserve").exists()
        assert project.run("wait", "a").returncode == 11
        status = project.run("status", "a", "--json")
        assert '"failed"' in status.stdout and status.returncode == 0
    finally:
        project.cleanup()


def test_a_live_harness_holds_its_reserve_and_an_ended_one_does_not(project):
    project.spawn("a", "exec sleep 1000")
    project.wait_for_agent("a")
    assert (project.tree / "a" / "reserve").stat().st_size == 64 * 1024
    project.run("stop", "a")
    assert not (project.tree / "a" / "reserve").exists()
