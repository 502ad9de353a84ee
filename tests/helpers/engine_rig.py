"""The one engine test rig: a two-market config, intents, controllable paper venues, and an
:class:`EngineRig` — the sans-I/O core behind the same :class:`engine.driver.EngineDriver` the
process uses, on static books, a manual clock, tmp SQLite and a JSONL journal.

Every engine test builds on this module (never on another test module).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine.alerting import AlertFn, no_alert
from engine.books import StaticBookSource
from engine.core import EngineCore, Outbound
from engine.driver import EngineDriver
from engine.executors.base import Executor, OrderRequest, SubmitResult
from engine.executors.paper import PaperExecutor
from engine.journal import EventJournal
from engine.kill_switch import KillSwitchFile
from engine.persistence.sqlite import SqlitePersistence
from engine.store import EngineStore
from polyloly.clock import ManualClock
from polyloly.config import Config, load_raw, validate
from polyloly.domain import OrderType, Outcome, Side, Strategy
from polyloly.eventlog import JsonlWriter
from polyloly.messages import OrderIntent

MARKET_A = "0x" + "a" * 64
MARKET_B = "0x" + "b" * 64
YES_A, NO_A = "1001", "1002"
YES_B, NO_B = "2001", "2002"
T0_MS = 1_767_312_000_000  # a Friday, 00:00 UTC


def make_config(tmp_path: Path, **sections: Any) -> Config:
    """Two LoL markets in one correlation group, data under ``tmp_path``, no matching delay;
    ``sections`` overlay config sections (``risk={"max_daily_loss_usdc": 5.0}``)."""
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
    """A fresh intent (unique id and idempotency key unless ``key`` is given)."""
    global _counter
    _counter += 1
    return OrderIntent(
        intent_id=f"i-{_counter}", idempotency_key=key or f"k-{_counter}", shard_id=0,
        market_id=market_id, token_id=token_id, outcome=outcome, side=side, price=price,
        size=size, order_type=order_type, strategy=strategy, t_origin_ns=1, t_decision_ns=2,
        t_sent_ns=3,
    )


def deep_books() -> StaticBookSource:
    """Every token at 0.49 / 0.50 with 1000 shares on two levels each side."""
    books = StaticBookSource()
    for token in (YES_A, NO_A, YES_B, NO_B):
        books.set(token, [(0.49, 1000.0), (0.48, 1000.0)], [(0.50, 1000.0), (0.51, 1000.0)])
    return books


class SlowPaper(PaperExecutor):
    """A paper venue whose submits of the orders named in ``hold`` (all with ``hold_all``) wait
    for ``gate``; otherwise the plain paper executor."""

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
    """A paper venue that calls itself live (so it is reconciled periodically) and reports
    balances, some of them overridden."""

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


ExecutorFactory = Callable[[StaticBookSource, Config, ManualClock], Any]


class EngineRig:
    """A core and its driver over an injected paper venue (``executor_cls(books, config,
    clock)``, :class:`SlowPaper` by default), static books, a manual clock, tmp SQLite and a
    journal; the kill file in the config's data dir. Outbound messages collect in ``sent``;
    the retry backoffs the driver asked for in ``slept`` (no real sleep)."""

    def __init__(self, config: Config, executor_cls: ExecutorFactory = SlowPaper,
                 books: StaticBookSource | None = None, clock: ManualClock | None = None,
                 alert: AlertFn = no_alert, warm: bool = True) -> None:
        self.config = config
        self.books = books or deep_books()
        self.clock = clock or ManualClock(wall_ms=T0_MS)
        self.store = EngineStore(config.data_path(config.storage.sqlite_file))
        self.executor: Any = executor_cls(self.books, config, self.clock)
        self.events_dir = Path(config.data_path(config.storage.events_dir))
        self.journal = EventJournal(JsonlWriter(self.events_dir, "engine"), self.clock)
        self.kill_file = KillSwitchFile.in_data_dir(config.run.data_dir)
        self.sent: list[Outbound] = []
        self.slept: list[float] = []
        self.core = EngineCore(config, SqlitePersistence(self.store, self.journal),
                               self.executor, self.books, self.clock, alert=alert)
        self.driver = EngineDriver(self.core, self.executor, self.sent.append,
                                   sleep=self._sleep, kill_file=self.kill_file)
        self.core.start(self.kill_file.read())
        self.core.mark_ready()
        if warm:  # warm the volatility sizer: sizes are not halved by the cold-start rule
            for token in (YES_A, NO_A, YES_B, NO_B):
                for _ in range(12):
                    self.core.risk.volatility.observe(token, 0.495)

    async def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def use_executor(self, executor: Executor | Any) -> None:
        """Swap the venue (core's view and driver's calls), e.g. for a scripted one."""
        self.executor = executor
        self.core.executor = executor
        self.driver.executor = executor

    def set_alert(self, alert: AlertFn) -> None:
        """Send the core's and the order manager's alerts to ``alert``."""
        self.core.alert = alert
        self.core.orders._alert = alert

    async def send(self, message: Any, identity: bytes = b"shard-0") -> list[Outbound]:
        """One message from a shard (or the gateway with ``identity`` None); returns what the
        engine sent meanwhile."""
        start = len(self.sent)
        await self.driver.handle(identity, message)
        return self.sent[start:]

    async def frames(self, frames: Sequence[tuple[bytes | None, bytes]]) -> list[Outbound]:
        """Raw frames as one socket drain hands them over."""
        start = len(self.sent)
        await self.driver.handle_frames(frames)
        return self.sent[start:]

    async def tick(self, *, resolve_pending: bool = False) -> list[Outbound]:
        """The shell's periodic tick: the kill file read, the core's effects carried out."""
        start = len(self.sent)
        await self.driver.tick(kill=self.kill_file.read(), resolve_pending=resolve_pending)
        return self.sent[start:]

    async def resolve_pending(self) -> None:
        """Ask the venue about the orders the core wants resolved (the tick's resolution)."""
        effect = self.core.resolve_effect()
        if effect is not None:
            await self.driver.carry_out([effect])
            self.driver.settle()

    def messages(self, kind: type) -> list[Any]:
        return [o.message for o in self.sent if isinstance(o.message, kind)]

    def close(self) -> None:
        self.journal.close()
        self.store.close()
