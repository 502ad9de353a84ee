"""BookKeeper core against a real shm store: exact books, bad input, staleness, resync."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.dead_letters import DeadLetterQueue, raw_bytes
from gateway.polymarket.book_keeper import BookKeeper, KeeperOutput
from gateway.polymarket.parse import BookSnapshot, LevelChanges, parse_market_frame
from polyloly import metrics
from polyloly.clock import ManualClock
from polyloly.domain import Side
from polyloly.messages import BookTick, TradePrint
from shm import BookReader, BookWriter, SlotFlags

TOKENS = ("1001", "1002")
MARKET = "0xmarket"


@pytest.fixture()
def store() -> Iterator[BookWriter]:
    book_store = BookWriter.create(f"plgk_{uuid.uuid4().hex[:10]}", TOKENS, levels=8,
                                   tick_size=0.001)
    yield book_store
    book_store.close()


@pytest.fixture()
def reader(store: BookWriter) -> Iterator[BookReader]:
    """A real shm reader of the keeper's store, as a shard or the engine attaches one."""
    book_reader = BookReader.attach(store.name, timeout_s=1.0)
    yield book_reader
    book_reader.close()


def _assert_known_top_is_published(keeper: BookKeeper, reader: BookReader) -> None:
    """The top the keeper checks the venue against is exactly what shm readers see."""
    for token, state in keeper.tokens.items():
        bid, ask = reader.best_bid_ask(state.slot)
        known = (None if math.isnan(state.best_bid) else state.best_bid,
                 None if math.isnan(state.best_ask) else state.best_ask)
        assert known == (bid, ask), token


def _keeper(store: BookWriter, connected: bool = True) -> BookKeeper:
    keeper = BookKeeper(store, dict.fromkeys(TOKENS, MARKET))
    if connected:
        keeper.mark_connected(TOKENS)
    return keeper


def _book_frame(token: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]],
                ts: int = 1000) -> bytes:
    # venue order: best LAST on both sides
    return orjson.dumps([{
        "event_type": "book", "asset_id": token, "market": MARKET, "timestamp": str(ts),
        "hash": "h",
        "bids": [{"price": p, "size": s} for p, s in sorted(bids, key=lambda x: float(x[0]))],
        "asks": [{"price": p, "size": s}
                 for p, s in sorted(asks, key=lambda x: -float(x[0]))],
    }])


def _change_frame(token: str, price: str, size: str, side: str, best_bid: str | None = None,
                  best_ask: str | None = None, ts: int = 2000) -> bytes:
    entry: dict[str, str] = {"asset_id": token, "price": price, "size": size, "side": side,
                             "hash": "x"}
    if best_bid is not None:
        entry["best_bid"] = best_bid
    if best_ask is not None:
        entry["best_ask"] = best_ask
    return orjson.dumps({"event_type": "price_change", "market": MARKET, "timestamp": str(ts),
                         "price_changes": [entry]})


def _apply(keeper: BookKeeper, raw: bytes, t: int = 1) -> KeeperOutput:
    return keeper.apply_frame(parse_market_frame(raw), raw, t, t + 1)


def test_snapshot_then_changes_give_the_exact_book_and_ticks(store: BookWriter) -> None:
    keeper = _keeper(store)
    out = _apply(keeper, _book_frame("1001", [("0.48", "30"), ("0.49", "20")],
                                     [("0.52", "25"), ("0.53", "60")]))
    assert [type(m) for m in out.messages] == [BookTick]
    tick = out.messages[0]
    assert isinstance(tick, BookTick) and tick.flags == 0 and tick.market_id == MARKET
    out = _apply(keeper, _change_frame("1001", "0.5", "10", "BUY", "0.5", "0.52"))
    assert out.resync_tokens == [] and out.dead_letters == []
    assert store.full_book("1001") == (
        [(0.5, 10.0), (0.49, 20.0), (0.48, 30.0)], [(0.52, 25.0), (0.53, 60.0)])
    tick2 = out.messages[0]
    assert isinstance(tick2, BookTick) and tick2.seq > tick.seq


def test_last_trade_price_becomes_a_trade_print(store: BookWriter) -> None:
    keeper = _keeper(store)
    raw = orjson.dumps({"event_type": "last_trade_price", "asset_id": "1002", "market": MARKET,
                        "price": "0.456", "side": "BUY", "size": "219.2", "timestamp": "77"})
    (print_,) = _apply(keeper, raw, t=5).messages
    assert print_ == TradePrint(market_id=MARKET, token_id="1002", price=0.456, size=219.2,
                                side=Side.BUY, t_exchange_ms=77, t_recv_ns=5)


BAD_FRAMES = {
    "corrupted": b'{"event_type":"price_change","market":"0xmarket","timestamp":"3",'
                 b'"price_changes":[{"asset_id":"1001","price":"0.5!","size":"1","side":"BUY"}]}',
    "truncated": _change_frame("1001", "0.5", "10", "BUY")[:-9],
    "wrong_type": b'{"event_type":"price_change","market":"0xmarket","timestamp":"3",'
                  b'"price_changes":[{"asset_id":"1001","price":"0.5","size":"1",'
                  b'"side":"SIDEWAYS"}]}',
    "unknown_type": b'{"event_type":"order_book_v9","asset_id":"1001"}',
    "off_tick": _change_frame("1001", "0.5005", "10", "BUY"),
    "price_out_of_range": _change_frame("1001", "1.5", "10", "BUY"),
    "negative_size": _change_frame("1001", "0.5", "-3", "SELL"),
    "nan_size": _change_frame("1001", "0.5", "nan", "SELL"),
    "unknown_token": _change_frame("999", "0.5", "10", "BUY"),
    "not_json": b"\x00\x01binary\xff",
}


@pytest.mark.parametrize("name", sorted(BAD_FRAMES))
def test_bad_frame_goes_to_the_dlq_and_changes_no_book(name: str, store: BookWriter,
                                                       tmp_path: Path) -> None:
    keeper = _keeper(store)
    _apply(keeper, _book_frame("1001", [("0.48", "30")], [("0.52", "25")]))
    before = (store.full_book("1001"), keeper.tokens["1001"].seq,
              keeper.tokens["1001"].flags)
    dlq = DeadLetterQueue(tmp_path / "dlq.jsonl", ManualClock())
    raw = BAD_FRAMES[name]
    out = _apply(keeper, raw)
    assert out.messages == [] and out.resync_tokens == []
    assert len(out.dead_letters) == 1
    dead = out.dead_letters[0]
    counter = metrics.dead_letters.labels(source=dead.source, reason=dead.reason)
    count_before = counter._value.get()
    dlq.put(dead.source, dead.reason, dead.detail, dead.raw, 5)
    dlq.close()
    assert counter._value.get() == count_before + 1
    (line,) = (tmp_path / "dlq.jsonl").read_bytes().splitlines()
    envelope = json.loads(line)
    assert envelope["event_type"] == "dead_letter"
    assert envelope["payload"]["reason"] == dead.reason and envelope["payload"]["error"]
    assert raw_bytes(envelope["payload"]) in (raw, dead.raw)
    after = (store.full_book("1001"), keeper.tokens["1001"].seq,
             keeper.tokens["1001"].flags)
    assert after == before


def test_changes_before_any_snapshot_are_dead_letters(store: BookWriter) -> None:
    keeper = _keeper(store)
    out = _apply(keeper, _change_frame("1001", "0.5", "10", "BUY"))
    assert [d.reason for d in out.dead_letters] == ["book_no_snapshot"]
    assert keeper.tokens["1001"].flags & SlotFlags.NO_BOOK


def test_disconnect_flags_stale_and_fresh_snapshot_after_reconnect_clears(
        store: BookWriter) -> None:
    keeper = _keeper(store)
    _apply(keeper, _book_frame("1001", [("0.48", "30")], [("0.52", "25")]))
    out = keeper.mark_disconnected(["1001"], 10)
    assert out.messages[-1].flags & (SlotFlags.STALE | SlotFlags.RESYNCING)
    assert keeper.unhealthy_count() == 2  # 1001 stale, 1002 never had a book
    # a book while still disconnected clears RESYNCING but not STALE
    out = _apply(keeper, _book_frame("1001", [("0.47", "1")], [("0.52", "25")]))
    assert out.messages[-1].flags == SlotFlags.STALE
    keeper.mark_connected(["1001"])
    out = _apply(keeper, _book_frame("1001", [("0.46", "1")], [("0.52", "25")]))
    assert out.messages[-1].flags == 0
    assert keeper.tokens_without_fresh_book(TOKENS) == ["1002"]


def test_divergent_venue_top_requests_one_resync_and_rest_snapshot_plus_buffer_fixes_it(
        store: BookWriter, reader: BookReader) -> None:
    keeper = _keeper(store)
    _apply(keeper, _book_frame("1001", [("0.48", "30")], [("0.52", "25")]))
    _assert_known_top_is_published(keeper, reader)
    # the venue says the best bid is 0.49, but we never saw that level: diverged
    out = _apply(keeper, _change_frame("1001", "0.47", "5", "BUY", "0.49", "0.52"))
    assert out.resync_tokens == ["1001"]
    assert keeper.tokens["1001"].flags & SlotFlags.RESYNCING
    # more changes while the REST request is in flight: applied, buffered, no second request
    out = _apply(keeper, _change_frame("1001", "0.51", "7", "SELL", "0.49", "0.51", ts=2100))
    assert out.resync_tokens == []
    _assert_known_top_is_published(keeper, reader)
    rest = BookSnapshot("1001", MARKET, bids=((0.49, 3.0), (0.48, 30.0), (0.47, 5.0)),
                        asks=((0.52, 25.0),), exchange_ts_ms=2050, book_hash="r")
    out = keeper.apply_rest_snapshot(rest, b"{}", 50, 51)
    assert out.dead_letters == [] and out.resync_tokens == []
    _assert_known_top_is_published(keeper, reader)
    assert reader.best_bid_ask(keeper.tokens["1001"].slot) == (0.49, 0.51)
    assert store.full_book("1001") == (
        [(0.49, 3.0), (0.48, 30.0), (0.47, 5.0)], [(0.51, 7.0), (0.52, 25.0)])
    assert keeper.tokens["1001"].flags == 0
    assert keeper.tokens["1001"].resyncs == 1


def test_a_book_changed_behind_the_keepers_back_is_caught_by_the_next_write(
        store: BookWriter, reader: BookReader) -> None:
    """The known top comes from each write's result (the writer's book), not from the
    keeper's own bookkeeping: a book altered by another write is still compared truly."""
    keeper = _keeper(store)
    _apply(keeper, _book_frame("1001", [("0.48", "30")], [("0.52", "25")]))
    store.apply_snapshot("1001", [], [(0.52, 25.0)], t_recv_ns=2, exchange_ts_ms=1)
    # the venue's top still has our old bid: 0.48 is gone from our book, so this diverges
    out = _apply(keeper, _change_frame("1001", "0.53", "1", "SELL", "0.48", "0.52"))
    assert out.resync_tokens == ["1001"]
    assert keeper.tokens["1001"].divergences == 1
    _assert_known_top_is_published(keeper, reader)


def test_an_empty_side_agrees_only_with_a_venue_that_says_empty(
        store: BookWriter, reader: BookReader) -> None:
    keeper = _keeper(store)
    _apply(keeper, _book_frame("1001", [], [("0.52", "25")]))
    _assert_known_top_is_published(keeper, reader)
    assert math.isnan(keeper.tokens["1001"].best_bid)
    # the venue sends "0" for an empty side (parsed as NaN): agrees
    out = _apply(keeper, _change_frame("1001", "0.53", "4", "SELL", "0", "0.52"))
    assert out.resync_tokens == []
    # the venue names a bid we do not have: diverged
    out = _apply(keeper, _change_frame("1001", "0.54", "4", "SELL", "0.4", "0.52", ts=2001))
    assert out.resync_tokens == ["1001"]
    _assert_known_top_is_published(keeper, reader)


def test_ws_book_during_a_resync_wins_over_the_late_rest_answer(store: BookWriter) -> None:
    keeper = _keeper(store)
    _apply(keeper, _book_frame("1001", [("0.48", "30")], [("0.52", "25")]))
    assert keeper.request_resync("1001", 1).resync_tokens == ["1001"]
    _apply(keeper, _book_frame("1001", [("0.40", "1")], [("0.60", "2")], ts=3000))
    stale_rest = BookSnapshot("1001", MARKET, ((0.48, 30.0),), ((0.52, 25.0),), 2000, "r")
    keeper.apply_rest_snapshot(stale_rest, b"{}", 5, 6)
    assert store.full_book("1001") == ([(0.4, 1.0)], [(0.6, 2.0)])
    assert keeper.tokens["1001"].flags == 0


def test_unrequested_rest_book_is_a_dead_letter(store: BookWriter) -> None:
    keeper = _keeper(store)
    snap = BookSnapshot("1001", MARKET, ((0.48, 30.0),), (), 1, "")
    out = keeper.apply_rest_snapshot(snap, b"{}", 1, 2)
    assert [d.reason for d in out.dead_letters] == ["unrequested_book"]


def test_failed_resync_can_be_requested_again(store: BookWriter) -> None:
    keeper = _keeper(store)
    _apply(keeper, _book_frame("1001", [("0.48", "30")], [("0.52", "25")]))
    assert keeper.request_resync("1001", 1).resync_tokens == ["1001"]
    assert keeper.request_resync("1001", 2).resync_tokens == []  # already in flight
    keeper.resync_failed("1001")
    assert keeper.tokens["1001"].flags & SlotFlags.RESYNCING
    assert keeper.request_resync("1001", 3).resync_tokens == ["1001"]


def test_tick_size_change_with_off_tick_levels_requests_a_resync(store: BookWriter) -> None:
    keeper = _keeper(store)
    _apply(keeper, _book_frame("1001", [("0.481", "30")], [("0.52", "25")]))
    raw = orjson.dumps({"event_type": "tick_size_change", "asset_id": "1001",
                        "market": MARKET, "old_tick_size": "0.001", "new_tick_size": "0.01",
                        "timestamp": "9"})
    out = _apply(keeper, raw)
    assert out.resync_tokens == ["1001"]


# --- property: any sequence of venue updates leaves exactly the venue's book --------------

_FIXTURE_OK = [HealthCheck.function_scoped_fixture]
prices = st.integers(min_value=1, max_value=999).map(lambda k: k / 1000)
sizes = st.one_of(st.just(0.0), st.integers(min_value=1, max_value=10**6).map(lambda k: k / 100))
changes_strategy = st.lists(
    st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), prices, sizes),
             min_size=1, max_size=6),
    max_size=40)


def _model_top(model: dict[Side, dict[float, float]]) -> tuple[float, float]:
    bids = [p for p, s in model[Side.BUY].items() if s > 0]
    asks = [p for p, s in model[Side.SELL].items() if s > 0]
    return (max(bids) if bids else math.nan, min(asks) if asks else math.nan)


@settings(max_examples=60, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(initial_bids=st.dictionaries(prices, sizes, max_size=10),
       initial_asks=st.dictionaries(prices, sizes, max_size=10),
       batches=changes_strategy)
def test_property_book_equals_venue_model_after_any_updates(
        store: BookWriter, reader: BookReader, initial_bids: dict[float, float],
        initial_asks: dict[float, float],
        batches: list[list[tuple[Side, float, float]]]) -> None:
    keeper = _keeper(store)
    snap = BookSnapshot("1001", MARKET, tuple(initial_bids.items()),
                        tuple(initial_asks.items()), 1, "")
    out = KeeperOutput()
    keeper.apply(snap, b"", 1, 1, out)
    assert out.dead_letters == []
    model = {Side.BUY: dict(initial_bids), Side.SELL: dict(initial_asks)}
    for index, batch in enumerate(batches):
        for side, price, size in batch:
            model[side][price] = size
        best_bid, best_ask = _model_top(model)
        event = LevelChanges("1001", MARKET, tuple(batch), 2 + index, "",
                             expected_best_bid=best_bid, expected_best_ask=best_ask)
        out = KeeperOutput()
        keeper.apply(event, b"", 2, 2, out)
        assert out.dead_letters == [] and out.resync_tokens == []
        _assert_known_top_is_published(keeper, reader)
    bids, asks = store.full_book("1001")
    assert bids == sorted(((p, s) for p, s in model[Side.BUY].items() if s > 0), reverse=True)
    assert asks == sorted((p, s) for p, s in model[Side.SELL].items() if s > 0)


@settings(max_examples=40, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(before=changes_strategy, during=changes_strategy, cut=st.integers(0, 40))
def test_property_rest_resync_with_buffer_replay_converges_to_the_venue_book(
        store: BookWriter, reader: BookReader, before: list[list[tuple[Side, float, float]]],
        during: list[list[tuple[Side, float, float]]], cut: int) -> None:
    """The REST snapshot may be taken at any point of the stream after the request."""
    keeper = _keeper(store)
    out = KeeperOutput()
    keeper.apply(BookSnapshot("1001", MARKET, (), (), 1, ""), b"", 1, 1, out)
    model: dict[Side, dict[float, float]] = {Side.BUY: {}, Side.SELL: {}}

    def feed(batch: list[tuple[Side, float, float]]) -> None:
        for side, price, size in batch:
            model[side][price] = size
        keeper.apply(LevelChanges("1001", MARKET, tuple(batch), 5, ""), b"", 2, 2,
                     KeeperOutput())
        _assert_known_top_is_published(keeper, reader)

    for batch in before:
        feed(batch)
    keeper.request_resync("1001", 3)
    cut = min(cut, len(during))
    rest_model: dict[Side, dict[float, float]] = {}
    for position, batch in enumerate(during):
        if position == cut:
            rest_model = {side: dict(levels) for side, levels in model.items()}
        feed(batch)
    if cut == len(during):
        rest_model = {side: dict(levels) for side, levels in model.items()}
    snap = BookSnapshot(
        "1001", MARKET,
        tuple((p, s) for p, s in rest_model[Side.BUY].items() if s > 0),
        tuple((p, s) for p, s in rest_model[Side.SELL].items() if s > 0), 6, "")
    result = keeper.apply_rest_snapshot(snap, b"", 9, 9)
    assert result.dead_letters == []
    _assert_known_top_is_published(keeper, reader)
    bids, asks = store.full_book("1001")
    assert bids == sorted(((p, s) for p, s in model[Side.BUY].items() if s > 0), reverse=True)
    assert asks == sorted((p, s) for p, s in model[Side.SELL].items() if s > 0)
    assert not keeper.tokens["1001"].flags & SlotFlags.RESYNCING
