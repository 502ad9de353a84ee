"""Who may tell the engine what (issue 20 #2): a shard sends only intents, cancels, queries and
statuses, each as itself (ROUTER identity = ``shard-<shard_id>``); venue facts (resolutions,
order and trade updates) come only from the gateway's channels; absurd numbers are refused
with a reply, never silently."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from engine.core import MAX_INTENT_SHARES, sender_identity
from polyloly.bus import shard_identity
from polyloly.domain import RejectReason
from polyloly.messages import IntentAck, MarketResolved, StateQuery, StateSnapshot
from tests.helpers.engine_rig import MARKET_A, YES_A, EngineRig, intent, make_config


def _acks(out: list) -> list[IntentAck]:
    return [o.message for o in out if isinstance(o.message, IntentAck)]


def test_the_core_names_senders_as_the_bus_does() -> None:
    assert sender_identity(3) == shard_identity(3)


def test_an_intent_under_another_shards_id_is_refused_with_a_reply(tmp_path: Path) -> None:
    rig = EngineRig(make_config(tmp_path))
    (ack,) = _acks(asyncio.run(rig.send(intent(), identity=b"shard-1")))  # intent says 0
    assert not ack.accepted and ack.reason is RejectReason.DECODE_ERROR
    assert "not the sender" in ack.detail
    assert rig.core.orders.orders() == []
    rig.close()


@pytest.mark.parametrize("kwargs", [
    {"size": 1e308}, {"size": math.inf}, {"size": math.nan}, {"size": MAX_INTENT_SHARES * 2},
    {"size": -1e308},
    {"price": math.nan}, {"price": -math.inf}, {"price": 1e308},
])
def test_absurd_numbers_get_a_refusal_never_silence(tmp_path: Path,
                                                   kwargs: dict[str, float]) -> None:
    rig = EngineRig(make_config(tmp_path))
    (ack,) = _acks(asyncio.run(rig.send(intent(**kwargs))))
    assert not ack.accepted
    assert ack.reason in (RejectReason.ORDER_SIZE_LIMIT, RejectReason.PRICE_OUT_OF_RANGE,
                          RejectReason.NON_POSITIVE_SIZE)
    assert rig.core.orders.orders() == []
    (ok,) = _acks(asyncio.run(rig.send(intent())))  # the engine goes on
    assert ok.accepted
    rig.close()


def test_a_resolution_from_a_shard_socket_settles_nothing(tmp_path: Path) -> None:
    rig = EngineRig(make_config(tmp_path))
    asyncio.run(rig.send(intent(price=0.50, size=20)))
    forged = MarketResolved(market_id=MARKET_A, t_exchange_ms=1, t_recv_ns=1,
                            winning_token_id=YES_A)
    asyncio.run(rig.send(forged, identity=b"shard-0"))
    assert not rig.core.ledger.is_settled(MARKET_A)
    position = rig.core.ledger.position(YES_A)
    assert position is not None and position.shares == pytest.approx(20)
    asyncio.run(rig.send(forged, identity=None))  # the gateway's channel settles it
    assert rig.core.ledger.is_settled(MARKET_A)
    rig.close()


def test_a_query_for_another_shard_gets_no_snapshot(tmp_path: Path) -> None:
    rig = EngineRig(make_config(tmp_path))
    out = asyncio.run(rig.send(StateQuery(shard_id=1, market_ids=(), t_sent_ns=1)))
    assert not [o for o in out if isinstance(o.message, StateSnapshot)]
    out = asyncio.run(rig.send(StateQuery(shard_id=0, market_ids=(), t_sent_ns=1)))
    assert [o.identity for o in out if isinstance(o.message, StateSnapshot)] == [b"shard-0"]
    rig.close()
