"""Issue 20 #2 (gateway side): the market WebSocket's ``market_resolved`` is an unauthenticated
claim. The gateway used to pass any such frame on; now it publishes only a claim about a market
it subscribes whose winner is one of that market's tokens — as a hint the engine confirms
against REST before settling (specs/04) — and dead-letters the rest."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import orjson
import pytest

from gateway.polymarket.book_keeper import BookKeeper
from gateway.polymarket.parse import parse_market_frame
from polyloly import messages
from shm import BookWriter

TOKENS = ("1001", "1002")
MARKET = "0xmarket"


@pytest.fixture()
def keeper() -> Iterator[BookKeeper]:
    store = BookWriter.create(f"plrh_{uuid.uuid4().hex[:10]}", TOKENS, levels=4,
                              tick_size=0.01)
    yield BookKeeper(store, dict.fromkeys(TOKENS, MARKET))
    store.close()


def _resolved(market: str, winner: str) -> bytes:
    return orjson.dumps({"event_type": "market_resolved", "market": market,
                         "winning_asset_id": winner, "winning_outcome": "Yes",
                         "timestamp": "1700000000000"})


@pytest.mark.parametrize(("market", "winner", "why"), [
    ("0xother", "1001", "we do not subscribe"),
    (MARKET, "9999", "not a token of market"),
])
def test_a_claim_about_a_foreign_market_or_winner_is_a_dead_letter(
        keeper: BookKeeper, market: str, winner: str, why: str) -> None:
    raw = _resolved(market, winner)
    out = keeper.apply_frame(parse_market_frame(raw), raw, 1, 2)
    assert out.messages == [] and out.resolutions == []
    (dead,) = out.dead_letters
    assert dead.reason == "resolution_refused" and why in dead.detail


def test_a_plausible_claim_is_published_as_the_hint_the_engine_confirms(
        keeper: BookKeeper) -> None:
    raw = _resolved(MARKET, "1002")
    out = keeper.apply_frame(parse_market_frame(raw), raw, 1, 2)
    (hint,) = out.messages
    assert isinstance(hint, messages.MarketResolved)
    assert (hint.market_id, hint.winning_token_id) == (MARKET, "1002")
    assert out.dead_letters == []
