"""Files a user names (a roadmap, a prompt template, a plan): read without ever hanging.

Such a file is read only if it is a regular file, up to a size limit. It is checked with
stat before it is opened (opening some devices acts on them), opened with O_NONBLOCK, and
checked again with fstat before anything is read, so a FIFO, a directory or a device in
its place is refused at once, with the reason, instead of blocking its reader for ever.
"""

from __future__ import annotations

import errno
import os
import stat

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path


def read_limited(path: Path | str, limit: int) -> bytes:
    """The contents of the regular file `path`; OSError (its strerror the reason) if it is
    missing, not a regular file, or larger than `limit` bytes."""
    _refuse_special(os.stat(path).st_mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        _refuse_special(os.fstat(fd).st_mode)  # replaced by a FIFO since the stat: still no read
        data = f.read(limit + 1)  # no need to read more to refuse it
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than the limit of {_size(limit)}")
    return data


def read_text(path: Path | str, limit: int) -> str:
    """As read_limited, decoded as UTF-8 (UnicodeDecodeError if it is not)."""
    return read_limited(path, limit).decode("utf-8")


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else f"{n // 1024} KiB" if n % 1024 == 0 else f"{n} bytes"


def _refuse_special(mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else
                "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "of an unknown kind")
        raise OSError(errno.EINVAL, f"not a regular file ({kind})")
