"""mh-context and mh-artifact, and how dependents see them in their prompts."""

import json
import multiprocessing
import os
import subprocess
import sys

from conftest import BIN, TIMEOUT

from metaharness import artifacts


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


def test_artifacts_are_versioned_and_fetched(project):
    spec = project.root / "openapi.yaml"
    spec.write_text("v1\n")
    assert project.run("artifact", "publish", "schema", str(spec)).stdout == "schema/openapi.yaml 1\n"
    spec.write_text("v2\n")
    assert project.run("artifact", "publish", "schema", str(spec)).stdout == "schema/openapi.yaml 2\n"
    assert project.run("artifact", "get", "schema", "openapi.yaml").stdout == "v2\n"
    assert project.run("artifact", "get", "schema", "openapi.yaml", "--version", "1").stdout == "v1\n"
    assert project.run("artifact", "get", "schema", "openapi.yaml", "-o", str(project.root / "copy")).returncode == 0
    assert (project.root / "copy").read_text() == "v2\n"
    [record] = [json.loads(line) for line in project.run("artifact", "ls", "--json").stdout.splitlines()]
    assert (record["publisher"], record["name"], record["version"], record["size"]) == ("schema", "openapi.yaml", 2, 3)
    r = project.run("artifact", "get", "schema", "missing")
    assert (r.returncode, r.stderr) == (7, "mh-artifact: error: no such artifact: schema/missing\n")
    assert project.run("artifact", "publish", "schema", "nope.txt").returncode == 2
    assert project.run("artifact", "publish", "x.txt").returncode == 2  # no ID and no $MH_ID


def _publish_many(tree, source, barrier, n):
    barrier.wait()
    for _ in range(n):
        artifacts.publish(tree, "p", source, "shared.txt")


def test_concurrent_publishers_each_get_their_own_versions(project):
    project.tree.mkdir()
    source = project.root / "data.txt"
    source.write_text("same\n")
    barrier = multiprocessing.Barrier(4)
    procs = [multiprocessing.Process(target=_publish_many, args=(project.tree, source, barrier, 10)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(TIMEOUT)
        assert p.exitcode == 0
    directory = project.tree / "shared" / "artifacts" / "p" / "shared.txt"
    versions = sorted(n for n in os.listdir(directory) if n.isdigit())
    assert versions == [f"{v:04d}" for v in range(1, 41)]
    assert all(json.loads((directory / f"{v}.json").read_text())["version"] == int(v) for v in versions)
    assert not [n for n in os.listdir(directory) if n.endswith(".tmp")]


def test_a_dependent_sees_the_context_and_its_dependencies_artifacts(project):
    project.run("context", "set", "db.url", "sqlite:///app.db")
    publish = ('echo "openapi: 3" > openapi.yaml && mh-artifact publish openapi.yaml && '
               "echo '<promise>COMPLETE</promise>'")
    project.spawn("schema", publish)
    project.spawn("api", "echo '<promise>COMPLETE</promise>'", "--after", "schema")
    assert project.run("wait", "api").returncode == 0
    prompt = (project.tree / "api" / "iterations" / "0001" / "prompt").read_text()
    assert "- db.url: sqlite:///app.db" in prompt
    assert "- schema/openapi.yaml (version 1, 11 bytes): " in prompt
    path = prompt.split("- schema/openapi.yaml (version 1, 11 bytes): ")[1].split("\n")[0]
    assert open(path).read() == "openapi: 3\n"
