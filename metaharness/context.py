"""Shared context: `.harness/shared/context/<key>`, one small file per key.

A value is published by writing a temporary file beside it and renaming it over the key:
readers see the old value or the new one, never a mix; the last writer wins. Removing a
key unlinks its file. Keys look like ids but may be longer (`db.url`). See mh-harness(7).
"""

from __future__ import annotations

import os

from metaharness.exits import Exit, MhError
from metaharness.tree import atomic_write

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Final

MAX_KEY_LENGTH: Final = 128
MAX_VALUE_BYTES: Final = 1024 * 1024
_KEY: Final = r"[A-Za-z0-9][A-Za-z0-9._-]*"  # compiled by re when a key is first checked


def context_dir(tree: Path | str) -> str:
    return os.path.join(tree, "shared", "context")


def validate_key(key: str) -> str:
    import re  # a key is checked by mh-context only: a supervisor reading the values need not load it

    if not key or len(key) > MAX_KEY_LENGTH or not re.fullmatch(_KEY, key):
        shown = key if len(key) <= 40 else key[:40] + "..."
        raise MhError(f"invalid key {shown!r}: use letters, digits, '.', '_', '-' (at most {MAX_KEY_LENGTH})", Exit.USAGE)
    return key


def set_value(tree: Path | str, key: str, value: bytes) -> None:
    validate_key(key)
    if len(value) > MAX_VALUE_BYTES:
        raise MhError(f"the value is longer than the limit of {MAX_VALUE_BYTES} bytes", Exit.USAGE)
    directory = context_dir(tree)
    os.makedirs(directory, exist_ok=True)
    atomic_write(os.path.join(directory, key), value, durable=True)  # the moment the value changes


def get_value(tree: Path | str, key: str) -> bytes:
    try:
        with open(os.path.join(context_dir(tree), validate_key(key)), "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise MhError(f"no such key: {key}", Exit.NOT_FOUND) from None


def remove(tree: Path | str, key: str) -> bool:
    """Remove a key; False if it was not there."""
    try:
        os.unlink(os.path.join(context_dir(tree), validate_key(key)))
    except FileNotFoundError:
        return False
    return True


def items(tree: Path | str) -> list[tuple[str, bytes]]:
    """Every key and its value, sorted by key."""
    directory = context_dir(tree)
    try:
        names = sorted(n for n in os.listdir(directory) if not n.startswith("."))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        try:
            with open(os.path.join(directory, name), "rb") as f:
                found.append((name, f.read()))
        except (FileNotFoundError, IsADirectoryError):
            continue  # removed meanwhile, or not a value at all: a prompt must still be written
    return found
