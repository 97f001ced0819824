"""mh: the dispatcher."""

import subprocess
import sys

from conftest import BIN, TIMEOUT


def _mh(project, *args):
    return subprocess.run([sys.executable, str(BIN / "mh"), *args], cwd=project.root, env=project.env,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)


def test_mh_runs_the_verb_program(project):
    r = _mh(project, "status")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = _mh(project, "spawn", "a", str(project.roadmap()), "--agent-cmd", "echo '<promise>COMPLETE</promise>'")
    assert r.returncode == 0 and project.result("a")["status"] == "completed"


def test_mh_lists_the_verbs_and_refuses_unknown_ones(project):
    r = _mh(project, "--help")
    assert r.returncode == 0 and all(v in r.stdout for v in ("spawn", "wait", "send", "stop", "status"))
    r = _mh(project)
    assert r.returncode == 2 and r.stdout == "" and "usage" in r.stderr
    r = _mh(project, "frobnicate")
    assert r.returncode == 2 and r.stderr.startswith("mh: error: unknown verb 'frobnicate'")
