"""The single writer of a book store (the gateway owns it).

The writer keeps every token's *full* book in private Python structures (a dict price→size and
a sorted price list per side) and, on every accepted change, republishes the best ``levels``
of each side into shared memory inside one seqlock write. Levels beyond ``levels`` are never
lost: they stay in the private book and become visible as better levels disappear.
"""

from __future__ import annotations

import atexit
import math
import os
import time
import weakref
from array import array
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory
from typing import NamedTuple

from polyloly.domain import Side
from shm import layout as L
from shm._mapped import MappedStore
from shm._segment import SegmentOwner, open_segment, segment_buffer, unlink_segment
from shm.errors import BookRejectReason, BookUpdateError, StoreInUseError

DEFAULT_LEVELS = 32  # matches config shm.levels
DEFAULT_TICK_SIZE = 0.001  # Polymarket esports markets (VENUE §0)
_TICK_EPSILON = 1e-6  # fraction of a tick a price may be off by float parsing
_PRICE_DECIMALS = 9
_INT64_LIMIT = 1 << 63  # header times are int64
_MIN_TICK = 1e-9  # the venue's smallest tick is 1e-4

_Level = tuple[float, float]
_STALE = int(L.SlotFlags.STALE)
_RESYNCING = int(L.SlotFlags.RESYNCING)
_CROSSED = int(L.SlotFlags.CROSSED)
_NO_BOOK = int(L.SlotFlags.NO_BOOK)


class LevelChange(NamedTuple):
    """One ``price_change`` entry: the new total ``size`` at ``price`` on ``side`` (0 removes)."""

    side: Side | str
    price: float
    size: float


@dataclass(frozen=True, slots=True)
class BookWrite:
    """Result of one accepted write: what the gateway puts in its ``BookTick``."""

    slot: int
    seq: int
    flags: int
    t_shm_ns: int  # CLOCK_MONOTONIC ns right after the seqlock counter went even
    # The top this write published (NaN: empty side), so the writer's owner knows it without
    # reading its own write back from shm.
    best_bid: float
    best_ask: float


class _SideBook:
    __slots__ = ("sizes", "prices")

    def __init__(self) -> None:
        self.sizes: dict[float, float] = {}
        self.prices: list[float] = []  # ascending

    def replace(self, sizes: dict[float, float]) -> None:
        self.sizes = sizes
        self.prices = sorted(sizes)

    def set(self, price: float, size: float) -> None:
        if size == 0.0:
            if price in self.sizes:
                del self.sizes[price]
                del self.prices[bisect_left(self.prices, price)]
        else:
            if price not in self.sizes:
                insort(self.prices, price)
            self.sizes[price] = size


class _SlotBook:
    __slots__ = ("bids", "asks", "tick_size", "flags", "has_snapshot", "t_recv_ns",
                 "exchange_ts_ms", "book_hash", "n_bids", "n_asks")

    def __init__(self, tick_size: float) -> None:
        self.bids = _SideBook()
        self.asks = _SideBook()
        self.tick_size = tick_size
        self.flags = _NO_BOOK
        self.has_snapshot = False
        self.t_recv_ns = 0
        self.exchange_ts_ms = 0
        self.book_hash = b""
        self.n_bids = 0  # visible levels currently published
        self.n_asks = 0


def _close_at_exit(ref: weakref.ref[BookWriter]) -> None:
    writer = ref()
    if writer is not None:
        writer.close()


class BookWriter(MappedStore):
    """Create and update a book store. Single writer: one process, one thread.

    Every ``apply_*``/``set_*``/``mark_*`` method validates its whole input first and raises
    :class:`BookUpdateError` (counted in :attr:`rejections`) without touching the slot, or
    publishes the new state in exactly one seqlock write and returns a :class:`BookWrite`.
    """

    def __init__(self, segment: SharedMemory, layout: L.StoreLayout, token_ids: Sequence[str],
                 tick_size: float) -> None:
        """Use :meth:`create`; this wires an already created and initialized segment."""
        self._layout = layout
        self._token_ids = tuple(token_ids)
        self._slot_of = {token: slot for slot, token in enumerate(self._token_ids)}
        self._books = [_SlotBook(tick_size) for _ in self._token_ids]
        self._rejections: Counter[BookRejectReason] = Counter()
        self._bases = [layout.slot_offset(slot) for slot in range(layout.n_slots)]
        self._map(segment)
        self._zeros = memoryview(array("d", bytes(8 * layout.levels)))
        self._closed = False
        atexit.register(_close_at_exit, weakref.ref(self))

    # ---- lifecycle ----

    @classmethod
    def create(
        cls,
        name: str,
        token_ids: Sequence[str],
        *,
        levels: int = DEFAULT_LEVELS,
        tick_size: float = DEFAULT_TICK_SIZE,
        replace: bool = True,
    ) -> BookWriter:
        """Create the segment ``name`` with one slot per token id and mark it READY.

        ``levels`` is the capacity per side visible to readers. When a segment with this name
        already exists and ``replace`` is true, it is replaced if its writer is gone (a crashed
        gateway) or it is not a valid store; :class:`StoreInUseError` is raised when its writer
        process is still alive, or when ``replace`` is false.
        """
        tokens = tuple(token_ids)
        if not tokens:
            raise ValueError("token_ids: expected at least one token id")
        if len(set(tokens)) != len(tokens):
            raise ValueError("token_ids: duplicate token ids")
        for token in tokens:
            if not token.isascii() or not 0 < len(token) <= L.TOKEN_WIDTH:
                raise ValueError(f"token id {token!r}: expected 1..{L.TOKEN_WIDTH} ASCII chars")
        if levels < 1:
            raise ValueError(f"levels: expected a positive integer, was {levels!r}")
        if not (0.0 < tick_size < 1.0):
            raise ValueError(f"tick_size: expected a number in (0, 1), was {tick_size!r}")
        layout = L.StoreLayout(n_slots=len(tokens), levels=levels)
        try:
            segment = open_segment(name, create=True, size=layout.total_bytes)
        except FileExistsError:
            if not replace:
                raise StoreInUseError(f"segment {name!r} exists and replace=False") from None
            _retire_stale(name)
            segment = open_segment(name, create=True, size=layout.total_bytes)
        writer = cls(segment, layout, tokens, tick_size)
        writer._initialize()
        return writer

    def _initialize(self) -> None:
        lay = self._layout
        b, q, i = self._b, self._q, self._i
        b[: lay.total_bytes] = bytes(lay.total_bytes)
        q[L.OFF_MAGIC // 8] = L.MAGIC
        i[L.OFF_VERSION // 4] = L.LAYOUT_VERSION
        i[L.OFF_STATE // 4] = L.StoreState.INITIALIZING
        i[L.OFF_N_SLOTS // 4] = lay.n_slots
        i[L.OFF_LEVELS // 4] = lay.levels
        i[L.OFF_TOKEN_WIDTH // 4] = lay.token_width
        i[L.OFF_SLOT_HEADER_BYTES // 4] = L.SLOT_HEADER_BYTES
        q[L.OFF_SLOT_STRIDE // 8] = lay.slot_stride
        q[L.OFF_DIRECTORY // 8] = lay.directory_offset
        q[L.OFF_SLOTS // 8] = lay.slots_offset
        q[L.OFF_TOTAL_BYTES // 8] = lay.total_bytes
        owner = SegmentOwner.me()
        q[L.OFF_WRITER_PID // 8] = owner.pid
        q[L.OFF_WRITER_START_TICKS // 8] = owner.start_ticks
        b[L.OFF_BOOT_ID : L.OFF_BOOT_ID + L.BOOT_ID_BYTES] = owner.boot
        q[L.OFF_CREATED_NS // 8] = time.time_ns()
        for slot, token in enumerate(self._token_ids):
            raw = token.encode("ascii")
            start = lay.directory_offset + slot * lay.token_width
            b[start : start + len(raw)] = raw
            book = self._books[slot]
            base = lay.slot_offset(slot)
            self._d[(base + L.S_TICK_SIZE) // 8] = book.tick_size
            self._d[(base + L.S_BEST_BID) // 8] = math.nan
            self._d[(base + L.S_BEST_ASK) // 8] = math.nan
            i[(base + L.S_FLAGS) // 4] = book.flags
        # READY last: a reader that sees it also sees everything above (x86 TSO store order).
        i[L.OFF_STATE // 4] = L.StoreState.READY

    def close(self, *, unlink: bool = True) -> None:
        """Mark every slot STALE and the store CLOSED, release the mapping, unlink the name.

        Readers still attached keep a valid mapping and see ``STALE``; new readers wait for a
        new store. Idempotent; also run at interpreter exit.
        """
        if self._closed:
            return
        self._closed = True
        try:
            for slot, book in enumerate(self._books):
                book.flags |= _STALE
                self._publish(slot, book, header_only=True)
            self._i[L.OFF_STATE // 4] = L.StoreState.CLOSED
        finally:
            self._unmap()
            if unlink:
                unlink_segment(self._segment)

    # ---- introspection (name, levels, token_ids: see MappedStore) ----

    @property
    def rejections(self) -> dict[BookRejectReason, int]:
        """Refused updates so far, by reason (for the gateway's metrics)."""
        return dict(self._rejections)

    def slot_of(self, token_id: str) -> int:
        """Slot index of ``token_id``; raise BookUpdateError(UNKNOWN_TOKEN) if not in the store."""
        slot = self._slot_of.get(token_id)
        if slot is None:
            raise self._reject(BookRejectReason.UNKNOWN_TOKEN, token_id, "token not in store")
        return slot

    def full_book(self, token_id: str) -> tuple[list[_Level], list[_Level]]:
        """Return the private full book (bids best-first, asks best-first), beyond ``levels``."""
        book = self._books[self.slot_of(token_id)]
        bids = [(p, book.bids.sizes[p]) for p in reversed(book.bids.prices)]
        asks = [(p, book.asks.sizes[p]) for p in book.asks.prices]
        return bids, asks

    # ---- updates ----

    def apply_snapshot(
        self,
        token_id: str,
        bids: Iterable[_Level],
        asks: Iterable[_Level],
        *,
        t_recv_ns: int,
        exchange_ts_ms: int,
        book_hash: str = "",
    ) -> BookWrite:
        """Replace the token's whole book (Polymarket ``book``); levels in any order.

        Levels of size 0 are dropped. Clears RESYNCING and NO_BOOK; STALE is left as it was
        (the staleness tracker owns it).
        """
        slot = self.slot_of(token_id)
        book = self._books[slot]
        tick = book.tick_size
        self._check_times(token_id, t_recv_ns, exchange_ts_ms)
        raw_hash = self._check_hash(token_id, book_hash)
        new_bids = self._check_side(token_id, bids, tick, "bids")
        new_asks = self._check_side(token_id, asks, tick, "asks")
        book.bids.replace(new_bids)
        book.asks.replace(new_asks)
        book.has_snapshot = True
        book.flags &= ~(_RESYNCING | _NO_BOOK)
        book.t_recv_ns = t_recv_ns
        book.exchange_ts_ms = exchange_ts_ms
        book.book_hash = raw_hash
        return self._publish(slot, book, bids=True, asks=True)

    def apply_changes(
        self,
        token_id: str,
        changes: Sequence[LevelChange | tuple[Side | str, float, float]],
        *,
        t_recv_ns: int,
        exchange_ts_ms: int,
        book_hash: str = "",
    ) -> BookWrite:
        """Apply a batch of ``price_change`` entries for one token in one seqlock write.

        Each entry is (side, price, new total size); size 0 removes the level. Entries apply in
        order. Any bad entry rejects the whole batch and leaves the book untouched.
        """
        slot = self.slot_of(token_id)
        book = self._books[slot]
        if not book.has_snapshot:
            raise self._reject(BookRejectReason.NO_SNAPSHOT, token_id,
                               "level changes before the first snapshot")
        self._check_times(token_id, t_recv_ns, exchange_ts_ms)
        raw_hash = self._check_hash(token_id, book_hash)
        tick = book.tick_size
        checked: list[tuple[bool, float, float]] = []
        for change in changes:
            try:
                side, price, size = change
            except (TypeError, ValueError):
                raise self._reject(BookRejectReason.MALFORMED, token_id,
                                   f"change {change!r} is not (side, price, size)") from None
            if side == Side.BUY:
                is_bid = True
            elif side == Side.SELL:
                is_bid = False
            else:
                raise self._reject(BookRejectReason.BAD_SIDE, token_id, f"side {side!r}")
            price_key, size_value = self._check_level(token_id, price, size, tick)
            checked.append((is_bid, price_key, size_value))
        touched_bids = touched_asks = False
        for is_bid, price_key, size_value in checked:
            if is_bid:
                book.bids.set(price_key, size_value)
                touched_bids = True
            else:
                book.asks.set(price_key, size_value)
                touched_asks = True
        book.t_recv_ns = t_recv_ns
        book.exchange_ts_ms = exchange_ts_ms
        book.book_hash = raw_hash
        return self._publish(slot, book, bids=touched_bids, asks=touched_asks)

    def set_tick_size(self, token_id: str, tick_size: float) -> BookWrite:
        """Set the token's tick size (Polymarket ``tick_size_change``).

        When a level of the current book is off the new tick the slot is flagged RESYNCING
        until the next snapshot (the book of the old tick epoch cannot be trusted).
        """
        slot = self.slot_of(token_id)
        try:
            tick = float(tick_size)
        except (TypeError, ValueError):
            raise self._reject(BookRejectReason.BAD_TICK_SIZE, token_id,
                               f"tick size {tick_size!r}") from None
        # a tick below 1e-9 (a denormal such as 1e-320) overflowed the tick arithmetic
        if not (_MIN_TICK <= tick < 1.0):
            raise self._reject(BookRejectReason.BAD_TICK_SIZE, token_id, f"tick size {tick!r}")
        book = self._books[slot]
        book.tick_size = tick
        for side in (book.bids, book.asks):
            if any(not _on_tick(price, tick) for price in side.prices):
                book.flags |= _RESYNCING
                break
        return self._publish(slot, book, header_only=True)

    def mark_stale(self, token_id: str, stale: bool = True) -> BookWrite:
        """Set (or clear, ``stale=False``) the slot's STALE flag."""
        return self._set_flag(token_id, L.SlotFlags.STALE, stale)

    def mark_resyncing(self, token_id: str, resyncing: bool = True) -> BookWrite:
        """Set (or clear) the slot's RESYNCING flag; the next snapshot also clears it."""
        return self._set_flag(token_id, L.SlotFlags.RESYNCING, resyncing)

    # ---- validation ----

    def _set_flag(self, token_id: str, flag: L.SlotFlags, on: bool) -> BookWrite:
        slot = self.slot_of(token_id)
        book = self._books[slot]
        bit = int(flag)
        book.flags = (book.flags | bit) if on else (book.flags & ~bit)
        return self._publish(slot, book, header_only=True)

    def _reject(self, reason: BookRejectReason, token_id: str, detail: str) -> BookUpdateError:
        self._rejections[reason] += 1
        return BookUpdateError(reason, token_id, detail)

    def _check_times(self, token_id: str, t_recv_ns: object, exchange_ts_ms: object) -> None:
        # The header stores both as int64: a value outside [0, 2**63) would raise half-way
        # through a write (issue 20 #5), so it is refused before the slot goes odd.
        for name, value in (("t_recv_ns", t_recv_ns), ("exchange_ts_ms", exchange_ts_ms)):
            if type(value) is not int or not 0 <= value < _INT64_LIMIT:
                raise self._reject(BookRejectReason.MALFORMED, token_id,
                                   f"{name} {value!r} is not an integer in [0, 2**63)")

    def _check_hash(self, token_id: str, book_hash: str) -> bytes:
        try:
            raw = book_hash.encode("ascii")
        except (AttributeError, UnicodeEncodeError):
            raise self._reject(BookRejectReason.BAD_HASH, token_id,
                               f"hash {book_hash!r} is not ASCII text") from None
        if len(raw) > L.HASH_CAPACITY:
            raise self._reject(BookRejectReason.BAD_HASH, token_id,
                               f"hash longer than {L.HASH_CAPACITY} bytes")
        return raw

    def _check_level(self, token_id: str, price: object, size: object,
                     tick: float) -> tuple[float, float]:
        try:
            p = float(price)  # type: ignore[arg-type]
            s = float(size)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise self._reject(BookRejectReason.MALFORMED, token_id,
                               f"level ({price!r}, {size!r}) is not numeric") from None
        if not (0.0 < p < 1.0):
            raise self._reject(BookRejectReason.PRICE_OUT_OF_RANGE, token_id,
                               f"price {p!r} not in (0, 1)")
        key = _tick_key(p, tick)
        if key is None:
            raise self._reject(BookRejectReason.OFF_TICK, token_id,
                               f"price {p!r} not a multiple of tick {tick!r}")
        if not (s >= 0.0) or s == math.inf:
            raise self._reject(BookRejectReason.BAD_SIZE, token_id, f"size {s!r}")
        return key, s

    def _check_side(self, token_id: str, levels: Iterable[_Level], tick: float,
                    side_name: str) -> dict[float, float]:
        out: dict[float, float] = {}
        per_unit = 1.0 / tick
        ticks_per_unit = round(per_unit)
        if abs(per_unit - ticks_per_unit) > 1e-9 * per_unit:
            ticks_per_unit = 0  # not a decimal tick: every level takes the slow path
        zeros = False
        for level in levels:
            try:
                price, size = level
                p = float(price)
                s = float(size)
            except (TypeError, ValueError):
                raise self._reject(BookRejectReason.MALFORMED, token_id,
                                   f"{side_name} level {level!r} is not numeric "
                                   "(price, size)") from None
            # Fast path for the common valid level; anything else gets the exact reason below.
            if ticks_per_unit and 0.0 < p < 1.0 and 0.0 <= s < math.inf:
                ticks = p * ticks_per_unit
                whole = round(ticks)
                if -_TICK_EPSILON <= ticks - whole <= _TICK_EPSILON:
                    key = whole / ticks_per_unit
                    value = s
                else:
                    key, value = self._check_level(token_id, p, s, tick)
            else:
                key, value = self._check_level(token_id, p, s, tick)
            if key in out:
                raise self._reject(BookRejectReason.DUPLICATE_PRICE, token_id,
                                   f"{side_name} price {key!r} appears twice")
            out[key] = value
            zeros = zeros or value == 0.0
        if zeros:
            out = {key: value for key, value in out.items() if value > 0.0}
        return out

    # ---- publication (the only code that writes slots after creation) ----

    def _publish(self, slot: int, book: _SlotBook, *, bids: bool = False, asks: bool = False,
                 header_only: bool = False) -> BookWrite:
        lay = self._layout
        levels = lay.levels
        base = self._bases[slot]
        q, d, i = self._q, self._d, self._i
        # Everything is computed before the counter goes odd, so the odd window is short.
        bid_prices = book.bids.prices
        ask_prices = book.asks.prices
        top_bids = bid_prices[-1 : -levels - 1 : -1] if bids else None
        top_asks = ask_prices[:levels] if asks else None
        best_bid = bid_prices[-1] if bid_prices else math.nan
        best_ask = ask_prices[0] if ask_prices else math.nan
        flags = book.flags & ~_CROSSED
        if bid_prices and ask_prices and best_bid >= best_ask:
            flags |= _CROSSED
        book.flags = flags
        if top_bids is not None:
            bid_sizes = book.bids.sizes
            bid_p = array("d", top_bids)
            bid_s = array("d", [bid_sizes[p] for p in top_bids])
        if top_asks is not None:
            ask_sizes = book.asks.sizes
            ask_p = array("d", top_asks)
            ask_s = array("d", [ask_sizes[p] for p in top_asks])
        ci = (base + L.S_COUNTER) // 8
        counter = q[ci]
        if counter & 1:  # a previous write died mid-way in this process: finish it
            counter += 1
        q[ci] = counter + 1  # odd: write in progress
        try:
            q[ci + 1] = book.t_recv_ns
            q[ci + 2] = book.exchange_ts_ms
            d[ci + 3] = book.tick_size
            d[ci + 4] = best_bid
            d[ci + 5] = best_ask
            ii = (base + L.S_N_BIDS) // 4
            i[ii + 2] = len(bid_prices)
            i[ii + 3] = len(ask_prices)
            i[ii + 4] = flags
            raw_hash = book.book_hash
            i[ii + 5] = len(raw_hash)
            hash_at = base + L.S_HASH
            self._b[hash_at : hash_at + len(raw_hash)] = raw_hash
            if not header_only:
                di = (base + L.S_DEPTH) // 8
                if top_bids is not None:
                    n = len(top_bids)
                    d[di : di + n] = bid_p
                    d[di + levels : di + levels + n] = bid_s
                    if n < book.n_bids:
                        gap = self._zeros[: book.n_bids - n]
                        d[di + n : di + book.n_bids] = gap
                        d[di + levels + n : di + levels + book.n_bids] = gap
                    book.n_bids = n
                    i[ii] = n
                if top_asks is not None:
                    n = len(top_asks)
                    da = di + 2 * levels
                    d[da : da + n] = ask_p
                    d[da + levels : da + levels + n] = ask_s
                    if n < book.n_asks:
                        gap = self._zeros[: book.n_asks - n]
                        d[da + n : da + book.n_asks] = gap
                        d[da + levels + n : da + levels + book.n_asks] = gap
                    book.n_asks = n
                    i[ii + 1] = n
        finally:
            # even again whatever happened: an exception must never leave readers spinning
            # on an odd counter (issue 20 #5); inputs are checked before, so this is a bug net
            q[ci] = counter + 2  # even: published
        return BookWrite(slot=slot, seq=(counter + 2) >> 1, flags=flags,
                         t_shm_ns=time.monotonic_ns(), best_bid=best_bid, best_ask=best_ask)


def _tick_key(price: float, tick: float) -> float | None:
    """The canonical float of ``price`` on ``tick`` (None when off tick).

    For decimal ticks (0.01, 0.001...) ``whole / ticks_per_unit`` is the correctly rounded
    quotient of two exact integers, i.e. the same float as parsing the decimal string, so
    "0.514" and 514 * 0.001 land on one dict key.
    """
    per_unit = 1.0 / tick
    ticks_per_unit = round(per_unit)
    if abs(per_unit - ticks_per_unit) <= 1e-9 * per_unit:
        ticks = price * ticks_per_unit
        whole = round(ticks)
        if abs(ticks - whole) > _TICK_EPSILON:
            return None
        return whole / ticks_per_unit
    ticks = price / tick
    whole = round(ticks)
    if abs(ticks - whole) > _TICK_EPSILON:
        return None
    return round(whole * tick, _PRICE_DECIMALS)


def _on_tick(price: float, tick: float) -> bool:
    return _tick_key(price, tick) is not None


def _header_owner(buf: memoryview) -> tuple[SegmentOwner, int] | None:
    """The owner and state recorded in a book store header; None when ``buf`` is no store."""
    if len(buf) < L.STORE_HEADER_BYTES:
        return None
    q = buf.cast("q")
    i = buf.cast("I")
    try:
        if q[L.OFF_MAGIC // 8] != L.MAGIC:
            return None
        owner = SegmentOwner(q[L.OFF_WRITER_PID // 8], q[L.OFF_WRITER_START_TICKS // 8],
                             bytes(buf[L.OFF_BOOT_ID : L.OFF_BOOT_ID + L.BOOT_ID_BYTES]))
        return owner, i[L.OFF_STATE // 4]
    finally:
        q.release()
        i.release()


def store_owner(name: str) -> SegmentOwner | None:
    """The recorded writer of the book store ``name``; None when it is absent or no store."""
    try:
        segment = open_segment(name, create=False)
    except (FileNotFoundError, ValueError):  # ValueError: an empty file cannot be mapped
        return None
    try:
        found = _header_owner(segment_buffer(segment))
        return found[0] if found else None
    finally:
        segment.close()


def reclaim_stale_store(name: str) -> bool:
    """Unlink the book store ``name`` if its writer is gone (a crashed run's leftover).

    Returns True when it was removed. A store whose writer is alive, or a segment that is not a
    book store, is never touched (returns False): cleanup after a failed test or bench run.
    """
    try:
        segment = open_segment(name, create=False)
    except (FileNotFoundError, ValueError):
        return False
    try:
        buf = segment_buffer(segment)
        found = _header_owner(buf)
        if found is None or found[0].alive():
            return False
        _mark_closed(buf)
        unlink_segment(segment)
        return True
    finally:
        segment.close()


def _mark_closed(buf: memoryview) -> None:
    i = buf.cast("I")
    try:
        i[L.OFF_STATE // 4] = L.StoreState.CLOSED  # readers still mapping it can notice
    finally:
        i.release()


def _retire_stale(name: str) -> None:
    """Replace-on-start: unlink an existing segment unless a live writer still owns it.

    Live means the recorded pid runs *and* started at the recorded time in this boot (a reused
    pid is not the writer). The calling process's own earlier store may be replaced.
    """
    old = open_segment(name, create=False)
    try:
        buf = segment_buffer(old)
        found = _header_owner(buf)
        if found is not None:
            owner, state = found
            if state != L.StoreState.CLOSED and owner.pid != os.getpid() and owner.alive():
                raise StoreInUseError(
                    f"shm segment {name!r} (/dev/shm/{name}) belongs to the live writer "
                    f"{owner.describe()}; stop that process first or set shm.segment_name to "
                    "another name")
            _mark_closed(buf)
        unlink_segment(old)
    finally:
        old.close()
