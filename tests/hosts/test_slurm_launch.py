"""`mh-pool launch --slurm` against a real Slurm on localhost (three slurmd): a job array of
pools drains the queue, and a node taken down mid-run loses nothing and repeats nothing."""

import pytest

from conftest import TIMEOUT
from hosts.emulated import completed_results, eventually, items, pools
from hosts.slurm import LocalSlurm, needs_slurm

pytestmark = needs_slurm
GATE = 'while [ ! -e "$MH_ROOT/go" ]; do sleep 0.05; done; echo "<promise>COMPLETE</promise>"'


@pytest.fixture
def slurm(tmp_path_factory):
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def _launch(project, slurm, *args):
    r = project.run("pool", "launch", "--slurm", "3", *args, env={"SLURM_CONF": str(slurm.conf)})
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_a_job_array_of_pools_drains_the_queue(project, slurm):
    names = project.run("queue", "add", *[str(project.roadmap(f"r{i}.md", tasks=1)) for i in range(6)]).stdout.split()
    job = _launch(project, slurm, "-n", "1", "--exit-when-empty", "--agent-cmd", GATE, "--", "--time=10")
    assert job.isdigit()
    eventually(lambda: len([p for p in pools(project) if p["items"]]) == 3, "three pools holding an item each")
    (project.root / "go").touch()
    assert project.run("wait", "--queue", "--timeout", str(TIMEOUT)).returncode == 0
    assert sorted(items(project)) == sorted(names)
    assert all(i["state"] == "done" and i["attempts"] == 1 for i in items(project).values())
    eventually(lambda: not slurm.jobs(), "the array's tasks ended with the queue")
    logs = sorted((project.tree / "queue" / "logs").glob(f"slurm-{job}_*.log"))
    assert len(logs) == 3 and all("done" in log.read_text() for log in logs)


def test_a_node_taken_down_mid_run_loses_nothing_and_repeats_nothing(project, slurm):
    names = project.run("queue", "add", *[str(project.roadmap(f"r{i}.md", tasks=1)) for i in range(6)]).stdout.split()
    _launch(project, slurm, "-n", "1", "--exit-when-empty", "--host-timeout", "2s", "--retry-backoff", "0",
            "--agent-cmd", GATE)
    eventually(lambda: len([p for p in pools(project) if p["items"]]) == 3, "three pools holding an item each")
    victim = next(node for _, node in slurm.jobs() if node)
    slurm.run("scontrol", "update", f"nodename={victim}", "state=down", "reason=mh-test")
    eventually(lambda: all(node != victim for _, node in slurm.jobs()), f"no task left on {victim}")
    (project.root / "go").touch()
    assert project.run("wait", "--queue", "--timeout", str(TIMEOUT)).returncode == 0
    done = items(project)
    assert sorted(done) == sorted(names) and all(i["state"] == "done" for i in done.values())
    for item in done.values():
        assert len(completed_results(project.tree, item["harness"])) == 1, item
