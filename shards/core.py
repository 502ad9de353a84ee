"""The shard's decision core: routes each input to the Truth Engines and market traders.

:meth:`ShardCore.handle` is the one entry point for a message from the bus: the live shell
(shards/main.py) and the replay (replay/session.py) both call it, so both reach the same
decisions through the same code (a BookTick is read from the books the shell attached with
:meth:`ShardCore.attach_books`). The ``on_*`` methods it dispatches to stay public for tests.

Pure and deterministic: every method takes one input and the time (CLOCK_MONOTONIC ns) and
returns the messages to send (OrderIntent, CancelIntent, MarketStatus, StateQuery to the
engine; TruthDelta, TruthFinal for the event log). No sockets, no clock reads, no randomness:
the replay backtester drives it with a replayed clock and gets byte-identical intents.

Per market, :class:`~shards.market_trader.MarketTrader` keeps the state and decides (pair,
temporal, rebalance, finalize, halts); per match, :class:`~shards.truth.MatchTruth` keeps the
truth. Bad input is refused with a reason, counted in ``metrics.bad_input{component="shard"}``
and in :attr:`ShardCore.refusals`, and never changes state. Nothing is traded before the
engine's StateSnapshot rebuilt positions, open orders and halts (:attr:`ShardCore.ready`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Protocol

import msgspec

from polyloly import metrics
from polyloly.config import Config
from polyloly.domain import OrderStatus, OrderType, Outcome, TradingState, TruthStatus
from polyloly.logs import get_logger
from polyloly.messages import (
    BookTick,
    ExecutionReport,
    IntentAck,
    MarketResolved,
    MarketStatus,
    MatchEvent,
    Message,
    OrderIntent,
    ResolvedMarketView,
    RiskState,
    SourceHealth,
    StateQuery,
    StateSnapshot,
    TruthDelta,
    TruthFinal,
)
from polyloly.venue_rules import POST_ONLY_CROSSES
from shards.market_trader import (
    UNTRADABLE_FLAGS,
    FillSeen,
    InflightIntent,
    MarketTrader,
    ShardContext,
    idempotency_key,
)
from shards.pair_arb import PairPosition
from shards.trading import TradingTrigger
from shards.truth import MatchTruth
from shm import BookSnapshot, ShmBookError

__all__ = ["ShardCore", "TickBooks", "idempotency_key", "truth_messages"]

log = get_logger("shard")

_NS_PER_MS = 1_000_000
_UNTRADABLE_FLAGS = UNTRADABLE_FLAGS  # kept for tests/property/test_shard_status_scope.py


class TickBooks(Protocol):
    """Where a BookTick's books are read (the shell's shm reader, see shards/main.py)."""

    def slot_of(self, token_id: str) -> int:
        """The token's slot; KeyError if the store has no such token."""

    def read(self, slot: int) -> BookSnapshot:
        """The slot's newest consistent book; ShmBookError when none can be read."""


class ShardCore:
    """Decision core of shard ``shard_id``: its markets per ``config.markets_for_shard``."""

    def __init__(self, config: Config, shard_id: int) -> None:
        self.config = config
        self.shard_id = shard_id
        self.ctx = ShardContext(config, shard_id)
        self.markets: dict[str, MarketTrader] = {}
        self.truths: dict[str, MatchTruth] = {}
        self.markets_of_match: dict[str, list[str]] = {}
        self.token_index: dict[str, tuple[str, Outcome]] = {}
        for market in config.markets_for_shard(shard_id):
            ref = market.ref()
            truth = self.truths.setdefault(ref.match_id, MatchTruth(ref.match_id, config.truth))
            self.markets[market.market_id] = MarketTrader.build(self.ctx, market, truth)
            self.markets_of_match.setdefault(ref.match_id, []).append(market.market_id)
            self.token_index[ref.token_yes] = (market.market_id, Outcome.YES)
            self.token_index[ref.token_no] = (market.market_id, Outcome.NO)
        self.books: TickBooks | None = None
        self._last_query_ns: int | None = None
        self._last_status_ns: int | None = None

    # The shard-wide state the traders share lives in the context; these are its views.

    @property
    def ready(self) -> bool:
        """The engine's StateSnapshot arrived (nothing trades before)."""
        return self.ctx.ready

    @property
    def kill_switch(self) -> bool:
        """The engine's global kill switch as last reported."""
        return self.ctx.kill_switch

    @property
    def stale_sources(self) -> set[tuple[str, str | None]]:
        """(source, match id or None) pairs reported stale."""
        return self.ctx.stale_sources

    @property
    def refusals(self) -> Counter[str]:
        """Bad inputs and refused actions by reason."""
        return self.ctx.refusals

    def attach_books(self, books: TickBooks | None) -> None:
        """Where BookTicks are read from from now on (None: ticks are refused)."""
        self.books = books

    # ---- the one entry point ---------------------------------------------------------

    def handle(self, message: Message, now_ns: int) -> list[Message]:
        """Dispatch one message from the bus to its handler; the messages to send back.

        The live shell and the replay both call this (and nothing else) for every message
        they deliver. A message no shard handles is refused (``unexpected_message``).
        """
        if isinstance(message, BookTick):
            return self.on_tick(message, now_ns)
        if isinstance(message, MatchEvent):
            return self.on_match_event(message, now_ns)
        if isinstance(message, SourceHealth):
            return self.on_source_health(message, now_ns)
        if isinstance(message, MarketResolved):
            return self.on_market_resolved(message, now_ns)
        if isinstance(message, ExecutionReport):
            return self.on_execution_report(message, now_ns)
        if isinstance(message, RiskState):
            return self.on_risk_state(message, now_ns)
        if isinstance(message, IntentAck):
            return self.on_intent_ack(message, now_ns)
        if isinstance(message, StateSnapshot):
            return self.on_state_snapshot(message, now_ns)
        self._refuse("unexpected_message")
        return []

    def on_tick(self, tick: BookTick, now_ns: int) -> list[Message]:
        """A book changed in shm: read both books of the market and decide on the new one.

        The intents carry the tick's gateway stamps (``t_parsed_ns``, ``t_shm_ns``) so
        tick-to-intent splits into stages (bench latency).
        """
        market = self.markets.get(tick.market_id)
        books = self.books
        if market is None or books is None:
            self._refuse("tick_unusable")
            return []
        try:
            outcome = market.ref.outcome_of(tick.token_id)
            other = market.ref.token_for(outcome.other)
            slot = books.slot_of(tick.token_id)
            if slot != tick.slot:
                self._refuse("tick_slot_mismatch")
                return []
            book = books.read(slot)
            other_book = books.read(books.slot_of(other))
        except (KeyError, ShmBookError) as exc:
            self._refuse("book_read_failed")
            log.warning("book_read_failed", str(exc), market_id=tick.market_id)
            return []
        self.refresh_book(tick.market_id, other, other_book)
        out = self.on_book(tick.market_id, tick.token_id, book, now_ns, tick.t_recv_ns)
        return [msgspec.structs.replace(m, t_parsed_ns=tick.t_parsed_ns, t_shm_ns=tick.t_shm_ns)
                if isinstance(m, OrderIntent) else m for m in out]

    # ---- lifecycle -------------------------------------------------------------------

    def start(self, now_ns: int) -> list[Message]:
        """Ask the engine for this shard's state; nothing trades until it answers."""
        self.ctx.ready = False
        self._last_query_ns = now_ns
        return [StateQuery(shard_id=self.shard_id, market_ids=tuple(self.markets),
                           t_sent_ns=now_ns)]

    def on_state_snapshot(self, snapshot: StateSnapshot, now_ns: int) -> list[Message]:
        """Rebuild positions, open orders and halts from the engine, then start trading."""
        if snapshot.shard_id != self.shard_id:
            self._refuse("snapshot_for_other_shard")
            return []
        self.ctx.kill_switch = snapshot.kill_switch
        halted = set(snapshot.halted_markets)
        for market in self.markets.values():
            market.position = PairPosition()
            market.inflight.clear()
            market.fills.clear()
            market.engine_halted = market.ref.market_id in halted
        for position in snapshot.positions:
            held = self.markets.get(position.market_id)
            if held is None or self._market_of(position.token_id) != position.market_id:
                self._refuse("snapshot_unknown_market")
                continue
            outcome = held.ref.outcome_of(position.token_id)
            held.set_leg(outcome, position.shares, position.cost_usdc + position.fees_usdc)
        for order in snapshot.open_orders:
            owner = self.markets.get(order.market_id)
            if owner is None or self._market_of(order.token_id) != order.market_id:
                self._refuse("snapshot_unknown_market")
                continue
            if order.status.is_terminal:
                continue
            outcome = owner.ref.outcome_of(order.token_id)
            # a resting GTC/GTD order is one of our quotes; its quote terms are not rebuilt,
            # so the trader cancels it and quotes afresh
            owner.inflight[order.intent_id] = InflightIntent(
                order.intent_id, order.strategy, outcome, now_ns, True, order.order_id,
                resting=order.order_type in (OrderType.GTC, OrderType.GTD))
            owner.fills[order.order_id] = FillSeen(order.filled_size,
                                                    order.filled_size * order.price)
            self.ctx.intent_market[order.intent_id] = order.market_id
        for market in self.markets.values():
            market.trading.restore(market.rebuilt_state())
        for resolved in snapshot.resolved_markets:
            self._restore_resolution(resolved)
        self.ctx.ready = True
        out: list[Message] = []
        for market in self.markets.values():
            out.extend(market.evaluate(now_ns, now_ns))
        out.extend(self._statuses(now_ns, force=True))
        return out

    # ---- market data -----------------------------------------------------------------

    def refresh_book(self, market_id: str, token_id: str, book: BookSnapshot) -> bool:
        """Store a book without deciding (the other token of a ticked market); False if unknown."""
        where = self.token_index.get(token_id)
        if where is None or where[0] != market_id:
            self._refuse("unknown_token")
            return False
        self.markets[market_id].books[where[1]] = book
        return True

    def on_book(
        self, market_id: str, token_id: str, book: BookSnapshot, now_ns: int,
        t_origin_ns: int | None = None,
    ) -> list[Message]:
        """A book changed: store it, measure market reaction, and decide (pair, temporal)."""
        if market_id not in self.markets:
            self._refuse("unknown_market")
            return []
        if not self.refresh_book(market_id, token_id, book):
            return []
        market = self.markets[market_id]
        if book.flags & UNTRADABLE_FLAGS:
            self._refuse("book_not_tradable")
        market.watch_reaction(now_ns)
        origin = book.t_recv_ns if t_origin_ns is None else t_origin_ns
        out = market.evaluate(now_ns, origin)
        market.status_change(now_ns, out)  # a book changes only its own market's status
        return out

    def on_match_event(self, event: MatchEvent, now_ns: int) -> list[Message]:
        """Feed the match's Truth Engine; then re-decide every market of the match."""
        truth = self.truths.get(event.match_id)
        if truth is None:
            self._refuse("unknown_match")
            return []
        previous_signal = truth.signal
        result = truth.on_event(event, now_ns)
        out: list[Message] = list(result.messages)
        if result.refusal is not None:
            self._refuse(result.refusal)
        traders = [self.markets[market_id] for market_id in self.markets_of_match[event.match_id]]
        if result.conflict_after_final:
            metrics.truth_conflicts.labels(event.match_id).inc()
            for market in traders:
                market.truth_halted = True
                out.extend(market.apply_halt(now_ns, "truth_conflict_after_final"))
        elif result.dispute_resolved:
            for market in traders:
                out.extend(market.release_truth_halt(now_ns))
        elif any(isinstance(m, TruthDelta) and m.change == "conflict" for m in out):
            metrics.truth_conflicts.labels(event.match_id).inc()
        for market in traders:
            if truth.signal is not None and truth.signal != previous_signal:
                market.start_reaction_watch()
            out.extend(market.evaluate(now_ns, event.t_recv_ns))
        for market in traders:
            market.status_change(now_ns, out)
        return out

    def on_market_resolved(self, resolved: MarketResolved, now_ns: int) -> list[Message]:
        """The venue resolved a market: cancel what is open and go RESOLVED (terminal).

        From every state (FINALIZING is the expected one; HALT included: the venue's answer ends
        a truth dispute). A repeated resolution is ignored; a winning token that is not the
        market's is refused (``resolution_token_mismatch``) and changes nothing.
        """
        market = self.markets.get(resolved.market_id)
        if market is None:
            self._refuse("unknown_market")
            return []
        winning = resolved.winning_token_id
        if winning is not None and winning not in (market.ref.token_yes, market.ref.token_no):
            self._refuse("resolution_token_mismatch")
            return []
        if market.trading.state is TradingState.RESOLVED:
            return []
        out: list[Message] = []
        if market.inflight:
            out.append(market.cancel_intent(now_ns, "venue_resolved"))
        market.trading.trigger(TradingTrigger.VENUE_RESOLVED)
        self._record_winner(market, winning)
        market.status_change(now_ns, out)
        return out

    def _restore_resolution(self, resolved: ResolvedMarketView) -> None:
        """A market the engine already settled (shard restart): RESOLVED, no intent sent.

        Same checks as :meth:`on_market_resolved`; an unknown market or a foreign winning token
        is refused and changes nothing. Open orders rebuilt from the snapshot stay tracked but
        never force a resync (RESOLVED markets are skipped by the intent timeout).
        """
        market = self.markets.get(resolved.market_id)
        if market is None:
            self._refuse("snapshot_unknown_market")
            return
        winning = resolved.winning_token_id
        if winning is not None and winning not in (market.ref.token_yes, market.ref.token_no):
            self._refuse("resolution_token_mismatch")
            return
        if market.trading.state is TradingState.RESOLVED:
            return  # already known (a resync): the first resolution wins
        market.trading.restore(TradingState.RESOLVED)
        self._record_winner(market, winning)

    def _record_winner(self, market: MarketTrader, winning: str | None) -> None:
        """Keep the venue's winner; count a disagreement with this match's FINAL truth."""
        market.venue_winner = None if winning is None else market.ref.outcome_of(winning)
        truth = market.truth
        if (truth.status is TruthStatus.FINAL and market.venue_winner is not None
                and truth.winner != ("A" if market.venue_winner is Outcome.YES else "B")):
            metrics.truth_conflicts.labels(truth.match_id).inc()
            self.refusals["resolution_disagrees_with_truth"] += 1

    def on_source_health(self, health: SourceHealth, now_ns: int) -> list[Message]:
        """Track stale feeds: a stale source stops temporal trading on its matches."""
        key = (health.source, health.match_id)
        if health.stale:
            self.stale_sources.add(key)
        else:
            self.stale_sources.discard(key)
        out: list[Message] = []
        for truth in self.truths.values():  # the merge prefers fresh sources (spec 02)
            if health.match_id in (None, truth.match_id):
                out.extend(truth.set_stale(health.source, health.stale, now_ns).messages)
        for market in self.markets.values():
            out.extend(market.evaluate(now_ns, health.t_ns))
        out.extend(self._statuses(now_ns))
        return out

    # ---- engine ----------------------------------------------------------------------

    def on_intent_ack(self, ack: IntentAck, now_ns: int) -> list[Message]:
        """An accepted intent waits for its order; a rejected one is forgotten."""
        market_id = self.ctx.intent_market.get(ack.intent_id)
        market = self.markets.get(market_id) if market_id else None
        inflight = market.inflight.get(ack.intent_id) if market else None
        if market is None or inflight is None:
            self._refuse("ack_for_unknown_intent")
            return []
        if ack.accepted:
            inflight.acked = True
            inflight.order_id = ack.order_id
            return []
        del market.inflight[ack.intent_id]
        out = market.evaluate(now_ns, now_ns)
        market.status_change(now_ns, out)
        return out

    def on_execution_report(self, report: ExecutionReport, now_ns: int) -> list[Message]:
        """Count new fills into the position (by cumulative filled size, so duplicates are
        harmless) and finish the intent when its order is terminal."""
        market = self.markets.get(report.market_id)
        if market is None:
            self._refuse("unknown_market")
            return []
        if report.shard_id != self.shard_id:
            self._refuse("report_for_other_shard")
            return []
        if report.token_id not in (market.ref.token_yes, market.ref.token_no) or (
                market.ref.outcome_of(report.token_id) is not report.outcome):
            self._refuse("report_token_mismatch")
            return []
        market.count_fill(report)
        if report.status is OrderStatus.REJECTED and POST_ONLY_CROSSES in report.reason:
            market.note_crossed(report.intent_id, now_ns)  # re-placed a tick back
        inflight = market.inflight.get(report.intent_id)
        if inflight is not None:
            inflight.acked = True
            inflight.order_id = report.order_id
            if report.status.is_terminal:
                del market.inflight[report.intent_id]
        out = market.evaluate(now_ns, report.t_origin_ns or now_ns)
        market.status_change(now_ns, out)
        return out

    def on_risk_state(self, state: RiskState, now_ns: int) -> list[Message]:
        """Halt or release a market (or all, for the kill switch)."""
        out: list[Message] = []
        if state.market_id is None:
            self.ctx.kill_switch = state.kill_switch
            targets = list(self.markets.values())
        else:
            market = self.markets.get(state.market_id)
            if market is None:
                self._refuse("unknown_market")
                return []
            market.engine_halted = state.halted
            targets = [market]
        for market in targets:
            if market.trading.state is TradingState.RESOLVED:
                continue  # terminal: the venue resolved it, nothing left to halt or release
            if market.halted:
                out.extend(market.apply_halt(now_ns, state.reason or "risk"))
            elif market.trading.state is TradingState.HALT:
                market.trading.trigger(TradingTrigger.RISK_RELEASE)
                out.extend(market.evaluate(now_ns, now_ns))
        for market in targets:
            market.status_change(now_ns, out)
        return out

    # ---- time ------------------------------------------------------------------------

    def on_time(self, now_ns: int) -> list[Message]:
        """Time-driven work: truth timeouts, edge windows, cooldowns, intent timeouts, status."""
        out: list[Message] = []
        cfg = self.config.shards
        if not self.ready:
            if (self._last_query_ns is None
                    or now_ns - self._last_query_ns >= cfg.state_query_retry_ms * _NS_PER_MS):
                out.extend(self.start(now_ns))
            return out
        for truth in self.truths.values():
            result = truth.on_time(now_ns)
            out.extend(result.messages)
        timeout_ns = cfg.intent_timeout_ms * _NS_PER_MS
        if any(now_ns - i.sent_ns >= timeout_ns
               for m in self.markets.values() for i in m.inflight.values()
               if m.trading.state is not TradingState.RESOLVED
               and not (i.resting and i.acked)):  # a quote rests as long as it is wanted
            self._refuse("intent_timeout")
            out.extend(self.start(now_ns))  # resync from the engine before deciding again
            return out
        for market in self.markets.values():
            out.extend(market.evaluate(now_ns, now_ns))
        due = (self._last_status_ns is None
               or now_ns - self._last_status_ns >= int(cfg.status_interval_s * 1e9))
        out.extend(self._statuses(now_ns, force=due))
        return out

    # ---- views -----------------------------------------------------------------------

    def implied_yes(self, market_id: str) -> float | None:
        """Current implied probability of YES for ``market_id`` (None: no signal)."""
        return self.markets[market_id].implied_yes()

    def market_status(self, market_id: str, now_ns: int) -> MarketStatus:
        """The MarketStatus message of ``market_id`` now."""
        return self.markets[market_id].market_status(now_ns)

    def status_details(self, market_id: str) -> dict[str, object]:
        """What /status shows beyond MarketStatus: why a market may not trade, JSON-ready."""
        return self.markets[market_id].status_details()

    # ---- status and bookkeeping ------------------------------------------------------

    def _statuses(self, now_ns: int, force: bool = False) -> list[Message]:
        """MarketStatus of every market whose status changed (all of them when ``force``).

        Walks every market: only for the inputs that can change any market (time, source
        health, the snapshot); the others ask the markets they touched.
        """
        out: list[Message] = []
        for market in self.markets.values():
            market.status_change(now_ns, out, force)
        if force:
            self._last_status_ns = now_ns
        return out

    def _market_of(self, token_id: str) -> str | None:
        where = self.token_index.get(token_id)
        return where[0] if where else None

    def _refuse(self, reason: str) -> None:
        self.ctx.refuse(reason)


def truth_messages(messages: Iterable[Message]) -> list[TruthDelta | TruthFinal]:
    """The Truth Engine messages among a core's outputs (for the shell's event log)."""
    return [m for m in messages if isinstance(m, TruthDelta | TruthFinal)]
