"""The .harness tree is private by default, whatever the umask; opening its top directory
to a group shares what is created from then on; agents keep the user's umask."""

import os
import stat
import subprocess
import sys

from conftest import BIN, TIMEOUT


def _modes(tree):
    found = {}
    for directory, dirs, files in os.walk(tree):
        for name in dirs + files:
            path = os.path.join(directory, name)
            found[os.path.relpath(path, tree)] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


def _run_with_umask(project, umask, verb, *args):
    code = f"import os, sys; os.umask(0o{umask:o}); os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
    return subprocess.run([sys.executable, "-c", code, str(BIN / f"mh-{verb}"), *args], cwd=project.root,
                          env=project.env, capture_output=True, text=True, timeout=TIMEOUT)


def test_a_new_tree_and_everything_in_it_is_private_even_with_umask_0(project):
    road = project.roadmap("r.md", tasks=1)
    agent = "touch made-by-agent; mh-send \"$MH_ID\" note; echo '<promise>COMPLETE</promise>'"
    r = _run_with_umask(project, 0, "spawn", "a", str(road), "-q", "--agent-cmd", agent)
    assert (r.returncode, r.stderr) == (0, "")
    _run_with_umask(project, 0, "context", "set", "k", "v")
    modes = _modes(project.tree)
    assert stat.S_IMODE(project.tree.stat().st_mode) == 0o700
    loose = {path: oct(mode) for path, mode in modes.items() if mode & 0o077}
    assert loose == {}
    assert "a/iterations/0001/prompt" in modes and any(p.startswith("a/inbox/") for p in modes)
    # The agent's own files in the project follow the user's umask, not the tree's.
    assert stat.S_IMODE((project.root / "made-by-agent").stat().st_mode) == 0o666


def test_a_tree_opened_to_the_group_shares_new_files_with_it_under_a_umask_that_allows_it(project):
    project.tree.mkdir()
    project.tree.chmod(0o770)
    road = project.roadmap("r.md", tasks=1)
    r = _run_with_umask(project, 0o002, "spawn", "a", str(road), "-q", "--agent-cmd", "echo '<promise>COMPLETE</promise>'")
    assert r.returncode == 0
    modes = _modes(project.tree)
    assert {modes["a"], modes["a/inbox/new"]} == {0o770}
    assert {modes["a/result.json"], modes["a/log"], modes["a/events.jsonl"]} == {0o660}


def test_nothing_is_created_looser_than_the_users_umask_even_in_an_open_tree(project):
    project.tree.mkdir()
    project.tree.chmod(0o755)  # as an earlier version made it
    road = project.roadmap("r.md", tasks=1)
    r = _run_with_umask(project, 0o077, "spawn", "a", str(road), "-q", "--agent-cmd", "echo '<promise>COMPLETE</promise>'")
    assert r.returncode == 0
    assert {mode & 0o077 for mode in _modes(project.tree).values()} == {0}
