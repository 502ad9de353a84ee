"""Engine gaps (issue 6/7): the StateSnapshot lists the markets the engine settled, also after
an engine restart on the same SQLite, so a restarted shard learns the venue's resolution."""

from __future__ import annotations

import asyncio
from pathlib import Path

from polyloly.domain import Outcome
from polyloly.messages import (
    MarketResolved,
    ResolvedMarketView,
    StateQuery,
    StateSnapshot,
)
from tests.helpers.engine_rig import (
    MARKET_A,
    MARKET_B,
    NO_A,
    EngineRig,
    intent,
    make_config,
)


def _snapshot(harness: EngineRig, *market_ids: str) -> StateSnapshot:
    out = asyncio.run(harness.send(StateQuery(shard_id=0, market_ids=market_ids, t_sent_ns=1)))
    (snapshot,) = [o.message for o in out if isinstance(o.message, StateSnapshot)]
    return snapshot


def _resolve(harness: EngineRig, market_id: str, winner: str | None) -> None:
    asyncio.run(harness.send(MarketResolved(market_id=market_id, t_exchange_ms=1, t_recv_ns=1,
                                            winning_token_id=winner),
                             identity=None))  # from the gateway, never a shard


def test_snapshot_lists_settled_markets_with_their_winner_and_survives_restart(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path)
    harness = EngineRig(config)
    assert _snapshot(harness).resolved_markets == ()
    asyncio.run(harness.send(intent(token_id=NO_A, outcome=Outcome.NO, size=20)))
    _resolve(harness, MARKET_A, NO_A)
    _resolve(harness, MARKET_B, None)  # 50-50
    expected = (ResolvedMarketView(market_id=MARKET_A, winning_token_id=NO_A),
                ResolvedMarketView(market_id=MARKET_B, winning_token_id=None))
    assert _snapshot(harness).resolved_markets == expected
    assert _snapshot(harness, MARKET_B).resolved_markets == expected[1:]  # only those asked for
    harness.store.close()
    again = EngineRig(config)  # a restarted engine rebuilds them from the settlements table
    assert _snapshot(again).resolved_markets == expected
    assert _snapshot(again, MARKET_A).resolved_markets == expected[:1]


def test_refused_resolutions_are_not_listed(tmp_path: Path) -> None:
    harness = EngineRig(make_config(tmp_path))
    _resolve(harness, "0x" + "c" * 64, None)  # unknown market
    _resolve(harness, MARKET_A, "999")  # a token not in the market
    assert _snapshot(harness).resolved_markets == ()
