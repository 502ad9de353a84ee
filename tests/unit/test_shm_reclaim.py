"""Leftover shm book stores: reclaimed when the writer is gone, never touched while it lives.

Owners are real processes (subprocesses), and pid reuse is modelled by a header naming a live
pid with another start time or boot id (specs/10_SHM_BOOKS_SPEC.md §6).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from shm import BookWriter
from shm import layout as L
from shm._segment import SegmentOwner, open_segment, process_start_ticks, unlink_segment
from shm.errors import StoreInUseError
from shm.writer import reclaim_stale_store, store_owner

TOKEN = "1001"
_HOLD = ("import sys\nfrom shm import BookWriter\n"
         "w = BookWriter.create(sys.argv[1], ['1001'])\nprint('ready', flush=True)\n"
         "sys.stdin.read()\nw.close()\n")
_CRASH = ("import os, sys\nfrom shm import BookWriter\n"
          "BookWriter.create(sys.argv[1], ['1001'])\nos._exit(0)\n")


def _exists(name: str) -> bool:
    return os.path.exists(f"/dev/shm/{name}")


@pytest.fixture
def name() -> Iterator[str]:
    segment = f"plrc_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    yield segment
    try:
        seg = open_segment(segment, create=False)
    except FileNotFoundError:
        return
    unlink_segment(seg)
    seg.close()


@pytest.fixture
def live_owner(name: str) -> Iterator[subprocess.Popen[str]]:
    """A real writer process holding the store ``name`` until its stdin closes."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, name], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


def _crashed_store(name: str) -> None:
    subprocess.run([sys.executable, "-c", _CRASH, name], check=True, timeout=30)
    assert _exists(name)


def _rewrite_owner(name: str, pid: int, start_ticks: int, boot: bytes) -> None:
    seg = open_segment(name, create=False)
    try:
        buf = seg.buf
        assert buf is not None
        q = buf.cast("q")
        q[L.OFF_WRITER_PID // 8] = pid
        q[L.OFF_WRITER_START_TICKS // 8] = start_ticks
        q.release()
        buf[L.OFF_BOOT_ID : L.OFF_BOOT_ID + L.BOOT_ID_BYTES] = boot
        del buf
    finally:
        seg.close()


def test_header_records_pid_start_time_and_boot_id(name: str) -> None:
    with BookWriter.create(name, [TOKEN]):
        owner = store_owner(name)
        assert owner == SegmentOwner.me()
        assert owner is not None and owner.start_ticks > 0 and any(owner.boot)
        assert owner.alive()


def test_store_of_a_crashed_writer_is_reclaimed(name: str) -> None:
    _crashed_store(name)
    owner = store_owner(name)
    assert owner is not None and not owner.alive()
    assert reclaim_stale_store(name) is True
    assert not _exists(name)
    assert reclaim_stale_store(name) is False  # nothing left to do


def test_new_writer_replaces_a_crashed_writers_store(name: str) -> None:
    _crashed_store(name)
    with BookWriter.create(name, [TOKEN]) as writer:
        assert store_owner(name) == SegmentOwner.me()
        assert writer.token_ids == (TOKEN,)
    assert not _exists(name)


def test_store_of_a_live_writer_is_never_touched(
        name: str, live_owner: subprocess.Popen[str]) -> None:
    assert reclaim_stale_store(name) is False
    with pytest.raises(StoreInUseError) as raised:
        BookWriter.create(name, [TOKEN])
    message = str(raised.value)
    assert name in message and f"pid {live_owner.pid}" in message
    assert "shm.segment_name" in message and "\n" not in message
    owner = store_owner(name)
    assert owner is not None and owner.pid == live_owner.pid and owner.alive()


def test_reused_pid_with_another_start_time_or_boot_is_not_the_owner(
        name: str, live_owner: subprocess.Popen[str]) -> None:
    # A store whose header names the live process's pid but another start time (the pid was
    # reused after the writer died): reclaimed. The same with another boot id.
    bystander = live_owner.pid
    ticks = process_start_ticks(bystander)
    assert ticks is not None
    other = f"{name}x"
    try:
        for start, boot in ((ticks + 1, SegmentOwner.me().boot), (ticks, b"\x01" * 16)):
            _crashed_store(other)
            _rewrite_owner(other, bystander, start, boot)
            assert store_owner(other) == SegmentOwner(bystander, start, boot)
            assert reclaim_stale_store(other) is True
            assert not _exists(other)
        # The matching identity is the owner: refused.
        _crashed_store(other)
        _rewrite_owner(other, bystander, ticks, SegmentOwner.me().boot)
        with pytest.raises(StoreInUseError, match=f"pid {bystander}"):
            BookWriter.create(other, [TOKEN])
        assert reclaim_stale_store(other) is False
    finally:
        if _exists(other):
            _rewrite_owner(other, 0, 0, bytes(16))
            reclaim_stale_store(other)


def test_store_without_recorded_identity_falls_back_to_the_pid(
        name: str, live_owner: subprocess.Popen[str]) -> None:
    other = f"{name}y"
    try:
        _crashed_store(other)
        _rewrite_owner(other, live_owner.pid, 0, bytes(16))  # a store from before the fields
        assert reclaim_stale_store(other) is False
        _rewrite_owner(other, 0, 0, bytes(16))
        assert reclaim_stale_store(other) is True
    finally:
        if _exists(other):
            _rewrite_owner(other, 0, 0, bytes(16))
            reclaim_stale_store(other)


def test_a_segment_that_is_no_book_store_is_left_alone(name: str) -> None:
    seg = open_segment(name, create=True, size=4096)
    seg.close()
    assert store_owner(name) is None
    assert reclaim_stale_store(name) is False
    assert _exists(name)
