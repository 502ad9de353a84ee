"""One market's trader: its books, position, orders in flight, trading state and decisions.

:class:`ShardCore` (shards/core.py) routes each input to the traders it concerns;
:class:`MarketTrader` decides for one market (pair arbitrage, temporal arbitrage, rebalance,
finalize, halts) and builds the intents. What every trader of a shard shares (config, shard
id, kill switch, stale sources, refusal counts, the intent → market index) is one
:class:`ShardContext`, owned by the core. Pure like the core: the time is an argument.
"""

from __future__ import annotations

import hashlib
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Final

import msgspec

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
    FactRef,
    IntentTruth,
    MarketStatus,
    Message,
    OrderIntent,
)
from shards.fair_value import (
    MarketPrior,
    anchored_implied_yes,
    series_value,
    unconfirmed_fallback,
)
from shards.maker_quoting import RestingQuote, mid_volatility, plan_quotes, review_quotes
from shards.pair_arb import (
    AccumulationBuy,
    PairPosition,
    plan_accumulation,
    plan_pair,
    plan_rebalance,
)
from shards.quoting import LegQuote, quote_buy
from shards.temporal_arb import LatencyTracker, plan_temporal
from shards.trading import MarketTrading, TradingTrigger
from shards.truth import MatchTruth, SignalTime
from shards.truth_sources import fact_text
from shm import BookSnapshot, SlotFlags

_NS_PER_MS: Final = 1_000_000
_FILL_EPSILON: Final = 1e-9
_REACTION_TIMEOUT_WINDOWS: Final = 10  # a reaction not seen in 10 windows is dropped
_TRUTH_LIVE: Final = frozenset(
    {TruthStatus.LIVE, TruthStatus.PENDING_CONFIRM, TruthStatus.FINAL}
)
_PAIR_STRATEGIES: Final = frozenset({Strategy.PAIR_ARB, Strategy.REBALANCE})
_QUOTE_STATES: Final = frozenset({TruthStatus.PRE_MATCH, TruthStatus.LIVE})
_CROSSED_TTL_NS: Final = 2_000_000_000  # a crossing refusal pushes quotes back this long
_RESTING_TYPES: Final = frozenset({OrderType.GTC, OrderType.GTD})  # only quotes rest
# BookSnapshot.tradable as one int mask (the property builds an enum `|` on every call).
UNTRADABLE_FLAGS: Final = int(
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
    resting: bool = False  # a post-only quote (maker, or an accumulation bid): may rest long
    quote: RestingQuote | None = None  # what it quoted (None: restored after a restart)
    cancelling: bool = False  # its cancel was sent


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
class ShardContext:
    """What every trader of one shard shares; the core owns it and routes the inputs."""

    config: Config
    shard_id: int
    ready: bool = False  # the engine's StateSnapshot arrived: trading may start
    kill_switch: bool = False
    stale_sources: set[tuple[str, str | None]] = field(default_factory=set)
    refusals: Counter[str] = field(default_factory=Counter)
    intent_market: dict[str, str] = field(default_factory=dict)  # intent id → market id

    def refuse(self, reason: str) -> None:
        """Count bad input (or a refused action) by reason, here and in the metrics."""
        self.refusals[reason] += 1
        metrics.bad_input.labels("shard", reason).inc()

    def source_stale(self, truth: MatchTruth) -> bool:
        """Is any source this match's truth has heard from stale (globally or for the match)?"""
        return any((source, None) in self.stale_sources
                   or (source, truth.match_id) in self.stale_sources
                   for source in truth.sources_seen)


DECISION_BUCKET_NS = 1_000_000_000
"""Idempotency keys are per plan *and* per second of the decision's triggering event (its
``t_origin_ns``, CLOCK_MONOTONIC: one clock for every process of a host, and replayed as
recorded): the same plan on the same facts is one order whichever process decides it, a
restarted shard deciding on new facts gets fresh keys (issue 20 #1/#14: a per-process counter
restarted at 0 and its first decisions were refused as the dead process's duplicates)."""


def idempotency_key(
    market_id: str, strategy: Strategy, outcome: Outcome, side: Side, price: float,
    size: float, decision_ns: int,
) -> str:
    """Deterministic key of one decision from the decision itself (market, plan: strategy,
    order, and the time bucket of ``decision_ns``), never from the process."""
    text = f"{market_id}|{strategy.value}|{outcome.value}|{side.value}|{price:.6f}|{size:.2f}|"
    return hashlib.sha256(f"{text}{decision_ns // DECISION_BUCKET_NS}".encode()).hexdigest()[:32]


@dataclass(slots=True)
class MarketTrader:
    """Trades one market: state kept per market and the decisions on it."""

    ctx: ShardContext
    config: MarketConfig
    ref: MarketRef
    truth: MatchTruth  # shared with the other markets of the same match
    trading: MarketTrading
    latency: LatencyTracker
    prior: MarketPrior  # the market's own price before the event (shards/fair_value.py)
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
    prior_signal_id: int = 0  # the last signal the prior was told about
    mids: deque[float] = field(default_factory=deque)  # recent YES mids (quote width)
    crossed: dict[tuple[Outcome, Side], tuple[float, int]] = field(default_factory=dict)
    last_quote_ns: int | None = None

    @classmethod
    def build(cls, ctx: ShardContext, market: MarketConfig, truth: MatchTruth) -> MarketTrader:
        """A fresh trader of ``market`` (IDLE, flat, nothing in flight)."""
        temporal = ctx.config.temporal_arb
        return cls(ctx, market, market.ref(), truth, MarketTrading(market.market_id),
                   LatencyTracker(temporal.latency_window, temporal.min_reaction_samples),
                   MarketPrior(market.game, market.best_of, temporal.prior_stable_s))

    # ---- views -----------------------------------------------------------------------

    @property
    def halted(self) -> bool:
        """Kill switch, an engine halt of this market, or a truth dispute after FINAL."""
        return self.ctx.kill_switch or self.engine_halted or self.truth_halted

    def implied_yes(self) -> float | None:
        """Current implied probability of YES (None: no signal)."""
        truth = self.truth
        if truth.in_conflict:
            return None
        if truth.status is TruthStatus.LIVE and not truth.score_known:
            return None  # e.g. a restarted shard before any event carried the series score
        self._sync_prior_signal()
        fallback = unconfirmed_fallback(truth.views.values(), truth.facts,
                                        self.ctx.config.truth.required_sources_for_final)
        return anchored_implied_yes(
            truth.status, truth.confidence, truth.winner, truth.score, self.ref.game,
            self.config.best_of, self.ctx.config.temporal_arb, self.prior.strength, fallback)

    def observe_prior(self, now_ns: int) -> None:
        """Feed the market prior the YES mid, while the truth state can carry one."""
        truth = self.truth
        self._sync_prior_signal()
        book = self.books.get(Outcome.YES)
        mid = book.mid if book is not None else None
        status = truth.status
        if (mid is None or book is None or book.flags & UNTRADABLE_FLAGS or truth.in_conflict
                or status not in (TruthStatus.PRE_MATCH, TruthStatus.LIVE)
                or (status is TruthStatus.LIVE and not truth.score_known)):
            self.prior.reset_window(now_ns)
            return
        self.prior.on_mid(now_ns, mid, truth.score)

    def _sync_prior_signal(self) -> None:
        signal = self.truth.signal
        if signal is not None and signal.signal_id != self.prior_signal_id:
            self.prior_signal_id = signal.signal_id
            self.prior.on_fact(signal.origin_ns)  # the market may have priced it already

    def market_status(self, now_ns: int) -> MarketStatus:
        """The MarketStatus message of this market now."""
        truth = self.truth
        return MarketStatus(
            shard_id=self.ctx.shard_id, market_id=self.ref.market_id, match_id=self.ref.match_id,
            truth_status=truth.status, confidence=truth.confidence,
            trading_state=self.trading.state, t_ns=now_ns,
            implied_probability=self.implied_yes(), winner=truth.winner,
        )

    def status_details(self) -> dict[str, object]:
        """What /status shows beyond MarketStatus: why the market may not trade, JSON-ready."""
        truth = self.truth
        venue = self.venue_winner
        return {
            "truth_disputed": truth.disputed, "truth_halted": self.truth_halted,
            "engine_halted": self.engine_halted, "kill_switch": self.ctx.kill_switch,
            "score_known": truth.score_known, "orders_in_flight": len(self.inflight),
            "venue_winner": None if venue is None else venue.value,
        }

    def status_change(self, now_ns: int, out: list[Message], force: bool = False) -> None:
        """Append this market's MarketStatus to ``out`` if its status changed (or ``force``)."""
        truth = self.truth
        key = (truth.status, round(truth.confidence, 4), self.trading.state, truth.winner)
        if force or key != self.last_status:
            self.last_status = key
            out.append(self.market_status(now_ns))

    # ---- decisions -------------------------------------------------------------------

    def evaluate(self, now_ns: int, origin_ns: int) -> list[Message]:
        """Decide what this market does now (nothing before the engine's snapshot): the taker
        and pair strategies, then the maker quotes (posted, kept, replaced or cancelled)."""
        if not self.ctx.ready:
            return []
        out = self._decide(now_ns, origin_ns)
        state = self.trading.state
        if state in (TradingState.HALT, TradingState.RESOLVED, TradingState.FINALIZING):
            return out  # entering these cancelled everything (cancel_all)
        if state is TradingState.TEMPORAL_ACTIVE:  # the pair's bids wait out the signal
            out += self._cancel_quotes(self._resting(Strategy.PAIR_ARB), now_ns,
                                       "temporal_signal")
        return out + self._maker(now_ns, origin_ns)

    @property
    def taking(self) -> bool:
        """Is a taker intent (not a resting quote) in flight?"""
        return any(not i.resting for i in self.inflight.values())

    def _decide(self, now_ns: int, origin_ns: int) -> list[Message]:
        trading = self.trading
        state = trading.state
        truth = self.truth
        if state in (TradingState.HALT, TradingState.RESOLVED):
            return []
        if state is TradingState.FINALIZING:
            return []  # waits for the venue's resolution (ShardCore.on_market_resolved)
        final = truth.status is TruthStatus.FINAL
        if state is TradingState.BUILDING_PAIR:
            if any(i.strategy in _PAIR_STRATEGIES and not i.resting
                   for i in self.inflight.values()):
                return []
            if final and not self.temporal_window_open(now_ns):
                return self.finalize(now_ns)
            out = self._try_temporal(now_ns, origin_ns)  # a truth edge outranks the pair
            if out:
                return out
            return self._settle_pair(now_ns, origin_ns)
        if state is TradingState.TEMPORAL_ACTIVE:
            if self.taking:
                return []
            out = self._try_temporal(now_ns, origin_ns)
            if out or trading.state is not TradingState.TEMPORAL_ACTIVE:
                return out
            if final and not self.temporal_window_open(now_ns):
                return self.finalize(now_ns)
            held = self.position.shares_yes > 0 or self.position.shares_no > 0
            trading.trigger(TradingTrigger.SIGNAL_EXPIRED if held
                            else TradingTrigger.SIGNAL_EXPIRED_FLAT)
            return []
        # IDLE or LOCKED_PAIR
        if self.taking:
            return []
        out = self._try_temporal(now_ns, origin_ns)
        if out:
            return out
        if final:
            if not self.temporal_window_open(now_ns):
                return self.finalize(now_ns)
            return []
        return self._try_pair(now_ns, origin_ns)

    def finalize(self, now_ns: int) -> list[Message]:
        """Truth is FINAL and the edge window closed: FINALIZING, cancel what is open."""
        self.trading.trigger(TradingTrigger.TRUTH_FINAL)
        out: list[Message] = []
        if self.inflight:
            out.extend(self.cancel_all(now_ns, "truth_final"))
        return out

    def tradable_books(self) -> tuple[BookSnapshot, BookSnapshot] | None:
        """(YES, NO) books when both are known and tradable."""
        yes = self.books.get(Outcome.YES)
        no = self.books.get(Outcome.NO)
        if yes is None or no is None or (yes.flags | no.flags) & UNTRADABLE_FLAGS:
            return None
        return yes, no

    def _try_pair(self, now_ns: int, origin_ns: int) -> list[Message]:
        params = self.ctx.config.pair_arb
        if not params.enabled or self.truth.in_conflict:
            return []
        books = self.tradable_books()
        if books is None or _cooling(self.last_pair_ns, params.cooldown_ms, now_ns):
            return []
        plan = plan_pair(books[0], books[1], params, self.config.taker_fee_rate,
                         self.config.min_order_size, self.position)
        if isinstance(plan, str):  # not both legs at once: the next leg of an accumulation
            buy = self._plan_accumulation(books)
            if isinstance(buy, str):
                return []
            self.trading.trigger(TradingTrigger.PAIR_OPPORTUNITY)
            return self._accumulate(buy, now_ns, origin_ns)
        self.trading.trigger(TradingTrigger.PAIR_OPPORTUNITY)
        self.last_pair_ns = now_ns
        out: list[Message] = []
        edge = plan.edge_per_share
        for quote, action in ((plan.yes, TradingAction.BUY_YES), (plan.no, TradingAction.BUY_NO)):
            intent = self._intent(Strategy.PAIR_ARB, action, quote, now_ns, origin_ns,
                                  params.order_type, f"pair cost {plan.cost_per_pair:.4f}", edge)
            if intent is not None:
                out.append(intent)
        return out

    def _plan_accumulation(self, books: tuple[BookSnapshot, BookSnapshot]
                           ) -> AccumulationBuy | str:
        return plan_accumulation({Outcome.YES: books[0], Outcome.NO: books[1]}, self.position,
                                 self.ctx.config.pair_arb, self.config.taker_fee_rate,
                                 self.config.min_order_size, self.config.tick_size,
                                 self.fair_for_quotes())

    def _accumulate(self, buy: AccumulationBuy, now_ns: int, origin_ns: int) -> list[Message]:
        """Carry out one accumulation buy: keep a resting bid that already says it, else
        cancel the pair's resting bids and post the bid (post-only) or take (FAK)."""
        resting = self._resting(Strategy.PAIR_ARB)
        tick = self.config.tick_size
        action = TradingAction.BUY_YES if buy.outcome is Outcome.YES else TradingAction.BUY_NO
        price = buy.limit_price
        crossed = self.crossed.get((buy.outcome, Side.BUY))
        if buy.maker and crossed is not None and now_ns - crossed[1] < _CROSSED_TTL_NS:
            price = round(min(price, crossed[0] - tick), 6)  # lower: the margin still holds
        if buy.maker and any(i.quote is not None and i.quote.outcome is buy.outcome
                             and abs(i.quote.price - price) < tick / 2 for i in resting):
            return []  # the bid it wants is resting
        if _cooling(self.last_pair_ns, self.ctx.config.pair_arb.cooldown_ms, now_ns):
            return []  # one pair decision per cooldown, bids included
        self.last_pair_ns = now_ns
        out = self._cancel_quotes(resting, now_ns, "accumulation_reprice")
        if buy.maker:
            if price < tick - 1e-9:
                return out
            # priced on the pair's averages, not on fair value: no fair-move check applies
            intent = self._quote_intent(
                Strategy.PAIR_ARB, action, buy.outcome, Side.BUY, price, buy.shares, None,
                now_ns, origin_ns, buy.reason, 1.0 - buy.cost_per_share)
        else:
            book = self.books[buy.outcome]
            quote = quote_buy(book, buy.outcome, buy.shares, self.config.taker_fee_rate)
            if quote is None:
                return out
            lagging = self.position.shares(buy.outcome) < self.position.shares(buy.outcome.other)
            completing = (lagging and self.position.imbalance_shares
                          >= self.config.min_order_size)
            intent = self._intent(
                Strategy.REBALANCE if completing else Strategy.PAIR_ARB, action, quote, now_ns,
                origin_ns, self.ctx.config.pair_arb.order_type, buy.reason, 0.0)
        if intent is not None:
            out.append(intent)
        return out

    def _settle_pair(self, now_ns: int, origin_ns: int) -> list[Message]:
        """BUILDING_PAIR: a balanced position locks (or abandons) once no bid rests; an
        unbalanced one gets its next accumulation buy, or (past the imbalance limits) the
        loss-bounded rebalance of the seed, or waits with its bid resting."""
        position = self.position
        params = self.ctx.config.pair_arb
        min_size = self.config.min_order_size
        books = self.tradable_books()
        buy = self._plan_accumulation(books) if books is not None else "no_books"
        resting = self._resting(Strategy.PAIR_ARB)
        if position.imbalance_shares < min_size:
            if resting:  # a first-leg (or next-pair) bid: kept while the plan still says it
                if isinstance(buy, AccumulationBuy) and buy.maker:
                    return self._accumulate(buy, now_ns, origin_ns)
                return self._cancel_quotes(resting, now_ns, "accumulation_not_wanted")
            if any(i.strategy in _PAIR_STRATEGIES for i in self.inflight.values()):
                return []  # a cancel on its way
            if position.shares_yes > 0 and position.shares_no > 0:
                self.trading.trigger(TradingTrigger.PAIR_LOCKED)
            else:
                self.trading.trigger(TradingTrigger.PAIR_ABANDONED)
            return []
        if isinstance(buy, AccumulationBuy):
            return self._accumulate(buy, now_ns, origin_ns)  # (within its cooldown: waits)
        over = (position.imbalance_shares > params.max_leg_imbalance_shares
                or position.imbalance_usdc > params.max_leg_imbalance_usdc)
        if not over:  # within the limits: wait for the lagging leg's price
            return [] if isinstance(buy, AccumulationBuy) else self._cancel_quotes(
                resting, now_ns, "accumulation_not_wanted")
        if position.imbalance_shares >= min_size:
            if _cooling(self.last_pair_ns, params.cooldown_ms, now_ns):
                return []
            lagging = Outcome.YES if position.shares_yes < position.shares_no else Outcome.NO
            book = self.books.get(lagging)
            if book is None or book.flags & UNTRADABLE_FLAGS:
                return []
            quote = plan_rebalance(book, position, params, self.config.taker_fee_rate,
                                   min_size)
            if isinstance(quote, str):
                self.ctx.refuse(f"rebalance_{quote}")
                self.last_pair_ns = now_ns
                return []
            self.last_pair_ns = now_ns
            action = TradingAction.BUY_YES if lagging is Outcome.YES else TradingAction.BUY_NO
            out = self._cancel_quotes(resting, now_ns, "rebalance")
            intent = self._intent(Strategy.REBALANCE, action, quote, now_ns, origin_ns,
                                  params.order_type, "rebalance lagging leg", 0.0)
            return out + [intent] if intent is not None else out
        return []

    # ---- maker quotes (issue 17; shards/maker_quoting.py) ------------------------------

    def fair_for_quotes(self) -> float | None:
        """Market-anchored fair value of YES to quote around, or None when quoting is unsafe:
        no market prior yet, a conflict, a stale source, or a truth state other than
        PRE_MATCH / LIVE with a known score (PAUSED, PENDING_CONFIRM and FINAL cancel)."""
        truth = self.truth
        strength = self.prior.strength
        if (strength is None or truth.in_conflict or self.ctx.source_stale(truth)
                or truth.status not in _QUOTE_STATES):
            return None
        if truth.status is TruthStatus.PRE_MATCH:
            return series_value(self.ref.game, self.config.best_of, truth.score, strength)
        if not truth.score_known:
            return None
        return self.implied_yes()

    def _resting(self, strategy: Strategy) -> list[InflightIntent]:
        """Quotes of ``strategy`` resting (or on their way), not being cancelled."""
        return [i for i in self.inflight.values()
                if i.resting and not i.cancelling and i.strategy is strategy]

    def _cancel_quotes(self, quotes: list[InflightIntent], now_ns: int, reason: str
                       ) -> list[Message]:
        """One CancelIntent of exactly these quotes (the state must allow CANCEL)."""
        if not quotes or not self.trading.allows(TradingAction.CANCEL):
            return []
        for quote in quotes:
            quote.cancelling = True
        self.decisions += 1
        market_id = self.ref.market_id
        return [CancelIntent(
            intent_id=f"s{self.ctx.shard_id}-cancel-{market_id}-{self.decisions}",
            shard_id=self.ctx.shard_id, market_id=market_id, t_sent_ns=now_ns, reason=reason,
            intent_ids=tuple(q.intent_id for q in quotes))]

    def note_crossed(self, intent_id: str, now_ns: int) -> None:
        """The venue refused a quote for crossing: quote that side a tick further back for a
        while (our view of the book was behind the venue's)."""
        inflight = self.inflight.get(intent_id)
        if inflight is not None and inflight.quote is not None:
            quote = inflight.quote
            self.crossed[(quote.outcome, quote.side)] = (quote.price, now_ns)

    def _maker(self, now_ns: int, origin_ns: int) -> list[Message]:
        """Post, keep, replace or cancel this market's maker quotes (the hot path: every book
        change and truth event comes through here)."""
        params = self.ctx.config.maker
        resting = self._resting(Strategy.MAKER)
        restored = [i for i in resting if i.quote is None]  # from before a restart: unknown
        out = self._cancel_quotes(restored, now_ns, "restored_quote")
        resting = [i for i in resting if i.quote is not None]
        fair = self.fair_for_quotes() if params.enabled else None
        books = self.tradable_books()
        if (fair is None or books is None or self.halted
                or not self.trading.allows(TradingAction.QUOTE)):
            why = ("disabled" if not params.enabled else "no_fair_value" if fair is None
                   else "book_untradable" if books is None else self.trading.state.value)
            return out + self._cancel_quotes(resting, now_ns, f"quotes_off:{why}")
        by_side = {Outcome.YES: books[0], Outcome.NO: books[1]}
        self.crossed = {k: v for k, v in self.crossed.items()
                        if now_ns - v[1] < _CROSSED_TTL_NS}
        plan = plan_quotes(fair, by_side, self.position, params, self.config.tick_size,
                           self.config.min_order_size, mid_volatility(list(self.mids)),
                           self.truth.status is TruthStatus.LIVE,
                           {k: v[0] for k, v in self.crossed.items()},
                           self.config.taker_fee_rate)
        review = review_quotes(plan, [i.quote for i in resting if i.quote is not None], fair,
                               by_side, params.reprice_threshold)
        by_id = {i.intent_id: i for i in resting}
        replaced: set[tuple[Outcome, Side]] = set()
        for reason in dict.fromkeys(why for _, why in review.cancel):
            group = [by_id[i] for i, why in review.cancel if why == reason]
            replaced.update((q.quote.outcome, q.quote.side) for q in group if q.quote)
            out.extend(self._cancel_quotes(group, now_ns, reason))
        if not review.post or _cooling(self.last_quote_ns, params.cooldown_ms, now_ns):
            return out
        self.last_quote_ns = now_ns
        for quote in review.post:
            outcome, side = quote.outcome, quote.side
            action = TradingAction.REPLACE if (outcome, side) in replaced else TradingAction.QUOTE
            intent = self._quote_intent(
                Strategy.MAKER, action, outcome, side, quote.price, quote.size, fair, now_ns,
                origin_ns, f"{action.value} {side.value} fair {quote.fair:.4f}",
                quote.edge_per_share)
            if intent is not None:
                out.append(intent)
        return out

    def _quote_intent(
        self, strategy: Strategy, action: TradingAction, outcome: Outcome, side: Side,
        price: float, size: float, fair_yes: float | None, now_ns: int, origin_ns: int,
        reason: str, edge: float,
    ) -> OrderIntent | None:
        """A post-only GTC (or GTD, ``maker.gtd_s`` after the book's venue time) intent."""
        if not self.trading.allows(action):
            metrics.shard_actions_refused.labels(self.trading.state.value, action.value).inc()
            self.ctx.refuse("action_not_allowed")
            return None
        gtd_s = self.ctx.config.maker.gtd_s
        expiration_s = 0
        if gtd_s:
            venue_ms = self.books[outcome].exchange_ts_ms
            if venue_ms <= 0:
                self.ctx.refuse("gtd_without_venue_time")
                return None
            expiration_s = venue_ms // 1000 + gtd_s
        ref = self.ref
        shard_id = self.ctx.shard_id
        price = round(price, 6)
        key = idempotency_key(ref.market_id, strategy, outcome, side, price, size,
                              origin_ns or now_ns)
        intent_id = f"s{shard_id}-{key}"
        if intent_id in self.ctx.intent_market:
            # the same quote in the same decision second was sent already (a replace back to
            # the price just cancelled): the engine would refuse it DUPLICATE, its refusal
            # would re-evaluate and post it again, in a loop at one instant (replay)
            self.ctx.refuse("quote_already_sent")
            return None
        self.decisions += 1
        self.inflight[intent_id] = InflightIntent(
            intent_id, strategy, outcome, now_ns, resting=True,
            quote=RestingQuote(intent_id, outcome, side, price, fair_yes))
        self.ctx.intent_market[intent_id] = ref.market_id
        return OrderIntent(
            intent_id=intent_id, idempotency_key=key, shard_id=shard_id,
            market_id=ref.market_id, token_id=ref.token_for(outcome), outcome=outcome,
            side=side, price=price, size=size,
            order_type=OrderType.GTD if gtd_s else OrderType.GTC, strategy=strategy,
            t_origin_ns=origin_ns, t_decision_ns=now_ns, t_sent_ns=now_ns, reason=reason,
            expected_edge=round(edge, 6), expected_price=price,
            truth=self.intent_truth(strategy), post_only=True, expiration_s=expiration_s,
        )

    def temporal_window_open(self, now_ns: int) -> bool:
        """Is the temporal edge of the current signal still open (matching delay included)?"""
        config = self.ctx.config
        params = config.temporal_arb
        truth = self.truth
        if not params.enabled or truth.signal is None or truth.in_conflict:
            return False
        if self.ctx.source_stale(truth):
            return False
        delay_ms = config.polymarket.matching_delay_s * 1000.0
        return self.latency.is_edge_available(
            truth.signal.age_ms(now_ns), delay_ms, params.edge_window_buffer)

    def _try_temporal(self, now_ns: int, origin_ns: int) -> list[Message]:
        params = self.ctx.config.temporal_arb
        if self.truth.status not in _TRUTH_LIVE or not self.temporal_window_open(now_ns):
            return []
        books = self.tradable_books()
        if books is None or _cooling(self.last_temporal_ns, params.cooldown_ms, now_ns):
            return []
        implied = self.implied_yes()
        if implied is None:
            return []
        favourite = Outcome.YES if implied > 0.5 else Outcome.NO
        if self.truth.final_by_fallback:  # one source, by timeout: its own smaller limit
            params = msgspec.structs.replace(
                params, max_size_usdc=min(params.max_size_usdc, params.fallback_max_size_usdc))
        plan = plan_temporal(implied, books[0], books[1], params, self.config.taker_fee_rate,
                             self.config.min_order_size, self.position.cost(favourite))
        if isinstance(plan, str):
            return []
        if self.trading.state is not TradingState.TEMPORAL_ACTIVE:
            if not self.trading.can(TradingTrigger.TEMPORAL_SIGNAL):
                return []
            self.trading.trigger(TradingTrigger.TEMPORAL_SIGNAL)
        self.last_temporal_ns = now_ns
        intent = self._intent(
            Strategy.TEMPORAL_ARB, TradingAction.BUY_WINNER, plan.quote, now_ns,
            origin_ns, params.order_type,
            f"implied {plan.implied_probability:.4f} edge {plan.edge:.4f}", plan.edge)
        return [intent] if intent is not None else []

    def _intent(
        self, strategy: Strategy, action: TradingAction, quote: LegQuote, now_ns: int,
        origin_ns: int, order_type: str, reason: str, edge: float,
    ) -> OrderIntent | None:
        if not self.trading.allows(action):
            metrics.shard_actions_refused.labels(self.trading.state.value, action.value).inc()
            self.ctx.refuse("action_not_allowed")
            return None
        ref = self.ref
        shard_id = self.ctx.shard_id
        price = round(quote.limit_price, 6)
        # the decision's own time (its triggering event, replayed identically), not a counter
        key = idempotency_key(ref.market_id, strategy, quote.outcome, Side.BUY, price,
                              quote.shares, origin_ns or now_ns)
        intent_id = f"s{shard_id}-{key}"
        if intent_id in self.ctx.intent_market:
            # the same plan on the same facts was sent already: the engine would refuse it as
            # a DUPLICATE and its refusal would re-evaluate into the same plan at one instant
            self.ctx.refuse("intent_already_sent")
            return None
        self.decisions += 1
        self.inflight[intent_id] = InflightIntent(intent_id, strategy, quote.outcome, now_ns)
        self.ctx.intent_market[intent_id] = ref.market_id
        return OrderIntent(
            intent_id=intent_id, idempotency_key=key, shard_id=shard_id,
            market_id=ref.market_id, token_id=ref.token_for(quote.outcome),
            outcome=quote.outcome, side=Side.BUY, price=price, size=quote.shares,
            order_type=OrderType(order_type), strategy=strategy, t_origin_ns=origin_ns,
            t_decision_ns=now_ns, t_sent_ns=now_ns, reason=reason,
            expected_edge=round(edge, 6), expected_price=round(quote.effective_price, 6),
            truth=self.intent_truth(strategy),
        )

    def intent_truth(self, strategy: Strategy) -> IntentTruth:
        """The truth an intent rests on: state, rule, and for temporal intents the facts its
        implied probability used (series, map, in-map numbers of the map, end reports)."""
        truth = self.truth
        facts: list[FactRef] = []
        if strategy is Strategy.TEMPORAL_ARB:
            game = truth.score.game_number
            for name, fact in sorted(truth.facts.items()):
                used = (name in ("series", "game_number") or name.startswith(f"{game}:")
                        or name == f"map_winner:{game}")
                if used:
                    facts.append(FactRef(field=name, source=fact.source,
                                         t_source_ms=fact.t_source_ms,
                                         value=fact_text(fact.value)))
            for report in truth.reports:  # every end report the confirmation counted
                end = truth.views[report.source].facts.get("end")
                if end is not None:
                    facts.append(FactRef(field="end", source=report.source,
                                         t_source_ms=end.t_source_ms,
                                         value=fact_text(end.value)))
        return IntentTruth(status=truth.status, rule=truth.rule.value if truth.rule else "",
                           facts=tuple(facts))

    def cancel_intent(self, now_ns: int, reason: str) -> CancelIntent:
        """A CancelIntent of everything open in this market (counts as a decision)."""
        self.decisions += 1
        market_id = self.ref.market_id
        return CancelIntent(
            intent_id=f"s{self.ctx.shard_id}-cancel-{market_id}-{self.decisions}",
            shard_id=self.ctx.shard_id, market_id=market_id, t_sent_ns=now_ns, reason=reason,
        )

    def cancel_all(self, now_ns: int, reason: str) -> list[Message]:
        """Cancel everything open, if the current state allows it."""
        if not self.trading.allows(TradingAction.CANCEL_ALL):
            return []
        return [self.cancel_intent(now_ns, reason)]

    # ---- halts -----------------------------------------------------------------------

    def apply_halt(self, now_ns: int, reason: str) -> list[Message]:
        """HALT (from any state but RESOLVED); cancel what is open on entering it."""
        if self.trading.state is TradingState.RESOLVED:
            return []
        already = self.trading.state is TradingState.HALT
        self.trading.trigger(TradingTrigger.RISK_HALT)
        if already:
            return []
        return self.cancel_all(now_ns, reason)

    def release_truth_halt(self, now_ns: int) -> list[Message]:
        """The truth dispute ended: leave HALT unless another halt still holds."""
        self.truth_halted = False
        if self.trading.state is not TradingState.HALT or self.halted:
            return []
        self.trading.trigger(TradingTrigger.RISK_RELEASE)
        return self.evaluate(now_ns, now_ns)

    def rebuilt_state(self) -> TradingState:
        """The trading state implied by what the engine's snapshot rebuilt."""
        current = self.trading.state
        if current is TradingState.RESOLVED:
            return current
        if self.halted:
            return TradingState.HALT
        if current in (TradingState.FINALIZING, TradingState.RESOLVED):
            return current
        strategies = {i.strategy for i in self.inflight.values() if not i.resting}
        if any(i.resting and i.strategy in _PAIR_STRATEGIES for i in self.inflight.values()):
            return TradingState.BUILDING_PAIR  # an accumulation bid rests
        position = self.position
        if Strategy.TEMPORAL_ARB in strategies:
            return TradingState.TEMPORAL_ACTIVE
        if strategies & _PAIR_STRATEGIES:
            return TradingState.BUILDING_PAIR
        if position.imbalance_shares >= self.config.min_order_size:
            return TradingState.BUILDING_PAIR
        if position.shares_yes > 0 or position.shares_no > 0:
            return TradingState.LOCKED_PAIR
        return TradingState.IDLE

    # ---- fills -----------------------------------------------------------------------

    def set_leg(self, outcome: Outcome, shares: float, cost: float) -> None:
        """Replace one leg of the position (shares held, total cost with fees)."""
        position = self.position
        if outcome is Outcome.YES:
            self.position = PairPosition(shares, position.shares_no, cost, position.cost_no)
        else:
            self.position = PairPosition(position.shares_yes, shares, position.cost_yes, cost)

    def count_fill(self, report: ExecutionReport) -> None:
        """Add the report's new fill (by cumulative size: a duplicate adds nothing)."""
        seen = self.fills.setdefault(report.order_id, FillSeen())
        delta = report.filled_size - seen.shares
        if delta <= _FILL_EPSILON:
            return
        if report.last_fill_size > 0 and abs(report.last_fill_size - delta) < 1e-6:
            notional = delta * report.last_fill_price
        else:
            notional = max(0.0, report.avg_fill_price * report.filled_size - seen.notional_usdc)
        seen.shares = report.filled_size
        seen.notional_usdc += notional
        self.set_leg(report.outcome, self.position.shares(report.outcome) + delta,
                     self.position.cost(report.outcome) + notional + report.fee_usdc)

    # ---- latency tracking ------------------------------------------------------------

    def start_reaction_watch(self) -> None:
        """A new signal: watch for the first mid move toward the implied price past
        ``temporal_arb.reaction_move_threshold``. The same fact reported again (even with an
        earlier source time) keeps the watch: repeats never restart the clock."""
        signal = self.truth.signal
        watch = self.reaction
        if watch is not None and signal is not None and watch.signal.signal_id == signal.signal_id:
            watch.signal = signal  # an earlier report of the same fact: the clock moves back
            return
        implied = self.implied_yes()
        book = self.books.get(Outcome.YES)
        mid = book.mid if book is not None else None
        if implied is None or mid is None or signal is None:
            self.reaction = None
            return
        if abs(implied - mid) < self.ctx.config.temporal_arb.min_edge_threshold:
            self.reaction = None  # nothing to reprice: no reaction to measure
            return
        self.reaction = ReactionWatch(signal, mid, implied)

    def watch_reaction(self, now_ns: int) -> None:
        """A book moved: record the reaction at the first mid move past the threshold toward
        the implied price; discard implausible samples (faster than the fastest feed could
        have told the market) and watches that saw no move in time."""
        self.observe_prior(now_ns)
        watch = self.reaction
        book = self.books.get(Outcome.YES)
        mid = book.mid if book is not None else None
        if mid is not None and (not self.mids or self.mids[-1] != mid):
            self.mids.append(mid)  # for the maker's volatility-based width
            while len(self.mids) > self.ctx.config.maker.volatility_window + 1:
                self.mids.popleft()
        if watch is None or book is None or book.mid is None or book.flags & UNTRADABLE_FLAGS:
            return
        params = self.ctx.config.temporal_arb
        age_ms = watch.signal.age_ms(now_ns)
        toward = 1.0 if watch.implied_yes > watch.start_price else -1.0
        if (book.mid - watch.start_price) * toward >= params.reaction_move_threshold:
            fastest = self.truth.fastest_delay_ms
            if fastest is None or age_ms >= fastest:
                self.latency.record(age_ms)
            self.reaction = None
            return
        window = self.latency.reaction_window_ms
        limit = (_REACTION_TIMEOUT_WINDOWS * window if window is not None
                 else float(params.max_reaction_ms))
        if age_ms > limit:
            self.reaction = None  # no move: not a sample


def _cooling(last_ns: int | None, cooldown_ms: int, now_ns: int) -> bool:
    return last_ns is not None and now_ns - last_ns < cooldown_ms * _NS_PER_MS
