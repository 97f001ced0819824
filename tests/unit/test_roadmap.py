"""Roadmaps: counting tasks, and refusing what cannot be one before reading it."""

import os
import threading
from pathlib import Path

import pytest

from conftest import TIMEOUT

from metaharness.exits import Exit, MhError
from metaharness.roadmap import MAX_ROADMAP_BYTES, load_roadmap, parse_roadmap


def test_counts_checked_and_unchecked_tasks_of_every_list_style():
    p = parse_roadmap("# R\n- [x] one\n* [ ] two\n  + [X] three\n1. [ ] four\ntext [ ] not a task\n")
    assert (p.done, p.total, p.current_task) == (2, 4, "two")
    assert not p.all_done


def test_boxes_in_code_fences_and_front_matter_do_not_count():
    text = "---\ndepends: [a]\n- [ ] not a task\n---\n```\n- [ ] example\n```\n- [x] real\n"
    p = parse_roadmap(text)
    assert (p.done, p.total) == (1, 1)
    assert p.all_done


def test_a_roadmap_without_tasks_is_never_all_done():
    assert not parse_roadmap("just prose\n").all_done


def _refusal(path):
    """What load_roadmap says of `path`, read on a daemon thread so a hang fails the test."""
    outcome = []
    reader = threading.Thread(target=lambda: outcome.append(_attempt(path)), daemon=True)
    reader.start()
    reader.join(TIMEOUT)
    assert outcome, f"reading {path} blocked"
    return outcome[0]


def _attempt(path):
    try:
        load_roadmap(path)
    except MhError as e:
        assert e.code == Exit.USAGE
        return str(e)
    return None


def test_a_fifo_a_directory_and_a_device_are_refused_without_being_read(tmp_path):
    fifo = tmp_path / "fifo.md"
    os.mkfifo(fifo)
    assert _refusal(fifo) == f"cannot read roadmap {fifo}: not a regular file (a FIFO)"
    assert _refusal(tmp_path) == f"cannot read roadmap {tmp_path}: not a regular file (a directory)"
    assert _refusal(Path("/dev/zero")) == "cannot read roadmap /dev/zero: not a regular file (a device)"
    (tmp_path / "link.md").symlink_to(fifo)
    assert _refusal(tmp_path / "link.md").endswith("not a regular file (a FIFO)")


def test_a_roadmap_over_1_mib_is_refused_naming_the_limit(tmp_path):
    road = tmp_path / "big.md"
    road.write_text("- [ ] t\n" + "x" * (MAX_ROADMAP_BYTES - 8))
    assert load_roadmap(road)[1].total == 1  # exactly at the limit
    with road.open("a") as f:
        f.write("x")
    assert _refusal(road) == f"cannot read roadmap {road}: larger than the limit of 1 MiB"


def test_bytes_that_are_not_utf8_are_refused_saying_where(tmp_path):
    road = tmp_path / "bin.md"
    road.write_bytes(b"- [ ] ok\n\xff\xfe")
    assert _refusal(road) == f"cannot read roadmap {road}: not UTF-8 text (byte 0xff at offset 9)"


@pytest.mark.parametrize("text", ["", " \n\n", "# Roadmap\n\n## Later\n", "---\ndepends: [a]\n---\n# R\n"])
def test_a_roadmap_that_asks_for_nothing_is_refused(tmp_path, text):
    road = tmp_path / "r.md"
    road.write_text(text)
    assert _refusal(road) == f"roadmap {road} asks for nothing: it has no '- [ ]' task and no text besides headings"


@pytest.mark.parametrize("text", ["- [x] done already\n", "# R\nWrite a haiku about queues.\n"])
def test_a_roadmap_with_a_task_or_prose_is_accepted(tmp_path, text):
    road = tmp_path / "r.md"
    road.write_text(text)
    assert load_roadmap(road)[0] == text
