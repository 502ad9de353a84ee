"""Polymarket frame parsing: every recorded fixture, every price_change shape, the quirks."""

from __future__ import annotations

import math

import orjson
import pytest

from gateway.polymarket.parse import (
    BookSnapshot,
    LastTrade,
    LevelChanges,
    MarketResolved,
    TickSizeChange,
    TopOfBook,
    parse_market_frame,
    parse_rest_book,
    parse_rest_trade,
    parse_user_frame,
)
from polyloly.domain import Side
from polyloly.messages import UserOrderUpdate, UserTradeUpdate
from tests.helpers.fixtures import POLYMARKET_DIR, polymarket

MARKET_FIXTURES = {
    "ws_messages/book.json": BookSnapshot,
    "ws_messages/price_change.json": LevelChanges,
    "ws_messages/price_change_v2.json": LevelChanges,
    "ws_messages_legacy_changes_schema/price_change_v2.json": LevelChanges,
    "ws_messages/tick_size_change.json": TickSizeChange,
    "ws_messages/last_trade_price.json": LastTrade,
}
USER_FIXTURES = {
    "ws_messages/order_placement.json": UserOrderUpdate,
    "ws_messages/order_cancel.json": UserOrderUpdate,
    "ws_messages/user_trade1.json": UserTradeUpdate,
    "ws_messages/user_trade2.json": UserTradeUpdate,
    "ws_messages/user_trade3.json": UserTradeUpdate,
    "ws_messages/user_trade4.json": UserTradeUpdate,
}


def _fixture(name: str) -> bytes:
    return polymarket(name).read_bytes()


def test_every_ws_fixture_is_covered_by_this_test() -> None:
    on_disk = {str(p.relative_to(POLYMARKET_DIR))
               for p in POLYMARKET_DIR.glob("ws_messages*/*.json")}
    covered = set(MARKET_FIXTURES) | set(USER_FIXTURES) | {"ws_messages/trades.json"}
    assert on_disk == covered


@pytest.mark.parametrize("name,kind", sorted(MARKET_FIXTURES.items()))
def test_market_fixture_parses_without_errors(name: str, kind: type) -> None:
    parsed = parse_market_frame(_fixture(name))
    assert parsed.errors == []
    assert parsed.events and all(isinstance(e, kind) for e in parsed.events)


@pytest.mark.parametrize("name,kind", sorted(USER_FIXTURES.items()))
def test_user_fixture_parses_without_errors(name: str, kind: type) -> None:
    parsed = parse_user_frame(_fixture(name), t_recv_ns=7)
    assert parsed.errors == []
    assert len(parsed.updates) == 1 and isinstance(parsed.updates[0], kind)
    assert parsed.updates[0].t_recv_ns == 7
    assert parsed.updates[0].t_exchange_ms > 1_700_000_000_000


def test_rest_trade_fixture_parses() -> None:
    trade = parse_rest_trade(_fixture("ws_messages/trades.json"))
    assert trade.trade_id == "0c357886-b9d3-44bb-9aa9-72d8abc90e6e"
    assert trade.side is Side.BUY and trade.price == 0.489 and trade.size == 5.0
    assert trade.t_exchange_ms == 1726043102000
    assert trade.maker_orders[0].matched_size == 5.0


def test_book_levels_come_out_best_first() -> None:
    (book,) = parse_market_frame(_fixture("ws_messages/book.json")).events
    assert isinstance(book, BookSnapshot)
    bid_prices = [p for p, _ in book.bids]
    ask_prices = [p for p, _ in book.asks]
    assert bid_prices == sorted(bid_prices, reverse=True)
    assert ask_prices == sorted(ask_prices)
    assert book.bids[0][0] < book.asks[0][0]
    assert book.book_hash and book.exchange_ts_ms > 1_700_000_000_000


def test_book_wrapped_in_an_array_parses_like_a_bare_object() -> None:
    raw = _fixture("ws_messages/book.json")
    wrapped = b"[" + raw + b"]"
    assert parse_market_frame(wrapped).events == parse_market_frame(raw).events


def test_current_price_change_groups_entries_by_token_with_venue_top() -> None:
    frame = orjson.dumps({
        "market": "0xm", "timestamp": "1757908892351", "event_type": "price_change",
        "price_changes": [
            {"asset_id": "1", "price": "0.5", "size": "200", "side": "BUY", "hash": "a",
             "best_bid": "0.5", "best_ask": "1"},
            {"asset_id": "2", "price": "0.5", "size": "200", "side": "SELL", "hash": "b",
             "best_bid": "0", "best_ask": "0.5"},
            {"asset_id": "1", "price": "0.4", "size": "0", "side": "BUY", "hash": "c",
             "best_bid": "0.5", "best_ask": "0.6"},
        ]})
    events = parse_market_frame(frame).events
    assert [e.token_id for e in events] == ["1", "2"]
    first, second = events
    assert isinstance(first, LevelChanges) and isinstance(second, LevelChanges)
    assert first.changes == ((Side.BUY, 0.5, 200.0), (Side.BUY, 0.4, 0.0))
    assert first.book_hash == "c"
    assert (first.expected_best_bid, first.expected_best_ask) == (0.5, 0.6)
    assert second.expected_best_bid is not None and math.isnan(second.expected_best_bid)
    assert second.expected_best_ask == 0.5
    assert first.exchange_ts_ms == 1757908892351


def test_legacy_and_flat_price_change_shapes() -> None:
    (legacy,) = parse_market_frame(
        _fixture("ws_messages_legacy_changes_schema/price_change_v2.json")).events
    assert isinstance(legacy, LevelChanges)
    assert legacy.changes == ((Side.BUY, 0.6, 3300.0), (Side.BUY, 0.5, 3400.0),
                              (Side.BUY, 0.7, 3400.0))
    assert legacy.expected_best_bid is None
    (flat,) = parse_market_frame(_fixture("ws_messages/price_change.json")).events
    assert isinstance(flat, LevelChanges)
    assert flat.changes == ((Side.SELL, 0.514, 21574.08),)


def test_mixed_array_keeps_good_elements_and_reports_each_bad_one() -> None:
    frame = (b'[{"event_type":"best_bid_ask","market":"m","asset_id":"1","best_bid":"0.4",'
             b'"best_ask":"0.6","spread":"0.2","timestamp":"5"},'
             b'{"event_type":"brand_new_kind","x":1},'
             b'{"event_type":"tick_size_change","asset_id":"1"},'
             b'42,'
             b'{"event_type":"market_resolved","market":"m","winning_asset_id":"1",'
             b'"winning_outcome":"Yes","timestamp":"9"}]')
    parsed = parse_market_frame(frame)
    assert [type(e) for e in parsed.events] == [TopOfBook, MarketResolved]
    assert [e.reason for e in parsed.errors] == [
        "unknown_event_type", "invalid_message", "not_an_object"]
    assert parsed.errors[0].raw == b'{"event_type":"brand_new_kind","x":1}'


def test_docs_style_leading_dot_prices_are_read() -> None:
    frame = (b'{"event_type":"book","asset_id":"1","market":"m","timestamp":"1",'
             b'"bids":[{"price":".48","size":"30"},{"price":".49","size":"20"}],'
             b'"asks":[{"price":".52","size":"25"}],"hash":"0x0"}')
    (book,) = parse_market_frame(frame).events
    assert isinstance(book, BookSnapshot)
    assert book.bids == ((0.49, 20.0), (0.48, 30.0)) and book.asks == ((0.52, 25.0),)


@pytest.mark.parametrize("text", [b"PONG", b"NO NEW ASSETS", b"INVALID OPERATION"])
def test_plain_text_server_replies_are_control_not_errors(text: bytes) -> None:
    parsed = parse_market_frame(text)
    assert parsed.control == text.decode() and not parsed.events and not parsed.errors


@pytest.mark.parametrize("frame,reason", [
    (b'{"event_type":"book","asset_id":"1","market":"m","bi', "malformed_json"),
    (b'[{"event_type":"book"', "malformed_json"),
    (b'{"event_type":"book","asset_id":"1","market":"m","timestamp":"1",'
     b'"bids":[{"price":"abc","size":"1"}],"asks":[]}', "invalid_message"),
    (b'{"event_type":"last_trade_price","asset_id":1}', "invalid_message"),
    (b'{"event_type":"price_change","market":"m","timestamp":"1"}', "invalid_message"),
    (b'{"event_type":"nope"}', "unknown_event_type"),
    (b'{"no_event_type":true}', "unknown_event_type"),
    (b"\xff\xfe\x00garbage", "not_an_object"),
    (b"HELLO", "not_an_object"),
])
def test_bad_frames_become_errors_with_a_reason(frame: bytes, reason: str) -> None:
    parsed = parse_market_frame(frame)
    assert parsed.events == []
    assert [e.reason for e in parsed.errors] == [reason]
    assert parsed.errors[0].detail


def test_user_order_with_empty_fields_from_a_killed_fok_parses() -> None:
    frame = orjson.dumps({
        "event_type": "order", "id": "0xabc", "market": "0xm", "asset_id": "1",
        "side": "BUY", "price": "0.5", "original_size": "10", "size_matched": "",
        "created_at": "", "outcome": "", "type": "CANCELLATION",
        "status": "CANCELED_order couldn't be fully filled. FOK orders are fully filled or killed.",
        "timestamp": ""})
    (update,) = parse_user_frame(frame, 1).updates
    assert isinstance(update, UserOrderUpdate)
    assert update.size_matched == 0.0 and update.t_exchange_ms == 0
    assert update.status.startswith("CANCELED")


def test_user_trade_seconds_timestamp_becomes_ms() -> None:
    (trade,) = parse_user_frame(_fixture("ws_messages/user_trade3.json"), 1).updates
    assert isinstance(trade, UserTradeUpdate)
    assert trade.t_exchange_ms == 1762776436000
    assert trade.maker_orders and trade.maker_orders[0].side is not None


def test_user_frame_with_bad_number_is_an_error_not_a_crash() -> None:
    frame = orjson.dumps({"event_type": "order", "id": "x", "market": "m", "asset_id": "1",
                          "side": "BUY", "price": "0.5", "size_matched": "lots"})
    parsed = parse_user_frame(frame, 1)
    assert parsed.updates == [] and parsed.errors[0].reason == "invalid_message"
    assert "size_matched" in parsed.errors[0].detail


def test_rest_book_fixture_parses_best_first() -> None:
    book = parse_rest_book(_fixture("http_responses/book.json"))
    assert book.bids[0][0] == max(p for p, _ in book.bids)
    assert book.asks[0][0] == min(p for p, _ in book.asks)
    with pytest.raises(ValueError, match="REST book"):
        parse_rest_book(b'{"market":"m"}')
