"""The docs are part of the product: every verb has --help, a clean man page whose EXIT
STATUS agrees with the code, and the README's commands and examples really run."""

import importlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib

import pytest

from conftest import BIN, REPO, TIMEOUT, base_env

from metaharness import cli
from metaharness.exits import Exit

VERBS = list(cli.VERBS)  # the one registry; other tests import this name
MAN = REPO / "man"


def _codes_listed_in_man(page):
    text = page.read_text()
    section = text.split(".Sh EXIT STATUS", 1)[1].split("\n.Sh ", 1)[0]
    return {int(n) for n in re.findall(r"^\.It Li (\d+)$", section, re.M)}


def test_every_verb_has_a_program_an_installed_script_a_module_and_a_man_page():
    installed = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["script-files"]
    scripts = {"mh": "mh"} | {f"mh-{v}": v for v in VERBS}
    assert sorted(installed) == sorted(f"bin/{name}" for name in scripts)
    assert {p.name for p in BIN.iterdir()} == set(scripts)
    for name, module in scripts.items():
        text = (BIN / name).read_text()
        assert f"from metaharness.cli.{module} import main" in text and f'"cli", "{module}.py"' in text, name
        assert callable(importlib.import_module(f"metaharness.cli.{module}").main)
        assert (MAN / f"{name}.1").exists()
    assert (MAN / "mh-harness.7").exists()


_IMPORTED_AS = {"pyyaml": "yaml"}  # distributions whose import name differs


def test_every_declared_dependency_is_imported_by_the_library():
    """A dependency nothing imports costs every install and hides the real set."""
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    sources = "\n".join(p.read_text() for p in (REPO / "metaharness").rglob("*.py"))
    for requirement in declared:
        name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()
        module = _IMPORTED_AS.get(name, name.replace("-", "_"))
        assert re.search(rf"^\s*(import|from) {module}\b", sources, re.M), f"{name} is declared but never imported"


def test_every_verb_has_its_four_names_and_nothing_has_them_but_a_verb():
    """bin/mh-VERB, metaharness/cli/VERB.py, man/mh-VERB.1, tests/cli/test_mh_VERB.py."""
    for verb in VERBS:
        assert os.access(BIN / f"mh-{verb}", os.X_OK), verb
        assert (REPO / "metaharness" / "cli" / f"{verb}.py").is_file(), verb
        assert (MAN / f"mh-{verb}.1").is_file(), verb
        assert (REPO / "tests" / "cli" / f"test_mh_{verb}.py").is_file(), verb
    helpers = {"__init__", "common", "args", "argparser", "mh"}  # the package, what verbs share, the dispatcher
    assert {p.stem for p in (REPO / "metaharness" / "cli").glob("*.py")} - helpers == set(VERBS)
    assert {p.stem for p in MAN.glob("mh-*.1")} == {f"mh-{v}" for v in VERBS}
    # test_mh_spawn_after.py and the like are more tests of one verb: their verb must exist.
    named = {p.stem.removeprefix("test_mh_") for p in (REPO / "tests" / "cli").glob("test_mh_*.py")}
    assert all(n in VERBS or n.split("_")[0] in VERBS for n in named), sorted(named)


@pytest.mark.parametrize("verb", VERBS)
def test_help_works_and_exit_statuses_agree_with_the_man_page(verb, tmp_path):
    r = subprocess.run([sys.executable, str(BIN / f"mh-{verb}"), "--help"], cwd=tmp_path, env=base_env(tmp_path),
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0 and r.stdout.startswith(f"usage: mh-{verb}") and r.stderr == ""
    module = importlib.import_module(f"metaharness.cli.{verb}")
    declared = {int(e) for e in module.EXITS}
    assert len(module.EXITS) == len(declared) and all(isinstance(e, Exit) for e in module.EXITS)
    in_help = {int(n) for n in re.findall(r"\b(\d+)\b", module.EPILOG.split("See ")[0])}
    assert in_help == declared
    assert _codes_listed_in_man(MAN / f"mh-{verb}.1") == declared


# What a verb's code can exit with besides the Exit members it names: common.run maps an
# MhError, an OSError and a bug; the tree lookup refuses a bad tree; a harness's outcome
# (mh-wait) or a signal caught by the verb itself (128 + its number) is passed on.
_EXITS_OF_ANY_VERB = {Exit.OK, Exit.USAGE, Exit.SYSTEM, Exit.SOFTWARE}
_EXITS_OF_A_SIGNAL = {Exit.SIGHUP, Exit.SIGINT, Exit.SIGTERM}
_EXITS_OF_AN_OUTCOME = {Exit.FAILED, Exit.INCOMPLETE, Exit.STOPPED, Exit.DEAD, Exit.BLOCKED, Exit.TIMEOUT,
                        Exit.BAD_TREE} | _EXITS_OF_A_SIGNAL


def exits_in_code(source):
    """The exit statuses a cli module's source can return, as far as reading it shows."""
    found = set(_EXITS_OF_ANY_VERB) | {Exit[name] for name in re.findall(r"\bExit\.([A-Z_]+)\b", source)}
    if re.search(r"\b(find_tree|locate_tree)\(", source):
        found.add(Exit.BAD_TREE)
    if re.search(r"\b128 \+", source):
        found |= _EXITS_OF_A_SIGNAL
    if re.search(r"\baggregate_exit\(|\.exit_code\b", source):
        found |= _EXITS_OF_AN_OUTCOME
    return found


@pytest.mark.parametrize("verb", VERBS)
def test_every_exit_status_a_verbs_code_returns_is_declared(verb):
    module = importlib.import_module(f"metaharness.cli.{verb}")
    source = (REPO / "metaharness" / "cli" / f"{verb}.py").read_text().split("\nEPILOG = ", 1)
    code = source[0].split("\nEXITS", 1)[0] + source[1]  # not the declaration itself
    assert exits_in_code(code) <= set(module.EXITS)


def test_the_exit_scan_sees_a_signal_passed_on():
    """mh-pool once exited 129 and 143 but declared only 130: the scan must catch that."""
    assert exits_in_code("return 128 + catcher.received") >= {Exit.SIGHUP, Exit.SIGTERM}


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


def test_the_code_passes_ruff():
    """ruff is in the test extras (scripts/setup --test), so this runs wherever the suite does."""
    pytest.importorskip("ruff", reason="ruff comes with the test extras: scripts/setup --test")
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                       cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_readme_opens_with_the_commands_ci_runs():
    readme = (REPO / "README.md").read_text()
    first_block = readme.split("```sh\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert first_block == ["scripts/demo", "scripts/test"]
    assert all(os.access(REPO / command, os.X_OK) for command in first_block)
    assert "examples/quickstart.sh" in (REPO / "scripts" / "demo").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "README.md" in ci and "MH_TEST_REPORT" in ci


def _stub_checkout(tmp_path, tests=3, skipped=0):
    """A checkout with the scripts and a .venv whose python logs pip and pytest, and fakes a report."""
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO / "scripts", checkout / "scripts")
    shutil.copy(REPO / "pyproject.toml", checkout)
    (checkout / ".venv" / "bin").mkdir(parents=True)
    python = checkout / ".venv" / "bin" / "python"
    python.write_text(f"""#!/bin/sh
case "$1 $2" in
-m\\ pip) echo "$*" >> {tmp_path}/pip.log; exit 0 ;;
-m\\ pytest)
    for arg; do case $arg in --junitxml=*) report=${{arg#--junitxml=}} ;; esac; done
    echo '<testsuites><testsuite tests="{tests}" skipped="{skipped}"/></testsuites>' > "$report"; exit 0 ;;
esac
exec {sys.executable} "$@"
""")
    python.chmod(0o755)
    return checkout


def _script(checkout, *args):
    return subprocess.run([str(checkout / "scripts" / args[0]), *args[1:]], cwd=checkout, env=base_env(checkout),
                          capture_output=True, text=True, timeout=TIMEOUT)


def test_the_set_up_installs_only_when_the_venv_is_new_or_pyproject_changed(tmp_path):
    checkout = _stub_checkout(tmp_path)
    log = tmp_path / "pip.log"
    assert _script(checkout, "setup", "--test").returncode == 0
    compat = " --config-settings editable_mode=compat"  # no import finder paid by every Python start
    assert log.read_text().splitlines() == ["-m pip install --quiet --disable-pip-version-check -e .[test]" + compat]
    for args in (("setup", "--test"), ("setup",), ("test",)):  # the test install serves the demo too
        assert _script(checkout, *args).returncode == 0
    assert len(log.read_text().splitlines()) == 1
    later = (checkout / ".venv" / ".installed-compat-test").stat().st_mtime + 10
    os.utime(checkout / "pyproject.toml", (later, later))
    r = _script(checkout, "setup")
    assert r.returncode == 0 and log.read_text().splitlines()[1:] == [
        "-m pip install --quiet --disable-pip-version-check -e ." + compat]


@pytest.mark.parametrize("tests, skipped, code", [(3, 3, 1), (0, 0, 1), (3, 2, 0)])
def test_a_test_run_in_which_no_test_ran_fails(tmp_path, tests, skipped, code):
    checkout = _stub_checkout(tmp_path, tests, skipped)
    (checkout / ".venv" / ".installed-compat-test").touch()
    r = _script(checkout, "test", "-k", "whatever")
    assert r.returncode == code, r.stderr
    assert ("scripts/test: error: no test ran" in r.stderr) == bool(code)


def test_the_readmes_session_runs_as_written(tmp_path):
    readme = (REPO / "README.md").read_text()
    block = readme.split("## A session", 1)[1].split("```console\n", 1)[1].split("```", 1)[0]
    commands = [line[2:] for line in block.splitlines() if line.startswith("$ ")]
    script = "".join(f"echo {shlex.quote('$ ' + c)}\n{c}\n" for c in commands)
    r = subprocess.run(["bash", "-e", "-c", script], cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT * 2,
                       env={**base_env(tmp_path), "TMPDIR": str(tmp_path), "DEMO_PAUSE": "0.2"})
    assert r.returncode == 0 and r.stderr == "", r.stderr

    def shape(text):  # a table row by its first column (ids, headers); the rest exactly
        return [line.split()[0] if "  " in line else line for line in text.strip().splitlines()]

    assert shape(r.stdout) == shape(block)
    final = r.stdout.split("$ mh-status")[-1].strip().splitlines()[1:]
    assert [line.split()[:2] for line in final] == [["api", "completed"], ["ui", "completed"]]


def test_the_example_makefile_runs_three_harnesses_then_the_one_after_them(tmp_path):
    work = tmp_path / "work"
    r = subprocess.run(["make", "-s", "-C", str(REPO / "examples"), "-j3", f"WORK={work}"], cwd=tmp_path,
                       env={**base_env(tmp_path), "DEMO_PAUSE": "0.2"}, capture_output=True, text=True,
                       timeout=TIMEOUT * 2)
    assert r.returncode == 0, r.stderr
    table = r.stdout.split("ID ", 1)[1].splitlines()[1:5]
    assert [line.split()[:2] for line in table] == [
        ["api", "completed"], ["docs", "completed"], ["release", "completed"], ["ui", "completed"]]
    release_began = json.loads((work / ".harness" / "release" / "spec.json").read_text())["created"]
    for harness_id in ("api", "docs", "ui"):
        assert json.loads((work / ".harness" / harness_id / "result.json").read_text())["ended"] <= release_began
    assert "[ ]" in (REPO / "examples" / "roadmaps" / "release.md").read_text()  # the copies were checked


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


def test_the_merge_queue_example_lands_two_resolves_one_and_cleans_up(tmp_path):
    r = subprocess.run([str(REPO / "examples" / "merge-queue.sh"), str(tmp_path / "work")], cwd=tmp_path,
                       env=base_env(tmp_path), capture_output=True, text=True, timeout=TIMEOUT * 2)
    assert r.returncode == 0, r.stderr
    assert "docs: conflict: mh/docs conflicts with main in NOTES.md: nothing changed" in r.stdout
    assert "docs: merged into main at " in r.stdout and "resolved by docs-resolve" in r.stdout
    assert "MERGE-CONFLICT" in r.stdout and "MERGED into main" in r.stdout
    work = tmp_path / "work"
    assert (work / "NOTES.md").read_text() == "# Notes\n- from main\n- from docs\n"
    assert (work / "api.txt").exists() and (work / "ui.txt").exists()
    branches = subprocess.run(["git", "-C", str(work), "branch", "--list"], capture_output=True, text=True)
    assert branches.stdout.split() == ["*", "main"]


def test_the_waiting_tests_also_pass_with_the_polling_observer(tmp_path):
    """MH_POLL=1 (for NFS, where inotify is blind) must pass the same waiting tests."""
    waiting = ["tests/cli/test_mh_wait.py", "tests/cli/test_mh_events.py", "tests/cli/test_mh_logs.py",
               "tests/cli/test_mh_watch.py", "tests/cli/test_stalls_and_loops.py"]
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *waiting], cwd=REPO,
                       env={**base_env(tmp_path), "MH_POLL": "1"}, capture_output=True, text=True, timeout=TIMEOUT * 5)
    assert r.returncode == 0, r.stdout[-3000:]
    assert " passed" in r.stdout.splitlines()[-1] and "failed" not in r.stdout.splitlines()[-1]
