"""Typed records: what the project relies on from them, as dataclasses would behave."""

import pytest

from metaharness.records import FrozenInstanceError, asdict, field, fields, replace, typed_record


@typed_record(frozen=True)
class Point:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list, metadata={"help": "labels"})


@typed_record(frozen=True, kw_only=True)
class Base:
    a: int = 1
    b: str = "b"


@typed_record(frozen=True, kw_only=True)
class Child(Base):
    c: Point | None = None
    a: int = 5  # a base's field given a new default keeps its place


@typed_record
class Counter:
    n: int = 0


def test_fields_defaults_factories_and_metadata():
    p = Point(1)
    assert (p.x, p.y, p.tags) == (1, 0, [])
    assert Point(1).tags is not p.tags  # a fresh list each time
    assert [f.name for f in fields(Point)] == ["x", "y", "tags"]
    assert fields(p)[2].metadata == {"help": "labels"}
    assert Point.y == 0 and not hasattr(Point, "tags")  # as in dataclasses


def test_equality_hash_and_repr_are_by_value():
    assert Point(1, 2) == Point(1, 2) != Point(2, 1)
    assert Point(1, 2) != (1, 2, [])
    assert hash(Point(1, 2, ())) == hash(Point(1, 2, ()))  # type: ignore[arg-type]
    assert repr(Point(1)) == "Point(x=1, y=0, tags=[])"
    with pytest.raises(TypeError):
        hash(Counter())  # mutable: unhashable


def test_frozen_records_refuse_assignment_and_mutable_ones_take_it():
    with pytest.raises(FrozenInstanceError):
        Point(1).x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del Point(1).x  # type: ignore[misc]
    counter = Counter()
    counter.n += 1
    assert counter.n == 1


def test_keyword_only_records_and_inheritance():
    child = Child(b="x", c=Point(3))
    assert [f.name for f in fields(Child)] == ["a", "b", "c"]
    assert (child.a, child.b, child.c) == (5, "x", Point(3))
    with pytest.raises(TypeError, match="keyword arguments only"):
        Child(1)


def test_bad_arguments_are_type_errors_as_a_constructor_s_would_be():
    for make in (lambda: Point(), lambda: Point(1, 2, [], 4), lambda: Point(1, x=2), lambda: Point(1, z=3)):
        with pytest.raises(TypeError):
            make()


def test_replace_and_asdict():
    child = Child(c=Point(1, tags=["t"]))
    changed = replace(child, b="new")
    assert changed.b == "new" and changed.c == child.c and child.b == "b"
    assert asdict(child) == {"a": 5, "b": "b", "c": {"x": 1, "y": 0, "tags": ["t"]}}
    with pytest.raises(TypeError):
        replace(child, nope=1)
