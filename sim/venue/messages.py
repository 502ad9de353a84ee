"""JSON shapes of the venue: REST bodies and market/user WebSocket messages.

Field names, order and value types follow the recorded fixtures in
`tests/fixtures/polymarket/` (all numbers as strings, WS timestamps as ms strings, REST
`created_at` as integer seconds). Pure functions of venue state; no I/O.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sim.venue.core import Venue
from sim.venue.models import (
    MICRO,
    LastTradeEvent,
    MarketInfo,
    OrderEvent,
    OrderSnapshot,
    ResolvedEvent,
    TickSizeEvent,
    Trade,
    fmt_units,
)

ESPORTS_TAGS = ["Sports", "Esports"]


def _levels(levels: list[tuple[int, int]]) -> list[dict[str, str]]:
    return [{"price": fmt_units(p), "size": fmt_units(s)} for p, s in levels]


def book_summary(venue: Venue, token_id: str, timestamp_ms: int) -> dict[str, Any]:
    """Return the REST `/book` body; `hash` is SHA-1 of the compact JSON with `hash` empty."""
    info = venue.market_of_token(token_id)
    assert info is not None
    bids, asks = venue.book_levels_u(token_id)
    last = venue.last_trade(token_id)
    body: dict[str, Any] = {
        "market": info.condition_id,
        "asset_id": token_id,
        "timestamp": str(timestamp_ms),
        "hash": "",
        # the venue lists both sides worst-first: bids ascending, asks descending
        "bids": _levels(list(reversed(bids))),
        "asks": _levels(list(reversed(asks))),
        "min_order_size": fmt_units(info.min_order_size_u),
        "tick_size": fmt_units(venue.tick_size_u(token_id)),
        "neg_risk": info.neg_risk,
        "last_trade_price": fmt_units(last[0]) if last else "",
    }
    serialized = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    body["hash"] = hashlib.sha1(serialized.encode()).hexdigest()
    return body


def ws_book(venue: Venue, token_id: str, timestamp_ms: int) -> dict[str, Any]:
    """Return a market-channel `book` message (same levels and hash as REST `/book`)."""
    summary = book_summary(venue, token_id, timestamp_ms)
    return {
        "market": summary["market"],
        "asset_id": token_id,
        "bids": summary["bids"],
        "asks": summary["asks"],
        "hash": summary["hash"],
        "timestamp": summary["timestamp"],
        "event_type": "book",
        "last_trade_price": summary["last_trade_price"],
    }


def best_prices(venue: Venue, token_id: str) -> tuple[str, str]:
    """Return (best_bid, best_ask) strings; "0" / "1" for an empty side, as the venue does."""
    bid, ask = venue.best_bid_ask_u(token_id)
    return (fmt_units(bid) if bid is not None else "0", fmt_units(ask) if ask is not None else "1")


def price_change(
    venue: Venue,
    condition_id: str,
    changes: list[tuple[str, str, int, int]],
    timestamp_ms: int,
) -> dict[str, Any]:
    """Return a current-shape `price_change` for (token_id, side, price_u, size_u) changes."""
    hashes: dict[str, str] = {}
    tops: dict[str, tuple[str, str]] = {}
    entries = []
    for token_id, side, price_u, size_u in changes:
        if token_id not in hashes:
            hashes[token_id] = book_summary(venue, token_id, timestamp_ms)["hash"]
            tops[token_id] = best_prices(venue, token_id)
        entries.append(
            {
                "asset_id": token_id,
                "price": fmt_units(price_u),
                "size": fmt_units(size_u),
                "side": side,
                "hash": hashes[token_id],
                "best_bid": tops[token_id][0],
                "best_ask": tops[token_id][1],
            }
        )
    return {
        "market": condition_id,
        "price_changes": entries,
        "timestamp": str(timestamp_ms),
        "event_type": "price_change",
    }


def best_bid_ask(venue: Venue, condition_id: str, token_id: str, timestamp_ms: int) -> dict:
    """Return a custom-feature `best_bid_ask` message."""
    bid, ask = venue.best_bid_ask_u(token_id)
    bid_s, ask_s = best_prices(venue, token_id)
    spread = fmt_units((ask if ask is not None else MICRO) - (bid if bid is not None else 0))
    return {
        "event_type": "best_bid_ask",
        "market": condition_id,
        "asset_id": token_id,
        "best_bid": bid_s,
        "best_ask": ask_s,
        "spread": spread,
        "timestamp": str(timestamp_ms),
    }


def last_trade_price(event: LastTradeEvent) -> dict[str, Any]:
    """Return a `last_trade_price` message (side = taker side on that token)."""
    return {
        "asset_id": event.token_id,
        "event_type": "last_trade_price",
        "fee_rate_bps": str(event.fee_rate_bps),
        "market": event.condition_id,
        "price": fmt_units(event.price_u),
        "side": event.side,
        "size": fmt_units(event.size_u),
        "timestamp": str(event.timestamp_ms),
    }


def tick_size_change(event: TickSizeEvent) -> dict[str, Any]:
    """Return a `tick_size_change` message."""
    return {
        "asset_id": event.token_id,
        "event_type": "tick_size_change",
        "market": event.condition_id,
        "new_tick_size": fmt_units(event.new_tick_u),
        "old_tick_size": fmt_units(event.old_tick_u),
        "timestamp": str(event.timestamp_ms),
    }


def market_numeric_id(info: MarketInfo) -> str:
    """Return a stable Gamma-style numeric market id derived from the condition id."""
    return str(int(info.condition_id[2:9], 16))


def market_resolved(info: MarketInfo, event: ResolvedEvent) -> dict[str, Any]:
    """Return a custom-feature `market_resolved` message ("" winner for a 50-50)."""
    winner = event.winning_token_id
    outcome = info.outcomes[info.token_ids.index(winner)] if winner else ""
    return {
        "event_type": "market_resolved",
        "id": market_numeric_id(info),
        "market": info.condition_id,
        "assets_ids": list(info.token_ids),
        "winning_asset_id": winner or "",
        "winning_outcome": outcome,
        "timestamp": str(event.timestamp_ms),
        "tags": list(ESPORTS_TAGS),
    }


def user_order(event: OrderEvent) -> dict[str, Any]:
    """Return a user-channel `order` message (PLACEMENT / UPDATE / CANCELLATION)."""
    o = event.order
    return {
        "asset_id": o.asset_id,
        "associate_trades": list(o.associate_trades) or None,
        "created_at": str(o.created_at_ms // 1000),
        "event_type": "order",
        "expiration": str(o.expiration_s),
        "id": o.id,
        "maker_address": o.address,
        "market": o.market,
        "order_owner": o.owner,
        "order_type": o.order_type,
        "original_size": fmt_units(o.original_size_u),
        "outcome": o.outcome,
        "owner": o.owner,
        "price": fmt_units(o.price_u),
        "side": o.side,
        "size_matched": fmt_units(o.size_matched_u),
        "status": event.status_text or o.status,
        "timestamp": str(event.timestamp_ms),
        "type": event.kind,
    }


def rest_order(o: OrderSnapshot) -> dict[str, Any]:
    """Return an OpenOrder as `/data/orders` and `/data/order/{id}` answer it."""
    return {
        "associate_trades": list(o.associate_trades),
        "id": o.id,
        "status": o.status,
        "market": o.market,
        "original_size": fmt_units(o.original_size_u),
        "outcome": o.outcome,
        "maker_address": o.address,
        "owner": o.owner,
        "price": fmt_units(o.price_u),
        "side": o.side,
        "size_matched": fmt_units(o.size_matched_u),
        "asset_id": o.asset_id,
        "expiration": str(o.expiration_s),
        "order_type": o.order_type,
        "created_at": o.created_at_ms // 1000,
    }


def _maker_orders(trade: Trade) -> list[dict[str, str]]:
    return [
        {
            "order_id": m.order_id,
            "owner": m.owner,
            "maker_address": m.maker_address,
            "matched_amount": fmt_units(m.matched_amount_u),
            "price": fmt_units(m.price_u),
            "fee_rate_bps": str(m.fee_rate_bps),
            "asset_id": m.asset_id,
            "outcome": m.outcome,
            "side": m.side,
        }
        for m in trade.maker_orders
    ]


def rest_trade(trade: Trade, viewer_address: str) -> dict[str, Any]:
    """Return a trade as `/data/trades` answers it, from the viewer's side."""
    return {
        "id": trade.id,
        "taker_order_id": trade.taker_order_id,
        "market": trade.market,
        "asset_id": trade.asset_id,
        "side": trade.side,
        "size": fmt_units(trade.size_u),
        "fee_rate_bps": str(trade.fee_rate_bps),
        "price": fmt_units(trade.price_u),
        "status": trade.status,
        "match_time": str(trade.match_time_ms // 1000),
        "last_update": str(trade.last_update_ms // 1000),
        "outcome": trade.outcome,
        "bucket_index": trade.bucket_index,
        "owner": trade.owner,
        "maker_address": trade.taker_address,
        "transaction_hash": trade.transaction_hash,
        "maker_orders": _maker_orders(trade),
        "trader_side": "TAKER" if trade.taker_address == viewer_address else "MAKER",
    }


def user_trade(
    trade: Trade, viewer_address: str, viewer_key: str, timestamp_ms: int
) -> dict[str, Any]:
    """Return a user-channel `trade` message for one subscriber."""
    return {
        "asset_id": trade.asset_id,
        "bucket_index": trade.bucket_index,
        "event_type": "trade",
        "fee_rate_bps": str(trade.fee_rate_bps),
        "id": trade.id,
        "last_update": str(trade.last_update_ms // 1000),
        "maker_address": trade.taker_address,
        "maker_orders": _maker_orders(trade),
        "market": trade.market,
        "match_time": str(trade.match_time_ms // 1000),
        "outcome": trade.outcome,
        "owner": trade.owner,
        "price": fmt_units(trade.price_u),
        "side": trade.side,
        "size": fmt_units(trade.size_u),
        "status": trade.status,
        "taker_order_id": trade.taker_order_id,
        "timestamp": str(timestamp_ms),
        "trade_owner": viewer_key,
        "trader_side": "TAKER" if trade.taker_address == viewer_address else "MAKER",
        "transaction_hash": trade.transaction_hash,
        "type": "TRADE",
    }


def clob_market(venue: Venue, info: MarketInfo) -> dict[str, Any]:
    """Return a CLOB `/markets/{condition_id}` object (keys as in the recorded fixture)."""
    resolved, winner = venue.is_resolved(info.condition_id)
    tokens = []
    for token_id, outcome in zip(info.token_ids, info.outcomes, strict=True):
        bid, ask = venue.best_bid_ask_u(token_id)
        if resolved:
            price = 1.0 if winner == token_id else (0.5 if winner is None else 0.0)
        elif bid is not None and ask is not None:
            price = (bid + ask) / 2 / MICRO
        else:
            price = 0.5
        tokens.append(
            {
                "token_id": token_id,
                "outcome": outcome,
                "price": price,
                "winner": bool(resolved and winner == token_id),
            }
        )
    fee_bps = int(round(info.taker_fee_rate * 10_000))
    return {
        "enable_order_book": True,
        "active": not resolved,
        "closed": resolved,
        "archived": False,
        "accepting_orders": not resolved,
        "accepting_order_timestamp": None,
        "minimum_order_size": info.min_order_size_u / MICRO,
        "minimum_tick_size": venue.tick_size_u(info.token_ids[0]) / MICRO,
        "condition_id": info.condition_id,
        "question_id": "0x" + hashlib.sha256(info.condition_id.encode()).hexdigest(),
        "question": info.question,
        "description": f"Simulated esports market for match {info.match_id}.",
        "market_slug": info.match_id,
        "end_date_iso": None,
        "game_start_time": None,
        "seconds_delay": int(info.seconds_delay)
        if info.seconds_delay.is_integer()
        else (info.seconds_delay),
        "fpmm": "",
        "maker_base_fee": 0,
        "taker_base_fee": fee_bps,
        "notifications_enabled": False,
        "neg_risk": info.neg_risk,
        "neg_risk_market_id": info.neg_risk_market_id,
        "neg_risk_request_id": "",
        "icon": "",
        "image": "",
        "rewards": {"rates": None, "min_size": 0, "max_spread": 0},
        "is_50_50_outcome": bool(resolved and winner is None),
        "tokens": tokens,
        "tags": list(ESPORTS_TAGS),
    }


def clob_market_info(venue: Venue, info: MarketInfo) -> dict[str, Any]:
    """Return the compact `/clob-markets/{condition_id}` object py-clob-client-v2 caches."""
    return {
        "c": info.condition_id,
        "t": [
            {"t": token_id, "o": outcome}
            for token_id, outcome in zip(info.token_ids, info.outcomes, strict=True)
        ],
        "mts": venue.tick_size_u(info.token_ids[0]) / MICRO,
        "mos": info.min_order_size_u / MICRO,
        "nr": info.neg_risk,
        "fd": {"r": info.taker_fee_rate, "e": 1, "to": True},
        "sd": info.seconds_delay,
    }


# ------------------------------------------------------------------------------- Gamma
# The Gamma API's market and event objects (https://gamma-api.polymarket.com /markets,
# /events; docs/VENUE.md §5), with the keys and value types of the recorded fixtures
# (tests/fixtures/polymarket/test_data/gamma_market_sports_market_money_line.json for a series
# or map winner market, gamma_event.json for a neg-risk event). Only keys the simulator can fill
# truthfully are served.


def _gamma_prices(venue: Venue, info: MarketInfo) -> list[str]:
    resolved, winner = venue.is_resolved(info.condition_id)
    prices = []
    for token_id in info.token_ids:
        if resolved:
            value = 1.0 if winner == token_id else (0.5 if winner is None else 0.0)
        else:
            bid, ask = venue.best_bid_ask_u(token_id)
            value = ((bid + ask) / 2 / MICRO) if bid is not None and ask is not None else 0.5
        prices.append(f"{value:g}")
    return prices


def gamma_event_id(key: str) -> str:
    """A stable numeric Gamma event id for a match id or a neg-risk market id."""
    return str(int(hashlib.sha256(key.encode()).hexdigest()[:7], 16))


def _question_id(info: MarketInfo, index: int) -> str:
    # a neg-risk question id is its market id with the last byte = the question's index, as in
    # the fixture (…700 → …705 for question 5); other markets: a hash of the condition id
    if info.neg_risk and info.neg_risk_market_id:
        return info.neg_risk_market_id[:-2] + f"{index:02x}"
    return "0x" + hashlib.sha256(info.condition_id.encode()).hexdigest()


def gamma_event_ref(venue: Venue, key: str, title: str, neg_risk: bool,
                    markets: list[MarketInfo]) -> dict[str, Any]:
    """The short event object Gamma nests in each market's ``events``."""
    closed = all(venue.is_resolved(m.condition_id)[0] for m in markets)
    slug = key.lower().replace(" ", "-") if not key.startswith("0x") else f"event-{key[2:10]}"
    return {"id": gamma_event_id(key), "slug": slug, "ticker": slug, "title": title,
            "active": True, "closed": closed, "archived": False, "negRisk": neg_risk,
            "enableNegRisk": neg_risk, "negRiskAugmented": False,
            **({"negRiskMarketID": key} if neg_risk else {})}


def gamma_market(venue: Venue, info: MarketInfo, index: int,
                 event: dict[str, Any]) -> dict[str, Any]:
    """One Gamma market object. ``index``: the market's question index in a neg-risk event."""
    resolved, _ = venue.is_resolved(info.condition_id)
    bid, ask = venue.best_bid_ask_u(info.token_ids[0])
    last = venue.last_trade(info.token_ids[0])
    fee_bps = int(round(info.taker_fee_rate * 10_000))
    market: dict[str, Any] = {
        "id": market_numeric_id(info),
        "question": info.question,
        "conditionId": info.condition_id,
        "slug": f"{event['slug']}-{market_numeric_id(info)}",
        "questionID": _question_id(info, index),
        "outcomes": json.dumps(list(info.outcomes)),
        "outcomePrices": json.dumps(_gamma_prices(venue, info)),
        "clobTokenIds": json.dumps(list(info.token_ids)),
        "active": True,
        "closed": resolved,
        "acceptingOrders": not resolved,
        "enableOrderBook": True,
        "orderMinSize": info.min_order_size_u / MICRO,
        "orderPriceMinTickSize": venue.tick_size_u(info.token_ids[0]) / MICRO,
        "secondsDelay": int(info.seconds_delay) if float(info.seconds_delay).is_integer()
        else info.seconds_delay,
        "feesEnabled": fee_bps > 0,
        "feeSchedule": {"exponent": 1, "rate": info.taker_fee_rate, "rebateRate": 0.25,
                        "takerOnly": True},
        "takerBaseFee": fee_bps,
        "makerBaseFee": fee_bps,
        "negRisk": info.neg_risk,
        "negRiskOther": False,
        "negRiskRequestID": "",
        "groupItemTitle": info.group_item_title,
        # Gamma labels sports markets; an outcome of a multi-outcome event carries none
        "sportsMarketType": info.market_type or None,
        "bestBid": bid / MICRO if bid is not None else 0,
        "bestAsk": ask / MICRO if ask is not None else 1,
        "spread": round((ask - bid) / MICRO, 6) if bid is not None and ask is not None else 1,
        "lastTradePrice": last[0] / MICRO if last is not None else 0,
        "umaResolutionStatus": "resolved" if resolved else "",
        "events": [event],
    }
    if info.neg_risk and info.neg_risk_market_id:
        market["negRiskMarketID"] = info.neg_risk_market_id
    return market


def gamma_catalogue(venue: Venue) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Every Gamma event of the venue with its markets: one per match (its series and map
    winner markets) and one per neg-risk event (its outcome markets, in question order)."""
    groups: dict[str, list[MarketInfo]] = {}
    for info in venue.markets():
        key = info.neg_risk_market_id if info.neg_risk_market_id else info.match_id
        groups.setdefault(key, []).append(info)
    out = []
    for key, infos in groups.items():
        neg_risk = bool(infos[0].neg_risk_market_id)
        if neg_risk:
            title = infos[0].question.split(" win ", 1)[-1].rstrip("?") or key
        else:
            series = [m for m in infos if m.market_type == "moneyline"] or infos
            title = series[0].question.split(" - Map ")[0]
        ref = gamma_event_ref(venue, key, title, neg_risk, infos)
        markets = [gamma_market(venue, info, index, ref) for index, info in enumerate(infos)]
        # markets nested in an event do not repeat the event (as Gamma's /events)
        nested = [{k: v for k, v in m.items() if k != "events"} for m in markets]
        event = {**ref, "description": f"Simulated event {title}.", "markets": nested}
        out.append((event, markets))
    return out
