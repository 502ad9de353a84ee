"""Issue 20 #5 fuzz: ≥ 100k bad frames per input (market WS, user WS) through the gateway's
parsers and, for the market channel, through the book keeper into a real shm store: no
exception escapes and no book is ever left unreadable (odd seqlock counter).

Before the fix, 2,285 of 101,000 bad market frames raised out of the parser and 1,301 left a
book half-written (a timestamp ≥ 2**63 raised inside the seqlock write). A seeded generator
(not hypothesis) so the 200k frames run in seconds and every failure replays exactly.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from gateway.polymarket.book_keeper import BookKeeper
from gateway.polymarket.parse import (
    MAX_ERRORS_PER_FRAME,
    parse_market_frame,
    parse_user_frame,
)
from polyloly import messages
from shm import BookReader, BookWriter
from tests.helpers.bad_json import bad_frame

FRAMES = 100_000
MARKET = "0x" + "ab" * 32
TOKENS = ("1" * 77, "2" * 77)

def _valid_market(rng: random.Random) -> dict[str, Any]:
    token = rng.choice(TOKENS)
    ts = 1_700_000_000_000 + rng.randrange(10**6)
    kind = rng.randrange(6)
    if kind == 0:
        return {"event_type": "book", "asset_id": token, "market": MARKET, "timestamp": ts,
                "hash": "h", "bids": [{"price": "0.40", "size": "10"}],
                "asks": [{"price": "0.60", "size": "5"}]}
    if kind == 1:
        return {"event_type": "price_change", "market": MARKET, "timestamp": ts,
                "price_changes": [{"asset_id": token, "price": "0.41", "size": "3",
                                   "side": "BUY", "hash": "h2", "best_bid": "0.41",
                                   "best_ask": "0.60"}]}
    if kind == 2:
        return {"event_type": "last_trade_price", "asset_id": token, "market": MARKET,
                "price": "0.5", "size": "2", "side": "SELL", "timestamp": ts}
    if kind == 3:
        return {"event_type": "tick_size_change", "asset_id": token, "market": MARKET,
                "old_tick_size": "0.01", "new_tick_size": "0.01", "timestamp": ts}
    if kind == 4:
        return {"event_type": "best_bid_ask", "asset_id": token, "market": MARKET,
                "best_bid": "0.4", "best_ask": "0.6", "timestamp": ts}
    return {"event_type": "market_resolved", "market": MARKET, "winning_asset_id": token,
            "winning_outcome": "Yes", "timestamp": ts}


def _valid_user(rng: random.Random) -> dict[str, Any]:
    token = rng.choice(TOKENS)
    if rng.random() < 0.5:
        return {"event_type": "order", "id": "0xo", "market": MARKET, "asset_id": token,
                "side": "BUY", "price": "0.5", "original_size": "10", "size_matched": "2",
                "status": "LIVE", "type": "UPDATE", "timestamp": "1700000000000"}
    return {"event_type": "trade", "id": "t1", "market": MARKET, "asset_id": token,
            "side": "BUY", "price": "0.5", "size": "2", "status": "MATCHED",
            "taker_order_id": "0xo", "fee_rate_bps": "0", "match_time": "1700000000",
            "maker_orders": [{"order_id": "0xm", "asset_id": token, "price": "0.5",
                              "matched_amount": "2", "side": "SELL", "owner": "o"}]}


@pytest.fixture
def store() -> Iterator[tuple[BookWriter, BookReader]]:
    name = f"plfz_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with BookWriter.create(name, list(TOKENS), levels=8, tick_size=0.01) as writer, \
            BookReader.attach(name, timeout_s=1.0, max_read_wait_s=0.01) as reader:
        yield writer, reader


def test_market_frames_never_escape_and_never_leave_a_book_unreadable(
        store: tuple[BookWriter, BookReader]) -> None:
    writer, reader = store
    keeper = BookKeeper(writer, {token: MARKET for token in TOKENS})
    keeper.mark_connected(TOKENS)
    slots = [reader.slot_of(token) for token in TOKENS]
    rng = random.Random(20_05)
    escaped: list[str] = []
    unreadable = dead = 0
    for n in range(FRAMES):
        if n % 50 == 0:  # keep a real book in place so changes are applied, not refused
            keeper.apply_frame(parse_market_frame(orjson.dumps(
                [_valid_market(random.Random(0)) | {"asset_id": t} for t in TOKENS])),
                b"", n, n)
        raw = bad_frame(rng, _valid_market, lambda good, bad: [good, bad, good])
        try:
            parsed = parse_market_frame(raw)
            out = keeper.apply_frame(parsed, raw, n, n)
            assert len(parsed.errors) <= MAX_ERRORS_PER_FRAME
            dead += len(out.dead_letters) + parsed.errors_dropped
        except Exception as exc:  # noqa: BLE001 - counting what escapes is the test
            escaped.append(f"{type(exc).__name__}: {str(exc)[:200]} on {raw[:200]!r}")
        for slot in slots:
            try:
                reader.read_top(slot)
            except Exception:  # noqa: BLE001 - TornReadError and friends
                unreadable += 1
    assert escaped == [], f"{len(escaped)} escaped, first: {escaped[0]}"
    assert unreadable == 0
    assert dead > FRAMES // 2  # the bad frames were refused as dead letters, not applied


def test_user_frames_never_escape() -> None:
    rng = random.Random(20_10)
    escaped: list[str] = []
    refused = 0
    for n in range(FRAMES):
        raw = bad_frame(rng, _valid_user, lambda good, bad: [good, bad, good])
        try:
            parsed = parse_user_frame(raw, n)
            assert len(parsed.errors) <= MAX_ERRORS_PER_FRAME
            refused += bool(parsed.errors) or parsed.errors_dropped > 0
            for update in parsed.updates:  # what passes must be sane enough to send
                assert 0 <= update.t_exchange_ms < 2**63
                messages.encode(update)
        except Exception as exc:  # noqa: BLE001 - counting what escapes is the test
            escaped.append(f"{type(exc).__name__}: {str(exc)[:200]} on {raw[:200]!r}")
    assert escaped == [], f"{len(escaped)} escaped, first: {escaped[0]}"
    assert refused > FRAMES // 2
