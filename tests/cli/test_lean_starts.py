"""What the verbs users call in loops load at start-up: only what they use (issue 13).

Not a timing test: the modules a verb imports are a fact of the code. The numbers are
measured by bench/run."""

import ast
import subprocess
import sys

import pytest

from conftest import BIN, REPO

# Each costs a start milliseconds (dataclasses ~8 ms, tabulate ~35, watchdog ~15, typing ~3,
# argparse ~3.5 with gettext and locale: a plain command line is parsed without it).
HEAVY = {"typing", "dataclasses", "inspect", "tabulate", "watchdog", "shutil", "subprocess", "ctypes",
         "tempfile", "datetime", "calendar", "traceback", "concurrent.futures", "argparse"}
COMPLETE = "echo '<promise>COMPLETE</promise>'"


def loaded(project, verb, *args):
    """The modules `mh-VERB args` imported, as python -X importtime lists them."""
    r = subprocess.run([sys.executable, "-X", "importtime", str(BIN / f"mh-{verb}"), *args], cwd=project.root,
                       env=project.env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    names = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert "metaharness" in names  # the listing worked
    return names


@pytest.mark.parametrize("command", [("wait", "a"), ("status",), ("status", "--json"), ("send", "b", "hi"),
                                     ("stop", "b")], ids=" ".join)
def test_the_verbs_in_users_loops_import_nothing_heavy(project, command):
    project.spawn("a", COMPLETE)
    assert project.run("wait", "a").returncode == 0
    project.spawn("b", "sleep 60")
    assert not loaded(project, *command) & HEAVY


def test_a_detached_spawn_leaves_the_supervisor_s_imports_to_the_supervisor(project):
    """mh-spawn --detach is paid once per harness in a user's loop, before the next one
    starts: it returns without pathlib, re, threading (4 to 5 ms) and enum (3 ms) as well."""
    names = loaded(project, "spawn", "a", str(project.roadmap()), "--detach", "--agent-cmd", COMPLETE)
    unwanted = HEAVY | {"metaharness.loop", "metaharness.iteration", "pathlib", "re", "threading", "enum", "signal",
                        "functools"}
    assert not names & unwanted, names & unwanted
    assert project.run("wait", "a").returncode == 0


def test_a_trivial_harness_is_supervised_without_subprocess_ctypes_or_enum(project):
    """The agent is started by posix_spawn, the subreaper set through _ctypes, signals
    handled and sent through _signal (signal would bring enum, 3 ms). (ctypes
    proper comes with the inotify watch on control/, which a supervisor starts only once
    its agent has run longer than a moment: on a loaded machine, even this one's.)"""
    names = loaded(project, "spawn", "a", str(project.roadmap()), "--agent-cmd", COMPLETE)
    assert "metaharness.loop" in names and project.state("a")["iteration"] == 1, project.state("a")
    unwanted = (HEAVY - {"ctypes"}) | {"enum", "signal"}
    assert not names & unwanted, names & unwanted


def _runtime_typing_imports(path):
    """`from typing import` statements outside `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text())
    guarded = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
               and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING" for n in ast.walk(block)}
    return [n.lineno for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in guarded
            and (getattr(n, "module", None) == "typing" or any(a.name == "typing" for a in n.names))]


def test_typing_is_imported_only_for_the_type_checker():
    found = {str(p.relative_to(REPO)): lines for p in sorted((REPO / "metaharness").rglob("*.py"))
             if (lines := _runtime_typing_imports(p))}
    assert not found, f"import typing under `if TYPE_CHECKING:` (TYPE_CHECKING = False): {found}"


@pytest.mark.parametrize("command", [("wait", "a"), ("send", "b", "hi"), ("status",), ("status", "--json")],
                         ids=" ".join)
def test_send_wait_and_status_start_without_pathlib_re_or_json(project, command):
    """Each of them is 2 to 4 ms of a start whose whole budget is twice the interpreter's."""
    project.spawn("a", COMPLETE)
    assert project.run("wait", "a").returncode == 0
    project.spawn("b", "sleep 60")
    assert not loaded(project, *command) & {"pathlib", "re", "json", "argparse", "signal", "enum"}
