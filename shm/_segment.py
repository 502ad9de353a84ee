"""Open and unlink POSIX shared memory without the multiprocessing resource tracker.

Python < 3.13 registers every ``SharedMemory`` (even one merely attached) with the resource
tracker, which unlinks it when *that* process exits: a reader exiting would destroy the
gateway's books (CPython issue 82300). The store manages its own lifetime (the writer unlinks on
close, and replaces a stale segment on start), so tracking is switched off here.

:class:`SegmentOwner` is how a stale segment is told from a live one: the writer records its pid,
its start time and the boot id, so a pid reused by an unrelated process is not taken for the
writer (specs/10_SHM_BOOKS_SPEC.md §6).
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Iterator, Sized
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory

_TRACKER_LOCK = threading.Lock()


def _ignore(name: Sized, rtype: str) -> None:
    return None


@contextmanager
def _untracked() -> Iterator[None]:
    with _TRACKER_LOCK:
        register, unregister = resource_tracker.register, resource_tracker.unregister
        resource_tracker.register = _ignore
        resource_tracker.unregister = _ignore
        try:
            yield
        finally:
            resource_tracker.register = register
            resource_tracker.unregister = unregister


def open_segment(name: str, *, create: bool, size: int = 0) -> SharedMemory:
    """Create (``create=True``) or attach to the segment ``name`` without tracking."""
    if sys.version_info >= (3, 13):
        return SharedMemory(name=name, create=create, size=size, track=False)
    with _untracked():
        return SharedMemory(name=name, create=create, size=size)


def unlink_segment(segment: SharedMemory) -> None:
    """Remove the segment's name; mappings that exist stay valid until closed."""
    with _untracked(), suppress(FileNotFoundError):
        segment.unlink()


def segment_buffer(segment: SharedMemory) -> memoryview:
    """The segment's mapped bytes (typed: ``SharedMemory.buf`` is None only after close)."""
    buf = segment.buf
    if buf is None:
        raise ValueError(f"segment {segment.name!r} is closed")
    return buf


# ---- segment owners: a pid plus its start time and the boot, so a reused pid is not "alive" ----

_BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"


def boot_id() -> bytes:
    """This boot's 16-byte id (zeros where the kernel does not publish one)."""
    try:
        with open(_BOOT_ID_PATH, encoding="ascii") as handle:
            return uuid.UUID(handle.read().strip()).bytes
    except (OSError, ValueError):
        return bytes(16)


def process_start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (/proc/<pid>/stat field 22); None if gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may contain spaces
    if fields[0] == "Z":  # a zombie has exited; only its exit status is left to reap
        return None
    return int(fields[19])


@dataclass(frozen=True, slots=True)
class SegmentOwner:
    """Who created a segment: pid, start ticks and boot id (0 / zeros = not recorded)."""

    pid: int
    start_ticks: int
    boot: bytes

    @classmethod
    def me(cls) -> SegmentOwner:
        """The calling process."""
        pid = os.getpid()
        return cls(pid, process_start_ticks(pid) or 0, boot_id())

    def alive(self) -> bool:
        """Is the creating process still running? A recorded boot id or start time that does
        not match the running process with this pid means the pid was reused: not alive.
        Without recorded identity (older store) only the pid is checked."""
        if self.pid <= 0:
            return False
        if any(self.boot) and self.boot != boot_id():
            return False
        started = process_start_ticks(self.pid)
        if started is None:
            return _pid_exists(self.pid)  # no /proc (not Linux): the pid is all we have
        return self.start_ticks in (0, started)

    def describe(self) -> str:
        """``pid N (started at tick T)`` for error messages."""
        return f"pid {self.pid}" + (f" (started at tick {self.start_ticks} after boot)"
                                    if self.start_ticks else "")


def _pid_exists(pid: int) -> bool:
    if os.path.isdir("/proc"):
        return False  # /proc exists but has no entry: the process is gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
