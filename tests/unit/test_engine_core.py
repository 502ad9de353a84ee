"""Engine core end to end in one process: intents → acks → paper fills → reports → SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.kill_switch import KillSwitchFile
from polyloly.domain import OrderStatus, OrderType, Outcome, RejectReason, Side
from polyloly.messages import (
    ExecutionReport,
    IntentAck,
    MarketResolved,
    RiskState,
    StateQuery,
    StateSnapshot,
)
from tests.helpers.engine_rig import MARKET_A, NO_A, YES_A, EngineRig, intent, make_config


def _acks(out: list) -> list[IntentAck]:
    return [o.message for o in out if isinstance(o.message, IntentAck)]


def _reports(out: list) -> list[ExecutionReport]:
    return [o.message for o in out if isinstance(o.message, ExecutionReport)]


def test_accepted_fak_intent_fills_against_the_book_and_is_reported(tmp_path: Path) -> None:
    harness = EngineRig(make_config(tmp_path))
    out = asyncio.run(harness.send(intent(price=0.50, size=20)))
    (ack,) = _acks(out)
    assert ack.accepted and ack.order_id
    assert out[0].identity == b"shard-0"
    final = _reports(out)[-1]
    assert final.status is OrderStatus.FILLED
    assert final.filled_size == pytest.approx(20)
    assert final.avg_fill_price == pytest.approx(0.50)
    position = harness.core.ledger.position(YES_A)
    assert position is not None and position.shares == pytest.approx(20)
    assert position.fees_usdc == pytest.approx(20 * 0.03 * 0.5 * 0.5)


def test_the_same_intent_sent_three_times_yields_one_order(tmp_path: Path) -> None:
    harness = EngineRig(make_config(tmp_path))
    message = intent(key="same-key")
    acks = []
    for _ in range(3):
        acks += _acks(asyncio.run(harness.send(message)))
    assert [a.accepted for a in acks] == [True, False, False]
    assert acks[1].reason is RejectReason.DUPLICATE
    assert acks[1].order_id == acks[0].order_id == acks[2].order_id
    assert len(harness.core.orders.orders()) == 1
    assert len(asyncio.run(harness.executor.trades(0)).fills) == 1


def test_idempotency_survives_an_engine_restart_on_the_same_sqlite(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    first = EngineRig(config)
    message = intent(key="restart-key")
    (ack,) = _acks(asyncio.run(first.send(message)))
    assert ack.accepted
    first.store.close()
    second = EngineRig(config)
    (again,) = _acks(asyncio.run(second.send(message)))
    assert not again.accepted and again.reason is RejectReason.DUPLICATE
    assert again.order_id == ack.order_id
    position = second.core.ledger.position(YES_A)
    assert position is not None and position.shares == pytest.approx(20)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"size": 0.0}, RejectReason.NON_POSITIVE_SIZE),
        ({"size": -3.0}, RejectReason.NON_POSITIVE_SIZE),
        ({"size": float("nan")}, RejectReason.NON_POSITIVE_SIZE),
        ({"price": 0.505}, RejectReason.PRICE_OFF_TICK),
        ({"price": 1.0}, RejectReason.PRICE_OUT_OF_RANGE),
        ({"price": 0.0}, RejectReason.PRICE_OUT_OF_RANGE),
        ({"market_id": "0xnope"}, RejectReason.UNKNOWN_MARKET),
        ({"token_id": "999"}, RejectReason.UNKNOWN_TOKEN),
        ({"token_id": NO_A}, RejectReason.UNKNOWN_TOKEN),  # outcome YES but the NO token
        ({"size": 2.0}, RejectReason.BELOW_MIN_SIZE),
    ],
)
def test_bad_intents_are_refused_with_their_reason_code(
    tmp_path: Path, changes: dict, reason: RejectReason
) -> None:
    harness = EngineRig(make_config(tmp_path))
    (ack,) = _acks(asyncio.run(harness.send(intent(**changes))))
    assert not ack.accepted and ack.reason is reason
    assert harness.core.orders.orders() == []


def test_a_halted_market_refuses_intents(tmp_path: Path) -> None:
    harness = EngineRig(make_config(tmp_path))
    harness.core.risk.breakers.halt(MARKET_A, "test", 0)
    (ack,) = _acks(asyncio.run(harness.send(intent())))
    assert ack.reason is RejectReason.MARKET_HALTED


def test_garbage_frames_are_counted_and_skipped(tmp_path: Path) -> None:
    harness = EngineRig(make_config(tmp_path))
    assert asyncio.run(harness.frames([(b"shard-0", b"\x00garbage")])) == []
    (ack,) = _acks(asyncio.run(harness.send(intent())))
    assert ack.accepted


def test_kill_switch_file_stops_new_orders_and_is_published(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    harness = EngineRig(config)
    KillSwitchFile.in_data_dir(config.run.data_dir).engage("test", 1, by="test")
    out = asyncio.run(harness.tick())
    states = [o.message for o in out if isinstance(o.message, RiskState)]
    assert states and states[0].kill_switch
    (ack,) = _acks(asyncio.run(harness.send(intent())))
    assert ack.reason is RejectReason.KILL_SWITCH
    KillSwitchFile.in_data_dir(config.run.data_dir).release("ok", 2, by="test")
    asyncio.run(harness.tick())
    (ack,) = _acks(asyncio.run(harness.send(intent())))
    assert ack.accepted


def test_kill_switch_cancels_resting_orders(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    harness = EngineRig(config)
    (ack,) = _acks(asyncio.run(harness.send(intent(price=0.40, order_type=OrderType.GTC))))
    assert harness.core.orders.get(ack.order_id).status is OrderStatus.LIVE
    KillSwitchFile.in_data_dir(config.run.data_dir).engage("stop", 1, by="test")
    asyncio.run(harness.tick())
    assert harness.core.orders.get(ack.order_id).status is OrderStatus.CANCELLED


def test_state_query_returns_positions_and_open_orders(tmp_path: Path) -> None:
    harness = EngineRig(make_config(tmp_path))
    asyncio.run(harness.send(intent()))
    asyncio.run(harness.send(intent(price=0.40, order_type=OrderType.GTC)))
    out = asyncio.run(harness.send(StateQuery(shard_id=0, market_ids=(MARKET_A,), t_sent_ns=1)))
    (snapshot,) = [o.message for o in out if isinstance(o.message, StateSnapshot)]
    assert snapshot.positions[0].shares == pytest.approx(20)  # the GTC at 0.40 rests
    assert len(snapshot.open_orders) == 1


def test_resolution_settles_positions_and_survives_restart(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    harness = EngineRig(config)
    asyncio.run(harness.send(intent(size=20)))
    asyncio.run(harness.send(intent(token_id=NO_A, outcome=Outcome.NO, size=20)))
    asyncio.run(harness.send(MarketResolved(
        market_id=MARKET_A, t_exchange_ms=1, t_recv_ns=1, winning_token_id=YES_A),
        identity=None))  # from the gateway, never a shard
    fees = 2 * 20 * 0.03 * 0.25
    assert harness.core.ledger.realized_usdc == pytest.approx(20 * 1.0 - 20 * 0.5 * 2 - fees)
    harness.store.close()
    again = EngineRig(config)
    assert again.core.ledger.realized_usdc == pytest.approx(harness.core.ledger.realized_usdc)


def test_sell_beyond_holdings_is_refused(tmp_path: Path) -> None:
    harness = EngineRig(make_config(tmp_path))
    (ack,) = _acks(asyncio.run(harness.send(intent(side=Side.SELL, price=0.49))))
    assert ack.reason is RejectReason.INSUFFICIENT_BALANCE


def test_kill_cli_releases_a_halted_market_by_hand(tmp_path: Path) -> None:
    from engine.cli import kill_main

    config = make_config(tmp_path)
    harness = EngineRig(config)
    harness.core.risk.breakers.halt(MARKET_A, "consecutive_rejects", 0)
    config_file = tmp_path / "c.yaml"
    import yaml

    config_file.write_text(yaml.safe_dump({
        "run": {"data_dir": config.run.data_dir},
        "markets": [{"market_id": MARKET_A, "token_ids": [YES_A, NO_A], "match_id": "m1",
                     "game": "lol"}]}))
    assert kill_main(["--config", str(config_file), "--reason", "ok", "--release",
                      "--market", MARKET_A]) == 0
    assert kill_main(["--config", str(config_file), "--reason", "x", "--market", "0xz"]) == 2
    out = asyncio.run(harness.tick())
    assert any(isinstance(o.message, RiskState) and not o.message.halted for o in out)
    (ack,) = _acks(asyncio.run(harness.send(intent())))
    assert ack.accepted


def test_daily_loss_limit_pulls_the_persisted_kill_switch(tmp_path: Path) -> None:
    config = make_config(tmp_path, risk={"max_daily_loss_usdc": 5.0,
                                         "drawdown_sizing_start_usdc": 1.0})
    harness = EngineRig(config)
    asyncio.run(harness.tick())  # day starts at 0
    asyncio.run(harness.send(intent(size=100)))  # bought at 0.50
    harness.books.set(YES_A, [(0.39, 100.0)], [(0.41, 100.0)])  # mark drops to 0.40
    out = asyncio.run(harness.tick())
    assert any(isinstance(o.message, RiskState) and o.message.kill_switch for o in out)
    assert KillSwitchFile.in_data_dir(config.run.data_dir).read().engaged
    (ack,) = _acks(asyncio.run(harness.send(intent())))
    assert ack.reason is RejectReason.KILL_SWITCH
