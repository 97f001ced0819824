"""Shared context: `.harness/shared/context/<key>`, one small file per key.

A value is published by writing a temporary file beside it and renaming it over the key:
readers see the old value or the new one, never a mix; the last writer wins. Removing a
key unlinks its file. Keys look like ids but may be longer (`db.url`). See mh-harness(7).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from metaharness.exits import Exit, MhError
from metaharness.tree import atomic_write

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Final

MAX_KEY_LENGTH: Final = 128
MAX_VALUE_BYTES: Final = 1024 * 1024
_KEY: Final = r"[A-Za-z0-9][A-Za-z0-9._-]*"  # compiled by re when a key is first checked


def context_dir(tree: Path) -> Path:
    return tree / "shared" / "context"


def validate_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not re.fullmatch(_KEY, key):
        shown = key if len(key) <= 40 else key[:40] + "..."
        raise MhError(f"invalid key {shown!r}: use letters, digits, '.', '_', '-' (at most {MAX_KEY_LENGTH})", Exit.USAGE)
    return key


def set_value(tree: Path, key: str, value: bytes) -> None:
    validate_key(key)
    if len(value) > MAX_VALUE_BYTES:
        raise MhError(f"the value is longer than the limit of {MAX_VALUE_BYTES} bytes", Exit.USAGE)
    directory = context_dir(tree)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(directory / key, value, durable=True)  # the moment the value changes


def get_value(tree: Path, key: str) -> bytes:
    try:
        return (context_dir(tree) / validate_key(key)).read_bytes()
    except FileNotFoundError:
        raise MhError(f"no such key: {key}", Exit.NOT_FOUND) from None


def remove(tree: Path, key: str) -> bool:
    """Remove a key; False if it was not there."""
    try:
        os.unlink(context_dir(tree) / validate_key(key))
    except FileNotFoundError:
        return False
    return True


def items(tree: Path) -> list[tuple[str, bytes]]:
    """Every key and its value, sorted by key."""
    directory = context_dir(tree)
    try:
        names = sorted(n for n in os.listdir(directory) if not n.startswith("."))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        try:
            found.append((name, (directory / name).read_bytes()))
        except (FileNotFoundError, IsADirectoryError):
            continue  # removed meanwhile, or not a value at all: a prompt must still be written
    return found
