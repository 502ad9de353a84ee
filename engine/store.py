"""SQLite persistence of the engine (WAL): the source of truth on restart.

Tables: ``idempotency`` (key → order, with expiry), ``orders`` (one JSON record per order),
``fills`` (one row per venue fill, unique ``fill_id``), ``positions`` (derived, for
inspection), ``settlements``, ``position_corrections`` (set by reconciliation) and
``risk_events`` (halts and releases: the halted markets are restored from it on start).

Durability (specs/07 "Persistence", docs/DECISIONS.md D9): the connection runs
``synchronous=NORMAL`` — a committed transaction survives a process crash (SIGKILL) but only a
checkpoint or an explicit sync makes it survive an OS crash or power loss. Fills, settlements,
position corrections and risk events (halts) are *durable* writes: the WAL is fsynced before
the method returns (what ``synchronous=FULL`` did), and that fsync also covers every NORMAL
commit before it. Idempotency claims and order-state updates are NORMAL. Positions and P&L are
rebuilt on start by replaying ``fills``, ``position_corrections`` and ``settlements`` in order.
:meth:`EngineStore.transaction` groups several writes into one transaction (one commit, at
most one fsync).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from engine.executors.base import VenueFill
from engine.order_record import OrderRecord, record_from_json, record_to_json
from engine.pnl.ledger import Position
from polyloly.domain import Outcome, Side, Strategy

_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY, intent_id TEXT NOT NULL, order_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY, market_id TEXT NOT NULL, status TEXT NOT NULL,
    venue_order_id TEXT, updated_ms INTEGER NOT NULL, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS orders_venue ON orders(venue_order_id);
CREATE TABLE IF NOT EXISTS fills (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, fill_id TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL, venue_order_id TEXT NOT NULL, market_id TEXT NOT NULL,
    token_id TEXT NOT NULL, outcome TEXT NOT NULL, side TEXT NOT NULL, price REAL NOT NULL,
    size REAL NOT NULL, fee_usdc REAL NOT NULL, is_maker INTEGER NOT NULL,
    strategy TEXT NOT NULL, t_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS positions (
    token_id TEXT PRIMARY KEY, market_id TEXT NOT NULL, outcome TEXT NOT NULL,
    shares REAL NOT NULL, cost_usdc REAL NOT NULL, fees_usdc REAL NOT NULL);
CREATE TABLE IF NOT EXISTS settlements (
    market_id TEXT PRIMARY KEY, winner TEXT, t_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS position_corrections (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, market_id TEXT NOT NULL, token_id TEXT NOT NULL,
    outcome TEXT NOT NULL, local_shares REAL NOT NULL, venue_shares REAL NOT NULL,
    price REAL NOT NULL, after_fill_seq INTEGER NOT NULL, reason TEXT NOT NULL,
    t_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS risk_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, market_id TEXT,
    reason TEXT NOT NULL, t_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS state_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_DATA_TABLES = ("orders", "fills", "settlements", "position_corrections", "risk_events")


class StateRefused(Exception):
    """The engine must not start on this database (missing, empty or another account's)."""


def state_identity(executor: str, account: str) -> str:
    """Whose state a database holds: the executor kind and the venue account (the funder
    address; "-" when the signing key's own address trades)."""
    return f"{executor}|{account or '-'}"


def check_state(path: str | Path, identity: str, *, new_state: bool) -> str:
    """Refuse a state the engine cannot trust (issue 20 #1), before anything is opened for
    writing: a missing or empty database (the data volume not mounted yet looks exactly like
    this) unless ``new_state``; a database of another identity always. Return what was found:
    ``"existing"``, ``"legacy"`` (data but no identity yet: stamped at open) or ``"new"``."""
    path = Path(path)
    fix = ("start with --new-state to begin a fresh state (the engine then adopts the venue's "
           "positions and open orders before it accepts intents)")
    if not path.exists() or path.stat().st_size == 0:
        if new_state:
            return "new"
        what = "missing" if not path.exists() else "empty"
        raise StateRefused(f"engine state {path} is {what}: is the data volume mounted? "
                           f"If this really is a first start, {fix}")
    try:
        db = sqlite3.connect(path)  # read only by use (a ro URI cannot open a WAL's shm)
        try:
            tables = {r[0] for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
            stored = None
            if "state_meta" in tables:
                row = db.execute(
                    "SELECT value FROM state_meta WHERE key = 'identity'").fetchone()
                stored = None if row is None else str(row[0])
            rows = sum(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # noqa: S608
                       for t in _DATA_TABLES if t in tables)
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise StateRefused(f"engine state {path} is not an engine database ({exc}); move it "
                           f"aside, then {fix}") from None
    if stored is not None and stored != identity:
        raise StateRefused(f"engine state {path} belongs to {stored!r}, not {identity!r} "
                           f"(executor|account): point storage.sqlite_file at this account's "
                           f"state, or move it aside and {fix}")
    if stored is not None:
        return "existing"
    if rows:
        return "legacy"
    if new_state:
        return "new"
    raise StateRefused(f"engine state {path} is empty (no identity, no orders): {fix}")


@dataclass(frozen=True, slots=True)
class StoredFill:
    """One fill row with what the ledger needs to replay it."""

    fill: VenueFill
    order_id: str
    market_id: str
    outcome: Outcome
    strategy: Strategy
    seq: int = 0  # storage order (position corrections are replayed relative to it)


@dataclass(frozen=True, slots=True)
class StoredCorrection:
    """A position set to the venue's shares by reconciliation (shares; price USDC/share).

    ``after_fill_seq``: the last fill stored before it, so a restart replays it in place.
    """

    market_id: str
    token_id: str
    outcome: Outcome
    local_shares: float
    venue_shares: float
    price: float
    reason: str
    t_ms: int
    after_fill_seq: int = 0


class EngineStore:
    """The engine's SQLite database (one connection, used from the engine's thread only)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._wal_path = Path(f"{self.path}-wal")
        self._wal_fd: int | None = None
        self._depth = 0
        self._durable = False
        self.syncs = 0  # WAL fsyncs so far (tests, benchmarks)

    def identity(self) -> str | None:
        """The identity stamped on this state (None: none yet)."""
        row = self._db.execute("SELECT value FROM state_meta WHERE key = 'identity'").fetchone()
        return None if row is None else str(row[0])

    def stamp_identity(self, identity: str) -> None:
        """Record whose state this is (durably), once; :func:`check_state` compares it."""
        with self.transaction(durable=True):
            self._db.execute("INSERT OR IGNORE INTO state_meta VALUES ('identity', ?)",
                             (identity,))

    def close(self) -> None:
        if self._wal_fd is not None:
            os.close(self._wal_fd)
            self._wal_fd = None
        self._db.close()

    # --- transactions and durability ----------------------------------------------------------

    @contextmanager
    def transaction(self, durable: bool = False) -> Iterator[None]:
        """Run the enclosed writes in one transaction (``BEGIN IMMEDIATE`` … ``COMMIT``).

        Re-entrant: an inner ``transaction`` joins the outer one. ``durable`` (here or in any
        inner one) fsyncs the WAL after the commit. Any exception rolls everything back and
        propagates. Never ``await`` inside: the connection is shared by the engine's tasks.
        """
        if self._depth:
            self._depth += 1
            self._durable = self._durable or durable
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        self._durable = durable
        try:
            yield
        except BaseException:
            self._depth = 0
            self._db.execute("ROLLBACK")
            raise
        self._depth = 0
        self._db.execute("COMMIT")
        if self._durable:
            self.sync()

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def mark_durable(self) -> None:
        """Ask the enclosing :meth:`transaction` to fsync at its commit (sync now if none)."""
        if self._depth:
            self._durable = True
        else:
            self.sync()

    def sync(self) -> None:
        """Make every commit so far survive an OS crash / power loss: fsync the WAL file
        (≈ 0.2–1 ms on a local disk). Without a WAL file there is nothing unsynced (the last
        checkpoint synced the database file)."""
        fd = self._wal_fd
        try:
            if fd is None or os.fstat(fd).st_ino != os.stat(self._wal_path).st_ino:
                if fd is not None:
                    os.close(fd)
                    self._wal_fd = None
                fd = self._wal_fd = os.open(self._wal_path, os.O_RDONLY)
        except FileNotFoundError:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            return
        os.fsync(fd)
        self.syncs += 1

    # --- idempotency + orders ---------------------------------------------------------------

    def claim(self, record: OrderRecord, now_ms: int, ttl_ms: int) -> str | None:
        """Claim ``record.idempotency_key`` and insert the order, atomically.

        Return None when claimed (the order is stored), or the order id that already holds
        the key (nothing is written). An expired key is replaced. Not durable by itself (a
        process crash keeps it; power loss may not): see the module docstring.
        """
        db = self._db
        with self.transaction():
            row = db.execute(
                "SELECT order_id, expires_ms FROM idempotency WHERE key = ?",
                (record.idempotency_key,),
            ).fetchone()
            if row is not None and row[1] > now_ms:
                return str(row[0])  # nothing written: committing the empty transaction is a no-op
            db.execute(
                "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?)",
                (record.idempotency_key, record.intent_id, record.order_id, now_ms,
                 now_ms + ttl_ms),
            )
            self._upsert_order(record)
        return None

    def save_order(self, record: OrderRecord) -> None:
        """Write the order's current state."""
        self._upsert_order(record)

    def _upsert_order(self, record: OrderRecord) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO orders VALUES (?, ?, ?, ?, ?, ?)",
            (record.order_id, record.market_id, record.status.value, record.venue_order_id,
             record.updated_ms, record_to_json(record).decode()),
        )

    def load_orders(self) -> list[OrderRecord]:
        rows = self._db.execute("SELECT record FROM orders ORDER BY rowid").fetchall()
        return [record_from_json(row[0]) for row in rows]

    def purge_expired_keys(self, now_ms: int) -> int:
        """Delete idempotency keys that expired; return how many."""
        cursor = self._db.execute("DELETE FROM idempotency WHERE expires_ms <= ?", (now_ms,))
        return cursor.rowcount

    # --- fills, positions, settlements --------------------------------------------------------

    def record_fill(
        self, fill: VenueFill, record: OrderRecord, position: Position | None
    ) -> bool:
        """Store one fill with the order's new state and position, in one durable transaction.

        Return False (writing nothing) when ``fill.fill_id`` is already stored. Durable: the
        WAL is fsynced before this returns (or at the commit of the enclosing transaction).
        """
        db = self._db
        with self.transaction(durable=True):
            cursor = db.execute(
                "INSERT OR IGNORE INTO fills (fill_id, order_id, venue_order_id, market_id, "
                "token_id, outcome, side, price, size, fee_usdc, is_maker, strategy, t_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (fill.fill_id, record.order_id, fill.venue_order_id, record.market_id,
                 fill.token_id, record.outcome.value, fill.side.value, fill.price, fill.size,
                 fill.fee_usdc, int(fill.is_maker), record.strategy.value, fill.t_ms),
            )
            if cursor.rowcount == 0:
                return False
            self._upsert_order(record)
            if position is not None:
                self._upsert_position(position)
        return True

    def has_fill(self, fill_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM fills WHERE fill_id = ?", (fill_id,)).fetchone()
        return row is not None

    def _upsert_position(self, position: Position) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?, ?, ?)",
            (position.token_id, position.market_id, position.outcome.value, position.shares,
             position.cost_usdc, position.fees_usdc),
        )

    def save_positions(self, positions: list[Position]) -> None:
        """Rewrite the derived positions table (after a settlement or a rebuild)."""
        with self.transaction():
            for position in positions:
                self._upsert_position(position)

    def load_fills(self) -> list[StoredFill]:
        rows = self._db.execute(
            "SELECT fill_id, venue_order_id, token_id, side, price, size, fee_usdc, is_maker, "
            "t_ms, market_id, order_id, outcome, strategy, seq FROM fills ORDER BY seq"
        ).fetchall()
        return [
            StoredFill(
                fill=VenueFill(
                    fill_id=r[0], venue_order_id=r[1], token_id=r[2], side=Side(r[3]),
                    price=r[4], size=r[5], fee_usdc=r[6], is_maker=bool(r[7]), t_ms=r[8],
                    market_id=r[9],
                ),
                order_id=r[10],
                market_id=r[9],
                outcome=Outcome(r[11]),
                strategy=Strategy(r[12]),
                seq=r[13],
            )
            for r in rows
        ]

    def record_settlement(self, market_id: str, winner: Outcome | None, t_ms: int) -> bool:
        """Store a market's resolution once (durable); return False when it was already stored."""
        with self.transaction(durable=True):
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO settlements VALUES (?, ?, ?)",
                (market_id, None if winner is None else winner.value, t_ms),
            )
        return cursor.rowcount == 1

    def load_settlements(self) -> list[tuple[str, Outcome | None, int]]:
        rows = self._db.execute(
            "SELECT market_id, winner, t_ms FROM settlements ORDER BY t_ms, market_id"
        ).fetchall()
        return [(r[0], None if r[1] is None else Outcome(r[1]), r[2]) for r in rows]

    # --- position corrections (reconciliation) -----------------------------------------------

    def record_position_correction(
        self, correction: StoredCorrection, position: Position | None
    ) -> StoredCorrection:
        """Store one correction after every fill stored so far, with the corrected position, in
        one durable transaction; return it with ``after_fill_seq`` filled in."""
        db = self._db
        with self.transaction(durable=True):
            row = db.execute("SELECT COALESCE(MAX(seq), 0) FROM fills").fetchone()
            stored = replace(correction, after_fill_seq=int(row[0]))
            db.execute(
                "INSERT INTO position_corrections (market_id, token_id, outcome, local_shares, "
                "venue_shares, price, after_fill_seq, reason, t_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (stored.market_id, stored.token_id, stored.outcome.value, stored.local_shares,
                 stored.venue_shares, stored.price, stored.after_fill_seq, stored.reason,
                 stored.t_ms),
            )
            if position is not None:
                self._upsert_position(position)
        return stored

    def load_position_corrections(self) -> list[StoredCorrection]:
        """Every correction, oldest first."""
        rows = self._db.execute(
            "SELECT market_id, token_id, outcome, local_shares, venue_shares, price, "
            "after_fill_seq, reason, t_ms FROM position_corrections ORDER BY seq"
        ).fetchall()
        return [
            StoredCorrection(market_id=r[0], token_id=r[1], outcome=Outcome(r[2]),
                             local_shares=r[3], venue_shares=r[4], price=r[5],
                             after_fill_seq=r[6], reason=r[7], t_ms=r[8])
            for r in rows
        ]

    # --- risk events --------------------------------------------------------------------------

    def record_risk_event(self, kind: str, market_id: str | None, reason: str, t_ms: int) -> None:
        """Store one halt / release / kill event (durable: halts are restored from these)."""
        with self.transaction(durable=True):
            self._db.execute(
                "INSERT INTO risk_events (kind, market_id, reason, t_ms) VALUES (?, ?, ?, ?)",
                (kind, market_id, reason, t_ms),
            )

    def risk_events(self) -> list[tuple[str, str | None, str, int]]:
        rows = self._db.execute(
            "SELECT kind, market_id, reason, t_ms FROM risk_events ORDER BY seq"
        ).fetchall()
        return [(r[0], r[1], r[2], r[3]) for r in rows]
