"""ShardShell under load: book ticks coalesce per market in a drained batch, nothing else is
dropped or reordered, decisions equal the one-tick-at-a-time path, and the per-slot book copy is
reused only while the slot's seq has not moved (real shm store, inproc ZeroMQ)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
import zmq

from polyloly import bus, messages, metrics
from polyloly.config import Config, validate
from polyloly.domain import MatchEventType, Outcome, SourceTier, Strategy
from polyloly.messages import (
    BookTick,
    MatchEvent,
    MatchStartedPayload,
    Message,
    OrderIntent,
    StateSnapshot,
)
from shards.main import ShardShell, ShmTickBooks
from shm import BookReader, BookWriter

SHARD_METRICS = metrics.registry_for("shard")  # what a shard's /metrics serves

MARKET_A = "0x" + "a1" * 32
MARKET_B = "0x" + "b2" * 32
A_YES, A_NO, B_YES, B_NO = "5001", "5002", "5003", "5004"
UNKNOWN = "0x" + "ff" * 32


def make_config(tmp_path: Path, tag: str) -> Config:
    return validate({
        "run": {"run_dir": str(tmp_path / "run"), "data_dir": str(tmp_path / "data")},
        "shm": {"segment_name": f"plcoal_{tag}", "levels": 8},
        "shards": {"count": 1},
        "pair_arb": {"cooldown_ms": 0},
        "metrics": {"enabled": False},
        "bus": {"gateway_pub": f"inproc://{tag}-gw", "engine_pub": f"inproc://{tag}-epub",
                "engine_router": f"inproc://{tag}-router"},
        "markets": [
            {"market_id": MARKET_A, "token_ids": [A_YES, A_NO], "match_id": "ma", "game": "lol",
             "best_of": 3},
            {"market_id": MARKET_B, "token_ids": [B_YES, B_NO], "match_id": "mb", "game": "lol",
             "best_of": 3},
        ],
    })


@dataclass
class Rig:
    config: Config
    writer: BookWriter
    sent: list[Message]
    handled: list[Message]
    shells: list[ShardShell]


@pytest.fixture()
def rig(tmp_path: Path) -> Iterator[Rig]:
    tag = f"{os.getpid()}_{time.monotonic_ns()}"
    config = make_config(tmp_path, tag)
    writer = BookWriter.create(config.shm.segment_name, [A_YES, A_NO, B_YES, B_NO], levels=8,
                               tick_size=0.01)
    for token in (A_YES, A_NO, B_YES, B_NO):  # fair books: YES 0.52 + NO 0.52, nothing to do
        writer.apply_snapshot(token, [(0.48, 100.0)], [(0.52, 500.0)], t_recv_ns=1,
                              exchange_ts_ms=1)
    shells: list[ShardShell] = []
    try:
        yield Rig(config, writer, [], [], shells)
    finally:
        for shell in shells:
            shell.close()
        writer.close()


def make_shell(r: Rig) -> ShardShell:
    """A ready shell whose outputs go to ``r.sent`` and whose handled inputs to ``r.handled``."""
    shell = ShardShell(r.config, 0)
    r.shells.append(shell)
    shell.attach_reader(BookReader.attach(r.config.shm.segment_name, timeout_s=1.0))
    shell.core.start(0)
    shell.core.on_state_snapshot(StateSnapshot(shard_id=0, positions=(), open_orders=(),
                                               halted_markets=(), kill_switch=False, t_ns=0), 0)
    handle = shell._handle

    def recording_handle(message: Message) -> None:
        r.handled.append(message)
        handle(message)

    shell._handle = recording_handle  # type: ignore[method-assign]
    shell._dispatch = r.sent.extend  # type: ignore[assignment]
    return shell


def tick(r: Rig, market_id: str, token: str, ask: float, t_ns: int) -> BookTick:
    """Write ``token``'s best ask at ``ask`` (500 shares) into shm; the gateway's tick of it."""
    write = r.writer.apply_snapshot(token, [(0.30, 100.0)], [(ask, 500.0)], t_recv_ns=t_ns,
                                    exchange_ts_ms=1)
    return BookTick(market_id=market_id, token_id=token, slot=write.slot, seq=write.seq,
                    t_exchange_ms=1, t_recv_ns=t_ns, t_parsed_ns=t_ns + 1, t_shm_ns=t_ns + 2)


def match_event(match_id: str, t_ns: int) -> MatchEvent:
    return MatchEvent(match_id=match_id, source="pandascore", tier=SourceTier.B,
                      event_type=MatchEventType.MATCH_STARTED,
                      payload=MatchStartedPayload(), t_event_ms=1,
                      t_recv_ns=t_ns, t_recv_ms=1)


def timeless(message: Message) -> bytes:
    """The message's bytes without the shell's wall-clock stamps."""
    if isinstance(message, OrderIntent):
        message = msgspec.structs.replace(message, t_decision_ns=0, t_sent_ns=0)
    elif hasattr(message, "t_ns"):
        message = msgspec.structs.replace(message, t_ns=0)  # type: ignore[type-var]
    return messages.encode(message)


def test_shard_coalescing_keeps_the_newest_tick_per_market_and_every_other_message(
        rig: Rig) -> None:
    shell = make_shell(rig)
    a1 = tick(rig, MARKET_A, A_YES, 0.55, 100)
    b1 = tick(rig, MARKET_B, B_YES, 0.55, 110)
    a2 = tick(rig, MARKET_A, A_NO, 0.56, 120)
    event = match_event("ma", 130)
    a3 = tick(rig, MARKET_A, A_YES, 0.57, 140)
    b2 = tick(rig, MARKET_B, B_NO, 0.57, 150)
    shell.handle_batch([a1, b1, a2, event, a3, b2])
    assert [type(m).__name__ for m in rig.handled] == ["MatchEvent", "BookTick", "BookTick"]
    newest_a, newest_b = rig.handled[1], rig.handled[2]
    assert isinstance(newest_a, BookTick) and isinstance(newest_b, BookTick)
    # the newest tick's slot and seq, the oldest superseded tick's gateway stamps
    assert (newest_a.token_id, newest_a.seq) == (A_YES, a3.seq)
    assert (newest_a.t_recv_ns, newest_a.t_parsed_ns, newest_a.t_shm_ns) == (100, 101, 102)
    assert (newest_b.token_id, newest_b.t_recv_ns) == (B_NO, 110)
    assert shell.ticks_coalesced == 3 and shell.ticks_seen == 5
    assert shell.core.markets[MARKET_A].books[Outcome.YES].best_ask == 0.57
    assert shell.core.markets[MARKET_A].books[Outcome.NO].best_ask == 0.56
    assert shell.status()["ticks_coalesced"] == 3


def test_shard_coalescing_passes_a_batch_with_one_tick_per_market_through(rig: Rig) -> None:
    shell = make_shell(rig)
    batch: list[Message] = [tick(rig, MARKET_A, A_YES, 0.55, 100), match_event("mb", 105),
                            tick(rig, MARKET_B, B_YES, 0.55, 110)]
    shell.handle_batch(batch)
    assert rig.handled == batch
    assert shell.ticks_coalesced == 0 and shell.ticks_seen == 2


def test_shard_coalescing_never_merges_ticks_of_unknown_markets(rig: Rig) -> None:
    shell = make_shell(rig)
    labels = {"component": "shard", "reason": "tick_unusable"}
    before = SHARD_METRICS.get_sample_value("polyloly_bad_input_total", labels) or 0.0
    strays = [BookTick(market_id=UNKNOWN, token_id="1", slot=0, seq=k, t_exchange_ms=1,
                       t_recv_ns=k, t_parsed_ns=k, t_shm_ns=k) for k in range(1, 4)]
    shell.handle_batch([*strays, tick(rig, MARKET_A, A_YES, 0.55, 9)])
    assert rig.handled[:3] == strays  # each one seen and counted, none merged away
    assert SHARD_METRICS.get_sample_value("polyloly_bad_input_total", labels) == before + 3
    assert shell.ticks_coalesced == 0


def test_shard_coalescing_decides_exactly_as_one_tick_at_a_time(rig: Rig) -> None:
    """Ticks queued behind a busy shard: the coalesced batch sends the same intents, with the
    same stamps, as handling each tick in turn (the first tick already reads the newest book)."""
    one_by_one = make_shell(rig)
    coalescing_rig = Rig(rig.config, rig.writer, [], [], rig.shells)
    coalescing = make_shell(coalescing_rig)
    batch = [tick(rig, MARKET_A, A_YES, 0.55, 100), tick(rig, MARKET_B, B_YES, 0.53, 110),
             tick(rig, MARKET_A, A_NO, 0.40, 120),  # YES 0.45 + NO 0.40: a pair to buy
             tick(rig, MARKET_A, A_YES, 0.45, 130), tick(rig, MARKET_B, B_NO, 0.52, 140)]
    for message in batch:
        one_by_one._handle(message)
    coalescing.handle_batch(batch)
    # market A's pair (market B, priced fairly, may bid a first accumulation leg: specs/05)
    legs = [m for m in coalescing_rig.sent
            if isinstance(m, OrderIntent) and m.market_id == MARKET_A]
    assert {leg.outcome for leg in legs} == {Outcome.YES, Outcome.NO}
    assert all(leg.strategy is Strategy.PAIR_ARB and leg.t_origin_ns == 100 for leg in legs)
    assert [timeless(m) for m in coalescing_rig.sent] == [timeless(m) for m in rig.sent]
    assert coalescing.ticks_coalesced == 3


def test_shard_coalescing_drains_the_socket_and_counts_undecodable_frames(rig: Rig) -> None:
    shell = make_shell(rig)
    ctx = zmq.Context.instance()
    pub = bus.bind(ctx, zmq.PUB, rig.config.endpoint("gateway_pub"), 0)
    engine_pub = bus.bind(ctx, zmq.PUB, rig.config.endpoint("engine_pub"), 0)
    router = bus.bind(ctx, zmq.ROUTER, rig.config.endpoint("engine_router"), 0)
    labels = {"component": "shard", "reason": "decode_error"}
    before = SHARD_METRICS.get_sample_value("polyloly_bad_input_total", labels) or 0.0
    try:
        shell.open()
        deadline = time.monotonic() + 5.0
        while not shell.gateway.poll(10) and time.monotonic() < deadline:  # subscriptions up
            bus.publish(pub, match_event("ma", 1))
        while shell.gateway.poll(0):
            shell._drain(shell.gateway)
        rig.handled.clear()
        pub.send_multipart([b"book_tick|" + MARKET_A.encode() + b"|", b"\xc1 not msgpack"])
        for message in (tick(rig, MARKET_A, A_YES, 0.55, 100), match_event("ma", 105),
                        tick(rig, MARKET_A, A_NO, 0.56, 110)):
            bus.publish(pub, message)
        assert shell.gateway.poll(5000)
        time.sleep(0.05)  # inproc: every frame is queued once the first is readable
        shell._drain(shell.gateway)
    finally:
        shell.close()
        for sock in (pub, engine_pub, router):
            sock.close(0)
    assert [type(m).__name__ for m in rig.handled] == ["MatchEvent", "BookTick"]
    assert shell.ticks_coalesced == 1
    assert SHARD_METRICS.get_sample_value("polyloly_bad_input_total", labels) == before + 1


def test_shard_book_copy_is_reused_only_while_the_slot_seq_stands_still(rig: Rig) -> None:
    shell = make_shell(rig)
    books = shell.core.books
    assert isinstance(books, ShmTickBooks)
    slot = books.slot_of(A_YES)
    first = books.read(slot)
    assert books.read(slot) is first  # nothing written: the same copy
    rig.writer.apply_changes(A_YES, [("SELL", 0.51, 20.0)], t_recv_ns=5, exchange_ts_ms=1)
    fresh = books.read(slot)
    assert fresh is not first and fresh.seq == first.seq + 1 and fresh.best_ask == 0.51
    shell.attach_reader(BookReader.attach(rig.config.shm.segment_name, timeout_s=1.0))
    again = shell.core.books
    assert isinstance(again, ShmTickBooks) and again is not books  # a new store, a new cache
    assert again.read(slot) is not fresh and again.read(slot) == fresh
