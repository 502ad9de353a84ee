"""What the engine core needs from storage, as a typed Protocol (no SQLite, no files here).

Durability contract (docs/DECISIONS.md D9, specs/07 "Persistence"): ``record_fill``,
``record_settlement``, ``record_position_correction`` and ``record_risk_event`` are durable
(survive a power loss) when they return; ``claim`` and ``save_orders`` survive a process crash;
``transaction(durable=True)`` makes everything inside it durable at its commit (the real-money
idempotency claims). Every storage failure is raised as :class:`PersistenceError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from engine.executors.base import VenueFill
from engine.order_record import OrderRecord
from engine.pnl.ledger import Ledger, Position
from engine.store import StoredCorrection
from polyloly.domain import Outcome
from polyloly.messages import Message


class PersistenceError(Exception):
    """A write or read of the engine's storage failed (disk full, I/O error, locked)."""


class EnginePersistence(Protocol):
    """The engine's storage and event log, as the core sees them."""

    def transaction(self, durable: bool = False) -> AbstractContextManager[None]:
        """Group the writes inside into one all-or-nothing transaction."""
        ...

    def claim(self, record: OrderRecord, now_ms: int, ttl_ms: int) -> str | None:
        """Claim the record's idempotency key and store it; None when claimed, else the id of
        the order already holding the key (nothing written)."""
        ...

    def load_order(self, order_id: str) -> OrderRecord | None:
        """One stored order (a duplicate's holder stored by an earlier run)."""
        ...

    def load_orders(self) -> list[OrderRecord]:
        """Every stored order, oldest first."""
        ...

    def save_orders(self, records: Iterable[OrderRecord]) -> None:
        """Write the orders' current states (one transaction; not fsynced)."""
        ...

    def has_fill(self, fill_id: str) -> bool:
        """Whether this venue fill is already stored (fills apply once)."""
        ...

    def record_fill(self, fill: VenueFill, record: OrderRecord,
                    position: Position | None) -> bool:
        """Store a fill with its order and position, durably; False when already stored."""
        ...

    def record_settlement(self, market_id: str, winner: Outcome | None, t_ms: int) -> bool:
        """Store a market's resolution once, durably; False when already stored."""
        ...

    def record_position_correction(self, correction: StoredCorrection,
                                   position: Position | None) -> StoredCorrection:
        """Store a reconciliation correction after every fill so far, durably."""
        ...

    def save_positions(self, positions: list[Position]) -> None:
        """Rewrite the derived positions (inspection only; rebuilt from fills on start)."""
        ...

    def record_risk_event(self, kind: str, market_id: str | None, reason: str,
                          t_ms: int) -> None:
        """Store a halt / release / kill event, durably (halts are restored from these)."""
        ...

    def risk_events(self) -> list[tuple[str, str | None, str, int]]:
        """Every risk event ``(kind, market_id, reason, t_ms)``, oldest first."""
        ...

    def restore_ledger(self, ledger: Ledger) -> None:
        """Replay the stored fills, corrections and settlements into a fresh ledger."""
        ...

    def journal(self, message: Message, source: str) -> None:
        """Append one bus message to the event log (no-op without one)."""
        ...

    def journal_event(self, event_type: str, payload: dict[str, Any], market_id: str | None,
                      source: str) -> None:
        """Append one engine event that is not a bus message (e.g. ``position_correction``)."""
        ...
