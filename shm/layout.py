"""Byte layout of a book store segment (see specs/10_SHM_BOOKS_SPEC.md for the picture).

All integers and floats are little-endian native (x86-64 / aarch64); every 8-byte field is
8-byte aligned so that one CPython ``memoryview`` item store is one aligned machine store.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag

import numpy as np

MAGIC = int.from_bytes(b"PLYBOOK1", "little")
LAYOUT_VERSION = 1
CACHE_LINE_BYTES = 64

# ---- store header (offsets in bytes from the start of the segment) ----
STORE_HEADER_BYTES = 128
OFF_MAGIC = 0  # u64
OFF_VERSION = 8  # u32
OFF_STATE = 12  # u32, StoreState
OFF_N_SLOTS = 16  # u32
OFF_LEVELS = 20  # u32, capacity per side
OFF_TOKEN_WIDTH = 24  # u32, bytes per directory entry
OFF_SLOT_HEADER_BYTES = 28  # u32
OFF_SLOT_STRIDE = 32  # u64
OFF_DIRECTORY = 40  # u64
OFF_SLOTS = 48  # u64
OFF_TOTAL_BYTES = 56  # u64
OFF_WRITER_PID = 64  # i64
OFF_CREATED_NS = 72  # i64, wall clock ns; a new value means a new store generation
# Owner identity beyond the pid (pids are reused): the writer's start time in clock ticks since
# boot (/proc/<pid>/stat field 22) and the boot id it started under. Zero = unknown (a store made
# before these fields existed, in what was reserved space; layout version unchanged).
OFF_WRITER_START_TICKS = 80  # u64
OFF_BOOT_ID = 88  # 16 bytes, /proc/sys/kernel/random/boot_id as a UUID
BOOT_ID_BYTES = 16

TOKEN_WIDTH = 80  # token ids are decimal uint256 (≤ 78 digits), NUL-padded ASCII

# ---- slot header (offsets in bytes from the start of a slot) ----
SLOT_HEADER_BYTES = 192
S_COUNTER = 0  # u64 seqlock counter: odd while a write is in progress; seq = counter // 2
S_T_RECV_NS = 8  # i64 gateway receive time, CLOCK_MONOTONIC ns
S_EXCHANGE_TS_MS = 16  # i64 venue timestamp, ms since the epoch
S_TICK_SIZE = 24  # f64
S_BEST_BID = 32  # f64, NaN when the bid side is empty
S_BEST_ASK = 40  # f64, NaN when the ask side is empty
S_N_BIDS = 48  # u32 visible bid levels (≤ levels)
S_N_ASKS = 52  # u32 visible ask levels (≤ levels)
S_BID_LEVELS_TOTAL = 56  # u32 bid levels in the writer's full book
S_ASK_LEVELS_TOTAL = 60  # u32 ask levels in the writer's full book
S_FLAGS = 64  # u32 SlotFlags
S_HASH_LEN = 68  # u32
S_HASH = 80  # HASH_CAPACITY bytes of ASCII
HASH_CAPACITY = 64
S_DEPTH = SLOT_HEADER_BYTES  # then bid_prices[L], bid_sizes[L], ask_prices[L], ask_sizes[L]


class StoreState(IntEnum):
    """Lifecycle of a segment as published in its store header."""

    INITIALIZING = 0
    READY = 1
    CLOSED = 2


class SlotFlags(IntFlag):
    """Per-slot status bits."""

    NONE = 0
    STALE = 1  # the gateway's staleness tracker says the book is old (set/cleared explicitly)
    RESYNCING = 2  # the book is being rebuilt (reconnect, tick change); wait for a snapshot
    CROSSED = 4  # best bid >= best ask in the published book
    NO_BOOK = 8  # no snapshot applied yet since the store was created


def _round_up(value: int, multiple: int) -> int:
    return (value + multiple - 1) // multiple * multiple


@dataclass(frozen=True, slots=True)
class StoreLayout:
    """Sizes and offsets of one store, derived from ``n_slots`` and ``levels``."""

    n_slots: int
    levels: int
    token_width: int = TOKEN_WIDTH

    @property
    def directory_offset(self) -> int:
        """Byte offset of the token directory."""
        return STORE_HEADER_BYTES

    @property
    def slots_offset(self) -> int:
        """Byte offset of slot 0 (cache-line aligned)."""
        return _round_up(self.directory_offset + self.n_slots * self.token_width, CACHE_LINE_BYTES)

    @property
    def slot_stride(self) -> int:
        """Bytes per slot: header plus four float64 arrays of ``levels``, cache-line aligned."""
        return _round_up(SLOT_HEADER_BYTES + 4 * 8 * self.levels, CACHE_LINE_BYTES)

    @property
    def total_bytes(self) -> int:
        """Size of the whole segment in bytes."""
        return self.slots_offset + self.n_slots * self.slot_stride

    def slot_offset(self, slot: int) -> int:
        """Byte offset of slot ``slot``."""
        return self.slots_offset + slot * self.slot_stride

    def bid_prices_offset(self, slot: int) -> int:
        """Byte offset of the slot's bid price array (best first)."""
        return self.slot_offset(slot) + S_DEPTH

    def bid_sizes_offset(self, slot: int) -> int:
        """Byte offset of the slot's bid size array."""
        return self.bid_prices_offset(slot) + 8 * self.levels

    def ask_prices_offset(self, slot: int) -> int:
        """Byte offset of the slot's ask price array (best first)."""
        return self.bid_prices_offset(slot) + 16 * self.levels

    def ask_sizes_offset(self, slot: int) -> int:
        """Byte offset of the slot's ask size array."""
        return self.bid_prices_offset(slot) + 24 * self.levels

    def slot_dtype(self) -> np.dtype:
        """Numpy structured dtype of one slot (for inspection and tests; not the hot path)."""
        return np.dtype(
            {
                "names": [
                    "counter", "t_recv_ns", "exchange_ts_ms", "tick_size", "best_bid",
                    "best_ask", "n_bids", "n_asks", "bid_levels_total", "ask_levels_total",
                    "flags", "hash_len", "hash", "bid_prices", "bid_sizes", "ask_prices",
                    "ask_sizes",
                ],
                "formats": [
                    "<u8", "<i8", "<i8", "<f8", "<f8", "<f8", "<u4", "<u4", "<u4", "<u4",
                    "<u4", "<u4", f"S{HASH_CAPACITY}", (np.float64, self.levels),
                    (np.float64, self.levels), (np.float64, self.levels),
                    (np.float64, self.levels),
                ],
                "offsets": [
                    S_COUNTER, S_T_RECV_NS, S_EXCHANGE_TS_MS, S_TICK_SIZE, S_BEST_BID,
                    S_BEST_ASK, S_N_BIDS, S_N_ASKS, S_BID_LEVELS_TOTAL, S_ASK_LEVELS_TOTAL,
                    S_FLAGS, S_HASH_LEN, S_HASH, S_DEPTH, S_DEPTH + 8 * self.levels,
                    S_DEPTH + 16 * self.levels, S_DEPTH + 24 * self.levels,
                ],
                "itemsize": self.slot_stride,
            }
        )
