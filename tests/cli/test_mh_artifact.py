"""mh-artifact, and how dependents see artifacts and the context in their prompts."""

import json
import multiprocessing
import os

from conftest import TIMEOUT

from metaharness import artifacts


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
