"""The shard process hears the venue's resolution on the gateway PUB and goes RESOLVED; its
/status is what ``polyloly status`` renders (fake gateway/engine on ipc, real shm store)."""

from __future__ import annotations

import time
from pathlib import Path

from ops.commands import render_status
from polyloly import bus, messages
from polyloly.domain import TradingState
from polyloly.messages import MarketResolved, MarketStatus, StateQuery, StateSnapshot
from tests.helpers.shard_process import (  # noqa: F401 (run_dir is a fixture)
    DEADLINE_S,
    MARKET,
    NO,
    get_status,
    metrics_port,
    receive,
    run_dir,
    shard_process,
)


def test_shard_process_resolution_resolves_on_market_resolved_and_status_renders(
    run_dir: Path,  # noqa: F811
) -> None:
    with shard_process(run_dir, "plgaps") as shard:
        config, gateway, router = shard.config, shard.gateway, shard.router
        identity, _ = receive(router, StateQuery, DEADLINE_S)
        snapshot = StateSnapshot(shard_id=0, positions=(), open_orders=(), halted_markets=(),
                                 kill_switch=False, t_ns=time.monotonic_ns())
        router.send_multipart([identity, messages.encode(snapshot)])
        _, status = receive(router, MarketStatus, DEADLINE_S)
        assert status.trading_state is TradingState.IDLE
        port = metrics_port(run_dir / "shard.log")
        resolved = MarketResolved(market_id=MARKET, t_exchange_ms=1,
                                  t_recv_ns=time.monotonic_ns(), winning_token_id=NO)
        deadline = time.monotonic() + DEADLINE_S
        seen: TradingState | None = None
        while seen is not TradingState.RESOLVED and time.monotonic() < deadline:
            bus.publish(gateway, resolved)  # until the subscription is up; repeats are ignored
            if router.poll(100):
                message = messages.decode(router.recv_multipart()[1])
                if isinstance(message, MarketStatus):
                    seen = message.trading_state
        assert seen is TradingState.RESOLVED
        body = get_status(port)
        assert body["shard"] == 0 and body["ready"] is True
        rows = body["markets"]
        assert isinstance(rows, list) and len(rows) == 1
        row = rows[0]
        assert row["market_id"] == MARKET and row["trading_state"] == "RESOLVED"
        assert row["truth_status"] == "PRE_MATCH" and row["venue_winner"] == "NO"
        assert {"confidence", "match_id", "truth_disputed", "score_known"} <= set(row)
        table = render_status(config, {"shard-0": body})
        assert "RESOLVED" in table and "PRE_MATCH" in table
