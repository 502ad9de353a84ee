"""Venue submits run as tasks: intake never waits behind a slow venue call (specs/07)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from polyloly.domain import OrderStatus, OrderType, Outcome, RejectReason
from polyloly.messages import CancelIntent, IntentAck
from tests.helpers.engine_rig import MARKET_A, MARKET_B, NO_A, YES_B, EngineRig, intent, make_config


def _acks(rig: EngineRig) -> list[IntentAck]:
    return rig.messages(IntentAck)


def test_second_intent_is_acked_and_submitted_while_the_first_is_in_flight(
        tmp_path: Path) -> None:
    rig = EngineRig(make_config(tmp_path))

    async def scenario() -> None:
        first, second = intent(), intent(token_id=NO_A, outcome=Outcome.NO)
        rig.executor.hold_all = True
        await rig.send(first)
        (ack1,) = _acks(rig)
        assert ack1.accepted and rig.executor.started == [ack1.order_id]
        rig.executor.hold_all = False
        await rig.send(second)
        ack2 = _acks(rig)[1]
        assert ack2.accepted
        assert rig.executor.started == [ack1.order_id, ack2.order_id]
        assert rig.executor.finished == [ack2.order_id]  # done while the first still waits
        assert rig.core.orders.get(ack2.order_id).status is OrderStatus.FILLED
        assert rig.core.orders.get(ack1.order_id).status is OrderStatus.PENDING
        assert rig.driver.submits_in_flight() == 1
        rig.executor.gate.set()
        assert await rig.driver.wait_submits(2.0)
        assert rig.core.orders.get(ack1.order_id).status is OrderStatus.FILLED
        assert rig.driver.submits_in_flight() == 0

    asyncio.run(scenario())
    rig.close()


def test_a_duplicate_of_an_order_in_flight_is_refused_and_not_sent(tmp_path: Path) -> None:
    rig = EngineRig(make_config(tmp_path))

    async def scenario() -> None:
        rig.executor.hold_all = True
        message = intent(key="dup")
        await rig.send(message)
        await rig.send(message)
        first, again = _acks(rig)
        assert first.accepted and not again.accepted
        assert again.reason is RejectReason.DUPLICATE and again.order_id == first.order_id
        rig.executor.gate.set()
        assert await rig.driver.wait_submits(2.0)
        assert rig.executor.started == [first.order_id]

    asyncio.run(scenario())
    rig.close()


def test_concurrency_is_bounded_and_queued_submits_keep_their_order(tmp_path: Path) -> None:
    rig = EngineRig(make_config(tmp_path, execution={"max_inflight_submits": 1}))

    async def scenario() -> None:
        rig.executor.hold_all = True
        for _ in range(3):
            await rig.send(intent(price=0.40, size=10, order_type=OrderType.GTC))
        ids = [a.order_id for a in _acks(rig)]
        assert all(a.accepted for a in _acks(rig))
        assert rig.executor.started == ids[:1]  # one slot: the others queue
        rig.executor.gate.set()
        assert await rig.driver.wait_submits(2.0)
        assert rig.executor.started == ids

    asyncio.run(scenario())
    rig.close()


def test_a_queued_submit_is_not_sent_once_its_market_halted(tmp_path: Path) -> None:
    rig = EngineRig(make_config(tmp_path, execution={"max_inflight_submits": 1}))

    async def scenario() -> None:
        rig.executor.hold_all = True
        await rig.send(intent(price=0.40, size=10, order_type=OrderType.GTC))
        await rig.send(intent(price=0.40, size=10, order_type=OrderType.GTC))
        sent_id, queued_id = (a.order_id for a in _acks(rig))
        rig.core.risk.breakers.halt(MARKET_A, "consecutive_rejects", rig.clock.wall_ms())
        rig.executor.gate.set()
        assert await rig.driver.wait_submits(2.0)
        assert rig.executor.started == [sent_id]
        queued = rig.core.orders.get(queued_id)
        assert queued.status is OrderStatus.CANCELLED
        assert "market halted before the order was sent" in (queued.reason or "")

    asyncio.run(scenario())
    rig.close()


def test_a_cancel_waits_for_the_submit_in_flight_and_cancels_it_at_the_venue(
        tmp_path: Path) -> None:
    rig = EngineRig(make_config(tmp_path))

    async def scenario() -> None:
        rig.executor.hold_all = True
        await rig.send(intent(price=0.40, size=10, order_type=OrderType.GTC))
        (ack,) = _acks(rig)
        await rig.send(CancelIntent(intent_id="c-1", shard_id=0, market_id=MARKET_A, t_sent_ns=1,
                                      reason="test"))
        assert rig.core.orders.get(ack.order_id).status is OrderStatus.PENDING
        rig.executor.gate.set()
        assert await rig.driver.wait_submits(2.0)
        for _ in range(5):
            await asyncio.sleep(0)
        record = rig.core.orders.get(ack.order_id)
        assert record.status is OrderStatus.CANCELLED
        assert record.venue_order_id is not None
        assert not (await rig.executor.open_orders()).orders  # cancelled at the venue too

    asyncio.run(scenario())
    rig.close()


def test_submits_of_other_markets_are_not_held_back_by_a_cancel(tmp_path: Path) -> None:
    rig = EngineRig(make_config(tmp_path))

    async def scenario() -> None:
        rig.executor.hold_all = True
        await rig.send(intent(price=0.40, size=10, order_type=OrderType.GTC))
        await rig.send(CancelIntent(intent_id="c-1", shard_id=0, market_id=MARKET_A, t_sent_ns=1,
                                      reason="test"))
        rig.executor.hold_all = False
        await rig.send(intent(market_id=MARKET_B, token_id=YES_B))
        other = _acks(rig)[-1]
        assert rig.core.orders.get(other.order_id).status is OrderStatus.FILLED
        rig.executor.gate.set()
        assert await rig.driver.wait_submits(2.0)

    asyncio.run(scenario())
    rig.close()


def test_drain_at_shutdown_leaves_a_stuck_submit_unknown_and_an_unsent_one_cancelled(
        tmp_path: Path) -> None:
    rig = EngineRig(make_config(tmp_path, execution={"max_inflight_submits": 1}))

    async def scenario() -> None:
        rig.executor.hold_all = True
        await rig.send(intent(price=0.40, size=10, order_type=OrderType.GTC))
        await rig.send(intent(price=0.40, size=10, order_type=OrderType.GTC))
        stuck_id, queued_id = (a.order_id for a in _acks(rig))
        rig.core.ready = False  # shutdown: intake closed
        cancelled = await rig.driver.drain(0.05)
        assert cancelled == 2
        assert rig.core.orders.get(stuck_id).status is OrderStatus.UNKNOWN
        assert rig.core.orders.get(queued_id).status is OrderStatus.CANCELLED
        assert rig.driver.submits_in_flight() == 0

    asyncio.run(scenario())
    rig.close()
