"""Backpressure policy of the gateway PUB socket, on a real (inproc) ZeroMQ pipe:
book ticks coalesce per slot, everything else is never dropped and stays in order."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import zmq

from gateway.publisher import GatewayPublisher, bind_publisher
from polyloly import messages
from polyloly.domain import MatchEventType, SourceTier
from polyloly.messages import BookTick, GameStatePayload, MatchEvent


def _tick(slot: int, seq: int) -> BookTick:
    return BookTick(market_id=f"m{slot}", token_id=f"t{slot}", slot=slot, seq=seq,
                    t_exchange_ms=1, t_recv_ns=1, t_parsed_ns=2, t_shm_ns=3)


def _event(n: int) -> MatchEvent:
    return MatchEvent(match_id="match", source="grid", tier=SourceTier.A,
                      event_type=MatchEventType.GAME_STATE,
                      payload=GameStatePayload(kills_a=n), t_event_ms=n,
                      t_recv_ns=n, t_recv_ms=n, seq=n)


@pytest.fixture()
def pipe() -> Iterator[tuple[GatewayPublisher, zmq.Socket]]:
    ctx = zmq.Context()
    endpoint = f"inproc://gw-{uuid.uuid4().hex}"
    pub = bind_publisher(ctx, endpoint, hwm=20)
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 20)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(endpoint)
    pub.recv()  # the subscription has reached the XPUB: the pipe exists
    yield GatewayPublisher(pub, max_backlog=50), sub
    sub.close(linger=0)
    pub.close(linger=0)
    ctx.term()


def _drain(sub: zmq.Socket) -> list[messages.Message]:
    received = []
    while sub.poll(50):
        received.append(messages.decode(sub.recv_multipart()[1]))
    return received


def test_ticks_coalesce_per_slot_and_match_events_never_drop(
        pipe: tuple[GatewayPublisher, zmq.Socket]) -> None:
    publisher, sub = pipe
    for seq in range(1, 301):
        for slot in range(3):
            publisher.publish(_tick(slot, seq))
    for n in range(1, 121):
        publisher.publish(_event(n))
    assert publisher.coalesced > 0
    assert publisher.ordered.backlog > 0  # the pipe is full: events wait, in order
    assert publisher.overloaded  # more than max_backlog waiting: /health goes false
    received: list[messages.Message] = []
    for _ in range(200):
        received += _drain(sub)
        if publisher.flush():
            break
    received += _drain(sub)
    assert publisher.flush() and publisher.backlog == 0 and not publisher.overloaded
    events = [m for m in received if isinstance(m, MatchEvent)]
    assert [e.seq for e in events] == list(range(1, 121))
    ticks = [m for m in received if isinstance(m, BookTick)]
    last = {slot: max(t.seq for t in ticks if t.slot == slot) for slot in range(3)}
    assert last == {0: 300, 1: 300, 2: 300}  # the newest tick of every slot got through
    for slot in range(3):
        seqs = [t.seq for t in ticks if t.slot == slot]
        assert seqs == sorted(seqs)


def test_without_backpressure_every_tick_is_sent_at_once(
        pipe: tuple[GatewayPublisher, zmq.Socket]) -> None:
    publisher, sub = pipe
    publisher.publish(_tick(0, 1))
    publisher.publish(_event(1))
    assert publisher.backlog == 0
    received = _drain(sub)
    assert [type(m) for m in received] == [BookTick, MatchEvent]
