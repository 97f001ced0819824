"""Typed records: the part of dataclasses this project uses, without its start-up cost.

`@typed_record`, or `@typed_record(frozen=True, kw_only=True)`, makes a class whose
annotations name its fields into a record: an __init__ that takes them (by position
unless `kw_only`),
defaults and `field(default_factory=..., metadata=...)`, value equality, a repr, and with
`frozen` no assignment after __init__ (and a hash). `fields`, `replace` and `asdict`
work as dataclasses' do. A record's fields are its bases' (in their order), then its own.

Why not dataclasses: importing it imports inspect, and it writes and compiles the source
of every method of every class, some 8 ms for the module and 1 ms a class here, paid
again by every mh-spawn, supervisor and mh-run. Nothing here compiles: one __init__ for
all records reads the class's tuple of fields.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any, Callable, TypeVar, dataclass_transform

    T = TypeVar("T")
else:
    def dataclass_transform(**_options):  # PEP 681's marker, for the type checker alone
        return lambda decorated: decorated


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record."""


class Field:
    """One field: its name, its default (or a factory for one) and free-form metadata."""

    __slots__ = ("name", "default", "default_factory", "metadata")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING,
                 metadata: dict[str, Any] | None = None) -> None:
        self.name = ""
        self.default, self.default_factory = default, default_factory
        self.metadata = metadata or {}

    def initial(self, owner: str) -> Any:
        if self.default is not MISSING:
            return self.default
        if self.default_factory is not MISSING:
            return self.default_factory()
        raise TypeError(f"{owner}() is missing the argument {self.name!r}")


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] | Any = MISSING,
          metadata: dict[str, Any] | None = None) -> Any:
    return Field(default, default_factory, metadata)


@dataclass_transform(field_specifiers=(field,))
def typed_record(cls: Any = None, /, *, frozen: bool = False, kw_only: bool = False) -> Any:
    """Make `cls` a record (see the module's docstring)."""
    def make(cls: Any) -> Any:
        merged: dict[str, Field] = {}
        for base in reversed(cls.__mro__[1:]):
            merged.update((f.name, f) for f in base.__dict__.get("__record_fields__", ()))
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                continue
            value = cls.__dict__.get(name, MISSING)
            spec = value if isinstance(value, Field) else Field(default=value)
            spec.name = name
            if isinstance(value, Field):  # as in dataclasses: the class attribute is the default, if any
                if spec.default is MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, spec.default)
            merged[name] = spec
        cls.__record_fields__ = tuple(merged.values())
        cls.__record_kw_only__ = kw_only
        cls.__init__, cls.__repr__, cls.__eq__ = _init, _repr, _eq
        cls.__hash__ = _hash if frozen else None  # type: ignore[assignment]
        if frozen:
            cls.__setattr__, cls.__delattr__ = _refuse_setattr, _refuse_delattr
        return cls

    return make if cls is None else make(cls)


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    specs = cls.__record_fields__
    if args and cls.__record_kw_only__:
        raise TypeError(f"{cls.__name__}() takes keyword arguments only")
    if len(args) > len(specs):
        raise TypeError(f"{cls.__name__}() takes {len(specs)} arguments, not {len(args)}")
    values = {f.name: a for f, a in zip(specs, args)}
    for name, value in kwargs.items():
        if name in values or name not in {f.name for f in specs}:
            raise TypeError(f"{cls.__name__}() got {'twice' if name in values else 'an unexpected'} argument {name!r}")
        values[name] = value
    for spec in specs:
        object.__setattr__(self, spec.name, values[spec.name] if spec.name in values else spec.initial(cls.__name__))


def _values(obj: Any) -> tuple[Any, ...]:
    return tuple(getattr(obj, f.name) for f in obj.__record_fields__)


def _repr(self: Any) -> str:
    return f"{type(self).__name__}({', '.join(f'{f.name}={getattr(self, f.name)!r}' for f in self.__record_fields__)})"


def _eq(self: Any, other: object) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: Any) -> int:
    return hash(_values(self))


def _refuse_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def fields(obj: Any) -> tuple[Field, ...]:
    """The fields of a record, or of a record class, in order."""
    return obj.__record_fields__


def replace(obj: T, **changes: Any) -> T:
    """A copy of record `obj` with `changes`, through its __init__."""
    return type(obj)(**{**{f.name: getattr(obj, f.name) for f in fields(obj)}, **changes})


def asdict(obj: Any) -> Any:
    """A record as a dict, records within it too (and in lists, tuples and dicts)."""
    if hasattr(type(obj), "__record_fields__"):
        return {f.name: asdict(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, (list, tuple)):
        return type(obj)(asdict(v) for v in obj)
    if isinstance(obj, dict):
        return {k: asdict(v) for k, v in obj.items()}
    return obj
