"""A ``market_resolved`` frame is a claim: the engine settles only once the venue's REST
confirms the market resolved, with the venue's winner (issue 20 #2: a forged resolution from
the market WebSocket paid +5.49 USDC out of a live market)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.core import RESOLUTION_CLAIM_TTL_MS
from engine.effects import ResolutionAnswer
from polyloly.clock import ManualClock
from polyloly.messages import MarketResolved
from tests.helpers.engine_rig import (
    MARKET_A,
    NO_A,
    T0_MS,
    YES_A,
    EngineRig,
    SlowPaper,
    intent,
    make_config,
)


class RestVenue(SlowPaper):
    """The paper venue plus a REST resolution view the test sets (an exception: the call
    fails)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.rest: ResolutionAnswer | Exception = ResolutionAnswer(False, None, "venue REST")
        self.asked = 0

    async def market_resolution(self, market_id: str) -> ResolutionAnswer:
        self.asked += 1
        if isinstance(self.rest, Exception):
            raise self.rest
        return self.rest


def _claim(winner: str | None = YES_A) -> MarketResolved:
    return MarketResolved(market_id=MARKET_A, t_exchange_ms=1, t_recv_ns=1,
                          winning_token_id=winner)


def _rig(tmp_path: Path) -> tuple[EngineRig, RestVenue, ManualClock]:
    clock = ManualClock(wall_ms=T0_MS)
    rig = EngineRig(make_config(tmp_path), executor_cls=RestVenue, clock=clock)
    asyncio.run(rig.send(intent(price=0.50, size=20)))
    return rig, rig.executor, clock


def test_a_claim_the_venue_does_not_confirm_settles_nothing(tmp_path: Path) -> None:
    rig, venue, _ = _rig(tmp_path)
    asyncio.run(rig.send(_claim(), identity=None))  # the gateway's channel, still a claim
    assert venue.asked == 1
    assert not rig.core.ledger.is_settled(MARKET_A)
    assert rig.core.ledger.position(YES_A).shares == pytest.approx(20)
    rig.close()


def test_a_confirmed_resolution_settles_with_the_venues_winner(tmp_path: Path) -> None:
    rig, venue, _ = _rig(tmp_path)
    asyncio.run(rig.send(_claim(YES_A), identity=None))
    assert not rig.core.ledger.is_settled(MARKET_A)
    venue.rest = ResolutionAnswer(True, NO_A, "venue REST")  # REST caught up: NO won
    asyncio.run(rig.tick(resolve_pending=True))  # the claim is asked about again
    assert rig.core.ledger.is_settled(MARKET_A)
    assert rig.core.ledger.realized_usdc < 0  # our 20 YES paid nothing
    asyncio.run(rig.tick(resolve_pending=True))
    assert venue.asked == 2  # settled: never asked again
    rig.close()


def test_a_failed_query_keeps_the_claim_and_an_old_claim_is_dropped(tmp_path: Path) -> None:
    rig, venue, clock = _rig(tmp_path)
    venue.rest = ConnectionError("venue down")
    asyncio.run(rig.send(_claim(), identity=None))
    asyncio.run(rig.tick(resolve_pending=True))
    assert venue.asked == 2 and not rig.core.ledger.is_settled(MARKET_A)
    clock.advance(ms=RESOLUTION_CLAIM_TTL_MS + 1)
    venue.rest = ResolutionAnswer(True, YES_A, "venue REST")
    asyncio.run(rig.tick(resolve_pending=True))
    assert venue.asked == 2 and not rig.core.ledger.is_settled(MARKET_A)
    rig.close()


def test_a_paper_venue_has_no_rest_so_the_claim_stands(tmp_path: Path) -> None:
    rig = EngineRig(make_config(tmp_path))
    asyncio.run(rig.send(intent(price=0.50, size=20)))
    asyncio.run(rig.send(_claim(YES_A), identity=None))
    assert rig.core.ledger.is_settled(MARKET_A)
    rig.close()


class MarketClient:
    def __init__(self, answer: dict[str, object]) -> None:
        self.answer = answer

    def get_market(self, condition_id: str) -> dict[str, object]:
        return self.answer

    def close(self) -> None:
        return None


@pytest.mark.parametrize(("answer", "expected"), [
    ({"closed": False, "tokens": [{"token_id": YES_A, "winner": False, "price": 0.6}]},
     ResolutionAnswer(False, None, "venue REST")),
    ({"closed": True, "tokens": [{"token_id": YES_A, "winner": True, "price": 1.0},
                                 {"token_id": NO_A, "winner": False, "price": 0.0}]},
     ResolutionAnswer(True, YES_A, "venue REST")),
    ({"closed": True, "tokens": [{"token_id": YES_A, "winner": False, "price": 0.5},
                                 {"token_id": NO_A, "winner": False, "price": 0.5}]},
     ResolutionAnswer(True, None, "venue REST")),  # 50-50
    ({"closed": True, "tokens": [{"token_id": YES_A, "winner": False, "price": 0.7},
                                 {"token_id": NO_A, "winner": False, "price": 0.3}]},
     ResolutionAnswer(False, None, "venue REST")),  # closed for trading, not resolved yet
])
def test_the_real_executor_reads_resolutions_from_the_venues_market(
        answer: dict[str, object], expected: ResolutionAnswer) -> None:
    import random

    from engine.executors.polymarket.executor import RealExecutor
    from engine.executors.polymarket.signing import OrderSigner
    from engine.secrets import PrivateKey
    from polyloly.resilience import RetryPolicy

    key = "0x" + "4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d"

    async def body() -> ResolutionAnswer:
        executor = RealExecutor(
            MarketClient(answer), OrderSigner(PrivateKey(key, "test"), 137),  # type: ignore[arg-type]
            api_key="k", clock=ManualClock(), retry=RetryPolicy(1, 0.1, 0.1, 0.0),
            request_timeout_s=2.0, rng=random.Random(0))
        try:
            return await executor.market_resolution(MARKET_A)
        finally:
            await executor.close()

    assert asyncio.run(body()) == expected


class OrderClient:
    """``GET /data/order/<id>``: the venue's REST view (None: not listed)."""

    def __init__(self, rest: dict[str, object] | None) -> None:
        self.rest = rest

    def get_order(self, venue_order_id: str) -> dict[str, object] | None:
        return self.rest

    def close(self) -> None:
        return None


@pytest.mark.parametrize(("rest", "expected"), [
    ({"id": "v1", "asset_id": YES_A, "market": MARKET_A, "side": "BUY", "price": "0.5",
      "original_size": "20", "size_matched": "0", "status": "LIVE"}, "LIVE"),  # refuted
    (None, "CANCELLED"),  # not listed by REST: not live, the claim stands
])
def test_a_user_channel_cancel_is_confirmed_against_rest(
        rest: dict[str, object] | None, expected: str) -> None:
    """Issue 20 #2: a forged cancel on the user channel hid a live order until reconciliation."""
    import random

    from engine.executors.base import VenueOrderUpdate
    from engine.executors.polymarket.executor import RealExecutor
    from engine.executors.polymarket.signing import OrderSigner
    from engine.secrets import PrivateKey
    from polyloly.domain import Side
    from polyloly.messages import UserOrderUpdate
    from polyloly.resilience import RetryPolicy

    key = "0x" + "4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d"
    claim = UserOrderUpdate(venue_order_id="v1", market_id=MARKET_A, token_id=YES_A,
                            side=Side.BUY, price=0.5, original_size=20.0, size_matched=0.0,
                            status="CANCELED", update_type="CANCELLATION", t_exchange_ms=1,
                            t_recv_ns=1)

    async def body() -> list[str]:
        executor = RealExecutor(
            OrderClient(rest), OrderSigner(PrivateKey(key, "test"), 137),  # type: ignore[arg-type]
            api_key="k", clock=ManualClock(), retry=RetryPolicy(1, 0.1, 0.1, 0.0),
            request_timeout_s=2.0, rng=random.Random(0))
        try:
            executor.on_user_update(claim)
            assert executor.drain_events() == []  # nothing applied on the claim alone
            events = await executor.wait_events(2.0)
            return [e.status.value for e in events if isinstance(e, VenueOrderUpdate)]
        finally:
            await executor.close()

    assert asyncio.run(body()) == [expected]


def test_a_settlement_the_disk_refuses_is_retried_not_lost(tmp_path: Path) -> None:
    from engine.persistence.port import PersistenceError

    rig, venue, _ = _rig(tmp_path)
    inner = rig.core.store
    failing = {"left": 1}

    class Disk:
        def record_settlement(self, *args: object) -> bool:
            if failing["left"]:
                failing["left"] -= 1
                raise PersistenceError("engine store: OperationalError('disk I/O error')")
            return bool(inner.record_settlement(*args))

        def __getattr__(self, name: str) -> object:
            return getattr(inner, name)

    rig.core.store = Disk()  # type: ignore[assignment]
    venue.rest = ResolutionAnswer(True, YES_A, "venue REST")
    asyncio.run(rig.send(_claim(YES_A), identity=None))
    assert not rig.core.ledger.is_settled(MARKET_A)  # the write failed: nothing booked
    asyncio.run(rig.tick(resolve_pending=True))  # the claim was kept and is confirmed again
    assert rig.core.ledger.is_settled(MARKET_A)
    rig.core.store = inner
    rig.close()
