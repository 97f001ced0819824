import os

import pytest

from metaharness.exits import Exit, MhError
from metaharness.tree import (
    atomic_write,
    find_tree,
    now_iso,
    parse_iso,
    read_json,
    validate_id,
    write_json,
)


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "x" * 300, ".hidden", "-a", "shared", "FORMAT", "a b", "é"])
def test_bad_ids_are_usage_errors_with_one_line(bad):
    with pytest.raises(MhError) as e:
        validate_id(bad)
    assert e.value.code == Exit.USAGE
    assert "\n" not in str(e.value) and len(str(e.value)) < 200


@pytest.mark.parametrize("good", ["a", "api-2", "x.y_z", "A" * 64])
def test_good_ids_pass(good):
    assert validate_id(good) == good


def test_atomic_write_replaces_whole_files_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "f.json"
    write_json(target, {"a": 1})
    write_json(target, {"a": 2}, durable=True)
    assert read_json(target) == {"a": 2}
    assert os.listdir(tmp_path) == ["f.json"]


def test_atomic_write_relative_to_a_directory_fd(tmp_path):
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        atomic_write("x", "hello", dir_fd=fd)
    finally:
        os.close(fd)
    assert (tmp_path / "x").read_text() == "hello"


def test_the_tree_is_found_by_walking_up_or_through_mh_root(tmp_path, monkeypatch):
    monkeypatch.delenv("MH_ROOT", raising=False)
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "sub" / "deeper")
    assert find_tree() is None
    monkeypatch.chdir(tmp_path)
    created = find_tree(create=True)
    assert created == tmp_path / ".harness" and (created / "FORMAT").read_text() == "1\n"
    monkeypatch.chdir(tmp_path / "sub" / "deeper")
    assert find_tree() == created
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("MH_ROOT", str(other))
    assert find_tree() is None


def test_a_tree_of_a_newer_format_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MH_ROOT", str(tmp_path))
    (tmp_path / ".harness").mkdir()
    (tmp_path / ".harness" / "FORMAT").write_text("2\n")
    with pytest.raises(MhError) as e:
        find_tree()
    assert e.value.code == Exit.BAD_TREE and "newer" in str(e.value)


def test_timestamps_round_trip():
    assert abs(parse_iso(now_iso(1_800_000_000.25)) - 1_800_000_000.25) < 0.002
