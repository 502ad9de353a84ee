"""The shard's decision core: truth, trading state and both strategies for its markets.

Pure and deterministic: every ``on_*`` method takes one input and the time (CLOCK_MONOTONIC ns)
and returns the messages to send (OrderIntent, CancelIntent, MarketStatus, StateQuery to the
engine; TruthDelta, TruthFinal for the event log). No sockets, no clock reads, no randomness:
the replay backtester drives it with a manual clock and gets byte-identical intents.

Bad input is refused with a reason, counted in ``metrics.bad_input{component="shard"}`` and in
:attr:`ShardCore.refusals`, and never changes state. Nothing is traded before the engine's
StateSnapshot rebuilt positions, open orders and halts (:attr:`ShardCore.ready`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from polyloly import metrics
from polyloly.config import Config, MarketConfig
from polyloly.domain import (
    MarketRef,
    OrderType,
    Outcome,
    Side,
    Strategy,
    TradingAction,
    TradingState,
    TruthStatus,
)
from polyloly.messages import (
    CancelIntent,
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
from shards.pair_arb import LegQuote, PairPosition, plan_pair, plan_rebalance
from shards.temporal_arb import LatencyTracker, implied_probability_yes, plan_temporal
from shards.trading import MarketTrading, TradingTrigger
from shards.truth import MatchTruth, SignalTime
from shm import BookSnapshot, SlotFlags

_NS_PER_MS: Final = 1_000_000
_FILL_EPSILON: Final = 1e-9
_REACTION_TIMEOUT_WINDOWS: Final = 10  # a reaction not seen in 10 windows is dropped
_TRUTH_LIVE: Final = frozenset(
    {TruthStatus.LIVE, TruthStatus.PENDING_CONFIRM, TruthStatus.FINAL}
)
_PAIR_STRATEGIES: Final = frozenset({Strategy.PAIR_ARB, Strategy.REBALANCE})
# BookSnapshot.tradable as one int mask (the property builds an enum `|` on every call).
_UNTRADABLE_FLAGS: Final = int(
    SlotFlags.STALE | SlotFlags.RESYNCING | SlotFlags.CROSSED | SlotFlags.NO_BOOK)


@dataclass(slots=True)
class InflightIntent:
    """An intent sent and not yet finished (rejected, or its order terminal)."""

    intent_id: str
    strategy: Strategy
    outcome: Outcome | None
    sent_ns: int
    acked: bool = False
    order_id: str | None = None


@dataclass(slots=True)
class FillSeen:
    """Cumulative fill of one order already counted into the position."""

    shares: float = 0.0
    notional_usdc: float = 0.0


@dataclass(slots=True)
class ReactionWatch:
    """Waiting for the market to move halfway from its price at a signal to the implied one."""

    signal: SignalTime
    start_price: float
    implied_yes: float


@dataclass(slots=True)
class MarketBook:
    """Everything the core keeps per market."""

    config: MarketConfig
    ref: MarketRef
    trading: MarketTrading
    latency: LatencyTracker
    books: dict[Outcome, BookSnapshot] = field(default_factory=dict)
    position: PairPosition = field(default_factory=PairPosition)
    inflight: dict[str, InflightIntent] = field(default_factory=dict)
    fills: dict[str, FillSeen] = field(default_factory=dict)
    decisions: int = 0
    last_pair_ns: int | None = None
    last_temporal_ns: int | None = None
    engine_halted: bool = False
    truth_halted: bool = False
    reaction: ReactionWatch | None = None
    last_status: tuple[object, ...] = ()
    venue_winner: Outcome | None = None  # the venue's resolution (None: 50-50 or unresolved)


def idempotency_key(
    market_id: str, strategy: Strategy, outcome: Outcome, side: Side, price: float,
    size: float, decision: int,
) -> str:
    """Deterministic key of one decision: same market, strategy, order and decision counter →
    same key, so a restarted shard re-deciding the same thing is deduplicated by the engine."""
    text = f"{market_id}|{strategy.value}|{outcome.value}|{side.value}|{price:.6f}|{size:.2f}|"
    return hashlib.sha256(f"{text}{decision}".encode()).hexdigest()[:32]


class ShardCore:
    """Decision core of shard ``shard_id``: its markets per ``config.markets_for_shard``."""

    def __init__(self, config: Config, shard_id: int) -> None:
        self.config = config
        self.shard_id = shard_id
        self.markets: dict[str, MarketBook] = {}
        self.truths: dict[str, MatchTruth] = {}
        self.markets_of_match: dict[str, list[str]] = {}
        self.token_index: dict[str, tuple[str, Outcome]] = {}
        temporal = config.temporal_arb
        for market in config.markets_for_shard(shard_id):
            ref = market.ref()
            self.markets[market.market_id] = MarketBook(
                market, ref, MarketTrading(market.market_id),
                LatencyTracker(temporal.latency_window, temporal.default_reaction_window_ms),
            )
            self.truths.setdefault(ref.match_id, MatchTruth(ref.match_id, config.truth))
            self.markets_of_match.setdefault(ref.match_id, []).append(market.market_id)
            self.token_index[ref.token_yes] = (market.market_id, Outcome.YES)
            self.token_index[ref.token_no] = (market.market_id, Outcome.NO)
        self.ready = False
        self.kill_switch = False
        self.stale_sources: set[tuple[str, str | None]] = set()
        self.refusals: Counter[str] = Counter()
        self._intent_market: dict[str, str] = {}
        self._last_query_ns: int | None = None
        self._last_status_ns: int | None = None

    # ---- lifecycle -------------------------------------------------------------------

    def start(self, now_ns: int) -> list[Message]:
        """Ask the engine for this shard's state; nothing trades until it answers."""
        self.ready = False
        self._last_query_ns = now_ns
        return [StateQuery(shard_id=self.shard_id, market_ids=tuple(self.markets),
                           t_sent_ns=now_ns)]

    def on_state_snapshot(self, snapshot: StateSnapshot, now_ns: int) -> list[Message]:
        """Rebuild positions, open orders and halts from the engine, then start trading."""
        if snapshot.shard_id != self.shard_id:
            self._refuse("snapshot_for_other_shard")
            return []
        self.kill_switch = snapshot.kill_switch
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
            cost = position.cost_usdc + position.fees_usdc
            held.position = _with_leg(held.position, outcome, position.shares, cost)
        for order in snapshot.open_orders:
            owner = self.markets.get(order.market_id)
            if owner is None or self._market_of(order.token_id) != order.market_id:
                self._refuse("snapshot_unknown_market")
                continue
            if order.status.is_terminal:
                continue
            outcome = owner.ref.outcome_of(order.token_id)
            owner.inflight[order.intent_id] = InflightIntent(
                order.intent_id, order.strategy, outcome, now_ns, True, order.order_id)
            owner.fills[order.order_id] = FillSeen(order.filled_size,
                                                    order.filled_size * order.price)
            self._intent_market[order.intent_id] = order.market_id
        for market in self.markets.values():
            market.trading.restore(self._rebuilt_state(market))
        for resolved in snapshot.resolved_markets:
            self._restore_resolution(resolved)
        self.ready = True
        out: list[Message] = []
        for market in self.markets.values():
            out.extend(self._evaluate(market, now_ns, now_ns))
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
        if book.flags & _UNTRADABLE_FLAGS:
            self._refuse("book_not_tradable")
        self._watch_reaction(market, now_ns)
        origin = book.t_recv_ns if t_origin_ns is None else t_origin_ns
        out = self._evaluate(market, now_ns, origin)
        self._status_change(market, now_ns, out)  # a book changes only its own market's status
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
        if result.conflict_after_final:
            metrics.truth_conflicts.labels(event.match_id).inc()
            for market_id in self.markets_of_match[event.match_id]:
                market = self.markets[market_id]
                market.truth_halted = True
                out.extend(self._apply_halt(market, now_ns, "truth_conflict_after_final"))
        elif result.dispute_resolved:
            for market_id in self.markets_of_match[event.match_id]:
                out.extend(self._release_truth_halt(self.markets[market_id], now_ns))
        elif any(isinstance(m, TruthDelta) and m.change == "conflict" for m in out):
            metrics.truth_conflicts.labels(event.match_id).inc()
        for market_id in self.markets_of_match[event.match_id]:
            market = self.markets[market_id]
            if truth.signal is not None and truth.signal != previous_signal:
                self._start_reaction_watch(market, truth)
            out.extend(self._evaluate(market, now_ns, event.t_recv_ns))
        for market_id in self.markets_of_match[event.match_id]:
            self._status_change(self.markets[market_id], now_ns, out)
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
            market.decisions += 1
            out.append(CancelIntent(
                intent_id=f"s{self.shard_id}-cancel-{market.ref.market_id}-{market.decisions}",
                shard_id=self.shard_id, market_id=market.ref.market_id, t_sent_ns=now_ns,
                reason="venue_resolved",
            ))
        market.trading.trigger(TradingTrigger.VENUE_RESOLVED)
        self._record_winner(market, winning)
        self._status_change(market, now_ns, out)
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

    def _record_winner(self, market: MarketBook, winning: str | None) -> None:
        """Keep the venue's winner; count a disagreement with this match's FINAL truth."""
        market.venue_winner = None if winning is None else market.ref.outcome_of(winning)
        truth = self.truths[market.ref.match_id]
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
        for market in self.markets.values():
            out.extend(self._evaluate(market, now_ns, health.t_ns))
        out.extend(self._statuses(now_ns))
        return out

    # ---- engine ----------------------------------------------------------------------

    def on_intent_ack(self, ack: IntentAck, now_ns: int) -> list[Message]:
        """An accepted intent waits for its order; a rejected one is forgotten."""
        market_id = self._intent_market.get(ack.intent_id)
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
        out = self._evaluate(market, now_ns, now_ns)
        self._status_change(market, now_ns, out)
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
        self._count_fill(market, report)
        inflight = market.inflight.get(report.intent_id)
        if inflight is not None:
            inflight.acked = True
            inflight.order_id = report.order_id
            if report.status.is_terminal:
                del market.inflight[report.intent_id]
        out = self._evaluate(market, now_ns, report.t_origin_ns or now_ns)
        self._status_change(market, now_ns, out)
        return out

    def on_risk_state(self, state: RiskState, now_ns: int) -> list[Message]:
        """Halt or release a market (or all, for the kill switch)."""
        out: list[Message] = []
        if state.market_id is None:
            self.kill_switch = state.kill_switch
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
            if self._halted(market):
                out.extend(self._apply_halt(market, now_ns, state.reason or "risk"))
            elif market.trading.state is TradingState.HALT:
                market.trading.trigger(TradingTrigger.RISK_RELEASE)
                out.extend(self._evaluate(market, now_ns, now_ns))
        for market in targets:
            self._status_change(market, now_ns, out)
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
               if m.trading.state is not TradingState.RESOLVED):
            self._refuse("intent_timeout")
            out.extend(self.start(now_ns))  # resync from the engine before deciding again
            return out
        for market in self.markets.values():
            out.extend(self._evaluate(market, now_ns, now_ns))
        due = (self._last_status_ns is None
               or now_ns - self._last_status_ns >= int(cfg.status_interval_s * 1e9))
        out.extend(self._statuses(now_ns, force=due))
        return out

    # ---- views -----------------------------------------------------------------------

    def implied_yes(self, market_id: str) -> float | None:
        """Current implied probability of YES for ``market_id`` (None: no signal)."""
        market = self.markets[market_id]
        truth = self.truths[market.ref.match_id]
        if truth.in_conflict:
            return None
        if truth.status is TruthStatus.LIVE and not truth.score_known:
            return None  # e.g. a restarted shard before any event carried the series score
        return implied_probability_yes(
            truth.status, truth.confidence, truth.winner, truth.score, market.ref.game,
            market.config.best_of, self.config.temporal_arb)

    def market_status(self, market_id: str, now_ns: int) -> MarketStatus:
        """The MarketStatus message of ``market_id`` now."""
        market = self.markets[market_id]
        truth = self.truths[market.ref.match_id]
        return MarketStatus(
            shard_id=self.shard_id, market_id=market_id, match_id=market.ref.match_id,
            truth_status=truth.status, confidence=truth.confidence,
            trading_state=market.trading.state, t_ns=now_ns,
            implied_probability=self.implied_yes(market_id), winner=truth.winner,
        )

    def status_details(self, market_id: str) -> dict[str, object]:
        """What /status shows beyond MarketStatus: why a market may not trade, JSON-ready."""
        market = self.markets[market_id]
        truth = self.truths[market.ref.match_id]
        venue = market.venue_winner
        return {
            "truth_disputed": truth.disputed, "truth_halted": market.truth_halted,
            "engine_halted": market.engine_halted, "kill_switch": self.kill_switch,
            "score_known": truth.score_known, "orders_in_flight": len(market.inflight),
            "venue_winner": None if venue is None else venue.value,
        }

    # ---- decisions -------------------------------------------------------------------

    def _evaluate(self, market: MarketBook, now_ns: int, origin_ns: int) -> list[Message]:
        if not self.ready:
            return []
        trading = market.trading
        state = trading.state
        truth = self.truths[market.ref.match_id]
        if state in (TradingState.HALT, TradingState.RESOLVED):
            return []
        if state is TradingState.FINALIZING:
            return []  # waits for the venue's resolution (on_market_resolved)
        final = truth.status is TruthStatus.FINAL
        if state is TradingState.BUILDING_PAIR:
            if any(i.strategy in _PAIR_STRATEGIES for i in market.inflight.values()):
                return []
            if final and not self._temporal_window_open(market, truth, now_ns):
                return self._finalize(market, now_ns)
            return self._settle_pair(market, now_ns, origin_ns)
        if state is TradingState.TEMPORAL_ACTIVE:
            if market.inflight:
                return []
            out = self._try_temporal(market, now_ns, origin_ns)
            if out or trading.state is not TradingState.TEMPORAL_ACTIVE:
                return out
            if final and not self._temporal_window_open(market, truth, now_ns):
                return self._finalize(market, now_ns)
            held = market.position.shares_yes > 0 or market.position.shares_no > 0
            trading.trigger(TradingTrigger.SIGNAL_EXPIRED if held
                            else TradingTrigger.SIGNAL_EXPIRED_FLAT)
            return []
        # IDLE or LOCKED_PAIR
        if market.inflight:
            return []
        out = self._try_temporal(market, now_ns, origin_ns)
        if out:
            return out
        if final:
            if not self._temporal_window_open(market, truth, now_ns):
                return self._finalize(market, now_ns)
            return []
        return self._try_pair(market, now_ns, origin_ns)

    def _finalize(self, market: MarketBook, now_ns: int) -> list[Message]:
        market.trading.trigger(TradingTrigger.TRUTH_FINAL)
        out: list[Message] = []
        if market.inflight:
            out.extend(self._cancel_all(market, now_ns, "truth_final"))
        return out

    def _books(self, market: MarketBook) -> tuple[BookSnapshot, BookSnapshot] | None:
        yes = market.books.get(Outcome.YES)
        no = market.books.get(Outcome.NO)
        if yes is None or no is None or (yes.flags | no.flags) & _UNTRADABLE_FLAGS:
            return None
        return yes, no

    def _try_pair(self, market: MarketBook, now_ns: int, origin_ns: int) -> list[Message]:
        params = self.config.pair_arb
        truth = self.truths[market.ref.match_id]
        if not params.enabled or truth.in_conflict:
            return []
        books = self._books(market)
        if books is None or _cooling(market.last_pair_ns, params.cooldown_ms, now_ns):
            return []
        plan = plan_pair(books[0], books[1], params, market.config.taker_fee_rate,
                         market.config.min_order_size, market.position)
        if isinstance(plan, str):
            return []
        market.trading.trigger(TradingTrigger.PAIR_OPPORTUNITY)
        market.last_pair_ns = now_ns
        out: list[Message] = []
        edge = plan.edge_per_share
        for quote, action in ((plan.yes, TradingAction.BUY_YES), (plan.no, TradingAction.BUY_NO)):
            intent = self._intent(market, Strategy.PAIR_ARB, action, quote, now_ns, origin_ns,
                                  params.order_type, f"pair cost {plan.cost_per_pair:.4f}", edge)
            if intent is not None:
                out.append(intent)
        return out

    def _settle_pair(self, market: MarketBook, now_ns: int, origin_ns: int) -> list[Message]:
        position = market.position
        params = self.config.pair_arb
        min_size = market.config.min_order_size
        if position.imbalance_shares >= min_size:
            if _cooling(market.last_pair_ns, params.cooldown_ms, now_ns):
                return []
            lagging = Outcome.YES if position.shares_yes < position.shares_no else Outcome.NO
            book = market.books.get(lagging)
            if book is None or book.flags & _UNTRADABLE_FLAGS:
                return []
            quote = plan_rebalance(book, position, params, market.config.taker_fee_rate,
                                   min_size)
            if isinstance(quote, str):
                self._refuse(f"rebalance_{quote}")
                market.last_pair_ns = now_ns
                return []
            market.last_pair_ns = now_ns
            action = TradingAction.BUY_YES if lagging is Outcome.YES else TradingAction.BUY_NO
            intent = self._intent(market, Strategy.REBALANCE, action, quote, now_ns, origin_ns,
                                  params.order_type, "rebalance lagging leg", 0.0)
            return [intent] if intent is not None else []
        if position.shares_yes > 0 and position.shares_no > 0:
            market.trading.trigger(TradingTrigger.PAIR_LOCKED)
        else:
            market.trading.trigger(TradingTrigger.PAIR_ABANDONED)
        return []

    def _temporal_window_open(self, market: MarketBook, truth: MatchTruth, now_ns: int) -> bool:
        params = self.config.temporal_arb
        if not params.enabled or truth.signal is None or truth.in_conflict:
            return False
        if self._source_stale(truth):
            return False
        delay_ms = self.config.polymarket.matching_delay_s * 1000.0
        return market.latency.is_edge_available(
            truth.signal.age_ms(now_ns), delay_ms, params.edge_window_buffer)

    def _source_stale(self, truth: MatchTruth) -> bool:
        return any((source, None) in self.stale_sources
                   or (source, truth.match_id) in self.stale_sources
                   for source in truth.sources_seen)

    def _try_temporal(self, market: MarketBook, now_ns: int, origin_ns: int) -> list[Message]:
        params = self.config.temporal_arb
        truth = self.truths[market.ref.match_id]
        if truth.status not in _TRUTH_LIVE or not self._temporal_window_open(
                market, truth, now_ns):
            return []
        books = self._books(market)
        if books is None or _cooling(market.last_temporal_ns, params.cooldown_ms, now_ns):
            return []
        implied = self.implied_yes(market.ref.market_id)
        if implied is None:
            return []
        favourite = Outcome.YES if implied > 0.5 else Outcome.NO
        plan = plan_temporal(implied, books[0], books[1], params, market.config.taker_fee_rate,
                             market.config.min_order_size, market.position.cost(favourite))
        if isinstance(plan, str):
            return []
        if market.trading.state is not TradingState.TEMPORAL_ACTIVE:
            if not market.trading.can(TradingTrigger.TEMPORAL_SIGNAL):
                return []
            market.trading.trigger(TradingTrigger.TEMPORAL_SIGNAL)
        market.last_temporal_ns = now_ns
        intent = self._intent(
            market, Strategy.TEMPORAL_ARB, TradingAction.BUY_WINNER, plan.quote, now_ns,
            origin_ns, params.order_type,
            f"implied {plan.implied_probability:.4f} edge {plan.edge:.4f}", plan.edge)
        return [intent] if intent is not None else []

    def _intent(
        self, market: MarketBook, strategy: Strategy, action: TradingAction, quote: LegQuote,
        now_ns: int, origin_ns: int, order_type: str, reason: str, edge: float,
    ) -> OrderIntent | None:
        if not market.trading.allows(action):
            metrics.shard_actions_refused.labels(market.trading.state.value, action.value).inc()
            self._refuse("action_not_allowed")
            return None
        market.decisions += 1
        price = round(quote.limit_price, 6)
        key = idempotency_key(market.ref.market_id, strategy, quote.outcome, Side.BUY, price,
                              quote.shares, market.decisions)
        intent_id = f"s{self.shard_id}-{key}"
        market.inflight[intent_id] = InflightIntent(intent_id, strategy, quote.outcome, now_ns)
        self._intent_market[intent_id] = market.ref.market_id
        return OrderIntent(
            intent_id=intent_id, idempotency_key=key, shard_id=self.shard_id,
            market_id=market.ref.market_id, token_id=market.ref.token_for(quote.outcome),
            outcome=quote.outcome, side=Side.BUY, price=price, size=quote.shares,
            order_type=OrderType(order_type), strategy=strategy, t_origin_ns=origin_ns,
            t_decision_ns=now_ns, t_sent_ns=now_ns, reason=reason,
            expected_edge=round(edge, 6), expected_price=round(quote.effective_price, 6),
        )

    def _cancel_all(self, market: MarketBook, now_ns: int, reason: str) -> list[Message]:
        if not market.trading.allows(TradingAction.CANCEL_ALL):
            return []
        market.decisions += 1
        return [CancelIntent(
            intent_id=f"s{self.shard_id}-cancel-{market.ref.market_id}-{market.decisions}",
            shard_id=self.shard_id, market_id=market.ref.market_id, t_sent_ns=now_ns,
            reason=reason,
        )]

    def _market_of(self, token_id: str) -> str | None:
        where = self.token_index.get(token_id)
        return where[0] if where else None

    def _halted(self, market: MarketBook) -> bool:
        return self.kill_switch or market.engine_halted or market.truth_halted

    def _apply_halt(self, market: MarketBook, now_ns: int, reason: str) -> list[Message]:
        if market.trading.state is TradingState.RESOLVED:
            return []
        already = market.trading.state is TradingState.HALT
        market.trading.trigger(TradingTrigger.RISK_HALT)
        if already:
            return []
        return self._cancel_all(market, now_ns, reason)

    def _release_truth_halt(self, market: MarketBook, now_ns: int) -> list[Message]:
        market.truth_halted = False
        if market.trading.state is not TradingState.HALT or self._halted(market):
            return []
        market.trading.trigger(TradingTrigger.RISK_RELEASE)
        return self._evaluate(market, now_ns, now_ns)

    def _rebuilt_state(self, market: MarketBook) -> TradingState:
        current = market.trading.state
        if current is TradingState.RESOLVED:
            return current
        if self._halted(market):
            return TradingState.HALT
        if current in (TradingState.FINALIZING, TradingState.RESOLVED):
            return current
        strategies = {i.strategy for i in market.inflight.values()}
        position = market.position
        if Strategy.TEMPORAL_ARB in strategies:
            return TradingState.TEMPORAL_ACTIVE
        if strategies & _PAIR_STRATEGIES:
            return TradingState.BUILDING_PAIR
        if position.imbalance_shares >= market.config.min_order_size:
            return TradingState.BUILDING_PAIR
        if position.shares_yes > 0 or position.shares_no > 0:
            return TradingState.LOCKED_PAIR
        return TradingState.IDLE

    def _count_fill(self, market: MarketBook, report: ExecutionReport) -> None:
        seen = market.fills.setdefault(report.order_id, FillSeen())
        delta = report.filled_size - seen.shares
        if delta <= _FILL_EPSILON:
            return
        if report.last_fill_size > 0 and abs(report.last_fill_size - delta) < 1e-6:
            notional = delta * report.last_fill_price
        else:
            notional = max(0.0, report.avg_fill_price * report.filled_size - seen.notional_usdc)
        seen.shares = report.filled_size
        seen.notional_usdc += notional
        market.position = _with_leg(
            market.position, report.outcome,
            market.position.shares(report.outcome) + delta,
            market.position.cost(report.outcome) + notional + report.fee_usdc,
        )

    # ---- latency tracking ------------------------------------------------------------

    def _start_reaction_watch(self, market: MarketBook, truth: MatchTruth) -> None:
        implied = self.implied_yes(market.ref.market_id)
        book = market.books.get(Outcome.YES)
        mid = book.mid if book is not None else None
        if implied is None or mid is None or truth.signal is None:
            market.reaction = None
            return
        if abs(implied - mid) < self.config.temporal_arb.min_edge_threshold:
            market.reaction = None  # nothing to reprice: no reaction to measure
            return
        market.reaction = ReactionWatch(truth.signal, mid, implied)

    def _watch_reaction(self, market: MarketBook, now_ns: int) -> None:
        watch = market.reaction
        book = market.books.get(Outcome.YES)
        if watch is None or book is None or book.mid is None or book.flags & _UNTRADABLE_FLAGS:
            return
        age_ms = watch.signal.age_ms(now_ns)
        if abs(book.mid - watch.implied_yes) <= abs(watch.start_price - watch.implied_yes) / 2:
            market.latency.record(age_ms)
            market.reaction = None
        elif age_ms > _REACTION_TIMEOUT_WINDOWS * market.latency.reaction_window_ms:
            market.reaction = None

    # ---- status and bookkeeping ------------------------------------------------------

    def _statuses(self, now_ns: int, force: bool = False) -> list[Message]:
        """MarketStatus of every market whose status changed (all of them when ``force``).

        Walks every market: only for the inputs that can change any market (time, source
        health, the snapshot); the others call :meth:`_status_change` for what they touched.
        """
        out: list[Message] = []
        for market in self.markets.values():
            self._status_change(market, now_ns, out, force)
        if force:
            self._last_status_ns = now_ns
        return out

    def _status_change(self, market: MarketBook, now_ns: int, out: list[Message],
                       force: bool = False) -> None:
        """Append ``market``'s MarketStatus to ``out`` if its status changed (or ``force``)."""
        truth = self.truths[market.ref.match_id]
        key = (truth.status, round(truth.confidence, 4), market.trading.state, truth.winner)
        if force or key != market.last_status:
            market.last_status = key
            out.append(self.market_status(market.ref.market_id, now_ns))

    def _refuse(self, reason: str) -> None:
        self.refusals[reason] += 1
        metrics.bad_input.labels("shard", reason).inc()


def _with_leg(position: PairPosition, outcome: Outcome, shares: float, cost: float
              ) -> PairPosition:
    if outcome is Outcome.YES:
        return PairPosition(shares, position.shares_no, cost, position.cost_no)
    return PairPosition(position.shares_yes, shares, position.cost_yes, cost)


def _cooling(last_ns: int | None, cooldown_ms: int, now_ns: int) -> bool:
    return last_ns is not None and now_ns - last_ns < cooldown_ms * _NS_PER_MS


def truth_messages(messages: Iterable[Message]) -> list[TruthDelta | TruthFinal]:
    """The Truth Engine messages among a core's outputs (for the shell's event log)."""
    return [m for m in messages if isinstance(m, TruthDelta | TruthFinal)]
