"""Enumerations: the part of the standard enum module this project uses, without its
start-up cost.

`class Exit(IntEnum)` and `class Status(StrEnum)` behave as the standard library's do in
everything this project asks of them. Every public class attribute of the value type
(int or str) becomes a member: an instance of the class that is also the int or str it
stands for, so it compares, hashes and goes into JSON as that value. `Cls(value)` finds
a member by value (ValueError if there is none), `Cls[name]` by name (KeyError),
iterating the class gives the members in the order written. A member has `name` and
`value`; str() and format() give the value, repr() `<Cls.NAME: value>`; it copies and
pickles as itself.

Why not enum: importing it imports functools and collections and builds enums of its
own, some 3.5 ms, and every mh-* start needs the exit statuses. For an `mh-spawn
--detach`, some 20 ms in all, that is a sixth of its time. Type checkers are shown the
standard classes, so members type-check as before.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from enum import IntEnum, StrEnum
    from typing import Any
else:
    class _EnumType(type):
        """Turns the class's public attributes of its value type into its members."""

        def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> type:
            cls = super().__new__(mcs, name, bases, namespace)
            members: dict[str, Any] = {}
            for key, value in namespace.items():
                if not key.startswith("_") and type(value) is cls._value_type_:
                    member = cls._value_type_.__new__(cls, value)
                    member._name_, member._value_ = key, value
                    type.__setattr__(cls, key, member)
                    members[key] = member
            type.__setattr__(cls, "_members_", members)
            # A member equals and hashes as its value, so it is its own key for the value.
            type.__setattr__(cls, "_by_value_", {member: member for member in members.values()})
            return cls

        def __call__(cls, value: Any) -> Any:
            try:
                return cls._by_value_[value]
            except (KeyError, TypeError):  # TypeError: an unhashable value is no member's either
                raise ValueError(f"{value!r} is not a valid {cls.__qualname__}") from None

        def __getitem__(cls, name: str) -> Any:
            return cls._members_[name]

        def __iter__(cls) -> Any:
            return iter(cls._members_.values())

        def __len__(cls) -> int:
            return len(cls._members_)

        def __contains__(cls, value: object) -> bool:
            try:
                return value in cls._by_value_
            except TypeError:
                return False

        def __setattr__(cls, name: str, value: Any) -> None:
            if name in cls.__dict__.get("_members_", ()):
                raise AttributeError(f"cannot reassign member {name!r}")
            super().__setattr__(name, value)

        def __delattr__(cls, name: str) -> None:
            if name in cls.__dict__.get("_members_", ()):
                raise AttributeError(f"cannot delete member {name!r}")
            super().__delattr__(name)

    class _Member:
        """What a member adds to its int or str. First in the bases, so its methods win."""

        _value_type_: type = object  # int or str, in the two classes below
        _name_: str
        _value_: Any  # the plain int or str

        @property
        def name(self) -> str:
            return self._name_

        @property
        def value(self) -> Any:
            return self._value_

        def __repr__(self) -> str:
            return f"<{type(self).__name__}.{self._name_}: {self.value!r}>"

        def __str__(self) -> str:
            return str(self.value)

        def __format__(self, spec: str) -> str:
            return format(self.value, spec)

        def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
            return type(self), (self.value,)

        def __copy__(self) -> Any:
            return self

        def __deepcopy__(self, memo: Any) -> Any:
            return self

    class IntEnum(_Member, int, metaclass=_EnumType):
        _value_type_ = int

    class StrEnum(_Member, str, metaclass=_EnumType):
        _value_type_ = str
