"""The scanners that stand in for regular expressions on every harness start (roadmap
tasks, prompt placeholders, promise markers) and every mh-status (timestamps) find
exactly what those expressions find;
the path arithmetic that stands in for pathlib on a spawn writes what pathlib writes.

The expressions are compiled here, in the test, and nowhere in the supervisor's path."""

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaharness.markers import BLOCKED, COMPLETE, scan
from metaharness.prompt import render
from metaharness.roadmap import parse_task
from metaharness.start import _absolute
from metaharness.tree import iso_fields

TASK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\[([ xX])\]\s*(.*?)\s*$")
VARIABLE = re.compile(r"\{\{([A-Z_]+)\}\}")
COMPLETE_LINE = re.compile(r"^[ \t]*" + re.escape(COMPLETE), re.MULTILINE)
BLOCKED_LINE = re.compile(r"^[ \t]*" + re.escape(BLOCKED), re.MULTILINE)
ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z?")
PROGRESS = re.compile(r"^[ \t]*<progress>(.*?)</progress>", re.MULTILINE | re.DOTALL)

BLANKS = st.sampled_from(["", " ", "  ", "\t", "\u00a0", "\x0b", "\r", "\u2003"])
# Pieces of lines that are tasks, nearly tasks, or not tasks at all.
TASK_LINES = st.builds(
    lambda *parts: "".join(parts),
    BLANKS, st.sampled_from(["-", "*", "+", "1.", "12)", "\u0663.", "\u00b2.", "1", "a.", "", "--", "1.)", "#"]),
    BLANKS, st.sampled_from(["[ ]", "[x]", "[X]", "[y]", "[]", "[  ]", "[x", "x]", ""]),
    BLANKS, st.text(alphabet=st.sampled_from("ab []x\t\r\u00e9"), max_size=8), BLANKS,
)


@settings(max_examples=3000)
@given(st.one_of(TASK_LINES, st.text(max_size=20)))
def test_a_task_line_is_parsed_as_the_task_regex_reads_it(line):
    m = TASK.match(line)
    assert parse_task(line.lstrip()) == ((m.group(1), m.group(2)) if m else None)


PROMPT_PIECES = st.sampled_from(["{", "}", "{{", "}}", "A", "B_", "X", "a", " ", "\n", "{{A}}", "{{NOPE}}", "\u00e9"])
VALUES = {"A": "va{{B_}}", "B_": "", "X": 3}


@settings(max_examples=3000)
@given(st.lists(PROMPT_PIECES, max_size=12).map("".join))
def test_placeholders_are_filled_as_the_placeholder_regex_finds_them(template):
    expected = VARIABLE.sub(lambda m: str(VALUES[m.group(1)]) if m.group(1) in VALUES else m.group(0), template)
    assert render(template, VALUES) == expected


MARKER_PIECES = st.sampled_from([COMPLETE, BLOCKED, "<progress>", "</progress>", " ", "\t", "\n", "x", "\r", "why", ":"])


@settings(max_examples=3000)
@given(st.lists(MARKER_PIECES, max_size=12).map("".join))
def test_markers_are_found_where_the_multiline_regexes_find_them(text):
    blocked = BLOCKED_LINE.search(text)
    reason = None
    if blocked:
        rest = [line.strip() for line in text[blocked.end():].lstrip(" \t:-").splitlines() if line.strip()]
        reason = rest[0][:500] if rest else "no reason given"
    progress = tuple(p.strip() for p in PROGRESS.findall(text) if p.strip())
    found = scan(text)
    assert (found.complete, found.blocked_reason, found.progress) == (bool(COMPLETE_LINE.search(text)), reason, progress)


@pytest.mark.parametrize("cwd", ["/", "tmp"])
@pytest.mark.parametrize("given", [".", "a", "a/", "./a", "a//b", "a/./b/", "../x", "a/..", "/x/./y/", "//x/y",
                                   "///x", "/", "//", ".hidden", "...", "\u00e9/\u00fc"])
def test_a_path_is_made_absolute_as_pathlib_writes_it(given, cwd, tmp_path, monkeypatch):
    """The spec's roadmap and workdir, made absolute without importing pathlib."""
    monkeypatch.chdir("/" if cwd == "/" else tmp_path)
    assert _absolute(given) == str(Path(given).absolute())


STAMP = "2026-11-30T19:13:58.123Z"
ISO_PIECES = st.sampled_from(["2026", "11", "30", "1", "123", "-", "T", ":", ".", "Z", "t", " ", "\u0663\u0663",
                              "\u00b2", "0", "000", "123456789", "1234567890", "\n"])


@settings(max_examples=5000)
@given(st.one_of(
    st.lists(ISO_PIECES, max_size=14).map("".join),
    st.builds(lambda at, c: STAMP[:at] + c + STAMP[at + 1:], st.integers(0, len(STAMP) - 1),  # one character off
              st.sampled_from(["\u00b2", "\u0663", "a", "-", ":", "T", ".", "Z", " ", ""])),
    st.builds(lambda base, tail: base + tail, st.just("2026-11-30T19:13:58"),
              st.lists(st.sampled_from([".", "5", "05", "123", "123456789", "Z", "ZZ", "\u0663", " ", "\n"]),
                       max_size=4).map("".join)),
))
def test_a_timestamp_is_split_as_the_timestamp_regex_splits_it(text):
    m = ISO.fullmatch(text)
    assert iso_fields(text) == ((*m.groups()[:6], m.group(7) or "") if m else None)
