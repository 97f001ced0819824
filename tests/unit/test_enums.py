"""metaharness.enums against the standard library's enum: the same class, written once for
each, must behave the same in everything the project asks of it."""

import copy
import enum
import json
import pickle

import pytest

from metaharness import enums
from metaharness.clean import Action
from metaharness.exits import Exit
from metaharness.statuses import LIVE_STATUSES, Status


def _code(base):
    class Code(base):
        """Exit codes."""

        OK = 0
        FAILED = 1
        USAGE = 2
        SIGINT = 130

    return Code


def _word(base):
    class Word(base):
        RUNNING = "running"
        DONE = "done"
        EMPTY = ""

        @property
        def is_done(self):
            return self == "done"

    return Word


def _module_level(cls, qualname):
    cls.__qualname__ = qualname  # where pickle finds it; repr() still says Code or Word
    return cls


OurCode = _module_level(_code(enums.IntEnum), "OurCode")
StdCode = _module_level(_code(enum.IntEnum), "StdCode")
OurWord = _module_level(_word(enums.StrEnum), "OurWord")
StdWord = _module_level(_word(enum.StrEnum), "StdWord")


def _pair(kind):
    """The same enumeration made from ours and from the standard library's base."""
    return (OurCode, StdCode) if kind == "int" else (OurWord, StdWord)


def _behaviour(cls, probes):
    seen = {
        "members": [(m.name, m.value, type(m.value)) for m in cls],
        "len": len(cls),
        "by_name": [cls[m.name] is m for m in cls],
        "by_value": [cls(m.value) is m and cls(m) is m for m in cls],
        "text": [(str(m), f"{m}", f"{m:>6}", repr(m).replace("enum.", "")) for m in cls],
        "json": json.dumps({"all": list(cls), "first": next(iter(cls))}),
        "plain": [(m == m.value, hash(m) == hash(m.value), isinstance(m, cls)) for m in cls],
        "copies": [pickle.loads(pickle.dumps(m)) is m and copy.copy(m) is m and copy.deepcopy(m) is m for m in cls],
        "contains": [m in cls for m in cls],
    }
    for probe in probes:
        try:
            seen[f"call {probe!r}"] = cls(probe).name
        except ValueError as e:
            seen[f"call {probe!r}"] = ("ValueError", str(e).replace(cls.__qualname__, "Cls"))
    try:
        cls["NOPE"]
    except KeyError:
        seen["missing name"] = "KeyError"
    return seen


@pytest.mark.parametrize("kind, probes", [
    ("int", [0, 130, 3, -1, True, "0", [1]]),
    ("str", ["running", "", "Running", "done ", 0, ["done"]]),
])
def test_ours_behave_as_the_standard_library_s(kind, probes):
    ours, theirs = _pair(kind)
    assert _behaviour(ours, probes) == _behaviour(theirs, probes)


def test_properties_and_methods_of_the_class_are_not_members():
    ours, theirs = _pair("str")
    assert [m.name for m in ours] == ["RUNNING", "DONE", "EMPTY"]
    assert ours.DONE.is_done is theirs.DONE.is_done is True


def test_members_cannot_be_reassigned_or_deleted():
    ours, _ = _pair("int")
    with pytest.raises(AttributeError):
        ours.OK = 5
    with pytest.raises(AttributeError):
        del ours.OK
    assert ours.OK == 0 and ours(0) is ours.OK


def test_the_project_s_enumerations_are_built_on_them():
    assert [int(e) for e in Exit][:3] == [0, 1, 2] and Exit(124) is Exit.TIMEOUT and Exit["USAGE"] == 2
    assert Status("running") is Status.RUNNING and Status.RUNNING.is_live and not Status.COMPLETED.is_live
    assert "paused" in LIVE_STATUSES and json.dumps([Status.DEAD, Exit.DEAD]) == '["dead", 5]'
    assert Action("refused") is Action.REFUSED and f"{Action.REMOVED}" == "removed"
