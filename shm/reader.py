"""Readers of a book store (shards, engine, CLI): attach by name, copy slots consistently.

Every read follows the seqlock protocol: read the slot counter, give up on this attempt if it is
odd (a write is in progress), copy, re-read the counter, keep the copy only if it did not move.
Retries are bounded in time: :class:`WriterDeadError` when the slot stays mid-write and the
writer process is gone, :class:`TornReadError` otherwise.
"""

from __future__ import annotations

import math
import os
import struct
import time
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory
from typing import NamedTuple

import numpy as np

from polyloly.domain import Side
from shm import layout as L
from shm._mapped import MappedStore
from shm._segment import open_segment, segment_buffer
from shm.depth import DepthUnderLimit, FillEstimate, SizeUnit, depth_under_limit, walk_levels
from shm.errors import (
    LayoutError,
    StoreNotReadyError,
    TornReadError,
    UnknownTokenError,
    WriterDeadError,
)

# counter, t_recv_ns, exchange_ts_ms, tick, best_bid, best_ask, n_bids, n_asks,
# bid_total, ask_total, flags, hash_len, (pad), hash
_HEADER = struct.Struct(f"<qqqdddIIIIII8x{L.HASH_CAPACITY}s")
_HEADER_BYTES = _HEADER.size
_SPIN_BEFORE_YIELD = 64

DEFAULT_ATTACH_TIMEOUT_S = 5.0
DEFAULT_MAX_READ_WAIT_S = 0.1


class TopOfBook(NamedTuple):
    """Best prices of one slot from one consistent read (a NamedTuple: cheapest immutable value).

    ``best_bid``/``best_ask`` are None when that side is empty. ``seq`` matches the BookTick.
    """

    seq: int
    best_bid: float | None
    best_ask: float | None
    flags: int
    t_recv_ns: int


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """A private, consistent copy of one slot: the book as of write number ``seq``.

    Level tuples are best-first (bids descending, asks ascending) and hold at most the
    ``levels`` requested; ``bid_levels_total``/``ask_levels_total`` count the writer's full
    book, so ``bid_levels_total > len(bid_prices)`` means deeper levels exist but are not copied.
    """

    slot: int
    token_id: str
    seq: int
    t_recv_ns: int  # gateway receive time, CLOCK_MONOTONIC ns
    exchange_ts_ms: int  # venue timestamp, ms since the epoch
    tick_size: float
    best_bid: float | None
    best_ask: float | None
    flags: int
    book_hash: str
    bid_prices: tuple[float, ...]
    bid_sizes: tuple[float, ...]
    ask_prices: tuple[float, ...]
    ask_sizes: tuple[float, ...]
    bid_levels_total: int
    ask_levels_total: int

    @property
    def mid(self) -> float | None:
        """(best bid + best ask) / 2, or None when a side is empty."""
        if self.best_bid is None or self.best_ask is None:
            return None
        return (self.best_bid + self.best_ask) / 2.0

    @property
    def spread(self) -> float | None:
        """best ask − best bid (negative when crossed), or None when a side is empty."""
        if self.best_bid is None or self.best_ask is None:
            return None
        return self.best_ask - self.best_bid

    @property
    def stale(self) -> bool:
        """True when the gateway flagged the book STALE."""
        return bool(self.flags & L.SlotFlags.STALE)

    @property
    def resyncing(self) -> bool:
        """True while the book is being rebuilt; do not trade on it."""
        return bool(self.flags & L.SlotFlags.RESYNCING)

    @property
    def crossed(self) -> bool:
        """True when best bid >= best ask."""
        return bool(self.flags & L.SlotFlags.CROSSED)

    @property
    def has_book(self) -> bool:
        """False until the writer applied a first snapshot to this slot."""
        return not self.flags & L.SlotFlags.NO_BOOK

    @property
    def tradable(self) -> bool:
        """A book with a snapshot, not stale, not resyncing and not crossed."""
        bad = L.SlotFlags.STALE | L.SlotFlags.RESYNCING | L.SlotFlags.CROSSED
        return not self.flags & (bad | L.SlotFlags.NO_BOOK)

    @property
    def bids(self) -> list[tuple[float, float]]:
        """Bid levels (price, size), best first."""
        return list(zip(self.bid_prices, self.bid_sizes, strict=True))

    @property
    def asks(self) -> list[tuple[float, float]]:
        """Ask levels (price, size), best first."""
        return list(zip(self.ask_prices, self.ask_sizes, strict=True))

    def as_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Return (bids, asks) as float64 arrays of shape (n, 2): columns price, size."""
        bids = np.array([self.bid_prices, self.bid_sizes], dtype=np.float64).T.reshape(-1, 2)
        asks = np.array([self.ask_prices, self.ask_sizes], dtype=np.float64).T.reshape(-1, 2)
        return bids, asks

    def effective_price(
        self, side: Side | str, quantity: float, unit: SizeUnit | str = SizeUnit.SHARES
    ) -> FillEstimate:
        """Walk the copied levels (asks for BUY, bids for SELL) for ``quantity`` (SPEC §7.1).

        ``complete`` is False when the copied depth cannot fill the request.
        """
        if side == Side.BUY:
            return walk_levels(self.ask_prices, self.ask_sizes, Side.BUY, quantity, unit)
        return walk_levels(self.bid_prices, self.bid_sizes, Side.SELL, quantity, unit)

    def depth_under_limit(self, side: Side | str, limit_price: float) -> DepthUnderLimit:
        """Shares and USDC a ``side`` order could take without passing ``limit_price``."""
        if side == Side.BUY:
            return depth_under_limit(self.ask_prices, self.ask_sizes, Side.BUY, limit_price)
        return depth_under_limit(self.bid_prices, self.bid_sizes, Side.SELL, limit_price)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class BookReader(MappedStore):
    """Read-only view of a book store in another process. Any number of readers may attach."""

    def __init__(self, segment: SharedMemory, max_read_wait_s: float) -> None:
        """Use :meth:`attach`; this wires an already opened, READY segment."""
        buf = self._map(segment)
        i, q = self._i, self._q
        n_slots = i[L.OFF_N_SLOTS // 4]
        levels = i[L.OFF_LEVELS // 4]
        width = i[L.OFF_TOKEN_WIDTH // 4]
        self._layout = L.StoreLayout(n_slots=n_slots, levels=levels, token_width=width)
        lay = self._layout
        if (q[L.OFF_SLOT_STRIDE // 8] != lay.slot_stride
                or q[L.OFF_SLOTS // 8] != lay.slots_offset
                or q[L.OFF_TOTAL_BYTES // 8] != lay.total_bytes
                or len(buf) < lay.total_bytes):
            self.close()
            raise LayoutError(f"segment {segment.name!r}: header sizes disagree with layout")
        directory = bytes(buf[lay.directory_offset : lay.directory_offset + n_slots * width])
        self._token_ids = tuple(
            directory[k * width : (k + 1) * width].rstrip(b"\0").decode("ascii")
            for k in range(n_slots)
        )
        self._slot_of = {token: slot for slot, token in enumerate(self._token_ids)}
        self._bases = [lay.slot_offset(slot) for slot in range(n_slots)]
        self._writer_pid = q[L.OFF_WRITER_PID // 8]
        self._generation = q[L.OFF_CREATED_NS // 8]
        self._max_read_wait_ns = int(max_read_wait_s * 1e9)

    @classmethod
    def attach(
        cls,
        name: str,
        *,
        timeout_s: float = DEFAULT_ATTACH_TIMEOUT_S,
        poll_interval_s: float = 0.005,
        max_read_wait_s: float = DEFAULT_MAX_READ_WAIT_S,
    ) -> BookReader:
        """Attach to segment ``name``, waiting up to ``timeout_s`` for it to exist and be READY.

        Raise :class:`StoreNotReadyError` on timeout and :class:`LayoutError` when the segment
        is not a book store of this layout version. ``max_read_wait_s`` bounds every read.
        """
        deadline = time.monotonic() + timeout_s
        last = "segment does not exist"
        while True:
            segment: SharedMemory | None = None
            try:
                segment = open_segment(name, create=False)
            except FileNotFoundError:
                last = "segment does not exist"
            except ValueError:  # exists but still 0 bytes: the writer is between open and size
                last = "segment being created"
            if segment is not None:
                verdict = _check_header(segment)
                if verdict is None:
                    return cls(segment, max_read_wait_s)
                segment.close()
                last = verdict
            if time.monotonic() >= deadline:
                raise StoreNotReadyError(
                    f"book store {name!r} not ready after {timeout_s:.3f} s: {last}")
            time.sleep(poll_interval_s)

    def close(self) -> None:
        """Release this process's mapping (the segment itself belongs to the writer)."""
        self._unmap()

    # ---- store (name, levels, token_ids: see MappedStore) ----

    @property
    def writer_pid(self) -> int:
        """Pid of the process that created the store."""
        return self._writer_pid

    @property
    def generation(self) -> int:
        """Store creation wall time in ns; differs after the gateway recreated the store."""
        return self._generation

    @property
    def store_closed(self) -> bool:
        """True once the writer closed (or a new writer replaced) this store: reattach."""
        return self._i[L.OFF_STATE // 4] == L.StoreState.CLOSED

    def slot_of(self, token_id: str) -> int:
        """Slot index of ``token_id``; raise UnknownTokenError if the store has none."""
        try:
            return self._slot_of[token_id]
        except KeyError:
            raise UnknownTokenError(f"token {token_id!r} has no slot in {self.name!r}") from None

    def seq(self, slot: int) -> int:
        """Writes completed on ``slot`` so far (no consistency needed: one aligned load)."""
        return self._q[self._bases[slot] >> 3] >> 1

    def wait_for_change(self, slot: int, after_seq: int, timeout_s: float) -> int | None:
        """Spin until ``slot``'s seq exceeds ``after_seq``; return it, or None on timeout.

        Spins on the counter (sub-microsecond reaction), yielding the CPU every 64 polls.
        """
        q = self._q
        ci = self._bases[slot] >> 3
        deadline = time.monotonic_ns() + int(timeout_s * 1e9)
        polls = 0
        while True:
            counter = q[ci]
            if not counter & 1 and counter >> 1 > after_seq:
                return counter >> 1
            polls += 1
            if polls % _SPIN_BEFORE_YIELD == 0:
                if time.monotonic_ns() >= deadline:
                    return None
                os.sched_yield()

    # ---- consistent reads ----

    def read_top(self, slot: int) -> TopOfBook:
        """Best bid/ask, seq, flags and receive time of ``slot`` from one consistent read."""
        q, d, i = self._q, self._d, self._i
        ci = self._bases[slot] >> 3
        fi = (self._bases[slot] + L.S_FLAGS) >> 2
        attempts = 0
        started = 0
        while True:
            c1 = q[ci]
            if not c1 & 1:
                bid = d[ci + 4]
                ask = d[ci + 5]
                flags = i[fi]
                t_recv = q[ci + 1]
                if q[ci] == c1:
                    return TopOfBook(c1 >> 1, None if bid != bid else bid,
                                     None if ask != ask else ask, flags, t_recv)
            attempts += 1
            started = self._retry(slot, attempts, started, c1)

    def best_bid_ask(self, slot: int) -> tuple[float | None, float | None]:
        """(best bid, best ask) of ``slot``; None for an empty side."""
        top = self.read_top(slot)
        return top.best_bid, top.best_ask

    def mid(self, slot: int) -> float | None:
        """Mid price of ``slot``, or None when a side is empty."""
        top = self.read_top(slot)
        if top.best_bid is None or top.best_ask is None:
            return None
        return (top.best_bid + top.best_ask) / 2.0

    def spread(self, slot: int) -> float | None:
        """best ask − best bid of ``slot``, or None when a side is empty."""
        top = self.read_top(slot)
        if top.best_bid is None or top.best_ask is None:
            return None
        return top.best_ask - top.best_bid

    def snapshot(self, slot: int, levels: int | None = None) -> BookSnapshot:
        """Copy ``slot`` consistently: header plus up to ``levels`` levels per side (default all).

        The copy is private: later writes never change it.
        """
        cap = self._layout.levels
        want = cap if levels is None else max(0, min(levels, cap))
        base = self._bases[slot]
        b, q = self._b, self._q
        ci = base >> 3
        bp_at = base + L.S_DEPTH
        bs_at = bp_at + 8 * cap
        ap_at = bp_at + 16 * cap
        as_at = bp_at + 24 * cap
        unpack = _HEADER.unpack_from
        attempts = 0
        started = 0
        while True:
            c1 = q[ci]
            if not c1 & 1:
                header = b[base : base + _HEADER_BYTES].tobytes()
                fields = unpack(header)
                nb = min(fields[6], want) * 8
                na = min(fields[7], want) * 8
                bid_prices = b[bp_at : bp_at + nb].tobytes()
                bid_sizes = b[bs_at : bs_at + nb].tobytes()
                ask_prices = b[ap_at : ap_at + na].tobytes()
                ask_sizes = b[as_at : as_at + na].tobytes()
                if q[ci] == c1:
                    break
            attempts += 1
            started = self._retry(slot, attempts, started, c1)
        (_, t_recv, ts_ms, tick, bid, ask, _, _, bid_total, ask_total, flags, hash_len,
         raw_hash) = fields
        return BookSnapshot(
            slot=slot,
            token_id=self._token_ids[slot],
            seq=c1 >> 1,
            t_recv_ns=t_recv,
            exchange_ts_ms=ts_ms,
            tick_size=tick,
            best_bid=None if math.isnan(bid) else bid,
            best_ask=None if math.isnan(ask) else ask,
            flags=flags,
            book_hash=raw_hash[: min(hash_len, L.HASH_CAPACITY)].decode("ascii", "replace"),
            bid_prices=tuple(memoryview(bid_prices).cast("d").tolist()),
            bid_sizes=tuple(memoryview(bid_sizes).cast("d").tolist()),
            ask_prices=tuple(memoryview(ask_prices).cast("d").tolist()),
            ask_sizes=tuple(memoryview(ask_sizes).cast("d").tolist()),
            bid_levels_total=bid_total,
            ask_levels_total=ask_total,
        )

    def snapshot_token(self, token_id: str, levels: int | None = None) -> BookSnapshot:
        """:meth:`snapshot` by token id."""
        return self.snapshot(self.slot_of(token_id), levels)

    def _retry(self, slot: int, attempts: int, started_ns: int, counter: int) -> int:
        # Cold path of every read: bounded spin, then yield, then a named error.
        if attempts < _SPIN_BEFORE_YIELD:
            return started_ns
        now = time.monotonic_ns()
        if started_ns == 0:
            return now
        if now - started_ns > self._max_read_wait_ns:
            current = self._q[self._bases[slot] >> 3]
            waited_ms = (now - started_ns) / 1e6
            if current & 1 and current == counter and not _pid_alive(self._writer_pid):
                raise WriterDeadError(
                    f"slot {slot} of {self.name!r} stuck mid-write for {waited_ms:.1f} ms and "
                    f"writer pid {self._writer_pid} is gone")
            raise TornReadError(
                f"slot {slot} of {self.name!r}: no consistent copy after {attempts} attempts "
                f"in {waited_ms:.1f} ms (counter {current})")
        os.sched_yield()
        return started_ns


def _check_header(segment: SharedMemory) -> str | None:
    """None when ``segment`` is a READY store of this layout; else why not (still waiting).

    Raise LayoutError for a segment that is definitely not ours or of another version.
    """
    buf = segment_buffer(segment)
    if len(buf) < L.STORE_HEADER_BYTES:
        return "segment smaller than a store header (being created?)"
    header = bytes(buf[: L.STORE_HEADER_BYTES])
    magic, version, state = struct.unpack_from("<QII", header, L.OFF_MAGIC)
    if magic == 0:
        return "store header not written yet"
    if magic != L.MAGIC:
        segment.close()
        raise LayoutError(f"segment {segment.name!r} is not a PolyLOL book store (bad magic)")
    if version != L.LAYOUT_VERSION:
        segment.close()
        raise LayoutError(
            f"segment {segment.name!r} has layout version {version}, "
            f"this reader speaks {L.LAYOUT_VERSION}")
    if state == L.StoreState.INITIALIZING:
        return "writer still initializing"
    if state == L.StoreState.CLOSED:
        return "store closed by its writer (waiting for a new one)"
    return None
