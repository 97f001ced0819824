"""Published artifacts: `.harness/shared/artifacts/<publisher>/<name>/NNNN`, versioned.

Publishing copies the file into the artifact's directory under a temporary name, then
claims the next version number with link(2), which fails if the name exists: of two
concurrent publishers each gets its own version, and a version's data, once linked, is
complete and never changes. Its metadata (`NNNN.json`) is published after the claim; a
version counts for readers only once both exist, so a publisher killed in between leaves
an invisible version that the next publisher steps over. See mh-harness(7).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from metaharness import schema
from metaharness.exits import Exit, MhError
from metaharness.records import asdict, typed_record
from metaharness.tree import atomic_write, now_iso, read_json

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Final

_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_VERSION: Final = re.compile(r"[0-9]{4,12}")  # more digits than a count may have is not ours


@typed_record(frozen=True)
class Artifact:
    publisher: str
    name: str
    version: int
    size: int
    sha256: str
    published: str
    source: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def validate_name(name: str, what: str = "artifact name") -> str:
    if not _NAME.fullmatch(name or ""):
        raise MhError(f"invalid {what} {name[:40]!r}: use letters, digits, '.', '_', '-'", Exit.USAGE)
    return name


def artifacts_dir(tree: Path) -> Path:
    return tree / "shared" / "artifacts"


def publish(tree: Path, publisher: str, source: Path, name: str | None = None) -> Artifact:
    """Publish the file `source` as the next version of `publisher`'s artifact `name`."""
    import hashlib  # here: every supervisor imports this module, only publishing hashes

    name = validate_name(name or source.name)
    validate_name(publisher, "publisher")
    directory = artifacts_dir(tree) / publisher / name
    directory.mkdir(parents=True, exist_ok=True)
    staged = directory / f".{os.getpid()}.{os.urandom(4).hex()}.tmp"
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as src, open(staged, "wb") as dst:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        version = _latest(directory) + 1
        while True:
            try:
                os.link(staged, directory / f"{version:04d}")  # the claim: this version is ours
                break
            except FileExistsError:
                version += 1  # a concurrent (or killed) publisher has it
        meta = Artifact(publisher, name, version, staged.stat().st_size, digest.hexdigest(), now_iso(), str(source.absolute()))
        atomic_write(directory / f"{version:04d}.json", json.dumps(meta.as_dict()) + "\n", durable=True)  # now visible
        return meta
    except FileNotFoundError as e:
        if e.filename == str(source):
            raise MhError(f"cannot read {source}: No such file or directory", Exit.USAGE) from None
        raise
    finally:
        staged.unlink(missing_ok=True)


def _versions(directory: Path) -> list[int]:
    """The published versions: data and metadata both present."""
    try:
        names = set(os.listdir(directory))
    except FileNotFoundError:
        return []
    return sorted(int(n) for n in names if _VERSION.fullmatch(n) and f"{n}.json" in names)


def _latest(directory: Path) -> int:
    versions = _versions(directory)
    return versions[-1] if versions else 0


def find(tree: Path, publisher: str, name: str, version: int | None = None) -> tuple[Artifact, Path]:
    """An artifact's metadata and data path (the latest version unless `version`)."""
    directory = artifacts_dir(tree) / validate_name(publisher, "publisher") / validate_name(name)
    version = version or _latest(directory)
    data = directory / f"{version:04d}"
    if not version or version not in _versions(directory):
        raise MhError(f"no such artifact: {publisher}/{name}" + (f" version {version}" if version else ""),
                      Exit.NOT_FOUND)
    meta_path = directory / f"{version:04d}.json"
    try:
        meta = read_json(meta_path)
    except ValueError as e:
        raise MhError(f"{meta_path} is corrupt: {e}", Exit.BAD_TREE) from None
    problem = schema.ARTIFACT.problem(meta)
    if problem:
        raise MhError(f"{meta_path} is corrupt: {problem}", Exit.BAD_TREE)
    return Artifact(**{field: meta[field] for field in schema.ARTIFACT.fields}), data


def listing(tree: Path, publisher: str | None = None, corrupt: list[MhError] | None = None) -> list[Artifact]:
    """The latest version of every artifact (of one publisher), sorted. One whose metadata
    is corrupt is left out, and its error added to `corrupt` if given: the others are still listed."""
    root = artifacts_dir(tree)
    publishers = [publisher] if publisher else sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    found = []
    for who in publishers:
        for directory in sorted((root / who).iterdir()) if (root / who).is_dir() else []:
            if directory.is_dir() and _versions(directory):
                try:
                    found.append(find(tree, who, directory.name)[0])
                except MhError as e:
                    if e.code != Exit.BAD_TREE:
                        raise
                    if corrupt is not None:
                        corrupt.append(e)
    return found


def copy_out(data: Path, destination: Path) -> None:
    """Write a version's data to `destination` atomically."""
    tmp = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    try:
        import shutil

        shutil.copyfile(data, tmp)
        os.replace(tmp, destination)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


