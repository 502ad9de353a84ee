"""The production persistence port: :class:`~engine.store.EngineStore` (SQLite WAL) for state,
:class:`~engine.journal.EventJournal` (rotating JSONL) for the event log.

Every ``sqlite3.Error`` leaves as :class:`PersistenceError`, so the core never imports sqlite3.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from engine.executors.base import VenueFill
from engine.journal import EventJournal
from engine.order_record import OrderRecord
from engine.persistence.port import PersistenceError
from engine.pnl.ledger import Ledger, Position
from engine.pnl.replay import replay_ledger
from engine.store import EngineStore, StoredCorrection
from polyloly.domain import Outcome
from polyloly.messages import Message


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise PersistenceError(f"engine store: {exc!r}") from exc


class SqlitePersistence:
    """:class:`~engine.persistence.port.EnginePersistence` over SQLite and the JSONL journal."""

    def __init__(self, store: EngineStore, journal: EventJournal | None = None) -> None:
        self.store = store
        self.event_journal = journal

    @contextmanager
    def transaction(self, durable: bool = False) -> Iterator[None]:
        with _translated(), self.store.transaction(durable=durable):
            yield

    def claim(self, record: OrderRecord, now_ms: int, ttl_ms: int) -> str | None:
        with _translated():
            return self.store.claim(record, now_ms, ttl_ms)

    def load_order(self, order_id: str) -> OrderRecord | None:
        with _translated():
            return next((r for r in self.store.load_orders() if r.order_id == order_id), None)

    def load_orders(self) -> list[OrderRecord]:
        with _translated():
            return self.store.load_orders()

    def save_orders(self, records: Iterable[OrderRecord]) -> None:
        with _translated(), self.store.transaction():
            for record in records:
                self.store.save_order(record)

    def has_fill(self, fill_id: str) -> bool:
        with _translated():
            return self.store.has_fill(fill_id)

    def record_fill(self, fill: VenueFill, record: OrderRecord,
                    position: Position | None) -> bool:
        with _translated():
            return self.store.record_fill(fill, record, position)

    def record_settlement(self, market_id: str, winner: Outcome | None, t_ms: int) -> bool:
        with _translated():
            return self.store.record_settlement(market_id, winner, t_ms)

    def record_position_correction(self, correction: StoredCorrection,
                                   position: Position | None) -> StoredCorrection:
        with _translated():
            return self.store.record_position_correction(correction, position)

    def save_positions(self, positions: list[Position]) -> None:
        with _translated():
            self.store.save_positions(positions)

    def record_risk_event(self, kind: str, market_id: str | None, reason: str,
                          t_ms: int) -> None:
        with _translated():
            self.store.record_risk_event(kind, market_id, reason, t_ms)

    def risk_events(self) -> list[tuple[str, str | None, str, int]]:
        with _translated():
            return self.store.risk_events()

    def restore_ledger(self, ledger: Ledger) -> None:
        with _translated():
            replay_ledger(ledger, self.store.load_fills(), self.store.load_position_corrections(),
                          self.store.load_settlements())

    def journal(self, message: Message, source: str) -> None:
        if self.event_journal is not None:
            self.event_journal.record(message, source)

    def journal_event(self, event_type: str, payload: dict[str, Any], market_id: str | None,
                      source: str) -> None:
        if self.event_journal is not None:
            self.event_journal.record_event(event_type, payload, market_id, source)
