"""Pools as the tree records them, whatever host they run on: `.harness/queue/pools/<pool>/`.

A pool's directory holds `pool.json` (who and where it is), `heartbeat` (touched every
interval), `lock` (flocked for the pool's life) and the control files anyone may write:
`size` (how many workers it keeps) and `stop`. A pool's id names its host, its pid and a
random part, so pools with the same pid in different hosts, containers or job steps
never collide.

On its own host a pool is alive while its lock is held, which the kernel drops however it
dies. Another host cannot see that lock, so there a pool is alive while its heartbeat is
younger than its host timeout. That bound must exceed what a reader's view of the
heartbeat can lag behind the truth: on NFS the attribute cache (acregmax, 60 s by
default) may show a heartbeat that old although it is fresh, hence the default of 90 s;
a smaller one risks taking a live pool for dead. See mh-pool(1) and mh-harness(7).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time

from metaharness import liveness
from metaharness.tree import atomic_write, now_iso, read_json

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Final

DEFAULT_HOST_TIMEOUT_SECONDS: Final = 90.0
BEATS_PER_TIMEOUT: Final = 6  # a pool beats six times within its host timeout
_ID_SAFE: Final = re.compile(r"[^A-Za-z0-9.-]+")


def pools_dir(tree: Path) -> Path:
    return tree / "queue" / "pools"


def new_pool_id() -> str:
    """pool-HOST-PID-RANDOM: unique across hosts and pid namespaces."""
    host = _ID_SAFE.sub("-", liveness.this_host())[:32].strip("-.") or "host"
    return f"pool-{host}-{os.getpid()}-{os.urandom(3).hex()}"


def heartbeat_interval(host_timeout: float) -> float:
    return max(0.2, host_timeout / BEATS_PER_TIMEOUT)


def register(tree: Path, pool_id: str, size: int, host_timeout: float, lease: float) -> tuple[Path, int]:
    """Make the pool's directory, lock it and describe the pool; return the directory and
    the lock's fd (held for the pool's life)."""
    directory = pools_dir(tree) / pool_id
    directory.mkdir(parents=True, exist_ok=True)
    lock = liveness.hold_lock(directory / "lock")
    (directory / "heartbeat").touch()
    set_size(tree, pool_id, size)
    atomic_write(directory / "pool.json", json.dumps({
        "id": pool_id, "host": liveness.this_host(), "pid": os.getpid(),
        "pid_start": liveness.process_start_time(os.getpid()), "started": now_iso(),
        "host_timeout": host_timeout, "heartbeat_interval": heartbeat_interval(host_timeout), "lease": lease,
    }, indent=1) + "\n")
    return directory, lock


class Heartbeat:
    """Touch a pool's heartbeat file every interval, from a thread, until stopped."""

    def __init__(self, directory: Path, interval: float) -> None:
        self._path, self._interval = directory / "heartbeat", interval
        self._stopped = threading.Event()
        threading.Thread(target=self._beat, daemon=True).start()

    def _beat(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                os.utime(self._path)
            except OSError:
                pass  # a vanished file must not kill the heartbeat; readers see it stale

    def stop(self) -> None:
        self._stopped.set()


def describe(directory: Path) -> dict[str, Any] | None:
    """What pool.json says, or None if the pool is not (or no longer, or not yet) described."""
    try:
        record = read_json(directory / "pool.json")
    except (OSError, ValueError):
        return None
    return record if isinstance(record.get("host"), str) else None


def alive(directory: Path, record: dict[str, Any] | None = None) -> bool:
    """Provably alive: its lock held (its own host) or its heartbeat fresh (any other)."""
    record = record if record is not None else describe(directory)
    if record is None or record["host"] == liveness.this_host():
        return liveness.lock_is_held(directory / "lock")
    age = heartbeat_age(directory)
    return age is not None and age < _host_timeout(record)


def heartbeat_age(directory: Path) -> float | None:
    try:
        return max(0.0, time.time() - (directory / "heartbeat").stat().st_mtime)
    except OSError:
        return None


def _host_timeout(record: dict[str, Any]) -> float:
    value = record.get("host_timeout")
    return float(value) if isinstance(value, (int, float)) and 0 < value < 86400 else DEFAULT_HOST_TIMEOUT_SECONDS


def pool_ids(tree: Path) -> list[str]:
    try:
        return sorted(n for n in os.listdir(pools_dir(tree)) if n.startswith("pool-"))
    except FileNotFoundError:
        return []


def live_pools(tree: Path) -> list[str]:
    return [p for p in pool_ids(tree) if alive(pools_dir(tree) / p)]


def set_size(tree: Path, pool_id: str, size: int) -> None:
    atomic_write(pools_dir(tree) / pool_id / "size", f"{size}\n")


def read_size(directory: Path) -> int | None:
    try:
        return int((directory / "size").read_text().strip())
    except (OSError, ValueError):  # ValueError: not a number, or not UTF-8
        return None


def request_stop(tree: Path, pool_id: str) -> None:
    """Ask a pool to stop: it interrupts its harnesses and puts their items back, untried."""
    atomic_write(pools_dir(tree) / pool_id / "stop", now_iso() + "\n")


def stop_requested(directory: Path) -> bool:
    return (directory / "stop").exists()


def listing(tree: Path) -> list[dict[str, Any]]:
    """Every pool in the tree: id, host, pid, size, items in hand, heartbeat age, alive."""
    from metaharness import queue

    in_hand: dict[str, list[str]] = {}
    for item in queue.items(tree):
        owner = item.get("owner") or {}
        if item["state"] == "claimed" and isinstance(owner.get("pool"), str):
            in_hand.setdefault(owner["pool"], []).append(item["item"])
    found = []
    for pool_id in pool_ids(tree):
        directory = pools_dir(tree) / pool_id
        record = describe(directory) or {}
        age = heartbeat_age(directory)
        found.append({
            "id": pool_id, "host": record.get("host"), "pid": record.get("pid"), "started": record.get("started"),
            "workers": read_size(directory), "items": sorted(in_hand.get(pool_id, [])),
            "heartbeat_age_s": None if age is None else round(age, 1),
            "host_timeout": record.get("host_timeout"), "alive": bool(record) and alive(directory, record),
            "stopping": stop_requested(directory),
        })
    return found


def prune_gone(tree: Path, holding: set[str]) -> list[str]:
    """Remove the directories of pools provably gone that hold no claim any more."""
    import shutil

    removed = []
    for pool_id in pool_ids(tree):
        directory = pools_dir(tree) / pool_id
        record = describe(directory)
        if record is None or pool_id in holding or alive(directory, record):
            continue  # an undescribed pool may be one starting right now
        shutil.rmtree(directory, ignore_errors=True)
        removed.append(pool_id)
    return removed
