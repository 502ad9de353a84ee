"""ShardCore emits MarketStatus only for the markets an input can change (issue 9 follow-up).

A book, an ack, an execution report or a resolution changes only its own market's status, a
match event only its match's markets, a risk state only its targets. The property: after any
sequence of inputs, a full status scan (the old per-input behaviour) finds nothing the scoped
check missed, so the outputs are the old outputs exactly. Also: the core's int tradable mask
agrees with ``BookSnapshot.tradable`` for every flag combination.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from polyloly.config import validate
from polyloly.domain import MatchEventType, OrderStatus, Outcome, Side, SourceTier, TradingState
from polyloly.messages import (
    PAYLOAD_TYPES,
    ExecutionReport,
    IntentAck,
    MarketResolved,
    MarketStatus,
    MatchEvent,
    MatchPayload,
    Message,
    OrderIntent,
    RiskState,
    SourceHealth,
    StateSnapshot,
    payload_from_dict,
)
from shards.core import _UNTRADABLE_FLAGS, ShardCore
from shm import BookSnapshot

MS = 1_000_000
MARKETS = [("0x" + f"{k + 1:064x}", str(3000 + 2 * k), str(3001 + 2 * k), f"m{k % 2}")
           for k in range(4)]  # four markets on two matches


def make_core() -> ShardCore:
    config = validate({
        "shards": {"count": 1},
        "pair_arb": {"cooldown_ms": 0},
        "markets": [{"market_id": m, "token_ids": [y, n], "match_id": match, "game": "lol",
                     "best_of": 3} for m, y, n, match in MARKETS],
    })
    core = ShardCore(config, 0)
    core.start(0)
    core.on_state_snapshot(StateSnapshot(shard_id=0, positions=(), open_orders=(),
                                         halted_markets=(), kill_switch=False, t_ns=0), 0)
    return core


def snapshot(token: str, ask: float, flags: int, t_ns: int) -> BookSnapshot:
    return BookSnapshot(
        slot=0, token_id=token, seq=1, t_recv_ns=t_ns, exchange_ts_ms=0, tick_size=0.001,
        best_bid=0.30, best_ask=ask, flags=flags, book_hash="", bid_prices=(0.30,),
        bid_sizes=(500.0,), ask_prices=(ask,), ask_sizes=(500.0,), bid_levels_total=1,
        ask_levels_total=1)


market_index = st.integers(0, len(MARKETS) - 1)
inputs = st.one_of(
    st.tuples(st.just("book"), market_index, st.booleans(),
              st.sampled_from([0.38, 0.45, 0.52, 0.60]), st.sampled_from([0, 0, 0, 1, 4, 8])),
    st.tuples(st.just("event"), st.integers(0, 1),
              st.sampled_from([MatchEventType.MATCH_STARTED, MatchEventType.MAP_ENDED,
                               MatchEventType.MATCH_ENDED]), st.sampled_from(["A", "B"]),
              st.sampled_from(["pandascore", "grid"])),
    st.tuples(st.just("risk"), st.one_of(st.none(), market_index), st.booleans()),
    st.tuples(st.just("ack"), st.booleans()),
    st.tuples(st.just("fill"), st.sampled_from([OrderStatus.FILLED, OrderStatus.CANCELLED])),
    st.tuples(st.just("resolved"), market_index),
    st.tuples(st.just("health"), st.booleans()),
    st.tuples(st.just("time"), st.integers(1, 20_000)),
)



def _payload(event_type: MatchEventType, winner: str) -> MatchPayload:
    """The event type's payload with the fields it has of: winner, series 1-1, map 3."""
    fields = {"winner": winner, "maps_a": 1, "maps_b": 1, "game_number": 3}
    known = PAYLOAD_TYPES[event_type].__struct_fields__
    return payload_from_dict(event_type, {k: v for k, v in fields.items() if k in known})

def apply(core: ShardCore, step: tuple[object, ...], now: int, sent: list[OrderIntent]
          ) -> list[Message]:
    kind = step[0]
    if kind == "book":
        _, k, yes, ask, flags = step
        market_id, token_yes, token_no, _match = MARKETS[k]  # type: ignore[index]
        token = token_yes if yes else token_no
        return core.on_book(market_id, token, snapshot(token, ask, flags, now),  # type: ignore
                            now)
    if kind == "event":
        _, match, event_type, winner, source = step
        tier = SourceTier.A if source == "grid" else SourceTier.B
        return core.on_match_event(MatchEvent(
            match_id=f"m{match}", source=source, tier=tier, event_type=event_type,  # type: ignore
            payload=_payload(event_type, winner), t_event_ms=now // MS,
            t_recv_ns=now, t_recv_ms=now // MS), now)
    if kind == "risk":
        _, k, halted = step
        target = None if k is None else MARKETS[k][0]  # type: ignore[index]
        return core.on_risk_state(RiskState(halted=bool(halted), kill_switch=bool(halted)
                                            if target is None else False, reason="test",
                                            t_ns=now, market_id=target), now)
    if kind == "ack" and sent:
        intent = sent[-1]
        return core.on_intent_ack(IntentAck(intent_id=intent.intent_id,
                                            idempotency_key=intent.idempotency_key,
                                            accepted=bool(step[1]), t_ns=now,
                                            order_id=f"o-{intent.intent_id}"), now)
    if kind == "fill" and sent:
        intent = sent.pop(0)
        status = step[1]
        filled = intent.size if status is OrderStatus.FILLED else 0.0
        return core.on_execution_report(ExecutionReport(
            order_id=f"o-{intent.intent_id}", intent_id=intent.intent_id,
            idempotency_key=intent.idempotency_key, shard_id=0, market_id=intent.market_id,
            token_id=intent.token_id, outcome=intent.outcome, side=Side.BUY,
            strategy=intent.strategy, status=status, price=intent.price,  # type: ignore[arg-type]
            size=intent.size, filled_size=filled, avg_fill_price=intent.price, t_ns=now,
            last_fill_size=filled, last_fill_price=intent.price), now)
    if kind == "resolved":
        market_id, token_yes, _no, _match = MARKETS[step[1]]  # type: ignore[index]
        return core.on_market_resolved(MarketResolved(
            market_id=market_id, t_exchange_ms=now // MS, t_recv_ns=now,
            winning_token_id=token_yes), now)
    if kind == "health":
        return core.on_source_health(SourceHealth(
            source="pandascore", tier=SourceTier.B, stale=bool(step[1]), last_event_age_ms=0,
            stale_threshold_ms=30_000, t_ns=now), now)
    if kind == "time":
        return core.on_time(now)
    return []


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(inputs, st.integers(1, 3000)), min_size=1, max_size=40))
def test_shard_status_scope_no_status_change_is_missed(
        steps: list[tuple[tuple[object, ...], int]]) -> None:
    core = make_core()
    now = 1000 * MS
    sent: list[OrderIntent] = []
    for step, advance_ms in steps:
        now += advance_ms * MS
        out = apply(core, step, now, sent)
        sent.extend(m for m in out if isinstance(m, OrderIntent))
        missed = core._statuses(now)  # the old behaviour: every market checked after every input
        assert missed == [], f"{step[0]} left status changes unreported: {missed}"
        reported = [m.market_id for m in out if isinstance(m, MarketStatus)]
        assert len(reported) == len(set(reported))


def test_shard_status_scope_a_book_reports_only_its_own_market() -> None:
    core = make_core()
    market_id, yes, no, _ = MARKETS[0]
    core.refresh_book(market_id, no, snapshot(no, 0.40, 0, 1))
    out = core.on_book(market_id, yes, snapshot(yes, 0.45, 0, 1), 10 * MS)
    statuses = [m for m in out if isinstance(m, MarketStatus)]
    assert [s.market_id for s in statuses] == [market_id]  # pair started: only this one moved
    assert statuses[0].trading_state is TradingState.BUILDING_PAIR
    assert any(isinstance(m, OrderIntent) and m.outcome is Outcome.NO for m in out)


@given(st.integers(0, 15))
def test_shard_status_scope_tradable_mask_matches_the_book_property(flags: int) -> None:
    book = snapshot("3000", 0.5, flags, 1)
    assert (not flags & _UNTRADABLE_FLAGS) == book.tradable
