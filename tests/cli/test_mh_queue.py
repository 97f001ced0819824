"""mh-queue: add, ls, retry, drop, reclaim from the shell."""

import json
import os

import pytest


def test_add_ls_drop_retry(project):
    a, b = project.roadmap("a.md"), project.roadmap("b.md")
    r = project.run("queue", "add", str(a), str(b), "--priority", "high", "--max-attempts", "2")
    assert r.returncode == 0
    first, second = r.stdout.split()
    items = [json.loads(line) for line in project.run("queue", "ls", "--json").stdout.splitlines()]
    assert [(i["item"], i["state"], i["priority"], i["max_attempts"]) for i in items] == [
        (first, "pending", 10, 2), (second, "pending", 10, 2)]
    assert project.run("queue", "ls").stdout.splitlines()[0].startswith(f"pending\t{first}\tattempts=0/2")
    assert project.run("queue", "drop", first).returncode == 0
    assert [json.loads(line)["item"] for line in project.run("queue", "ls", "--json").stdout.splitlines()] == [second]
    r = project.run("queue", "retry", first)
    assert (r.returncode, r.stderr) == (7, f"mh-queue: error: no such item: {first} (a claimed item cannot be changed)\n")


def test_bad_input_is_one_line_and_exit_2(project):
    r = project.run("queue", "add", "missing.md")
    assert r.returncode == 2 and r.stderr == "mh-queue: error: cannot read roadmap missing.md: No such file or directory\n"
    r = project.run("queue", "add", str(project.roadmap()), "--priority", "urgent")
    assert r.returncode == 2 and "not a priority" in r.stderr
    assert not (project.tree / "queue" / "pending").exists() or not list((project.tree / "queue" / "pending").iterdir())


def _refused_name(name):
    name = name if len(name) <= 64 else name[:64] + "..."
    return f"mh-queue: error: invalid item name {name!r}: an item is named PRIORITY-TIME-NAME, as mh-queue ls prints it\n"


@pytest.mark.parametrize("action", ["drop", "retry"])
def test_drop_and_retry_refuse_a_path_as_an_item_name_and_touch_nothing(project, action):
    [name] = project.run("queue", "add", str(project.roadmap())).stdout.split()
    victim = project.root / "v.json"
    victim.write_text('{"keep": 1}\n')
    for bad in (str(victim), "../../FORMAT", f"../pending/{name}", f"{name}.claim", ""):
        r = project.run("queue", action, bad)
        assert (r.returncode, r.stdout, r.stderr) == (2, "", _refused_name(bad))
    assert victim.read_text() == '{"keep": 1}\n' and (project.tree / "FORMAT").read_text() == "1\n"
    assert [json.loads(line)["item"] for line in project.run("queue", "ls", "--json").stdout.splitlines()] == [name]


def test_a_bad_item_name_is_a_usage_error_even_without_a_tree(project):
    r = project.run("queue", "drop", "../../FORMAT")
    assert (r.returncode, r.stderr) == (2, _refused_name("../../FORMAT"))
    r = project.run("queue", "retry", "50-00000000000000000001-gone")
    assert (r.returncode, r.stderr) == (7, "mh-queue: error: no such item: 50-00000000000000000001-gone\n")


def _fifo(path):
    os.mkfifo(path)


@pytest.mark.parametrize("make", [
    _fifo,
    lambda path: path.mkdir(),
    lambda path: path.write_bytes(b"- [ ] t\n\xc3("),
    lambda path: path.write_text("# Roadmap\n\n"),
    lambda path: path.write_text("- [ ] t\n" + "x" * 1024 * 1024),
], ids=["fifo", "directory", "not-utf8", "headings-only", "over-1-MiB"])
def test_add_refuses_a_roadmap_mh_spawn_would_refuse_with_mh_spawns_reason(project, make):
    make(project.root / "bad.md")
    good = project.roadmap("good.md")
    r = project.run("queue", "add", str(good), "bad.md")  # a hang fails by the run's timeout
    spawned = project.run("spawn", "a", "bad.md", "--agent-cmd", "true")
    assert (r.returncode, r.stdout) == (2, "") and spawned.returncode == 2
    assert r.stderr == spawned.stderr.replace("mh-spawn:", "mh-queue:", 1) and r.stderr.count("\n") == 1
    assert not (project.tree / "queue").exists()  # not even the good one: all or nothing
