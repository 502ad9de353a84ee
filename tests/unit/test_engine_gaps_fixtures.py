"""Builders for the engine-gap tests: controllable executors and a core on tmp SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.books import StaticBookSource
from engine.core import EngineCore, Outbound
from engine.executors.base import OrderRequest, SubmitResult
from engine.executors.paper import PaperExecutor
from engine.journal import EventJournal
from engine.kill_switch import KillSwitchFile, carry_out
from engine.persistence.sqlite import SqlitePersistence
from engine.store import EngineStore
from polyloly.clock import ManualClock
from polyloly.config import Config
from polyloly.eventlog import JsonlWriter
from tests.unit.test_engine_fixtures import NO_A, NO_B, YES_A, YES_B, deep_books

T0_MS = 1_767_312_000_000


class SlowPaper(PaperExecutor):
    """A paper venue whose submits of the orders named in ``hold`` wait for ``gate``."""

    def __init__(self, books: StaticBookSource, config: Config, clock: ManualClock) -> None:
        super().__init__(books, config.markets, clock, config.polymarket.matching_delay_s)
        self.gate = asyncio.Event()
        self.hold: set[str] = set()
        self.hold_all = False
        self.started: list[str] = []
        self.finished: list[str] = []

    async def submit(self, order: OrderRequest) -> SubmitResult:
        self.started.append(order.client_order_id)
        if self.hold_all or order.client_order_id in self.hold:
            await self.gate.wait()
        result = await super().submit(order)
        self.finished.append(order.client_order_id)
        return result


class LivePaper(PaperExecutor):
    """A paper venue that calls itself live and reports balances, some of them overridden."""

    name = "fake-live"

    def __init__(self, books: StaticBookSource, config: Config, clock: ManualClock) -> None:
        super().__init__(books, config.markets, clock, config.polymarket.matching_delay_s)
        self.balance_override: dict[str, float] = {}
        self.balance_queries = 0

    async def positions(self, tokens: Sequence[str]) -> dict[str, float]:
        self.balance_queries += 1
        held: dict[str, float] = dict.fromkeys(tokens, 0.0)
        for fill in (await self.trades(0)).fills:
            signed = fill.size if fill.side.value == "BUY" else -fill.size
            held[fill.token_id] = held.get(fill.token_id, 0.0) + signed
        held.update(self.balance_override)
        return held


class Rig:
    """A core over an injected executor, static books, a manual clock, tmp SQLite + journal."""

    def __init__(self, config: Config, executor_cls: type[PaperExecutor] = SlowPaper,
                 books: StaticBookSource | None = None) -> None:
        self.config = config
        self.books = books or deep_books()
        self.clock = ManualClock(wall_ms=T0_MS)
        self.store = EngineStore(config.data_path(config.storage.sqlite_file))
        self.executor: Any = executor_cls(self.books, config, self.clock)
        self.events_dir = Path(config.data_path(config.storage.events_dir))
        self.journal = EventJournal(JsonlWriter(self.events_dir, "engine"), self.clock)
        self.kill_file = KillSwitchFile.in_data_dir(config.run.data_dir)
        self.sent: list[Outbound] = []
        self.core = EngineCore(config, SqlitePersistence(self.store, self.journal),
                               self.executor, self.books, self.clock, sleep=self._sleep)
        self.core.start(self.kill_file.read())
        self.core.mark_ready()
        for token in (YES_A, NO_A, YES_B, NO_B):
            for _ in range(12):
                self.core.risk.volatility.observe(token, 0.495)

    async def _sleep(self, seconds: float) -> None:
        return None

    async def send(self, message: Any, identity: bytes = b"shard-0") -> None:
        await self.core.handle(identity, message, self.sent.append)

    async def tick(self) -> None:
        """The shell's periodic tick: the kill file read, the core's effects carried out."""
        await self.core.tick(self.sent.append, kill=self.kill_file.read())
        carry_out(self.kill_file, self.core.take_effects())

    def messages(self, kind: type) -> list[Any]:
        return [o.message for o in self.sent if isinstance(o.message, kind)]

    def close(self) -> None:
        self.journal.close()
        self.store.close()
