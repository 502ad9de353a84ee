"""Unit tests of the shared-memory book store: writer, reader, lifecycle, bad input, CLI."""

from __future__ import annotations

import io
import json
import math
import multiprocessing as mp
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import redirect_stdout

import numpy as np
import pytest

from shm import (
    BookReader,
    BookRejectReason,
    BookUpdateError,
    BookWriter,
    LayoutError,
    LevelChange,
    SlotFlags,
    StoreInUseError,
    StoreNotReadyError,
    TornReadError,
    UnknownTokenError,
    WriterDeadError,
)
from shm import layout as L
from shm._segment import open_segment, segment_buffer, unlink_segment
from shm.cli import main as book_main
from tests.helpers.fixtures import load_json, polymarket

TOKEN_A = "48331043336612883890938759509493159234755048973500640148014422747788308965732"
TOKEN_B = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
FORK = mp.get_context("fork")


def _unique_name() -> str:
    return f"plt_{os.getpid()}_{uuid.uuid4().hex[:10]}"


def _segment_exists(name: str) -> bool:
    try:
        segment = open_segment(name, create=False)
    except FileNotFoundError:
        return False
    segment.close()
    return True


@pytest.fixture
def name() -> Iterator[str]:
    segment_name = _unique_name()
    yield segment_name
    try:
        segment = open_segment(segment_name, create=False)
    except FileNotFoundError:
        return
    unlink_segment(segment)
    segment.close()


@pytest.fixture
def writer(name: str) -> Iterator[BookWriter]:
    with BookWriter.create(name, [TOKEN_A, TOKEN_B], levels=5, tick_size=0.01) as book_writer:
        yield book_writer


@pytest.fixture
def reader(writer: BookWriter) -> Iterator[BookReader]:
    with BookReader.attach(writer.name, timeout_s=1.0) as book_reader:
        yield book_reader


def _snapshot(writer: BookWriter, token: str = TOKEN_A) -> None:
    writer.apply_snapshot(
        token,
        bids=[(0.40, 10.0), (0.45, 20.0), (0.44, 5.0)],
        asks=[(0.50, 7.0), (0.55, 1.0)],
        t_recv_ns=1_000,
        exchange_ts_ms=2_000,
        book_hash="abc",
    )


# ---- reading what was written ----


def test_new_store_slots_have_no_book_and_empty_sides(reader: BookReader) -> None:
    snap = reader.snapshot(0)
    assert snap.seq == 0
    assert snap.flags == SlotFlags.NO_BOOK
    assert not snap.has_book and not snap.tradable
    assert snap.best_bid is None and snap.best_ask is None and snap.mid is None
    assert reader.token_ids == (TOKEN_A, TOKEN_B)


def test_snapshot_is_published_sorted_best_first(writer: BookWriter, reader: BookReader) -> None:
    _snapshot(writer)
    snap = reader.snapshot(reader.slot_of(TOKEN_A))
    assert snap.bids == [(0.45, 20.0), (0.44, 5.0), (0.40, 10.0)]
    assert snap.asks == [(0.50, 7.0), (0.55, 1.0)]
    assert snap.best_bid == 0.45 and snap.best_ask == 0.50
    assert snap.mid == pytest.approx(0.475) and snap.spread == pytest.approx(0.05)
    assert (snap.t_recv_ns, snap.exchange_ts_ms, snap.book_hash) == (1_000, 2_000, "abc")
    assert snap.seq == 1 and snap.flags == 0 and snap.tradable
    top = reader.read_top(0)
    assert (top.seq, top.best_bid, top.best_ask, top.flags) == (1, 0.45, 0.50, 0)
    assert reader.best_bid_ask(0) == (0.45, 0.50)
    assert reader.mid(0) == pytest.approx(0.475)
    assert reader.spread(0) == pytest.approx(0.05)


def test_real_book_fixture_round_trips_with_best_levels_exact(name: str) -> None:
    frame = load_json(polymarket("ws_messages", "book.json"))
    bids = [(float(level["price"]), float(level["size"])) for level in frame["bids"]]
    asks = [(float(level["price"]), float(level["size"])) for level in frame["asks"]]
    with BookWriter.create(name, [frame["asset_id"]], levels=10, tick_size=0.001) as writer:
        write = writer.apply_snapshot(frame["asset_id"], bids, asks, t_recv_ns=5,
                                      exchange_ts_ms=int(frame["timestamp"]),
                                      book_hash=frame["hash"])
        with BookReader.attach(name) as reader:
            snap = reader.snapshot_token(frame["asset_id"])
    assert write.seq == snap.seq == 1
    assert snap.bids == sorted(bids, reverse=True)[:10]
    assert snap.asks == sorted(asks)[:10]
    assert (snap.best_bid, snap.best_ask) == (0.511, 0.514)
    assert snap.bid_levels_total == len(bids) and snap.ask_levels_total == len(asks)
    assert snap.book_hash == frame["hash"]


def test_levels_beyond_capacity_are_kept_and_surface_when_better_ones_go(
    writer: BookWriter, reader: BookReader
) -> None:
    asks = [(round(0.50 + 0.01 * k, 2), float(k + 1)) for k in range(8)]
    writer.apply_snapshot(TOKEN_A, [], asks, t_recv_ns=1, exchange_ts_ms=1)
    assert reader.snapshot(0).ask_prices == (0.50, 0.51, 0.52, 0.53, 0.54)
    assert reader.snapshot(0).ask_levels_total == 8
    writer.apply_changes(TOKEN_A, [("SELL", 0.50, 0), ("SELL", 0.51, 0.0)], t_recv_ns=2,
                         exchange_ts_ms=2)
    snap = reader.snapshot(0)
    assert snap.asks == [(0.52, 3.0), (0.53, 4.0), (0.54, 5.0), (0.55, 6.0), (0.56, 7.0)]
    assert snap.ask_levels_total == 6
    assert writer.full_book(TOKEN_A)[1][-1] == (0.57, 8.0)


def test_change_batch_is_one_write_with_one_seq_step(
    writer: BookWriter, reader: BookReader
) -> None:
    _snapshot(writer)
    write = writer.apply_changes(
        TOKEN_A,
        [LevelChange("BUY", 0.46, 3.0), ("BUY", 0.45, 0.0), ("SELL", 0.49, 2.0),
         ("SELL", 0.50, 8.0)],
        t_recv_ns=9, exchange_ts_ms=10, book_hash="h2",
    )
    snap = reader.snapshot(0)
    assert write.seq == snap.seq == 2
    assert snap.bids == [(0.46, 3.0), (0.44, 5.0), (0.40, 10.0)]
    assert snap.asks == [(0.49, 2.0), (0.50, 8.0), (0.55, 1.0)]
    assert reader.seq(0) == 2


def test_snapshot_with_fewer_levels_copies_only_the_best(writer: BookWriter,
                                                         reader: BookReader) -> None:
    _snapshot(writer)
    snap = reader.snapshot(0, levels=1)
    assert snap.bids == [(0.45, 20.0)] and snap.asks == [(0.50, 7.0)]
    assert snap.bid_levels_total == 3


def test_crossed_book_is_flagged_and_uncrossing_clears_it(writer: BookWriter,
                                                          reader: BookReader) -> None:
    _snapshot(writer)
    writer.apply_changes(TOKEN_A, [("BUY", 0.52, 1.0)], t_recv_ns=1, exchange_ts_ms=1)
    assert reader.snapshot(0).crossed and not reader.snapshot(0).tradable
    writer.apply_changes(TOKEN_A, [("BUY", 0.52, 0.0)], t_recv_ns=1, exchange_ts_ms=1)
    assert reader.snapshot(0).flags == 0


def test_stale_and_resyncing_flags_set_and_clear(writer: BookWriter, reader: BookReader) -> None:
    _snapshot(writer)
    writer.mark_stale(TOKEN_A)
    writer.mark_resyncing(TOKEN_A)
    assert reader.read_top(0).flags == SlotFlags.STALE | SlotFlags.RESYNCING
    writer.mark_stale(TOKEN_A, stale=False)
    assert reader.read_top(0).flags == SlotFlags.RESYNCING
    _snapshot(writer)  # a snapshot ends the resync
    assert reader.read_top(0).flags == 0
    assert reader.read_top(0).seq == 5


def test_tick_size_change_to_coarser_tick_flags_resyncing(writer: BookWriter,
                                                          reader: BookReader) -> None:
    writer.set_tick_size(TOKEN_A, 0.001)
    writer.apply_snapshot(TOKEN_A, [(0.451, 1.0)], [(0.46, 1.0)], t_recv_ns=1, exchange_ts_ms=1)
    assert reader.snapshot(0).tick_size == 0.001 and reader.snapshot(0).flags == 0
    writer.set_tick_size(TOKEN_A, 0.01)
    snap = reader.snapshot(0)
    assert snap.tick_size == 0.01 and snap.resyncing


# ---- bad input: rejected, counted, slot untouched ----


BAD_CHANGES: list[tuple[list[tuple[object, object, object]], BookRejectReason]] = [
    ([("BUY", 0.0, 1.0)], BookRejectReason.PRICE_OUT_OF_RANGE),
    ([("SELL", 1.0, 1.0)], BookRejectReason.PRICE_OUT_OF_RANGE),
    ([("BUY", -0.2, 1.0)], BookRejectReason.PRICE_OUT_OF_RANGE),
    ([("BUY", math.nan, 1.0)], BookRejectReason.PRICE_OUT_OF_RANGE),
    ([("BUY", 0.455, 1.0)], BookRejectReason.OFF_TICK),
    ([("BUY", 0.45, -1.0)], BookRejectReason.BAD_SIZE),
    ([("BUY", 0.45, math.nan)], BookRejectReason.BAD_SIZE),
    ([("BUY", 0.45, math.inf)], BookRejectReason.BAD_SIZE),
    ([("HOLD", 0.45, 1.0)], BookRejectReason.BAD_SIDE),
    ([("BUY", "lots", 1.0)], BookRejectReason.MALFORMED),
    # a good change before a bad one must not be applied either
    ([("BUY", 0.41, 99.0), ("SELL", 0.51, 99.0), ("SELL", 0.52, -5.0)],
     BookRejectReason.BAD_SIZE),
]


@pytest.mark.parametrize(("changes", "reason"), BAD_CHANGES)
def test_bad_level_change_is_rejected_counted_and_slot_unchanged(
    writer: BookWriter, reader: BookReader, changes: list[tuple[object, object, object]],
    reason: BookRejectReason,
) -> None:
    _snapshot(writer)
    before = reader.snapshot(0)
    full_before = writer.full_book(TOKEN_A)
    with pytest.raises(BookUpdateError) as caught:
        writer.apply_changes(TOKEN_A, changes, t_recv_ns=99, exchange_ts_ms=99)  # type: ignore[arg-type]
    assert caught.value.reason is reason
    assert writer.rejections == {reason: 1}
    assert reader.snapshot(0) == before
    assert writer.full_book(TOKEN_A) == full_before


BAD_SNAPSHOTS: list[tuple[list[object], list[object], str, BookRejectReason]] = [
    ([(0.45, 1.0)], [(1.5, 1.0)], "", BookRejectReason.PRICE_OUT_OF_RANGE),
    ([(0.4501, 1.0)], [], "", BookRejectReason.OFF_TICK),
    ([(0.45, -1.0)], [], "", BookRejectReason.BAD_SIZE),
    ([(0.45, 1.0), (0.45, 2.0)], [], "", BookRejectReason.DUPLICATE_PRICE),
    ([(0.45,)], [], "", BookRejectReason.MALFORMED),
    ([], [], "x" * 65, BookRejectReason.BAD_HASH),
    ([], [], "héllo", BookRejectReason.BAD_HASH),
]


@pytest.mark.parametrize(("bids", "asks", "book_hash", "reason"), BAD_SNAPSHOTS)
def test_bad_snapshot_is_rejected_and_slot_unchanged(
    writer: BookWriter, reader: BookReader, bids: list[object], asks: list[object],
    book_hash: str, reason: BookRejectReason,
) -> None:
    _snapshot(writer)
    before = reader.snapshot(0)
    with pytest.raises(BookUpdateError) as caught:
        writer.apply_snapshot(TOKEN_A, bids, asks, t_recv_ns=1, exchange_ts_ms=1,  # type: ignore[arg-type]
                              book_hash=book_hash)
    assert caught.value.reason is reason
    assert reader.snapshot(0) == before
    assert writer.rejections[reason] == 1


def test_unknown_token_and_changes_before_snapshot_are_rejected(writer: BookWriter,
                                                                reader: BookReader) -> None:
    with pytest.raises(BookUpdateError) as unknown:
        writer.apply_snapshot("123", [], [], t_recv_ns=1, exchange_ts_ms=1)
    with pytest.raises(BookUpdateError) as early:
        writer.apply_changes(TOKEN_B, [("BUY", 0.4, 1.0)], t_recv_ns=1, exchange_ts_ms=1)
    with pytest.raises(BookUpdateError) as tick:
        writer.set_tick_size(TOKEN_B, 1.5)
    assert unknown.value.reason is BookRejectReason.UNKNOWN_TOKEN
    assert early.value.reason is BookRejectReason.NO_SNAPSHOT
    assert tick.value.reason is BookRejectReason.BAD_TICK_SIZE
    assert sum(writer.rejections.values()) == 3
    assert reader.seq(1) == 0
    with pytest.raises(UnknownTokenError):
        reader.slot_of("123")


def test_create_rejects_bad_arguments(name: str) -> None:
    with pytest.raises(ValueError, match="duplicate"):
        BookWriter.create(name, [TOKEN_A, TOKEN_A])
    with pytest.raises(ValueError, match="ASCII"):
        BookWriter.create(name, ["9" * 81])
    with pytest.raises(ValueError, match="levels"):
        BookWriter.create(name, [TOKEN_A], levels=0)
    assert not _segment_exists(name)


# ---- lifecycle ----


def test_close_unlinks_and_marks_attached_readers_stale(name: str) -> None:
    writer = BookWriter.create(name, [TOKEN_A], levels=3)
    reader = BookReader.attach(name)
    writer.apply_snapshot(TOKEN_A, [(0.4, 1.0)], [(0.6, 1.0)], t_recv_ns=1, exchange_ts_ms=1)
    writer.close()
    writer.close()  # idempotent
    assert not _segment_exists(name)
    assert reader.store_closed
    snap = reader.snapshot(0)
    assert snap.stale and snap.bids == [(0.4, 1.0)]
    reader.close()


def test_reader_attach_times_out_with_a_clear_error(name: str) -> None:
    started = time.monotonic()
    with pytest.raises(StoreNotReadyError, match="not ready after"):
        BookReader.attach(name, timeout_s=0.2)
    assert 0.2 <= time.monotonic() - started < 1.0


def test_reader_waits_for_a_writer_that_starts_later(name: str) -> None:
    created: list[BookWriter] = []
    timer = threading.Timer(0.2, lambda: created.append(BookWriter.create(name, [TOKEN_A])))
    timer.start()
    try:
        with BookReader.attach(name, timeout_s=5.0) as reader:
            assert reader.token_ids == (TOKEN_A,)
    finally:
        timer.join()
        for writer in created:
            writer.close()


def test_reader_does_not_attach_to_a_store_still_initializing(name: str) -> None:
    writer = BookWriter.create(name, [TOKEN_A])
    try:
        segment = open_segment(name, create=False)
        states = segment_buffer(segment).cast("I")
        states[L.OFF_STATE // 4] = L.StoreState.INITIALIZING
        with pytest.raises(StoreNotReadyError, match="initializing"):
            BookReader.attach(name, timeout_s=0.1)
        states[L.OFF_STATE // 4] = L.StoreState.READY
        states.release()
        segment.close()
        BookReader.attach(name, timeout_s=0.1).close()
    finally:
        writer.close()


def test_reader_refuses_a_segment_that_is_not_a_book_store(name: str) -> None:
    segment = open_segment(name, create=True, size=4096)
    segment_buffer(segment)[:8] = b"NOTBOOKS"
    try:
        with pytest.raises(LayoutError, match="bad magic"):
            BookReader.attach(name, timeout_s=0.1)
    finally:
        unlink_segment(segment)
        segment.close()


def _crash_mid_write(segment_name: str, ready: mp.synchronize.Event) -> None:
    writer = BookWriter.create(segment_name, [TOKEN_A], levels=3)
    writer.apply_snapshot(TOKEN_A, [(0.4, 1.0)], [(0.6, 1.0)], t_recv_ns=1, exchange_ts_ms=1)
    base = writer._layout.slot_offset(0)
    writer._q[base // 8] += 1  # a write began and the process died before finishing it
    ready.set()
    os._exit(0)  # no close, no unlink: a crashed gateway


def test_stale_segment_of_crashed_writer_is_replaced_and_old_readers_see_closed(name: str) -> None:
    ready = FORK.Event()
    child = FORK.Process(target=_crash_mid_write, args=(name, ready))
    child.start()
    child.join(10)
    assert ready.is_set() and _segment_exists(name)
    old_reader = BookReader.attach(name, timeout_s=1.0, max_read_wait_s=0.05)
    with pytest.raises(WriterDeadError, match="gone"):
        old_reader.read_top(0)
    with pytest.raises(TornReadError):
        old_reader.snapshot(0)
    with BookWriter.create(name, [TOKEN_A, TOKEN_B], levels=4) as writer:
        assert old_reader.store_closed
        with BookReader.attach(name, timeout_s=1.0) as reader:
            assert reader.token_ids == (TOKEN_A, TOKEN_B)
            assert reader.generation != old_reader.generation
            assert reader.read_top(0).seq == 0
        writer.apply_snapshot(TOKEN_A, [], [], t_recv_ns=1, exchange_ts_ms=1)
    old_reader.close()
    assert not _segment_exists(name)


def _hold_store(segment_name: str, created: mp.synchronize.Event,
                release: mp.synchronize.Event) -> None:
    with BookWriter.create(segment_name, [TOKEN_A]):
        created.set()
        release.wait(10)


def test_segment_of_a_live_writer_is_not_replaced(name: str) -> None:
    created, release = FORK.Event(), FORK.Event()
    child = FORK.Process(target=_hold_store, args=(name, created, release))
    child.start()
    try:
        assert created.wait(10)
        with pytest.raises(StoreInUseError, match="live writer"):
            BookWriter.create(name, [TOKEN_A])
        with pytest.raises(StoreInUseError):
            BookWriter.create(name, [TOKEN_A], replace=False)
        with BookReader.attach(name) as reader:
            assert reader.writer_pid == child.pid
    finally:
        release.set()
        child.join(10)
    assert child.exitcode == 0
    assert not _segment_exists(name)


def test_layout_matches_the_numpy_structured_dtype(writer: BookWriter) -> None:
    _snapshot(writer)
    layout = L.StoreLayout(n_slots=2, levels=5)
    segment = open_segment(writer.name, create=False)
    raw = bytes(segment_buffer(segment)[layout.slots_offset : layout.total_bytes])
    segment.close()
    slots = np.frombuffer(raw, dtype=layout.slot_dtype())
    assert slots["counter"][0] == 2 and slots["counter"][1] == 0
    assert list(slots["bid_prices"][0][:3]) == [0.45, 0.44, 0.40]
    assert slots["best_ask"][0] == 0.50 and slots["n_asks"][0] == 2
    assert slots["hash"][0] == b"abc"


# ---- CLI ----


def test_book_cli_prints_json_as_a_reader_sees_it(writer: BookWriter) -> None:
    _snapshot(writer)
    out = io.StringIO()
    with redirect_stdout(out):
        code = book_main([TOKEN_A, "--segment", writer.name, "--json", "--levels", "2"])
    assert code == 0
    printed = json.loads(out.getvalue())
    assert printed["token_id"] == TOKEN_A and printed["seq"] == 1
    assert printed["bids"] == [[0.45, 20.0], [0.44, 5.0]]
    assert printed["flags"] == []


def test_book_cli_prints_a_table_and_fails_cleanly(writer: BookWriter) -> None:
    _snapshot(writer)
    out = io.StringIO()
    with redirect_stdout(out):
        assert book_main([TOKEN_A, "--segment", writer.name]) == 0
    assert "0.45" in out.getvalue() and "seq 1" in out.getvalue()
    assert book_main(["999", "--segment", writer.name]) == 1
    assert book_main([TOKEN_A, "--segment", writer.name + "_missing", "--timeout", "0.05"]) == 1
