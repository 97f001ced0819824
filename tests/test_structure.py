"""The shape the code keeps: one spawn path, one module that forks, small functions."""

import ast
from pathlib import Path

import pytest

from conftest import REPO

from metaharness import plan, spec

PACKAGE = REPO / "metaharness"
CORE = sorted(p for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_core_never_imports_the_command_line(path):
    assert not {n for n in _imports(path) if n == "metaharness.cli" or n.startswith("metaharness.cli.")}


FORKING = {"os.fork", "os.forkpty", "os.kill", "os.killpg", "os.setsid", "os.posix_spawn", "os.posix_spawnp",
           "os.waitpid", "os.waitid", "os.wait", "os.system", "signal.pthread_kill", "signal.pidfd_send_signal",
           "subprocess.Popen", "subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output"}


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_process_py_forks_signals_and_reaps(path):
    if path.name == "process.py":
        return
    used = set()
    for n in ast.walk(_tree(path)):
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name):
            used.add(f"{n.value.id}.{n.attr}")  # called or passed on
        elif isinstance(n, ast.ImportFrom) and n.module in ("os", "signal", "subprocess"):
            used.update(f"{n.module}.{a.name}" for a in n.names)
    assert not used & FORKING


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_functions_stay_under_60_lines_and_classes_under_300(path):
    long = [(n.name, n.end_lineno - n.lineno + 1) for n in ast.walk(_tree(path))
            if isinstance(n, ast.FunctionDef) and n.end_lineno - n.lineno + 1 > 60
            or isinstance(n, ast.ClassDef) and n.end_lineno - n.lineno + 1 > 300]
    assert long == []


def test_a_plan_may_set_exactly_the_options_a_spec_has_and_what_mh_spawn_checks_at_the_door():
    assert set(plan.HARNESS_KEYS) == spec.option_keys() | plan.REQUEST_KEYS


def test_what_readers_check_in_spec_json_is_every_field_of_the_spec():
    from metaharness import schema
    from metaharness.records import fields

    assert set(schema.SPEC.fields) == {f.name for f in fields(spec.Spec)}


def test_an_option_mh_spawn_is_not_given_takes_the_specs_default():
    from metaharness.cli.spawn import build_parser, options_from

    assert options_from(build_parser().parse_args(["a", "r.md", "--agent-cmd", "true"])) == spec.Options(agent_cmd="true")
