"""Shared builders for the engine tests: a two-market config, intents, a core on tmp SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.books import StaticBookSource
from engine.core import EngineCore, Outbound
from engine.executors.paper import PaperExecutor
from engine.kill_switch import KillSwitchFile, carry_out
from engine.persistence.sqlite import SqlitePersistence
from engine.store import EngineStore
from polyloly.clock import ManualClock
from polyloly.config import Config, load_raw, validate
from polyloly.domain import OrderType, Outcome, Side, Strategy
from polyloly.messages import OrderIntent

MARKET_A = "0x" + "a" * 64
MARKET_B = "0x" + "b" * 64
YES_A, NO_A = "1001", "1002"
YES_B, NO_B = "2001", "2002"


def make_config(tmp_path: Path, **sections: Any) -> Config:
    raw = load_raw(environ={})
    raw["run"] = {**raw.get("run", {}), "data_dir": str(tmp_path / "data"),
                  "run_dir": str(tmp_path / "run")}
    raw["markets"] = [
        {"market_id": MARKET_A, "token_ids": [YES_A, NO_A], "match_id": "m1", "game": "lol",
         "correlation_group": "worlds", "tick_size": 0.01, "min_order_size": 5},
        {"market_id": MARKET_B, "token_ids": [YES_B, NO_B], "match_id": "m2", "game": "lol",
         "correlation_group": "worlds", "tick_size": 0.01, "min_order_size": 5},
    ]
    raw["polymarket"] = {**raw.get("polymarket", {}), "matching_delay_s": 0.0}
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values}
    return validate(raw)


_counter = 0


def intent(
    *,
    market_id: str = MARKET_A,
    token_id: str = YES_A,
    outcome: Outcome = Outcome.YES,
    side: Side = Side.BUY,
    price: float = 0.50,
    size: float = 20.0,
    order_type: OrderType = OrderType.FAK,
    strategy: Strategy = Strategy.TEMPORAL_ARB,
    key: str | None = None,
) -> OrderIntent:
    global _counter
    _counter += 1
    return OrderIntent(
        intent_id=f"i-{_counter}", idempotency_key=key or f"k-{_counter}", shard_id=0,
        market_id=market_id, token_id=token_id, outcome=outcome, side=side, price=price,
        size=size, order_type=order_type, strategy=strategy, t_origin_ns=1, t_decision_ns=2,
        t_sent_ns=3,
    )


def deep_books() -> StaticBookSource:
    books = StaticBookSource()
    for token in (YES_A, NO_A, YES_B, NO_B):
        books.set(token, [(0.49, 1000.0), (0.48, 1000.0)], [(0.50, 1000.0), (0.51, 1000.0)])
    return books


class Harness:
    """A core with a paper executor on static books, a manual clock and tmp SQLite."""

    def __init__(self, config: Config, books: StaticBookSource | None = None,
                 clock: ManualClock | None = None) -> None:
        self.config = config
        self.books = books or deep_books()
        self.clock = clock or ManualClock(wall_ms=1_767_312_000_000)  # a Friday, 00:00 UTC
        self.store = EngineStore(config.data_path(config.storage.sqlite_file))
        self.executor = PaperExecutor(self.books, config.markets, self.clock,
                                      config.polymarket.matching_delay_s)
        self.kill_file = KillSwitchFile.in_data_dir(config.run.data_dir)
        self.sent: list[Outbound] = []
        self.core = EngineCore(config, SqlitePersistence(self.store), self.executor,
                               self.books, self.clock, sleep=self._sleep)
        self.slept: list[float] = []
        self.core.start(self.kill_file.read())
        self.core.mark_ready()
        # warm the volatility sizer so that sizes are not halved by the cold-start rule
        for token in (YES_A, NO_A, YES_B, NO_B):
            for _ in range(12):
                self.core.risk.volatility.observe(token, 0.495)

    async def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    async def send(self, message: Any, identity: bytes = b"shard-0") -> list[Outbound]:
        start = len(self.sent)
        await self.core.handle(identity, message, self.sent.append)
        return self.sent[start:]

    async def tick(self) -> list[Outbound]:
        start = len(self.sent)
        await self.core.tick(self.sent.append, kill=self.kill_file.read())
        carry_out(self.kill_file, self.core.take_effects())  # the shell's part
        return self.sent[start:]
