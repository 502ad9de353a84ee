"""The shard process end to end: fake gateway PUB and fake engine ROUTER/PUB on ipc, a real
shm book store. The shard rebuilds from a StateSnapshot, then a mispriced tick → pair intents."""

from __future__ import annotations

import time
from pathlib import Path

from polyloly import bus, messages
from polyloly.domain import Outcome, Strategy, TradingState
from polyloly.messages import (
    BookTick,
    MarketStatus,
    OrderIntent,
    PositionView,
    StateQuery,
    StateSnapshot,
)
from tests.helpers.shard_process import (  # noqa: F401 (run_dir is a fixture)
    DEADLINE_S,
    MARKET,
    NO,
    YES,
    health,
    receive,
    run_dir,
    shard_process,
)


def test_shard_process_rebuilds_then_sends_pair_intents_on_a_mispriced_tick(
    run_dir: Path,  # noqa: F811
) -> None:
    with shard_process(run_dir, "plshard") as shard:
        writer, gateway, router = shard.writer, shard.gateway, shard.router
        identity, query = receive(router, StateQuery, DEADLINE_S)
        assert identity == bus.shard_identity(0) and query.market_ids == (MARKET,)
        assert health(run_dir / "shard.log")["healthy"] is False
        snapshot = StateSnapshot(
            shard_id=0, positions=tuple(
                PositionView(market_id=MARKET, token_id=token, outcome=outcome, shares=5.0,
                             cost_usdc=2.3, fees_usdc=0.0)
                for token, outcome in ((YES, Outcome.YES), (NO, Outcome.NO))),
            open_orders=(), halted_markets=(), kill_switch=False, t_ns=time.monotonic_ns())
        router.send_multipart([identity, messages.encode(snapshot)])
        _, status = receive(router, MarketStatus, DEADLINE_S)
        assert status.market_id == MARKET
        assert status.trading_state is TradingState.LOCKED_PAIR  # rebuilt from the positions
        assert health(run_dir / "shard.log")["healthy"] is True
        now = time.monotonic_ns()
        writer.apply_snapshot(NO, [(0.38, 100.0)], [(0.40, 500.0)], t_recv_ns=now,
                              exchange_ts_ms=0)
        write = writer.apply_snapshot(YES, [(0.43, 100.0)], [(0.45, 500.0)], t_recv_ns=now,
                                      exchange_ts_ms=0)
        tick = BookTick(market_id=MARKET, token_id=YES, slot=write.slot, seq=write.seq,
                        t_exchange_ms=0, t_recv_ns=now, t_parsed_ns=now, t_shm_ns=now)
        intents: list[OrderIntent] = []
        deadline = time.monotonic() + DEADLINE_S
        while len(intents) < 2 and time.monotonic() < deadline:
            bus.publish(gateway, tick)
            if router.poll(100):
                _, payload = router.recv_multipart()
                message = messages.decode(payload)
                if isinstance(message, OrderIntent):
                    intents.append(message)
        assert {i.outcome for i in intents} == {Outcome.YES, Outcome.NO}
        assert all(i.strategy is Strategy.PAIR_ARB and i.shard_id == 0 for i in intents)
        assert all(i.t_origin_ns == now and i.t_sent_ns >= i.t_decision_ns for i in intents)
        prices = {i.outcome: i.price for i in intents}
        assert prices == {Outcome.YES: 0.45, Outcome.NO: 0.40}
