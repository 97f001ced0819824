"""mh-queue: add, ls, retry, drop, reclaim from the shell."""

import json


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
    assert r.returncode == 2 and r.stderr == "mh-queue: error: cannot read roadmap missing.md: not a file\n"
    r = project.run("queue", "add", str(project.roadmap()), "--priority", "urgent")
    assert r.returncode == 2 and "not a priority" in r.stderr
    assert not (project.tree / "queue" / "pending").exists() or not list((project.tree / "queue" / "pending").iterdir())
