"""json.loads and json.dumps for the paths every verb start pays, without importing json.

Importing the json package compiles its regular expressions, and so imports re: some
4 ms of an `mh-wait` or `mh-send` whose whole budget is twice the interpreter's start.
CPython's own C scanner and encoder (`_json`, what json uses underneath) need neither.
What they accept and produce is json's: a document they do not take plainly (malformed,
a byte-order mark, UTF-16) is handed to json itself, which gives the same value or raises
its usual error. Elsewhere, and for indented output, use json.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any

try:
    from _json import encode_basestring as _quote_unicode
    from _json import encode_basestring_ascii as _quote
    from _json import make_encoder as _make_encoder
    from _json import make_scanner as _make_scanner
except ImportError:  # another Python: json itself, at its usual cost
    _make_scanner = None

_WHITESPACE = " \t\n\r"
_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class _Decoding:
    """The settings json.loads passes its scanner, at their defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__
    memo: dict[str, str] = {}


_scan = None if _make_scanner is None else _make_scanner(_Decoding())


def loads(data: bytes | str) -> Any:
    """json.loads(data)."""
    if _scan is None or (isinstance(data, bytes) and (data[:1] in (b"\xef", b"\xfe", b"\xff") or b"\x00" in data[:4])):
        return _json_loads(data)
    try:
        text = data.decode("utf-8", "surrogatepass") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        return _json_loads(data)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except (StopIteration, ValueError, SystemError):
        # Malformed: json raises its own error for it. (The C scanner raises json.decoder's
        # JSONDecodeError, which until json is imported it can only report as a SystemError.)
        return _json_loads(data)
    if text.startswith("\ufeff") or text[end:].strip(_WHITESPACE):
        return _json_loads(data)
    return value


def dumps(value: Any, *, sort_keys: bool = False, ensure_ascii: bool = True) -> str:
    """json.dumps(value, sort_keys=sort_keys, ensure_ascii=ensure_ascii): one line, json's separators."""
    if _make_scanner is None:
        import json

        return json.dumps(value, sort_keys=sort_keys, ensure_ascii=ensure_ascii)
    # markers (circular references), default, string encoder, indent, separators, sort_keys,
    # skipkeys, allow_nan: json.dumps's defaults.
    quote = _quote if ensure_ascii else _quote_unicode
    encode = _make_encoder({}, _unserializable, quote, None, ": ", ", ", sort_keys, False, True)
    return "".join(encode(value, 0))


def _unserializable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _json_loads(data: bytes | str) -> Any:
    import json

    return json.loads(data)
