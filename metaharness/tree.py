"""The .harness/ tree: where it is, what ids may be, and how files in it are published.

The tree is found like git finds .git: `$MH_ROOT` names the project directory that holds
`.harness/`, else the nearest ancestor of the cwd that has one, else (for a verb that
creates harnesses) the cwd. `.harness/FORMAT` holds the tree format version; a tree from a
newer metaharness is refused rather than misread.

Every file another process reads is published by writing a temporary file in the same
directory and renaming it over the target, so readers see the old or the new content,
never a prefix. See mh-harness(7).
"""

from __future__ import annotations

import os
import time

from metaharness import jsonio
from metaharness.exits import Exit, MhError

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Final

# Neither pathlib nor re nor json is imported here: with them, `mh-send` and `mh-wait`
# would start 8 ms later, near twice the interpreter's own start. The verbs users call in
# loops take the tree as a str (find_tree_dir); the rest take a Path (find_tree).

FORMAT_VERSION: Final = 1
TREE_NAME: Final = ".harness"
MAX_ID_LENGTH: Final = 64
# Names the tree uses for itself, now or in the formats the design already plans.
RESERVED_IDS: Final = frozenset({"FORMAT", "shared", "queue", "runs", "hooks", "pool", "limits", "budgets", "prices.json"})
_ID_FIRST: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_ID_CHARACTERS: Final = _ID_FIRST | frozenset("._-")


def validate_id(harness_id: str) -> str:
    """Return `harness_id` if it may name a harness directory, else raise a usage error."""
    if not harness_id:
        problem = "is empty"
    elif len(harness_id) > MAX_ID_LENGTH:
        problem = f"is longer than {MAX_ID_LENGTH} characters"
    elif harness_id[0] not in _ID_FIRST or not _ID_CHARACTERS.issuperset(harness_id):
        problem = "may hold only letters, digits, '.', '_' and '-', and must start with a letter or digit"
    elif harness_id in RESERVED_IDS:
        problem = "is reserved by the .harness tree"
    else:
        return harness_id
    shown = harness_id if len(harness_id) <= 40 else harness_id[:40] + "..."
    raise MhError(f"invalid harness id {shown!r}: it {problem}", Exit.USAGE)


def locate_tree() -> Path:
    """Where `.harness/` is, or would be created: under $MH_ROOT, an ancestor, or the cwd."""
    from pathlib import Path

    return Path(locate_tree_dir())


def locate_tree_dir() -> str:
    """locate_tree, as a str."""
    env_root = os.environ.get("MH_ROOT")
    if env_root:
        if not os.path.isdir(env_root):
            raise MhError(f"MH_ROOT={env_root} is not a directory", Exit.USAGE)
        return os.path.join(os.path.abspath(env_root), TREE_NAME)
    cwd = directory = os.getcwd()
    while True:
        if os.path.isdir(os.path.join(directory, TREE_NAME)):
            return os.path.join(directory, TREE_NAME)
        parent = os.path.dirname(directory)
        if parent == directory:
            return os.path.join(cwd, TREE_NAME)
        directory = parent


def find_tree(create: bool = False) -> Path | None:
    """Locate `.harness/` (creating it in the project root if `create`); None if absent.

    The tree is private unless its owner opened it up: it is created 0700, and whatever is
    found, this process creates its files with no more permission than the top directory
    grants (see adopt_tree_mode)."""
    found = find_tree_dir(create)
    if found is None:
        return None
    from pathlib import Path

    return Path(found)


def find_tree_dir(create: bool = False) -> str | None:
    """find_tree, as a str."""
    candidate = locate_tree_dir()
    if os.path.isdir(candidate):
        check_format(candidate)
        adopt_tree_mode(candidate)
        return candidate
    if not create:
        return None
    try:
        os.makedirs(os.path.dirname(candidate), exist_ok=True)
        _tighten_umask(0o700)
        try:
            os.mkdir(candidate, 0o700)
        except FileExistsError:
            pass
        adopt_tree_mode(candidate)
        for sub in (".tmp", ".archive"):
            try:
                os.mkdir(os.path.join(candidate, sub))
            except FileExistsError:
                pass
        if not os.path.exists(os.path.join(candidate, "FORMAT")):
            atomic_write(os.path.join(candidate, "FORMAT"), f"{FORMAT_VERSION}\n")
    except OSError as e:
        raise MhError(f"cannot create {candidate}: {e.strerror}", Exit.SYSTEM) from e
    return candidate


def adopt_tree_mode(tree: Path | str) -> None:
    """Create files with at most the permissions of the tree's top directory, whatever the
    umask: a 0700 tree (the default) gets 0600 files and 0700 directories. Opened to a group
    (`chmod 0770 .harness`), with a umask that allows it (002), files are created 0660 and
    directories 0770, so the group can read everything, send messages and stop harnesses.

    Prompts, messages and agent output are private by default on a shared machine. The
    user's own umask is kept in $MH_USER_UMASK for the agents and git (process.user_umask),
    so what they create in the project is as the user would have it."""
    try:
        mode = os.stat(tree).st_mode & 0o777
    except OSError:
        return
    _tighten_umask(mode)


def _tighten_umask(mode: int) -> None:
    current = os.umask(0o077)
    try:
        user = int(os.environ.setdefault("MH_USER_UMASK", f"{current:03o}"), 8) & 0o077
    except ValueError:
        user = current & 0o077
    # No looser than the tree, nor than the user's umask; never the owner's own bits.
    os.umask((~mode & 0o077) | user)


def check_format(tree: Path | str) -> None:
    """Refuse a tree written by a newer (or unknown) format."""
    path = os.path.join(tree, "FORMAT")
    try:
        with open(path, "rb") as f:
            text = f.read(100).decode("utf-8", "replace").strip()
    except FileNotFoundError:
        return  # a tree being created right now; its creator writes FORMAT next
    except OSError as e:
        raise MhError(f"cannot read {path}: {e.strerror}", Exit.BAD_TREE) from e
    if not (text.isascii() and text.isdigit() and len(text) <= 9):  # isdigit() alone passes '²'
        raise MhError(f"{path} is corrupt: {text[:40]!r}", Exit.BAD_TREE)
    if int(text) > FORMAT_VERSION:
        raise MhError(
            f"{tree} has format {text}, newer than this metaharness understands ({FORMAT_VERSION}); upgrade it",
            Exit.BAD_TREE,
        )


def atomic_write(path: Path | str, data: str | bytes, *, durable: bool = False, dir_fd: int | None = None,
                 staging: str | None = None) -> None:
    """Publish `data` at `path` by temp file + rename; `durable` also fsyncs file and directory.

    With `dir_fd`, `path` is relative to that open directory, which pins the write to one
    harness instance even if its name is reused meanwhile. The temp file is made beside
    `path`, or in `staging` (a maildir's tmp/), which must be on the same filesystem.
    """
    path = os.fspath(path)
    head, name = os.path.split(path)
    tmp = os.path.join(head if staging is None else staging, f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    payload = data.encode() if isinstance(data, str) else data
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666, dir_fd=dir_fd)  # the umask decides
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.rename(tmp, path, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)  # the moment of publication
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise
    if durable:
        fsync_dir(head or ".", dir_fd=dir_fd)


def fsync_dir(path: str, dir_fd: int | None = None) -> None:
    """Make a rename in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path | str, record: dict[str, Any], *, durable: bool = False, dir_fd: int | None = None) -> None:
    """Publish `record` as one JSON document on one line, atomically. (Indented, it would
    need json's pure-Python encoder and import: `jq . FILE` shows it indented.)"""
    atomic_write(path, jsonio.dumps(record, sort_keys=True) + "\n", durable=durable, dir_fd=dir_fd)


def read_json(path: Path | str, *, dir_fd: int | None = None) -> dict[str, Any]:
    """Read a JSON object; FileNotFoundError if absent, ValueError if it is not an object."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dir_fd)
    try:  # os.read, not a file object: five system calls fewer, for each file mh-status reads
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    try:
        record = jsonio.loads(data)
    except RecursionError:  # [[[[... a hundred thousand deep
        raise ValueError(f"{path}: nested too deeply") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}: not a JSON object")
    return record


def now_iso(t: float | None = None) -> str:
    """A UTC timestamp with milliseconds, as written in every file of the tree."""
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def parse_iso(text: str) -> float:
    """Inverse of now_iso (seconds since the epoch); ValueError if `text` is not one.

    By arithmetic, not time.strptime: that imports calendar, datetime and locale, and
    mh-status parses a timestamp or two of every harness (scanned by hand: a regular
    expression would bring re, 5 ms of an mh-status)."""
    fields = iso_fields(text)
    if fields is None:
        raise ValueError(f"not a timestamp: {text[:40]!r}")
    year, month, day, hour, minute, second = (int(f) for f in fields[:6])
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not (1 <= month <= 12 and 1 <= day <= _MONTH_DAYS[month - 1] + (month == 2 and leap)
            and hour < 24 and minute < 60 and second < 61):
        raise ValueError(f"not a timestamp: {text[:40]!r}")
    return _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second + float(f"0.{fields[6] or 0}")


def iso_fields(text: str) -> tuple[str, ...] | None:
    """The digits of YYYY-MM-DDTHH:MM:SS[.F][Z] (F: 1 to 9 digits; "" if absent), or None:
    what fullmatch of (\\d{4})-(\\d\\d)-(\\d\\d)T(\\d\\d):(\\d\\d):(\\d\\d)(?:\\.(\\d{1,9}))?Z? groups."""
    if len(text) < 19 or text[4] + text[7] + text[10] + text[13] + text[16] != "--T::":
        return None
    fields = (text[0:4], text[5:7], text[8:10], text[11:13], text[14:16], text[17:19])
    rest = text[19:].removesuffix("Z")
    fraction = rest[1:]
    if not "".join(fields).isdecimal() or rest and not (rest[0] == "." and 1 <= len(fraction) <= 9
                                                          and fraction.isdecimal()):
        return None
    return (*fields, fraction)


_MONTH_DAYS: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a date of the proleptic Gregorian calendar (H. Hinnant)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def new_instance_id() -> str:
    """A sortable, unique name for one spawn of a harness id."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + os.urandom(4).hex()
