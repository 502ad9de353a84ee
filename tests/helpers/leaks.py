"""What a test session leaves behind: PolyLOL shm book stores and ``/tmp/polyloly-*`` run dirs.

Used by ``tests/conftest.py``: a snapshot before the session, a comparison after it. Only what
this session could have made is reported, so engineers running tests side by side do not fail
each other's sessions:

* a book store (any ``/dev/shm`` file with the ``PLYBOOK1`` magic) that is new (name or
  generation) and whose writer is gone, is this process, or is a process descended from it;
* a new ``/tmp/polyloly-*`` directory in which no live process has a bound ipc socket.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from shm import layout as L
from shm._segment import SegmentOwner

SHM_DIR = Path("/dev/shm")
TMP_DIR = Path("/tmp")
RUN_DIR_GLOB = "polyloly-*"


@dataclass(frozen=True, slots=True)
class Store:
    """One book store found in /dev/shm."""

    name: str
    owner: SegmentOwner
    created_ns: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Book stores (by name) and run dirs present at one moment."""

    stores: dict[str, Store]
    run_dirs: frozenset[str]


def _read_store(path: Path) -> Store | None:
    try:
        with path.open("rb") as handle:
            head = handle.read(L.STORE_HEADER_BYTES)
    except OSError:
        return None
    if len(head) < L.STORE_HEADER_BYTES:
        return None
    if struct.unpack_from("<Q", head, L.OFF_MAGIC)[0] != L.MAGIC:
        return None
    pid, created = struct.unpack_from("<qq", head, L.OFF_WRITER_PID)
    ticks = struct.unpack_from("<Q", head, L.OFF_WRITER_START_TICKS)[0]
    boot = head[L.OFF_BOOT_ID : L.OFF_BOOT_ID + L.BOOT_ID_BYTES]
    return Store(path.name, SegmentOwner(pid, ticks, boot), created)


def snapshot() -> Snapshot:
    """The book stores and run dirs that exist now."""
    stores: dict[str, Store] = {}
    if SHM_DIR.is_dir():
        for path in SHM_DIR.iterdir():
            store = _read_store(path)
            if store is not None:
                stores[store.name] = store
    run_dirs = frozenset(str(p) for p in TMP_DIR.glob(RUN_DIR_GLOB) if p.is_dir())
    return Snapshot(stores, run_dirs)


def _parent(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return None
    return int(text[text.rindex(")") + 2 :].split()[1])


def descends_from(pid: int, ancestor: int) -> bool:
    """Is ``pid`` ``ancestor`` itself or one of its descendants (by the live ppid chain)?"""
    seen = 0
    current: int | None = pid
    while current is not None and current > 1 and seen < 64:
        if current == ancestor:
            return True
        current = _parent(current)
        seen += 1
    return False


def _bound_unix_paths() -> list[str]:
    try:
        lines = Path("/proc/net/unix").read_text(errors="replace").splitlines()[1:]
    except OSError:
        return []
    return [fields[7] for fields in (line.split() for line in lines) if len(fields) > 7]


def leftovers(before: Snapshot, session_pid: int | None = None) -> list[str]:
    """What appeared since ``before`` and this session (``session_pid``) left behind."""
    me = os.getpid() if session_pid is None else session_pid
    now = snapshot()
    found: list[str] = []
    for name, store in sorted(now.stores.items()):
        earlier = before.stores.get(name)
        if earlier is not None and earlier.created_ns == store.created_ns:
            continue
        alive = store.owner.alive()
        if alive and not descends_from(store.owner.pid, me):
            continue  # another session's live writer
        state = "still running" if alive else "gone"
        found.append(f"shm segment /dev/shm/{name} (writer {store.owner.describe()}, {state})")
    bound = _bound_unix_paths()
    for run_dir in sorted(now.run_dirs - before.run_dirs):
        prefix = run_dir.rstrip("/") + "/"
        if any(path.startswith(prefix) for path in bound):
            continue  # a live process still serves there (another session, or a leaked child)
        found.append(f"run dir {run_dir}")
    return found
