"""The engine core: intake → risk → order manager → reports, with P&L and the kill switch.

No sockets and no ``time`` calls: the shell (``engine/main.py``) hands it frames and calls
:meth:`EngineCore.tick` periodically; everything it wants to say goes through ``send``
callbacks as :class:`Outbound` values (``identity`` None = publish on the engine PUB socket).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.alerting import (
    AlertFn,
    daily_loss_alert,
    kill_release_alert,
    manual_kill_alert,
    no_alert,
)
from engine.books import BookSource
from engine.executors.base import Executor
from engine.journal import EventJournal
from engine.kill_switch import KillSwitchFile
from engine.orders import OrderManager, Sleep
from engine.pnl.daily import DailyPnl
from engine.pnl.ledger import Ledger
from engine.risk.manager import RiskManager
from engine.store import EngineStore
from polyloly import metrics
from polyloly.clock import Clock
from polyloly.config import Config
from polyloly.domain import Outcome, RejectReason, TruthStatus
from polyloly.logs import get_logger
from polyloly.messages import (
    BookTick,
    CancelIntent,
    IntentAck,
    MarketResolved,
    MarketStatus,
    Message,
    MessageDecodeError,
    OrderIntent,
    PositionView,
    RiskState,
    StateQuery,
    StateSnapshot,
    UserOrderUpdate,
    UserTradeUpdate,
    decode,
)

_LOG = get_logger("engine.core")


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message to send: to one shard (ROUTER ``identity``) or published (identity None)."""

    identity: bytes | None
    message: Message


Send = Callable[[Outbound], None]


class EngineCore:
    """All engine state and decisions. Build, :meth:`start`, then feed it."""

    def __init__(
        self,
        config: Config,
        store: EngineStore,
        executor: Executor,
        books: BookSource,
        clock: Clock,
        *,
        journal: EventJournal | None = None,
        kill_file: KillSwitchFile | None = None,
        sleep: Sleep = asyncio.sleep,
        alert: AlertFn = no_alert,
    ) -> None:
        """``alert`` receives the seed §14 alerts (:mod:`engine.alerting`); none by default."""
        self.config = config
        self.alert = alert
        self.store = store
        self.executor = executor
        self.books = books
        self.clock = clock
        self.journal = journal
        self.kill_file = kill_file
        self.ledger = Ledger()
        self.risk = RiskManager(config)
        self.orders = OrderManager(config, store, executor, self.ledger, self.risk, clock, sleep,
                                   alert=alert)
        self.daily = DailyPnl()
        self.ready = False
        self._last_seq: dict[str, int] = {}
        self._release_seen: dict[str, int] = {}
        self._markets = {m.market_id: m for m in config.markets}

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Rebuild state from SQLite (orders, fills → positions, settlements), read the kill
        switch. Intake is refused (``NOT_READY``) until :meth:`mark_ready`."""
        self.orders.restore()
        settlements = {m: (w, t) for m, w, t in self.store.load_settlements()}
        settled: set[str] = set()
        for stored in self.store.load_fills():
            market_id = stored.market_id
            if market_id in settlements and market_id not in settled and \
                    stored.fill.t_ms > settlements[market_id][1]:
                self.ledger.settle(market_id, settlements[market_id][0])
                settled.add(market_id)
            self.ledger.apply_fill(
                market_id=market_id, token_id=stored.fill.token_id, outcome=stored.outcome,
                side=stored.fill.side, price=stored.fill.price, size=stored.fill.size,
                fee_usdc=stored.fill.fee_usdc, strategy=stored.strategy,
            )
        for market_id, (winner, _) in settlements.items():
            if market_id not in settled:
                self.ledger.settle(market_id, winner)
        self.store.save_positions(self.ledger.positions())
        if self.kill_file is not None:
            content = self.kill_file.read()
            if content.engaged:
                self.risk.kill.engaged = True
                self.risk.kill.reason = content.reason
                self.risk.kill.since_ms = content.t_ms
            self._release_seen = dict(content.released_markets)

    def mark_ready(self) -> None:
        """Accept intents from now on (after reconciliation)."""
        self.ready = True

    # --- intake -------------------------------------------------------------------------------

    async def handle_frame(self, identity: bytes | None, payload: bytes, send: Send) -> None:
        """Decode one frame from a shard (ROUTER) or the gateway (PULL/SUB) and act on it.

        Garbage is counted (``bad_input{reason=decode_error}``), logged and skipped.
        """
        try:
            message = decode(payload)
        except MessageDecodeError as exc:
            metrics.bad_input.labels(component="engine", reason="decode_error").inc()
            _LOG.warning("bad_frame", str(exc), identity=(identity or b"").decode("latin-1"))
            return
        await self.handle(identity, message, send)

    async def handle(self, identity: bytes | None, message: Message, send: Send) -> None:
        """Act on one decoded message."""
        source = (identity or b"gateway").decode("latin-1")
        if self.journal is not None and not isinstance(message, BookTick):
            self.journal.record(message, source)
        if isinstance(message, OrderIntent):
            await self._on_intent(identity, message, send)
        elif isinstance(message, CancelIntent):
            await self._on_cancel(message)
        elif isinstance(message, StateQuery):
            if identity is not None:
                send(Outbound(identity, self.snapshot(message)))
        elif isinstance(message, MarketStatus):
            if message.truth_status is TruthStatus.LIVE:
                self.risk.set_market_open(message.market_id, self.clock.wall_ms())
        elif isinstance(message, UserOrderUpdate | UserTradeUpdate):
            self.executor.on_user_update(message)
        elif isinstance(message, MarketResolved):
            self._on_resolved(message)
        elif isinstance(message, BookTick):
            self._observe_book(message.token_id)
            await self.executor.tick(self.clock.wall_ms())
        else:
            metrics.bad_input.labels(component="engine", reason="unexpected_kind").inc()
            _LOG.warning("unexpected_message", f"{type(message).__name__} is not for the engine")
        self._apply_executor_events()
        self._flush(send)

    async def _on_intent(self, identity: bytes | None, intent: OrderIntent, send: Send) -> None:
        now_ms = self.clock.wall_ms()
        metrics.intents.labels(strategy=intent.strategy.value, market=intent.market_id).inc()
        if not self.ready:
            self._ack(identity, intent, send, reason=RejectReason.NOT_READY,
                      detail="engine is reconciling")
            return
        if not self.executor.healthy():
            self._ack(identity, intent, send, reason=RejectReason.VENUE_UNAVAILABLE,
                      detail=f"{self.executor.name} executor is unhealthy")
            return
        book = self.books.snapshot(intent.token_id) if intent.market_id in self._markets else None
        if book is not None and book.mid is not None:
            self._observe_mid(intent.token_id, book.seq, book.mid)
        decision = self.risk.check(intent, book, self.orders.exposure(), now_ms)
        if not decision.allowed:
            assert decision.reason is not None
            if decision.reason in (RejectReason.UNKNOWN_MARKET, RejectReason.UNKNOWN_TOKEN,
                                   RejectReason.NON_POSITIVE_SIZE,
                                   RejectReason.PRICE_OUT_OF_RANGE, RejectReason.PRICE_OFF_TICK):
                metrics.bad_input.labels(component="engine", reason=decision.reason.value).inc()
            self._ack(identity, intent, send, reason=decision.reason, detail=decision.detail)
            return
        record, created = self.orders.create(intent, decision.adjusted_size, now_ms)
        if not created:
            self._ack(identity, intent, send, reason=RejectReason.DUPLICATE,
                      detail=f"idempotency key already used by order {record.order_id}",
                      order_id=record.order_id)
            return
        if decision.slippage_bps > 0:
            metrics.slippage_bps.observe(decision.slippage_bps)
        self._ack(identity, intent, send, order_id=record.order_id,
                  detail=f"size {decision.adjusted_size}")
        self._flush(send)
        await self.orders.submit(record.order_id)

    def _ack(
        self,
        identity: bytes | None,
        intent: OrderIntent,
        send: Send,
        *,
        reason: RejectReason | None = None,
        detail: str = "",
        order_id: str | None = None,
    ) -> None:
        if reason is not None:
            metrics.intent_rejects.labels(reason=reason.value).inc()
        ack = IntentAck(
            intent_id=intent.intent_id, idempotency_key=intent.idempotency_key,
            accepted=reason is None, t_ns=self.clock.monotonic_ns(), reason=reason,
            detail=detail, order_id=order_id,
        )
        if self.journal is not None:
            self.journal.record(ack, "engine")
        if identity is not None:
            send(Outbound(identity, ack))

    async def _on_cancel(self, cancel: CancelIntent) -> None:
        targets = [
            r for r in self.orders.open_orders(cancel.market_id)
            if cancel.token_id is None or r.token_id == cancel.token_id
        ]
        await self.orders.cancel(targets, cancel.reason or "cancel intent")

    def _on_resolved(self, resolved: MarketResolved) -> None:
        market = self._markets.get(resolved.market_id)
        if market is None:
            metrics.bad_input.labels(component="engine", reason="unknown_market").inc()
            _LOG.warning("bad_resolution", f"unknown market {resolved.market_id!r}")
            return
        winner: Outcome | None
        if resolved.winning_token_id is None:
            winner = None
        elif resolved.winning_token_id in market.token_ids:
            winner = Outcome.YES if resolved.winning_token_id == market.token_ids[0] \
                else Outcome.NO
        else:
            metrics.bad_input.labels(component="engine", reason="unknown_token").inc()
            _LOG.warning("bad_resolution", f"winner {resolved.winning_token_id!r} not in market")
            return
        if self.store.record_settlement(resolved.market_id, winner, self.clock.wall_ms()):
            realized = self.ledger.settle(resolved.market_id, winner)
            self.store.save_positions(self.ledger.positions())
            _LOG.info("market_settled", "market resolved", market_id=resolved.market_id,
                      winner=None if winner is None else winner.value, realized_usdc=realized)

    # --- books --------------------------------------------------------------------------------

    def _observe_book(self, token_id: str) -> None:
        book = self.books.snapshot(token_id)
        if book is not None and book.mid is not None:
            self._observe_mid(token_id, book.seq, book.mid)

    def _observe_mid(self, token_id: str, seq: int, mid: float) -> None:
        if self._last_seq.get(token_id) != seq:
            self._last_seq[token_id] = seq
            self.risk.volatility.observe(token_id, mid)

    def marks(self) -> dict[str, float]:
        """Current mids of every token we hold (tokens without a two-sided book are left out)."""
        marks: dict[str, float] = {}
        for position in self.ledger.positions():
            if position.shares <= 0:
                continue
            book = self.books.snapshot(position.token_id)
            if book is not None and book.mid is not None:
                marks[position.token_id] = book.mid
        return marks

    # --- periodic -----------------------------------------------------------------------------

    async def tick(self, send: Send, *, poll_kill_switch: bool = True,
                   resolve_pending: bool = False) -> None:
        """Advance the executor, apply its events, update P&L and risk, poll the kill switch."""
        now_ms = self.clock.wall_ms()
        await self.executor.tick(now_ms)
        self._apply_executor_events()
        if resolve_pending:
            await self.orders.resolve_pending()
        summary = self.ledger.summary(self.marks())
        self.daily.observe(summary.total_usdc, now_ms)
        metrics.pnl_realized.set(summary.realized_usdc)
        metrics.pnl_unrealized.set(summary.unrealized_usdc)
        metrics.daily_pnl.set(self.daily.daily_usdc)
        for market_id, value in self.orders.exposure().by_market.items():
            metrics.exposure_usdc.labels(market=market_id).set(value)
        if self.risk.set_pnl(self.daily.daily_usdc, self.daily.drawdown_usdc):
            reason = f"daily loss limit: daily P&L {self.daily.daily_usdc:.2f} USDC"
            if self.kill_file is not None:
                self.kill_file.engage(reason, now_ms, by="engine")
            self.alert(daily_loss_alert(self.daily.daily_usdc,
                                        self.config.risk.max_daily_loss_usdc))
            await self._engage_kill(reason, now_ms, send)
        if poll_kill_switch and self.kill_file is not None:
            await self._poll_kill_file(now_ms, send)
        self._flush(send)

    async def _poll_kill_file(self, now_ms: int, send: Send) -> None:
        assert self.kill_file is not None
        content = self.kill_file.read()
        if content.engaged and not self.risk.kill.engaged:
            self.alert(manual_kill_alert(content.reason, content.by))
            await self._engage_kill(content.reason, now_ms, send)
        elif not content.engaged and self.risk.kill.engaged:
            self.risk.kill.engaged = False
            self.risk.kill.reason = ""
            self.store.record_risk_event("kill_release", None, content.reason, now_ms)
            metrics.kill_switch.set(0)
            _LOG.warning("kill_switch_released", content.reason or "released by hand")
            self.alert(kill_release_alert(content.reason, content.by))
            self.orders.outbox.append(RiskState(
                halted=False, kill_switch=False, reason=content.reason or "released",
                t_ns=self.clock.monotonic_ns()))
        for market_id, released_ms in content.released_markets.items():
            if self._release_seen.get(market_id) == released_ms:
                continue
            self._release_seen[market_id] = released_ms
            halt = self.risk.breakers.halted(market_id)
            if halt is not None and released_ms >= halt.since_ms:
                self.risk.breakers.release(market_id)
                self.store.record_risk_event("release", market_id, "released by hand", now_ms)
                self.orders.outbox.append(RiskState(
                    halted=False, kill_switch=self.risk.kill.engaged, reason="released by hand",
                    t_ns=self.clock.monotonic_ns(), market_id=market_id))

    async def _engage_kill(self, reason: str, now_ms: int, send: Send) -> None:
        self.risk.kill.engaged = True
        self.risk.kill.reason = reason
        self.risk.kill.since_ms = now_ms
        metrics.kill_switch.set(1)
        self.store.record_risk_event("kill", None, reason, now_ms)
        _LOG.critical("kill_switch_engaged", reason)
        self.orders.outbox.append(RiskState(
            halted=True, kill_switch=True, reason=reason, t_ns=self.clock.monotonic_ns()))
        self._flush(send)
        await self.orders.cancel(self.orders.open_orders(), f"kill switch: {reason}")
        self._flush(send)

    def _apply_executor_events(self) -> None:
        for event in self.executor.drain_events():
            self.orders.apply_event(event)

    def _flush(self, send: Send) -> None:
        outbox = self.orders.outbox
        if not outbox:
            return
        self.orders.outbox = []
        for message in outbox:
            if self.journal is not None:
                self.journal.record(message, "engine")
            send(Outbound(None, message))

    # --- views --------------------------------------------------------------------------------

    def snapshot(self, query: StateQuery) -> StateSnapshot:
        """Positions and open orders of the markets asked for (all when none are named)."""
        wanted = set(query.market_ids)
        positions = tuple(
            PositionView(market_id=p.market_id, token_id=p.token_id, outcome=p.outcome,
                         shares=p.shares, cost_usdc=p.cost_usdc, fees_usdc=p.fees_usdc)
            for p in self.ledger.positions() if not wanted or p.market_id in wanted
        )
        open_orders = tuple(
            r.view() for r in self.orders.open_orders() if not wanted or r.market_id in wanted
        )
        halted = tuple(h.market_id for h in self.risk.breakers.halts()
                       if not wanted or h.market_id in wanted)
        return StateSnapshot(
            shard_id=query.shard_id, positions=positions, open_orders=open_orders,
            halted_markets=halted, kill_switch=self.risk.kill.engaged,
            t_ns=self.clock.monotonic_ns(),
        )

    def status(self) -> dict[str, Any]:
        """Everything /status shows: positions, P&L, open orders, halts, kill switch."""
        summary = self.ledger.summary(self.marks())
        return {
            "ready": self.ready,
            "executor": self.executor.name,
            "kill_switch": {"engaged": self.risk.kill.engaged, "reason": self.risk.kill.reason},
            "halted_markets": {h.market_id: h.reason for h in self.risk.breakers.halts()},
            "pnl": {
                "realized_usdc": summary.realized_usdc,
                "unrealized_usdc": summary.unrealized_usdc,
                "fees_usdc": summary.fees_usdc,
                "daily_usdc": self.daily.daily_usdc,
                "by_market": self.ledger.realized_by_market(),
                "by_strategy": self.ledger.realized_by_strategy(),
            },
            "exposure_usdc": summary.exposure_usdc,
            "positions": [
                {"market_id": p.market_id, "token_id": p.token_id, "outcome": p.outcome.value,
                 "shares": p.shares, "cost_usdc": p.cost_usdc, "fees_usdc": p.fees_usdc}
                for p in self.ledger.positions() if p.shares > 0
            ],
            "open_orders": [
                {"order_id": r.order_id, "market_id": r.market_id, "token_id": r.token_id,
                 "side": r.side.value, "price": r.price, "size": r.size,
                 "filled_size": r.filled_size, "status": r.status.value}
                for r in self.orders.open_orders()
            ],
        }
