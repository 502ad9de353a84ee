"""Where the engine reads order books: the shm store in production, a dict in tests.

Both return :class:`shm.reader.BookSnapshot` (a private consistent copy) or None when the
token has no book. The engine never writes books.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Protocol

from shm.errors import ShmBookError
from shm.layout import SlotFlags
from shm.reader import BookReader, BookSnapshot


class BookSource(Protocol):
    def snapshot(self, token_id: str) -> BookSnapshot | None:
        """Return a consistent copy of the token's book, or None when there is none."""
        ...


def top_mid(books: BookSource, token_id: str) -> tuple[int, float] | None:
    """``(seq, mid)`` of the token's book, or None without a two-sided book. Reads only the
    top of book when the source can (``top``: shm, one seqlock read), else a snapshot."""
    top = getattr(books, "top", None)
    if top is not None:
        result: tuple[int, float] | None = top(token_id)
        return result
    book = books.snapshot(token_id)
    if book is None or book.mid is None:
        return None
    return book.seq, book.mid


def book_seq(books: BookSource, token_id: str) -> int | None:
    """The token's book sequence number (writes so far), or None without a book. One aligned
    load of the slot counter when the source can (``seq``: shm), else a snapshot."""
    seq = getattr(books, "seq", None)
    if seq is not None:
        result: int | None = seq(token_id)
        return result
    book = books.snapshot(token_id)
    return None if book is None else book.seq


class SeqWatch:
    """Which tokens' books changed since this watch last looked: one seq load per token
    (:func:`book_seq`); a token without a book never counts as moved."""

    def __init__(self, books: BookSource) -> None:
        self._books = books
        self._seen: dict[str, int] = {}

    def moved(self, token_ids: Iterable[str]) -> list[str]:
        """The tokens among ``token_ids`` whose seq differs from the last one seen here."""
        moved: list[str] = []
        seen = self._seen
        for token_id in token_ids:
            seq = book_seq(self._books, token_id)
            if seq is not None and seen.get(token_id) != seq:
                seen[token_id] = seq
                moved.append(token_id)
        return moved


class ShmBookSource:
    """Read books from the gateway's shared-memory store; errors become None (no book)."""

    def __init__(self, reader: BookReader) -> None:
        self._reader = reader

    def snapshot(self, token_id: str) -> BookSnapshot | None:
        """Return the token's book, or None for an unknown token or an unreadable slot."""
        try:
            return self._reader.snapshot_token(token_id)
        except ShmBookError:
            return None

    def seq(self, token_id: str) -> int | None:
        """The slot's seq counter (one load, no seqlock needed); None for an unknown token."""
        try:
            return self._reader.seq(self._reader.slot_of(token_id))
        except ShmBookError:
            return None

    def top(self, token_id: str) -> tuple[int, float] | None:
        """``(seq, mid)`` from one top-of-book read; None without a two-sided book."""
        try:
            top = self._reader.read_top(self._reader.slot_of(token_id))
        except ShmBookError:
            return None
        if top.best_bid is None or top.best_ask is None:
            return None
        return top.seq, (top.best_bid + top.best_ask) / 2.0

    def close(self) -> None:
        self._reader.close()


def make_snapshot(
    token_id: str,
    bids: Iterable[tuple[float, float]],
    asks: Iterable[tuple[float, float]],
    *,
    seq: int = 1,
    tick_size: float = 0.01,
    flags: int = 0,
    t_recv_ns: int = 0,
) -> BookSnapshot:
    """Build a :class:`BookSnapshot` from (price, size) levels in any order (tests, replay)."""
    bid_levels = sorted(((p, s) for p, s in bids if s > 0), key=lambda level: -level[0])
    ask_levels = sorted(((p, s) for p, s in asks if s > 0), key=lambda level: level[0])
    best_bid = bid_levels[0][0] if bid_levels else None
    best_ask = ask_levels[0][0] if ask_levels else None
    if best_bid is not None and best_ask is not None and best_bid >= best_ask:
        flags |= SlotFlags.CROSSED
    return BookSnapshot(
        slot=0,
        token_id=token_id,
        seq=seq,
        t_recv_ns=t_recv_ns,
        exchange_ts_ms=0,
        tick_size=tick_size,
        best_bid=best_bid,
        best_ask=best_ask,
        flags=int(flags),
        book_hash="",
        bid_prices=tuple(p for p, _ in bid_levels),
        bid_sizes=tuple(s for _, s in bid_levels),
        ask_prices=tuple(p for p, _ in ask_levels),
        ask_sizes=tuple(s for _, s in ask_levels),
        bid_levels_total=len(bid_levels),
        ask_levels_total=len(ask_levels),
    )


class StaticBookSource:
    """Books held in a dict; each :meth:`set` bumps the token's sequence number."""

    def __init__(self) -> None:
        self._books: dict[str, BookSnapshot] = {}

    def set(
        self,
        token_id: str,
        bids: Sequence[tuple[float, float]],
        asks: Sequence[tuple[float, float]],
        *,
        tick_size: float = 0.01,
        flags: int = 0,
    ) -> BookSnapshot:
        """Replace the token's book; return the new snapshot."""
        previous = self._books.get(token_id)
        seq = previous.seq + 1 if previous is not None else 1
        book = make_snapshot(token_id, bids, asks, seq=seq, tick_size=tick_size, flags=flags)
        self._books[token_id] = book
        return book

    def snapshot(self, token_id: str) -> BookSnapshot | None:
        return self._books.get(token_id)


class LazyShmBookSource:
    """Attach to the shm store on first use and re-try at most once per second until it
    exists (the gateway may start after the engine); no book until then."""

    def __init__(self, segment_name: str, retry_interval_s: float = 1.0) -> None:
        self._name = segment_name
        self._retry_interval_ns = int(retry_interval_s * 1e9)
        self._source: ShmBookSource | None = None
        self._next_try_ns = 0

    def snapshot(self, token_id: str) -> BookSnapshot | None:
        """Return the token's book, or None while the store is not attached."""
        if self._source is None and not self._attach():
            return None
        assert self._source is not None
        return self._source.snapshot(token_id)

    def top(self, token_id: str) -> tuple[int, float] | None:
        """``(seq, mid)`` of the token's book, or None while the store is not attached."""
        if self._source is None and not self._attach():
            return None
        assert self._source is not None
        return self._source.top(token_id)

    def seq(self, token_id: str) -> int | None:
        """The token's book seq counter, or None while the store is not attached."""
        if self._source is None and not self._attach():
            return None
        assert self._source is not None
        return self._source.seq(token_id)

    def _attach(self) -> bool:
        now = time.monotonic_ns()
        if now < self._next_try_ns:
            return False
        self._next_try_ns = now + self._retry_interval_ns
        try:
            reader = BookReader.attach(self._name, timeout_s=0.0)
        except ShmBookError:
            return False
        self._source = ShmBookSource(reader)
        return True

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None
