from metaharness.roadmap import parse_roadmap


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
