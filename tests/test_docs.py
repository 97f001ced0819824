"""The docs are part of the product: every verb has --help, a clean man page whose EXIT
STATUS agrees with the code, and the README's commands and examples really run."""

import importlib
import re
import shutil
import subprocess
import sys
import tomllib

import pytest

from conftest import BIN, REPO, TIMEOUT, base_env

from metaharness.status import Exit

VERBS = ["spawn", "wait", "send", "stop", "status", "events", "logs", "watch", "context", "artifact", "run", "queue", "pool", "diff", "clean"]
MAN = REPO / "man"


def _codes_listed_in_man(page):
    text = page.read_text()
    section = text.split(".Sh EXIT STATUS", 1)[1].split("\n.Sh ", 1)[0]
    return {int(n) for n in re.findall(r"^\.It Li (\d+)$", section, re.M)}


def test_every_verb_has_a_program_a_console_script_a_module_and_a_man_page():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == {"mh"} | {f"mh-{v}" for v in VERBS}
    assert {p.name for p in BIN.iterdir()} == set(scripts)
    for name, target in scripts.items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func))
        assert (MAN / f"{name}.1").exists()
    assert (MAN / "mh-harness.7").exists()


@pytest.mark.parametrize("verb", VERBS)
def test_help_works_and_exit_statuses_agree_with_the_man_page(verb, tmp_path):
    r = subprocess.run([sys.executable, str(BIN / f"mh-{verb}"), "--help"], cwd=tmp_path, env=base_env(tmp_path),
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0 and r.stdout.startswith(f"usage: mh-{verb}") and r.stderr == ""
    epilog = importlib.import_module(f"metaharness.cli.{verb}").EPILOG
    in_help = {int(n) for n in re.findall(r"\b(\d+)\b", epilog.split("See ")[0])}
    assert in_help <= {int(e) for e in Exit}
    assert _codes_listed_in_man(MAN / f"mh-{verb}.1") == in_help


def test_the_format_page_lists_every_exit_status():
    assert _codes_listed_in_man(MAN / "mh-harness.7") == {int(e) for e in Exit}


@pytest.mark.parametrize("page", sorted(p.name for p in MAN.iterdir()))
def test_man_pages_lint_clean(page):
    if shutil.which("mandoc"):
        r = subprocess.run(["mandoc", "-Tlint", "-Wwarning", str(MAN / page)], capture_output=True, text=True)
        problems = [line for line in r.stdout.splitlines() + r.stderr.splitlines()
                    if "referenced manual not found" not in line]
    else:
        r = subprocess.run(["groff", "-mdoc", "-ww", "-z", "-Tutf8", str(MAN / page)], capture_output=True, text=True)
        problems = r.stderr.splitlines()
    assert problems == []


def test_the_readme_opens_with_the_commands_ci_runs():
    readme = (REPO / "README.md").read_text()
    first_block = readme.split("```sh\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert first_block == [
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]'",
        ".venv/bin/python -m pytest",
    ]
    assert "examples/quickstart.sh" in readme
    assert "README.md" in (REPO / ".ci" / "run").read_text()


def test_the_quickstart_runs_three_harnesses_and_the_example_plan_to_completion(tmp_path):
    env = {**base_env(tmp_path), "DEMO_PAUSE": "0.2"}
    r = subprocess.run([str(REPO / "examples" / "quickstart.sh"), str(tmp_path / "work")], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=TIMEOUT * 2)
    assert r.returncode == 0, r.stderr
    spawned, planned = r.stdout.split("$ mh-run plan.yaml; echo $?")
    final = spawned.split("$ mh-status")[-1]
    assert [line.split()[:2] for line in final.strip().splitlines()[1:4]] == [
        ["api", "completed"], ["docs", "completed"], ["ui", "completed"]]
    code, *table = planned.strip().splitlines()
    assert code == "0" and [line.split()[:2] for line in table[1:4]] == [
        ["api", "completed"], ["docs", "completed"], ["ui", "completed"]]
    prompts = (tmp_path / "work" / ".harness" / ".archive").glob("ui.*/iterations/*/prompt")  # replaced by mh-run
    assert sum("the API serves GET /items" in p.read_text() for p in prompts) == 1


def test_the_worktree_example_merges_one_branch_and_cleans_up(tmp_path):
    r = subprocess.run([str(REPO / "examples" / "worktrees.sh"), str(tmp_path / "work")], cwd=tmp_path,
                       env=base_env(tmp_path), capture_output=True, text=True, timeout=TIMEOUT * 2)
    assert r.returncode == 0, r.stderr
    assert "mh/a +1 clean" in r.stdout and "1 file changed" in r.stdout
    assert "mh-clean: would refuse c: mh/c has 2 commits on no other branch" in r.stdout
    assert "removed c: worktree .harness-worktrees/c, branch mh/c, harness directory" in r.stdout
    assert (tmp_path / "work" / "NOTES.md").read_text() == "# Notes\n- a note from a\n- a note from c\n"
    branches = subprocess.run(["git", "-C", str(tmp_path / "work"), "branch", "--list"], capture_output=True, text=True)
    assert branches.stdout.split() == ["*", "main"]


def test_the_waiting_tests_also_pass_with_the_polling_observer(tmp_path):
    """MH_POLL=1 (for NFS, where inotify is blind) must pass the same waiting tests."""
    waiting = ["tests/cli/test_mh_wait.py", "tests/cli/test_mh_events.py", "tests/cli/test_mh_logs.py",
               "tests/cli/test_mh_watch.py", "tests/cli/test_stalls_and_loops.py"]
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *waiting], cwd=REPO,
                       env={**base_env(tmp_path), "MH_POLL": "1"}, capture_output=True, text=True, timeout=TIMEOUT * 5)
    assert r.returncode == 0, r.stdout[-3000:]
    assert " passed" in r.stdout.splitlines()[-1] and "failed" not in r.stdout.splitlines()[-1]
