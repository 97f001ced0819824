"""The plain table mh-status draws."""

from metaharness.table import render, width


def test_columns_are_as_wide_as_their_widest_cell_two_spaces_apart():
    assert render(["ID", "STATUS"], [["api", "running"], ["a-long-id", "-"]]).splitlines() == [
        "ID         STATUS",
        "api        running",
        "a-long-id  -",
    ]


def test_wide_characters_take_two_columns_and_combining_marks_none():
    assert width("日本") == 4
    assert width("e\u0301") == 1
    lines = render(["TASK", "AGE"], [["日本語の作業", "1s"], ["plain", "2s"]]).splitlines()
    assert [width(line.split("  ")[0]) for line in lines[1:]] == [12, 5]
    assert [width(line[: line.rindex(" ") + 1]) for line in lines] == [14, 14, 14]  # AGE starts in one column


def test_cells_are_text_and_trailing_spaces_are_dropped():
    assert render(["A", "B"], [[1, ""]]) == "A  B\n1"
