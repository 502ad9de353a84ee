"""The gateway's book store: the shm single writer plus a reader of its own top of book."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from polyloly.domain import Side
from shm import BookReader, BookWrite, BookWriter


class ShmBookStore:
    """:class:`shm.BookWriter` with :meth:`top`: the published best bid/ask of a token.

    The gateway is the only writer, so the top it reads back is exactly what readers see.
    """

    def __init__(self, writer: BookWriter) -> None:
        self.writer = writer
        self._reader = BookReader.attach(writer.name, timeout_s=1.0)

    @classmethod
    def create(cls, name: str, token_ids: Sequence[str], *, levels: int,
               tick_size: float) -> ShmBookStore:
        """Create the segment ``name`` with one slot per token (replacing a dead writer's)."""
        return cls(BookWriter.create(name, token_ids, levels=levels, tick_size=tick_size))

    @property
    def name(self) -> str:
        """Segment name, for readers' ``BookReader.attach``."""
        return self.writer.name

    @property
    def token_ids(self) -> tuple[str, ...]:
        return self.writer.token_ids

    def slot_of(self, token_id: str) -> int:
        return self.writer.slot_of(token_id)

    def top(self, token_id: str) -> tuple[float | None, float | None]:
        """Published (best bid, best ask) of ``token_id``; ``None`` for an empty side."""
        return self._reader.best_bid_ask(self.writer.slot_of(token_id))

    def apply_snapshot(self, token_id: str, bids: Iterable[tuple[float, float]],
                       asks: Iterable[tuple[float, float]], *, t_recv_ns: int,
                       exchange_ts_ms: int, book_hash: str = "") -> BookWrite:
        return self.writer.apply_snapshot(token_id, bids, asks, t_recv_ns=t_recv_ns,
                                          exchange_ts_ms=exchange_ts_ms, book_hash=book_hash)

    def apply_changes(self, token_id: str, changes: Sequence[tuple[Side, float, float]], *,
                      t_recv_ns: int, exchange_ts_ms: int, book_hash: str = "") -> BookWrite:
        return self.writer.apply_changes(token_id, changes, t_recv_ns=t_recv_ns,
                                         exchange_ts_ms=exchange_ts_ms, book_hash=book_hash)

    def set_tick_size(self, token_id: str, tick_size: float) -> BookWrite:
        return self.writer.set_tick_size(token_id, tick_size)

    def mark_stale(self, token_id: str, stale: bool = True) -> BookWrite:
        return self.writer.mark_stale(token_id, stale)

    def mark_resyncing(self, token_id: str, resyncing: bool = True) -> BookWrite:
        return self.writer.mark_resyncing(token_id, resyncing)

    def close(self) -> None:
        """Detach the reader, mark every slot STALE and unlink the segment."""
        self._reader.close()
        self.writer.close()
