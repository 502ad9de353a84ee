"""The venue's resolution ends trading; RESOLVED is terminal."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from polyloly.domain import (
    MatchEventType,
    OrderStatus,
    Side,
    SourceTier,
    Strategy,
    TradingState,
    TruthStatus,
)
from polyloly.messages import (
    CancelIntent,
    MarketResolved,
    MarketStatus,
    OrderView,
    RiskState,
    StateSnapshot,
)
from shards.core import ShardCore
from tests.unit.test_shard_core import (
    MARKET,
    MS,
    NO,
    YES,
    book,
    empty_snapshot,
    event,
    intents,
    make_config,
    ready_core,
    temporal_core,
)


def resolved(winner: str | None = YES, market_id: str = MARKET, t_ms: int = 1) -> MarketResolved:
    return MarketResolved(market_id=market_id, t_exchange_ms=t_ms, t_recv_ns=t_ms * MS,
                          winning_token_id=winner)


def mispriced(core: ShardCore, now_ns: int) -> list[object]:
    core.refresh_book(MARKET, NO, book(NO, [(0.40, 500)]))
    return core.on_book(MARKET, YES, book(YES, [(0.45, 500)]), now_ns)


def test_shard_gaps_finalizing_waits_for_the_venue_then_resolves() -> None:
    core = temporal_core()
    core.on_match_event(event(MatchEventType.MATCH_ENDED, 1000, source="grid",
                              tier=SourceTier.A, winner="A"), 60_000 * MS)  # window long past
    market = core.markets[MARKET]
    assert market.trading.state is TradingState.FINALIZING and not market.inflight
    for minute in range(2, 200):  # hours without a resolution: still FINALIZING, no intents
        assert intents(core.on_time(minute * 60_000 * MS)) == []
    assert market.trading.state is TradingState.FINALIZING
    out = core.on_market_resolved(resolved(YES), 12_000_000 * MS)
    assert market.trading.state is TradingState.RESOLVED
    statuses = [m for m in out if isinstance(m, MarketStatus)]
    assert statuses and statuses[0].trading_state is TradingState.RESOLVED
    assert not any(isinstance(m, CancelIntent) for m in out)  # nothing was open
    assert core.status_details(MARKET)["venue_winner"] == "YES"


def test_shard_resolution_is_terminal_while_building_a_pair_cancels_and_resolves() -> None:
    core = ready_core()
    assert len(intents(mispriced(core, 10))) == 2
    out = core.on_market_resolved(resolved(NO), 20)
    cancels = [m for m in out if isinstance(m, CancelIntent)]
    assert len(cancels) == 1 and cancels[0].reason == "venue_resolved"
    assert core.markets[MARKET].trading.state is TradingState.RESOLVED
    assert intents(mispriced(core, 10**12)) == []


def test_shard_resolution_is_terminal_of_a_halted_market_resolves_it() -> None:
    core = ready_core()
    core.on_risk_state(RiskState(halted=True, kill_switch=False, reason="loss", t_ns=1,
                                 market_id=MARKET), 1)
    assert core.markets[MARKET].trading.state is TradingState.HALT
    core.on_market_resolved(resolved(None), 2)  # 50-50
    assert core.markets[MARKET].trading.state is TradingState.RESOLVED
    assert core.status_details(MARKET)["venue_winner"] is None


def test_shard_gaps_resolved_market_ignores_halts_releases_kill_switch_and_rebuilds() -> None:
    core = ready_core()
    core.on_market_resolved(resolved(YES), 1)
    for halted, kill in ((True, False), (False, False), (True, True), (False, False)):
        out = core.on_risk_state(RiskState(halted=halted, kill_switch=kill, reason="r", t_ns=2,
                                           market_id=None if kill else MARKET), 2)
        assert not any(isinstance(m, CancelIntent) for m in out)
        assert core.markets[MARKET].trading.state is TradingState.RESOLVED
    core.on_state_snapshot(empty_snapshot(halted_markets=(MARKET,), kill_switch=True), 3)
    assert core.markets[MARKET].trading.state is TradingState.RESOLVED


def test_shard_gaps_repeated_and_bad_resolutions_change_nothing() -> None:
    core = ready_core()
    assert core.on_market_resolved(resolved(YES, market_id="0xother"), 1) == []
    assert core.on_market_resolved(resolved("999"), 1) == []
    assert core.refusals["unknown_market"] == 1
    assert core.refusals["resolution_token_mismatch"] == 1
    assert core.markets[MARKET].trading.state is TradingState.IDLE
    core.on_market_resolved(resolved(YES), 2)
    assert core.on_market_resolved(resolved(NO), 3) == []  # first resolution wins
    assert core.status_details(MARKET)["venue_winner"] == "YES"


def test_shard_resolution_is_terminal_against_the_final_truth_is_counted() -> None:
    core = temporal_core()
    core.on_match_event(event(MatchEventType.MATCH_ENDED, 1000, source="grid",
                              tier=SourceTier.A, winner="A"), 60_000 * MS)
    assert core.truths["m1"].status is TruthStatus.FINAL
    core.on_market_resolved(resolved(NO), 61_000 * MS)
    assert core.refusals["resolution_disagrees_with_truth"] == 1
    assert core.markets[MARKET].trading.state is TradingState.RESOLVED


def test_shard_gaps_open_orders_of_a_resolved_market_never_force_a_resync() -> None:
    core = ShardCore(make_config(), 0)  # type: ignore[arg-type]
    order = OrderView(order_id="o1", intent_id="i1", market_id=MARKET, token_id=YES,
                      side=Side.BUY, price=0.5, size=10, filled_size=0,
                      status=OrderStatus.LIVE, strategy=Strategy.PAIR_ARB)
    core.on_state_snapshot(StateSnapshot(shard_id=0, positions=(), open_orders=(order,),
                                         halted_markets=(), kill_switch=False, t_ns=0), 0)
    core.on_market_resolved(resolved(YES), 1)
    assert core.ready
    core.on_time(10 * 60_000 * MS)  # far beyond shards.intent_timeout_ms
    assert core.ready


_INPUTS = st.lists(st.sampled_from(
    ["pair_book", "match_start", "game_state", "match_end_a", "match_end_b", "halt", "release",
     "kill", "unkill", "snapshot", "time"]), max_size=25)


@settings(max_examples=60, deadline=None)
@given(before=_INPUTS, after=_INPUTS)
def test_shard_gaps_no_intent_ever_follows_the_resolution(
    before: list[str], after: list[str],
) -> None:
    core = temporal_core()
    clock = [1000 * MS]

    def apply(name: str) -> list[object]:
        clock[0] += 500 * MS
        now = clock[0]
        t_ms = now // MS
        if name == "pair_book":
            return mispriced(core, now)
        if name == "match_start":
            return core.on_match_event(event(MatchEventType.MATCH_STARTED, t_ms), now)
        if name == "game_state":
            return core.on_match_event(event(MatchEventType.GAME_STATE, t_ms, maps_a=0,
                                             maps_b=0, game_number=1, gold_diff_a=9000.0,
                                             game_time_s=1500.0), now)
        if name in ("match_end_a", "match_end_b"):
            return core.on_match_event(event(MatchEventType.MATCH_ENDED, t_ms, source="grid",
                                             tier=SourceTier.A, winner=name[-1].upper()), now)
        if name in ("halt", "release"):
            return core.on_risk_state(RiskState(halted=name == "halt", kill_switch=False,
                                                reason="r", t_ns=now, market_id=MARKET), now)
        if name in ("kill", "unkill"):
            return core.on_risk_state(RiskState(halted=name == "kill",
                                                kill_switch=name == "kill", reason="r",
                                                t_ns=now), now)
        if name == "snapshot":
            return core.on_state_snapshot(empty_snapshot(), now)
        return core.on_time(now)

    for name in before:
        apply(name)
    core.on_market_resolved(resolved(YES), clock[0])
    for name in after:
        assert intents(apply(name)) == []
        assert core.markets[MARKET].trading.state is TradingState.RESOLVED
