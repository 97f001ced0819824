"""mh-context: the key/value context all harnesses share."""

import json
import os
import subprocess
import sys

from conftest import BIN, TIMEOUT


def test_context_set_get_ls_rm(project):
    assert project.run("context", "set", "db.url", "sqlite:///x.db").returncode == 0
    assert project.run("context", "set", "notes", "-", input="line 1\nline 2\n").returncode == 0
    assert project.run("context", "get", "db.url").stdout == "sqlite:///x.db"
    assert project.run("context", "ls").stdout == "db.url\tsqlite:///x.db\nnotes\tline 1 line 2\n"
    records = [json.loads(line) for line in project.run("context", "ls", "--json").stdout.splitlines()]
    assert records[1] == {"key": "notes", "value": "line 1\nline 2\n"}
    assert project.run("context", "rm", "db.url").returncode == 0
    assert project.run("context", "rm", "db.url").returncode == 0  # idempotent
    r = project.run("context", "get", "db.url")
    assert (r.returncode, r.stderr) == (7, "mh-context: error: no such key: db.url\n")
    assert os.listdir(project.tree / "shared" / "context") == ["notes"]  # no temporaries left


def test_context_refuses_bad_keys_and_bad_values(project):
    for key in ("../x", "", "a b", "x" * 300):
        r = project.run("context", "set", "--", key, "v")
        assert r.returncode == 2 and r.stderr.count("\n") == 1
    r = subprocess.run([sys.executable, str(BIN / "mh-context"), "set", "k", "-"], cwd=project.root, env=project.env,
                       input=b"\xff", capture_output=True, timeout=TIMEOUT)
    assert (r.returncode, r.stderr) == (2, b"mh-context: error: the value is not valid UTF-8\n")
