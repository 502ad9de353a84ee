"""Open and unlink POSIX shared memory without the multiprocessing resource tracker.

Python < 3.13 registers every ``SharedMemory`` (even one merely attached) with the resource
tracker, which unlinks it when *that* process exits: a reader exiting would destroy the
gateway's books (CPython issue 82300). The store manages its own lifetime (the writer unlinks on
close, and replaces a stale segment on start), so tracking is switched off here.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Sized
from contextlib import contextmanager, suppress
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
