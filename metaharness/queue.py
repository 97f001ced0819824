"""The work queue: `.harness/queue/{pending,claimed,done,failed}/`, claimed with link(2).

An item is a JSON file in pending/ whose name sorts by priority, then by the time it was
added (FIFO within a priority). A worker claims an item by hard-linking a file that names
it (worker, host, pid, start time, lease) to `claimed/<item>.claim`: link fails with
EEXIST if the name exists, so of any number of claimers exactly one wins, with no lock,
and the claim is complete the moment it exists (its content was written before). Unlike
open(O_EXCL), link is atomic on NFS too, and unlike rename it never replaces. The winner
then moves the item from pending/ to claimed/. A claim whose owner is provably gone is
reclaimed: the item returns to pending/ as one more attempt. On the owner's own host that
is its worker lock being free; on another host, its pool's heartbeat older than the pool's
host timeout (see fleet.py), or its lease expired.

An item's name is `PP-NNNNNNNNNNNNNNNNNNNN-STEM`: its priority (2 digits), the time it was
added (20 digits of nanoseconds) and up to 40 ASCII letters, digits, '.', '_' or '-' from
its roadmap's name, never ending in `.claim`. Only files so named are items, and the file's
name, not the record's `item` field, says which. Every name an operator gives is checked
with `validate_item_name` before it is joined to a state directory, so no name
(`../FORMAT`, an absolute path) ever reaches a file outside the queue. See mh-harness(7).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from metaharness import fleet, liveness
from metaharness.exits import Exit, MhError
from metaharness.records import typed_record
from metaharness.roadmap import load_roadmap
from metaharness.tree import atomic_write, fsync_dir, now_iso, read_json

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any, Final

PRIORITIES: Final = {"high": 10, "normal": 50, "low": 90}
STATES: Final = ("pending", "claimed", "done", "failed")
DEFAULT_LEASE_SECONDS: Final = 3600.0
MAX_STEM_LENGTH: Final = 40  # characters of the roadmap's name kept in the item's name
# Never ending in `.claim`, the suffix of claim files beside the items in claimed/.
_ITEM_NAME: Final = re.compile(r"\d{2}-\d{20}-[A-Za-z0-9._-]{1,%d}(?<!\.claim)" % MAX_STEM_LENGTH)


@typed_record(frozen=True)
class Owner:
    worker: str
    host: str
    pid: int
    pid_start: int | None
    lease_until: float
    pool: str | None = None  # None: a claim made by an older metaharness, judged by its lease

    def alive(self, queue_dir: Path) -> bool:
        """Provably alive: its worker lock held (same host); elsewhere, its lease running
        and its pool's heartbeat fresh."""
        if self.host == liveness.this_host():
            return liveness.lock_is_held(queue_dir / "workers" / f"{self.worker}.lock")
        if time.time() >= self.lease_until:
            return False
        return self.pool is None or fleet.alive(queue_dir / "pools" / self.pool)


def queue_dir(tree: Path) -> Path:
    return tree / "queue"


def ensure(tree: Path) -> Path:
    q = queue_dir(tree)
    for sub in (*STATES, "workers"):
        (q / sub).mkdir(parents=True, exist_ok=True)
    return q


def is_item_name(name: str) -> bool:
    """Whether `name` has the shape of an item's name (what `mh-queue ls` prints)."""
    return _ITEM_NAME.fullmatch(name) is not None


def validate_item_name(name: str) -> str:
    """Return `name` if it may name an item, else raise a usage error."""
    if is_item_name(name):
        return name
    shown = name if len(name) <= 64 else name[:64] + "..."  # no item's name is longer
    raise MhError(f"invalid item name {shown!r}: an item is named PRIORITY-TIME-NAME, as mh-queue ls prints it",
                  Exit.USAGE)


def parse_priority(text: str) -> int:
    if text in PRIORITIES:
        return PRIORITIES[text]
    if text.isascii() and text.isdigit() and int(text) < 100:  # '²' is a digit to isdigit, not to int
        return int(text)
    raise MhError(f"not a priority: {text!r} (high, normal, low, or 0-99, lower first)", Exit.USAGE)


def harness_for(name: str) -> str:
    """The id of the harness that works on item `name` (a valid item name): q-STEM-NNNNNNNN.

    Derived from the name, never read from the item's file, so an edited or forged record
    cannot point a worker at a path outside the tree."""
    return f"q-{name[24:]}-{name[3:23][-8:]}"


def add(tree: Path, roadmap: Path, priority: int, max_attempts: int) -> str:
    """Queue a roadmap (refused as mh-spawn would refuse it); return the item's name."""
    load_roadmap(roadmap)
    q = ensure(tree)
    # ASCII only: the stem is part of the item's name and of its harness id.
    stem = "".join(c if c.isascii() and c.isalnum() or c in "._-" else "-" for c in roadmap.stem)
    stem = stem[:MAX_STEM_LENGTH] or "item"
    if stem.endswith(".claim"):
        stem = stem[:-6] + "-claim"
    name = f"{priority:02d}-{time.time_ns():020d}-{stem}"
    record = {"item": name, "harness": harness_for(name), "roadmap": str(roadmap.absolute()),
              "priority": priority, "added": now_iso(), "attempts": 0, "max_attempts": max_attempts,
              "not_before": 0.0, "last_reason": None}
    atomic_write(q / "pending" / name, json.dumps(record), durable=True)  # the moment it is queued
    return name


def claim(tree: Path, worker: str, lease: float = DEFAULT_LEASE_SECONDS, pool: str | None = None) -> dict[str, Any] | None:
    """Claim the first ready pending item for `worker` (of `pool`); None if there is none."""
    q = ensure(tree)
    now = time.time()
    owner = {"worker": worker, "host": liveness.this_host(), "pid": os.getpid(), "pool": pool,
             "pid_start": liveness.process_start_time(os.getpid()), "lease_until": now + lease, "claimed": now_iso()}
    ticket = q / "workers" / f".{worker}.{os.getpid()}.{os.urandom(4).hex()}.ticket"
    written = False
    try:
        for name in sorted(_names(q / "pending")):
            if (q / "claimed" / f"{name}.claim").exists():
                continue
            try:
                record = read_json(q / "pending" / name)
            except (FileNotFoundError, ValueError):
                continue
            record["item"] = name  # the file's name is the item's: settling it touches no other
            if record.get("not_before", 0) > now:
                continue
            if not written:  # only when there is something to claim: idle polls write nothing
                ticket.write_text(json.dumps(owner))
                written = True
            try:
                os.link(ticket, q / "claimed" / f"{name}.claim")  # the claim: exactly one claimer wins
            except FileExistsError:
                # On NFS a link whose reply was lost is sent again, and the retry says EEXIST
                # although the first one made the claim: the ticket's link count tells (open(2)).
                if os.stat(ticket).st_nlink != 2:
                    continue
            try:
                os.rename(q / "pending" / name, q / "claimed" / name)
            except FileNotFoundError:
                # Finished and gone meanwhile; unless (NFS) our own rename went through and
                # only its retry failed: nobody but the claim's holder moves an item in.
                if not (q / "claimed" / name).exists():
                    os.unlink(q / "claimed" / f"{name}.claim")
                    continue
            return record
        return None
    finally:
        ticket.unlink(missing_ok=True)


def renew(tree: Path, name: str, lease: float = DEFAULT_LEASE_SECONDS) -> None:
    """Extend a live claim's lease (for readers on other hosts, who judge by it)."""
    claim_file = queue_dir(tree) / "claimed" / f"{name}.claim"
    owner = read_json(claim_file)
    owner["lease_until"] = time.time() + lease
    atomic_write(claim_file, json.dumps(owner))  # replacing our own claim, not claiming


def finish(tree: Path, name: str, ok: bool, reason: str, backoff: float = 60.0,
           result: dict[str, Any] | None = None) -> str:
    """Settle a claimed item: done, retried later (pending), or failed; return where it went.
    `result`, what its harness's result.json said, stays with the item: the harness's
    directory may be pruned later (mh-pool --keep-done, mh-clean --older-than)."""
    q = queue_dir(tree)
    record = read_json(q / "claimed" / name)
    record["attempts"] += 1
    record["last_reason"] = reason
    record["settled"] = now_iso()
    if result is not None:
        record["result"] = result
    if ok:
        where = "done"
    elif record["attempts"] >= record["max_attempts"]:
        where = "failed"
    else:
        where = "pending"
        record["not_before"] = time.time() + backoff * 2 ** (record["attempts"] - 1)
    _move(q, name, where, record)
    return where


def release(tree: Path, name: str) -> None:
    """Give a claimed item back untried (a worker shutting down): not an attempt."""
    q = queue_dir(tree)
    _move(q, name, "pending", read_json(q / "claimed" / name))


def _move(q: Path, name: str, where: str, record: dict[str, Any]) -> None:
    atomic_write(q / where / name, json.dumps(record), durable=True)  # the item is there now
    (q / "claimed" / name).unlink(missing_ok=True)
    (q / "claimed" / f"{name}.claim").unlink(missing_ok=True)


def reclaim_stale(tree: Path) -> list[str]:
    """Return the items of owners provably gone to pending/, each as one more attempt;
    then remove the directories of gone pools that hold nothing any more."""
    returned, holding = _reclaim(ensure(tree))
    fleet.prune_gone(tree, holding)
    return returned


def _reclaim(q: Path) -> tuple[list[str], set[str | None]]:
    """The items returned, and the pools of the claims left as they were."""
    returned, holding = [], set()
    for claim_file in sorted((q / "claimed").glob("*.claim")):
        name = claim_file.name.removesuffix(".claim")
        if not is_item_name(name):
            continue
        try:
            seen = claim_file.stat().st_ino
            owner = Owner(**{k: v for k, v in read_json(claim_file).items() if k in Owner.__annotations__})
        except (FileNotFoundError, ValueError, TypeError):
            continue
        if owner.alive(q):
            holding.add(owner.pool)
            continue
        if (taken := _take_over(claim_file, seen)) is None:
            continue
        try:
            record = read_json(q / "claimed" / name)
        except FileNotFoundError:
            taken.unlink()  # it died before moving the item: still pending
            returned.append(name)
            continue
        record["attempts"] += 1
        record["last_reason"] = f"worker {owner.worker} on {owner.host} vanished"
        where = "failed" if record["attempts"] >= record["max_attempts"] else "pending"
        # Updated in place, then moved in one rename: once pending, the item may be claimed
        # at once (its claim's name is free), so nothing may touch claimed/<item> after.
        atomic_write(q / "claimed" / name, json.dumps(record), durable=True)
        os.rename(q / "claimed" / name, q / where / name)
        fsync_dir(str(q / where))
        taken.unlink()
        returned.append(name)
    return returned, holding


def _take_over(claim_file: Path, seen: int) -> Path | None:
    """Take a stale claim out of the way by renaming it, so that of several reclaimers
    (pools on several hosts) exactly one returns the item; None if another got there
    first, or if the claim is no longer the one judged stale (an item reclaimed and
    claimed anew meanwhile: that live claim is put back)."""
    taken = claim_file.with_name(f".{claim_file.name}.{os.getpid()}.{os.urandom(4).hex()}.reclaim")
    try:
        os.rename(claim_file, taken)
    except FileNotFoundError:
        if not taken.exists():  # on NFS a rename whose reply was lost is retried, and fails
            return None
    if os.stat(taken).st_ino != seen:
        os.rename(taken, claim_file)  # free: no claimer links a claim for an item not pending
        return None
    return taken


def counts(tree: Path) -> dict[str, int]:
    """How many items are in each state, without reading them."""
    q = queue_dir(tree)
    return {state: len(_names(q / state)) for state in STATES}


def _names(directory: Path) -> list[str]:
    """The items in one state's directory: not temporary files, not claim files, nothing else."""
    try:
        return [n for n in os.listdir(directory) if is_item_name(n)]
    except FileNotFoundError:
        return []


def drained(tree: Path) -> bool:
    """Nothing pending or claimed: every item is done or failed."""
    return not any(i["state"] in ("pending", "claimed") for i in items(tree))


def items(tree: Path) -> list[dict[str, Any]]:
    """Every item with its state (and owner, when claimed), pending first in claim order."""
    q = queue_dir(tree)
    found = []
    for state in STATES:
        for name in sorted(_names(q / state)):
            try:
                record = read_json(q / state / name)
            except (FileNotFoundError, ValueError):
                continue
            record.update(item=name, state=state)
            if state == "claimed":
                try:
                    record["owner"] = read_json(q / "claimed" / f"{name}.claim")
                except (FileNotFoundError, ValueError):
                    record["owner"] = None
            found.append(record)
    return found


def operator_move(tree: Path, name: str, action: str) -> None:
    """`retry`: a failed (or done) item back to pending with its attempts reset; `drop`: remove it."""
    validate_item_name(name)
    q = queue_dir(tree)
    for state in ("failed", "done", "pending"):
        path = q / state / name
        if path.is_file():
            break
    else:
        raise MhError(f"no such item: {name} (a claimed item cannot be changed)", Exit.NOT_FOUND)
    if action == "drop":
        path.unlink()
        return
    record = read_json(path)
    record.update(item=name, attempts=0, not_before=0.0)
    atomic_write(q / "pending" / name, json.dumps(record), durable=True)
    if state != "pending":
        path.unlink()
