"""The pure load model: bench markets, their books, and the frames that drive them.

Books are crafted so that the pair-arbitrage condition holds on a known subset of frames:

* every market's YES asks start at 0.52 and NO asks at 0.50 (cost 1.02 per pair: nothing to do);
  bids sit at 0.39 (YES) and 0.47 (NO);
* a **normal** frame changes the size of one bid level below the top of one token (the top
  prices never move, so no strategy ever fires on it);
* a **trigger** frame adds a YES ask at 0.40 × 100 shares: YES 0.40 + NO 0.50 = 0.90, below
  1 − fees − margin, so each shard's pair strategy emits two intents (one per leg) for it;
* a **reset** frame removes that ask ``hold_ms`` later.

A market is triggered again only ``min_trigger_gap_ms`` after its last trigger; with the bench
config's pair cooldown (shorter than the gap, longer than the hold) the only intents are the
ones a trigger frame caused. Frames are the venue's current ``price_change``/``book`` JSON
shapes with ``best_bid``/``best_ask``, so the gateway's divergence check passes.

Deterministic: the same seed and the same ``now_ns`` sequence give the same frames.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import orjson

YES_BIDS: Final = ((0.39, 200.0), (0.38, 300.0), (0.37, 400.0), (0.36, 500.0), (0.35, 600.0))
YES_ASKS: Final = ((0.52, 200.0), (0.53, 300.0), (0.54, 400.0), (0.55, 500.0))
NO_BIDS: Final = ((0.47, 200.0), (0.46, 300.0), (0.45, 400.0), (0.44, 500.0), (0.43, 600.0))
NO_ASKS: Final = ((0.50, 200.0), (0.51, 300.0), (0.52, 400.0), (0.53, 500.0))
TRIGGER_PRICE: Final = 0.40
TRIGGER_SIZE: Final = 100.0
TICK_SIZE: Final = 0.01


class FrameKind(StrEnum):
    """What a frame does to the books."""

    NORMAL = "normal"
    TRIGGER = "trigger"
    RESET = "reset"


@dataclass(frozen=True, slots=True)
class BenchMarket:
    """One bench market: condition id, YES and NO token ids, the shard that owns it."""

    market_id: str
    token_yes: str
    token_no: str
    shard: int


def bench_markets(tokens: int, shards: int) -> list[BenchMarket]:
    """``tokens // 2`` markets (at least one), assigned round-robin to ``shards`` shards."""
    if tokens < 2:
        raise ValueError(f"tokens: expected at least 2, was {tokens}")
    if shards < 1:
        raise ValueError(f"shards: expected at least 1, was {shards}")
    markets = []
    for index in range(tokens // 2):
        market_id = "0x" + f"{index + 1:064x}"
        token_yes = str(10**76 + 2 * index)
        token_no = str(10**76 + 2 * index + 1)
        markets.append(BenchMarket(market_id, token_yes, token_no, index % shards))
    return markets


def market_config_entries(markets: list[BenchMarket]) -> list[dict[str, Any]]:
    """The ``markets:`` section of a config overlay for ``markets``."""
    return [{"market_id": m.market_id, "token_ids": [m.token_yes, m.token_no],
             "match_id": f"bench-{i}", "game": "lol", "tick_size": TICK_SIZE,
             "min_order_size": 5.0, "taker_fee_rate": 0.03, "shard": m.shard,
             "correlation_group": "bench"} for i, m in enumerate(markets)]


@dataclass(frozen=True, slots=True)
class Frame:
    """One WebSocket message of the market channel and what it does."""

    payload: bytes
    kind: FrameKind
    market_index: int
    token_id: str


@dataclass(slots=True)
class _TokenBook:
    bids: dict[float, float]
    asks: dict[float, float]

    def top(self) -> tuple[float, float]:
        return max(self.bids), min(self.asks)


@dataclass(slots=True)
class LoadModel:
    """Generates the frame stream: ``trigger_fraction`` of the frames that are not resets are
    trigger frames (fewer when no market is eligible: counted in ``skipped_triggers``)."""

    markets: list[BenchMarket]
    trigger_fraction: float
    hold_ms: float = 50.0
    min_trigger_gap_ms: float = 1000.0
    seed: int = 7
    books: dict[str, _TokenBook] = field(init=False)
    sent: dict[FrameKind, int] = field(init=False)
    skipped_triggers: int = field(init=False, default=0)
    _rng: random.Random = field(init=False)
    _resets: deque[tuple[int, int]] = field(init=False)
    _last_trigger_ns: dict[int, int] = field(init=False)
    _trigger_credit: float = field(init=False, default=0.0)
    _hash: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if not 0.0 <= self.trigger_fraction <= 0.5:
            raise ValueError(f"trigger_fraction: expected 0..0.5, was {self.trigger_fraction}")
        self._rng = random.Random(self.seed)
        self.books = {}
        for market in self.markets:
            self.books[market.token_yes] = _TokenBook(dict(YES_BIDS), dict(YES_ASKS))
            self.books[market.token_no] = _TokenBook(dict(NO_BIDS), dict(NO_ASKS))
        self.sent = dict.fromkeys(FrameKind, 0)
        self._resets = deque()
        self._last_trigger_ns = {}

    @property
    def token_ids(self) -> list[str]:
        """Every token, YES then NO per market."""
        return [t for m in self.markets for t in (m.token_yes, m.token_no)]

    def book_frames(self, token_ids: list[str], wall_ms: int) -> list[bytes]:
        """Initial ``book`` snapshots (one frame holding an array of books) for ``token_ids``."""
        books = []
        market_of = {t: m.market_id for m in self.markets for t in (m.token_yes, m.token_no)}
        for token in token_ids:
            book = self.books.get(token)
            if book is None:
                continue
            books.append({
                "event_type": "book", "asset_id": token, "market": market_of[token],
                "bids": [{"price": _text(p), "size": _text(s)}
                         for p, s in sorted(book.bids.items())],
                "asks": [{"price": _text(p), "size": _text(s)}
                         for p, s in sorted(book.asks.items(), reverse=True)],
                "timestamp": str(wall_ms), "hash": self._next_hash()})
        return [orjson.dumps(books[i : i + 50]) for i in range(0, len(books), 50)]

    def next_frame(self, now_ns: int, wall_ms: int) -> Frame:
        """The frame to send at ``now_ns``: a due reset, else a trigger when due, else normal."""
        if self._resets and self._resets[0][0] <= now_ns:
            _, index = self._resets.popleft()
            return self._ask_change(index, 0.0, FrameKind.RESET, wall_ms)
        self._trigger_credit += self.trigger_fraction
        if self._trigger_credit >= 1.0:
            self._trigger_credit -= 1.0
            market = self._eligible_market(now_ns)
            if market is None:
                self.skipped_triggers += 1
            else:
                self._last_trigger_ns[market] = now_ns
                self._resets.append((now_ns + int(self.hold_ms * 1e6), market))
                return self._ask_change(market, TRIGGER_SIZE, FrameKind.TRIGGER, wall_ms)
        return self._normal(wall_ms)

    def _eligible_market(self, now_ns: int) -> int | None:
        gap_ns = int(self.min_trigger_gap_ms * 1e6)
        count = len(self.markets)
        start = self._rng.randrange(count)
        for offset in range(count):
            index = (start + offset) % count
            last = self._last_trigger_ns.get(index)
            if last is None or now_ns - last >= gap_ns:
                return index
        return None

    def _normal(self, wall_ms: int) -> Frame:
        index = self._rng.randrange(len(self.markets))
        market = self.markets[index]
        token = market.token_yes if self._rng.random() < 0.5 else market.token_no
        book = self.books[token]
        levels = sorted(book.bids, reverse=True)[1:]
        price = levels[self._rng.randrange(len(levels))]
        size = float(self._rng.randrange(100, 1000))
        book.bids[price] = size
        self.sent[FrameKind.NORMAL] += 1
        return Frame(self._price_change(market.market_id, token, price, size, "BUY", book,
                                        wall_ms), FrameKind.NORMAL, index, token)

    def _ask_change(self, index: int, size: float, kind: FrameKind, wall_ms: int) -> Frame:
        market = self.markets[index]
        book = self.books[market.token_yes]
        if size > 0.0:
            book.asks[TRIGGER_PRICE] = size
        else:
            book.asks.pop(TRIGGER_PRICE, None)
        self.sent[kind] += 1
        return Frame(self._price_change(market.market_id, market.token_yes, TRIGGER_PRICE, size,
                                        "SELL", book, wall_ms), kind, index, market.token_yes)

    def _price_change(self, market_id: str, token: str, price: float, size: float, side: str,
                      book: _TokenBook, wall_ms: int) -> bytes:
        best_bid, best_ask = book.top()
        return orjson.dumps({
            "market": market_id, "event_type": "price_change", "timestamp": str(wall_ms),
            "price_changes": [{"asset_id": token, "price": _text(price), "size": _text(size),
                               "side": side, "hash": self._next_hash(),
                               "best_bid": _text(best_bid), "best_ask": _text(best_ask)}]})

    def _next_hash(self) -> str:
        self._hash += 1
        return f"{self._hash:040x}"


def _text(value: float) -> str:
    return f"{value:.2f}" if value != int(value) else str(int(value))
