"""CLOB REST endpoints of the simulated venue (paths and JSON as py-clob-client-v2 uses them).

A thin aiohttp shell over `sim.venue.core.Venue`: parse, authenticate (L1/L2), call the core,
render with `sim.venue.messages`. Errors are `{"error": "<venue text>"}` with the venue's
status codes; nothing a client sends can stop the server.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sim.venue import messages
from sim.venue.auth import ApiCredentials, Authenticator
from sim.venue.core import NO_ORDERBOOK, Venue
from sim.venue.models import MICRO, SubmitResult, VenueError, fmt_units
from sim.venue.orders import INVALID_PAYLOAD, parse_order_body

END_CURSOR = "LTE="
PAGE_SIZE = 100
MAX_BATCH_ORDERS = 15
# `asset_address` of /rebates/current entries: the documented example's collateral address
# (docs.polymarket.com, "Get current rebated fees for a maker"); VENUE §9 lists it UNCONFIRMED.
REBATE_ASSET_ADDRESS = "0x2791Bca1f2de4661ED88A30C99A7a9449Aa84174"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, message: str) -> web.Response:
    """Return the venue's error body."""
    return web.json_response({"error": message}, status=status)


def _decode_cursor(cursor: str | None) -> int:
    if not cursor or cursor == END_CURSOR:
        return 0
    try:
        return max(int(base64.b64decode(cursor).decode()), 0)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise VenueError(400, "invalid next_cursor") from None


def _page(items: list[Any], cursor: str | None) -> dict[str, Any]:
    if cursor == END_CURSOR:
        return {"data": [], "next_cursor": END_CURSOR, "limit": PAGE_SIZE, "count": 0}
    start = _decode_cursor(cursor)
    chunk = items[start : start + PAGE_SIZE]
    end = start + PAGE_SIZE
    next_cursor = base64.b64encode(str(end).encode()).decode() if end < len(items) else END_CURSOR
    return {"data": chunk, "next_cursor": next_cursor, "limit": PAGE_SIZE, "count": len(chunk)}


def _submit_body(result: SubmitResult) -> dict[str, Any]:
    return {
        "success": True,
        "errorMsg": "",
        "orderID": result.order_id,
        "status": result.status,
        "takingAmount": fmt_units(result.taking_u) if result.taking_u else "",
        "makingAmount": fmt_units(result.making_u) if result.making_u else "",
        "transactionsHashes": list(result.transaction_hashes),
        "tradeIDs": list(result.trade_ids),
    }


class RestApi:
    """Route table and handlers of the CLOB REST API."""

    def __init__(self, venue: Venue, auth: Authenticator) -> None:
        self.venue = venue
        self.auth = auth
        self._funder: dict[str, str] = {}

    def routes(self) -> list[web.RouteDef]:
        """Return every CLOB route."""
        g, p, d = web.get, web.post, web.delete
        return [
            g("/", self.ok),
            g("/ok", self.ok),
            g("/time", self.server_time),
            g("/version", self.version),
            p("/auth/api-key", self.create_api_key),
            g("/auth/derive-api-key", self.derive_api_key),
            g("/auth/api-keys", self.api_keys),
            d("/auth/api-key", self.delete_api_key),
            g("/auth/ban-status/closed-only", self.closed_only),
            g("/markets", self.markets),
            g("/markets/{condition_id}", self.market),
            g("/markets-by-token/{token_id}", self.market_by_token),
            g("/clob-markets/{condition_id}", self.clob_market),
            g("/book", self.book),
            p("/books", self.books),
            g("/midpoint", self.midpoint),
            p("/midpoints", self.midpoints),
            g("/price", self.price),
            p("/prices", self.prices),
            g("/spread", self.spread),
            p("/spreads", self.spreads),
            g("/last-trade-price", self.last_trade_price),
            p("/last-trades-prices", self.last_trades_prices),
            g("/tick-size", self.tick_size),
            g("/neg-risk", self.neg_risk),
            g("/fee-rate", self.fee_rate),
            g("/rebates/current", self.rebates_current),
            g("/gamma/markets", self.gamma_markets),
            g("/gamma/events", self.gamma_events),
            p("/order", self.post_order),
            p("/orders", self.post_orders),
            d("/order", self.cancel_order),
            d("/orders", self.cancel_orders),
            d("/cancel-all", self.cancel_all),
            d("/cancel-market-orders", self.cancel_market_orders),
            g("/data/orders", self.open_orders),
            g("/data/order/{order_id}", self.get_order),
            g("/data/trades", self.trades),
            g("/balance-allowance", self.balance_allowance),
            g("/balance-allowance/update", self.balance_allowance),
            p("/v1/heartbeats", self.heartbeat),
            p("/heartbeats", self.heartbeat),
        ]

    # --------------------------------------------------------------------- helpers
    async def _l2(self, request: web.Request) -> tuple[ApiCredentials, str]:
        body = await request.text()
        creds = self.auth.check_l2(request.headers, request.method, request.path, body, time.time())
        return creds, body

    def _address(self, creds: ApiCredentials) -> str:
        return self._funder.get(creds.api_key, creds.address)

    @staticmethod
    def _json(body: str, error: str = "Invalid payload") -> Any:
        try:
            return json.loads(body) if body else None
        except ValueError:
            raise VenueError(400, error) from None

    def _token(self, request: web.Request) -> str:
        token_id = request.query.get("token_id", "")
        if not token_id:
            raise VenueError(400, "Invalid token id")
        if self.venue.market_of_token(token_id) is None:
            raise VenueError(404, NO_ORDERBOOK)
        return token_id

    def _mid(self, token_id: str) -> str:
        bid, ask = self.venue.best_bid_ask_u(token_id)
        return fmt_units(((bid or 0) + (ask if ask is not None else MICRO)) // 2)

    def _price(self, token_id: str, side: str) -> str:
        bid, ask = self.venue.best_bid_ask_u(token_id)
        if side == "BUY":
            return fmt_units(bid) if bid is not None else "0"
        if side == "SELL":
            return fmt_units(ask) if ask is not None else "0"
        raise VenueError(400, "Invalid side")

    def _spread(self, token_id: str) -> str:
        bid, ask = self.venue.best_bid_ask_u(token_id)
        return fmt_units((ask if ask is not None else MICRO) - (bid or 0))

    def _token_list(self, body: str) -> list[dict[str, Any]]:
        items = self._json(body)
        if not isinstance(items, list) or not all(
            isinstance(i, dict) and isinstance(i.get("token_id"), str) for i in items
        ):
            raise VenueError(400, "Invalid payload")
        for item in items:
            if self.venue.market_of_token(item["token_id"]) is None:
                raise VenueError(404, NO_ORDERBOOK)
        return items

    # ------------------------------------------------------------------- public
    async def ok(self, request: web.Request) -> web.Response:
        """`GET /` → "OK"."""
        return web.json_response("OK")

    async def server_time(self, request: web.Request) -> web.Response:
        """`GET /time` → bare integer unix seconds."""
        return web.json_response(self.venue.clock.wall_ms() // 1000)

    async def version(self, request: web.Request) -> web.Response:
        """`GET /version` → {"version": 2}."""
        return web.json_response({"version": 2})

    async def markets(self, request: web.Request) -> web.Response:
        """`GET /markets?next_cursor=` → paginated CLOB markets."""
        items = [messages.clob_market(self.venue, m) for m in self.venue.markets()]
        return web.json_response(_page(items, request.query.get("next_cursor")))

    async def market(self, request: web.Request) -> web.Response:
        """`GET /markets/{condition_id}`."""
        info = self.venue.market(request.match_info["condition_id"])
        if info is None:
            raise VenueError(404, "market not found")
        return web.json_response(messages.clob_market(self.venue, info))

    async def market_by_token(self, request: web.Request) -> web.Response:
        """`GET /markets-by-token/{token_id}` → the token's condition id."""
        token_id = request.match_info["token_id"]
        info = self.venue.market_of_token(token_id)
        if info is None:
            raise VenueError(404, "market not found")
        return web.json_response(
            {
                "condition_id": info.condition_id,
                "primary_token_id": info.token_ids[0],
                "secondary_token_id": info.token_ids[1],
            }
        )

    async def clob_market(self, request: web.Request) -> web.Response:
        """`GET /clob-markets/{condition_id}` → compact market info (tick, fees, tokens)."""
        info = self.venue.market(request.match_info["condition_id"])
        if info is None:
            raise VenueError(404, "market not found")
        return web.json_response(messages.clob_market_info(self.venue, info))

    async def book(self, request: web.Request) -> web.Response:
        """`GET /book?token_id=`."""
        token_id = self._token(request)
        return web.json_response(
            messages.book_summary(self.venue, token_id, self.venue.clock.wall_ms())
        )

    async def books(self, request: web.Request) -> web.Response:
        """`POST /books` with `[{"token_id": …}]`."""
        items = self._token_list(await request.text())
        now_ms = self.venue.clock.wall_ms()
        return web.json_response(
            [messages.book_summary(self.venue, i["token_id"], now_ms) for i in items]
        )

    async def midpoint(self, request: web.Request) -> web.Response:
        """`GET /midpoint?token_id=` → {"mid": "0.5"}."""
        return web.json_response({"mid": self._mid(self._token(request))})

    async def midpoints(self, request: web.Request) -> web.Response:
        """`POST /midpoints` → {token_id: mid}."""
        items = self._token_list(await request.text())
        return web.json_response({i["token_id"]: self._mid(i["token_id"]) for i in items})

    async def price(self, request: web.Request) -> web.Response:
        """`GET /price?token_id=&side=BUY|SELL` → best bid (BUY) or best ask (SELL)."""
        token_id = self._token(request)
        return web.json_response(
            {"price": self._price(token_id, request.query.get("side", "").upper())}
        )

    async def prices(self, request: web.Request) -> web.Response:
        """`POST /prices` → {token_id: {side: price}}."""
        items = self._token_list(await request.text())
        out: dict[str, dict[str, str]] = {}
        for item in items:
            side = str(item.get("side") or "BUY").upper()
            out.setdefault(item["token_id"], {})[side] = self._price(item["token_id"], side)
        return web.json_response(out)

    async def spread(self, request: web.Request) -> web.Response:
        """`GET /spread?token_id=` → {"spread": "0.02"}."""
        return web.json_response({"spread": self._spread(self._token(request))})

    async def spreads(self, request: web.Request) -> web.Response:
        """`POST /spreads` → {token_id: spread}."""
        items = self._token_list(await request.text())
        return web.json_response({i["token_id"]: self._spread(i["token_id"]) for i in items})

    def _last(self, token_id: str) -> dict[str, str]:
        last = self.venue.last_trade(token_id)
        if last is None:
            return {"price": "0", "side": ""}
        return {"price": fmt_units(last[0]), "side": last[1]}

    async def last_trade_price(self, request: web.Request) -> web.Response:
        """`GET /last-trade-price?token_id=` → {"price", "side"}."""
        return web.json_response(self._last(self._token(request)))

    async def last_trades_prices(self, request: web.Request) -> web.Response:
        """`POST /last-trades-prices` → [{"token_id", "price", "side"}]."""
        items = self._token_list(await request.text())
        return web.json_response(
            [{"token_id": i["token_id"], **self._last(i["token_id"])} for i in items]
        )

    async def tick_size(self, request: web.Request) -> web.Response:
        """`GET /tick-size?token_id=` → {"minimum_tick_size": 0.001} (a JSON number)."""
        token_id = self._token(request)
        return web.json_response({"minimum_tick_size": self.venue.tick_size_u(token_id) / MICRO})

    async def neg_risk(self, request: web.Request) -> web.Response:
        """`GET /neg-risk?token_id=` → {"neg_risk": false}."""
        info = self.venue.market_of_token(self._token(request))
        assert info is not None
        return web.json_response({"neg_risk": info.neg_risk})

    async def fee_rate(self, request: web.Request) -> web.Response:
        """`GET /fee-rate?token_id=` → {"base_fee": taker rate in bps} (0.03 → 300)."""
        info = self.venue.market_of_token(self._token(request))
        assert info is not None
        return web.json_response({"base_fee": int(round(info.taker_fee_rate * 10_000))})

    async def gamma_markets(self, request: web.Request) -> web.Response:
        """Gamma `GET /markets` (no auth; VENUE §5) under `/gamma`: a list of market objects,
        filtered by `condition_ids`, `slug`, `id` (repeated or comma-separated) and `closed`."""
        markets = [m for _, ms in messages.gamma_catalogue(self.venue) for m in ms]
        return web.json_response(_gamma_filter(request, markets,
                                               {"condition_ids": "conditionId", "slug": "slug",
                                                "id": "id"}))

    async def gamma_events(self, request: web.Request) -> web.Response:
        """Gamma `GET /events` under `/gamma`: one event per match (series + map winners) and
        per neg-risk event (its outcome markets), filtered by `id`, `slug` and `closed`."""
        events = [e for e, _ in messages.gamma_catalogue(self.venue)]
        return web.json_response(_gamma_filter(request, events, {"id": "id", "slug": "slug"}))

    async def rebates_current(self, request: web.Request) -> web.Response:
        """`GET /rebates/current?date=YYYY-MM-DD&maker_address=0x…` (public, VENUE §5): one
        entry per market with the maker rebate credited that day."""
        date = request.query.get("date", "")
        maker = request.query.get("maker_address", "")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
            return error_response(400, "invalid date, expected YYYY-MM-DD")
        if not re.fullmatch(r"0x[0-9a-fA-F]{40}", maker):
            return error_response(400, "invalid maker_address")
        address = next((a for a in self.venue.account_addresses() if a.lower() == maker.lower()),
                       maker)
        return web.json_response([
            {"date": day, "condition_id": cid, "asset_address": REBATE_ASSET_ADDRESS,
             "maker_address": address, "rebated_fees_usdc": f"{amount / MICRO:.6f}"}
            for day, cid, amount in self.venue.rebates(address, date)])

    # -------------------------------------------------------------------- auth keys
    async def create_api_key(self, request: web.Request) -> web.Response:
        """`POST /auth/api-key` (L1)."""
        address, nonce = self.auth.check_l1(request.headers, time.time())
        return web.json_response(self.auth.create(address, nonce).as_json())

    async def derive_api_key(self, request: web.Request) -> web.Response:
        """`GET /auth/derive-api-key` (L1)."""
        address, nonce = self.auth.check_l1(request.headers, time.time())
        return web.json_response(self.auth.derive(address, nonce).as_json())

    async def api_keys(self, request: web.Request) -> web.Response:
        """`GET /auth/api-keys` (L2) → {"apiKeys": [...]}."""
        creds, _ = await self._l2(request)
        return web.json_response({"apiKeys": self.auth.keys_of(creds.address)})

    async def delete_api_key(self, request: web.Request) -> web.Response:
        """`DELETE /auth/api-key` (L2)."""
        creds, _ = await self._l2(request)
        self.auth.revoke(creds.api_key)
        return web.json_response("OK")

    async def closed_only(self, request: web.Request) -> web.Response:
        """`GET /auth/ban-status/closed-only` (L2)."""
        await self._l2(request)
        return web.json_response({"closed_only": False})

    # ------------------------------------------------------------------------ orders
    def _submit_one(self, creds: ApiCredentials, body: Any) -> SubmitResult:
        order = body.get("order") if isinstance(body, dict) else None
        token_id = str(order.get("tokenId", "")) if isinstance(order, dict) else ""
        info = self.venue.market_of_token(token_id)
        if info is None:
            if isinstance(order, dict) and "timestamp" not in order and "nonce" in order:
                parse_order_body(body, creds, 1, False)  # raises the V1-version error
            raise VenueError(400, INVALID_PAYLOAD if not token_id else NO_ORDERBOOK)
        parsed = parse_order_body(body, creds, self.venue.tick_size_u(token_id), info.neg_risk)
        self._funder[creds.api_key] = parsed.request.address
        return self.venue.submit(parsed.request)

    async def post_order(self, request: web.Request) -> web.Response:
        """`POST /order` (L2): validate the signed order and submit it."""
        creds, raw = await self._l2(request)
        body = self._json(raw, INVALID_PAYLOAD)
        return web.json_response(_submit_body(self._submit_one(creds, body)))

    async def post_orders(self, request: web.Request) -> web.Response:
        """`POST /orders` (L2): up to 15 orders; a refused leg has `success: false`."""
        creds, raw = await self._l2(request)
        body = self._json(raw, INVALID_PAYLOAD)
        if not isinstance(body, list):
            raise VenueError(400, INVALID_PAYLOAD)
        if len(body) > MAX_BATCH_ORDERS:
            raise VenueError(
                400, f"Too many orders in payload: {len(body)}, max allowed: {MAX_BATCH_ORDERS}"
            )
        out = []
        for item in body:
            try:
                out.append(_submit_body(self._submit_one(creds, item)))
            except VenueError as exc:
                out.append(
                    {
                        "success": False,
                        "errorMsg": exc.message,
                        "orderID": "",
                        "status": "",
                        "takingAmount": "",
                        "makingAmount": "",
                        "transactionsHashes": [],
                        "tradeIDs": [],
                    }
                )
        return web.json_response(out)

    def _cancel_body(self, canceled: list[str], not_canceled: dict[str, str]) -> web.Response:
        return web.json_response({"canceled": canceled, "not_canceled": not_canceled})

    async def cancel_order(self, request: web.Request) -> web.Response:
        """`DELETE /order` (L2) with {"orderID": …} (`orderId` accepted too)."""
        creds, raw = await self._l2(request)
        body = self._json(raw)
        if not isinstance(body, dict):
            raise VenueError(400, "Invalid payload")
        order_id = body.get("orderID") or body.get("orderId") or body.get("orderid")
        if not isinstance(order_id, str) or not order_id:
            raise VenueError(400, "Invalid payload")
        return self._cancel_body(*self.venue.cancel(self._address(creds), [order_id]))

    async def cancel_orders(self, request: web.Request) -> web.Response:
        """`DELETE /orders` (L2) with a list of order ids."""
        creds, raw = await self._l2(request)
        body = self._json(raw)
        if not isinstance(body, list) or not all(isinstance(i, str) for i in body):
            raise VenueError(400, "Invalid payload")
        if len(body) > 1000:
            raise VenueError(400, f"Too many orders in payload: {len(body)}, max allowed: 1000")
        return self._cancel_body(*self.venue.cancel(self._address(creds), body))

    async def cancel_all(self, request: web.Request) -> web.Response:
        """`DELETE /cancel-all` (L2)."""
        creds, _ = await self._l2(request)
        return self._cancel_body(self.venue.cancel_all(self._address(creds)), {})

    async def cancel_market_orders(self, request: web.Request) -> web.Response:
        """`DELETE /cancel-market-orders` (L2) with {"market", "asset_id"} (both optional)."""
        creds, raw = await self._l2(request)
        body = self._json(raw) or {}
        if not isinstance(body, dict):
            raise VenueError(400, "Invalid payload")
        canceled = self.venue.cancel_all(
            self._address(creds),
            market=body.get("market") or None,
            asset_id=body.get("asset_id") or None,
        )
        return self._cancel_body(canceled, {})

    async def open_orders(self, request: web.Request) -> web.Response:
        """`GET /data/orders` (L2) → page of LIVE orders."""
        creds, _ = await self._l2(request)
        self.venue.poll()
        q = request.query
        orders = self.venue.open_orders(
            self._address(creds), q.get("market"), q.get("asset_id"), q.get("id")
        )
        items = [messages.rest_order(o) for o in orders]
        return web.json_response(_page(items, q.get("next_cursor")))

    async def get_order(self, request: web.Request) -> web.Response:
        """`GET /data/order/{id}` (L2) → the order (any status) or `null` if not the caller's."""
        creds, _ = await self._l2(request)
        self.venue.poll()
        order = self.venue.order(request.match_info["order_id"])
        if order is None or order.address != self._address(creds):
            return web.json_response(None)
        return web.json_response(messages.rest_order(order))

    async def trades(self, request: web.Request) -> web.Response:
        """`GET /data/trades` (L2) → page of the caller's trades (taker or maker)."""
        creds, _ = await self._l2(request)
        self.venue.poll()
        q = request.query
        try:
            before = int(q["before"]) if q.get("before") else None
            after = int(q["after"]) if q.get("after") else None
        except ValueError:
            raise VenueError(400, "Invalid payload") from None
        address = self._address(creds)
        maker = q.get("maker_address")
        if maker and maker.lower() != address.lower():
            return web.json_response(_page([], q.get("next_cursor")))
        found = self.venue.trades(
            address, q.get("market"), q.get("asset_id"), q.get("id"), before, after
        )
        items = [messages.rest_trade(t, address) for t in found]
        return web.json_response(_page(items, q.get("next_cursor")))

    async def balance_allowance(self, request: web.Request) -> web.Response:
        """`GET /balance-allowance?asset_type=COLLATERAL|CONDITIONAL&token_id=` (L2)."""
        creds, _ = await self._l2(request)
        self.venue.poll()
        asset_type = request.query.get("asset_type", "").upper()
        acct = self.venue.account(self._address(creds))
        if asset_type == "COLLATERAL":
            balance = acct.collateral_u
        elif asset_type == "CONDITIONAL":
            token_id = request.query.get("token_id", "")
            if self.venue.market_of_token(token_id) is None:
                raise VenueError(400, "Invalid token id")
            balance = acct.positions.get(token_id, 0)
        else:
            raise VenueError(400, "Invalid asset type")
        return web.json_response({"balance": str(balance), "allowance": str(acct.allowance_u)})

    async def heartbeat(self, request: web.Request) -> web.Response:
        """`POST /v1/heartbeats` (L2): start/keep heartbeats; silence cancels all orders."""
        creds, raw = await self._l2(request)
        body = self._json(raw) or {}
        previous = body.get("heartbeat_id", "") if isinstance(body, dict) else ""
        new_id = self.venue.heartbeat(self._address(creds), str(previous or ""))
        return web.json_response({"heartbeat_id": new_id})


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn `VenueError`s and unexpected failures into `{"error": …}` bodies."""
    try:
        return await handler(request)
    except VenueError as exc:
        return error_response(exc.status, exc.message)
    except web.HTTPNotFound:
        return error_response(404, "404 page not found")
    except web.HTTPMethodNotAllowed:
        return error_response(405, "405 method not allowed")
    except web.HTTPException:
        raise
    except Exception as exc:  # never let a request take the venue down
        return error_response(500, f"internal error: {type(exc).__name__}")


def _gamma_filter(request: web.Request, items: list[dict[str, Any]],
                  keys: dict[str, str]) -> list[dict[str, Any]]:
    """Gamma's list filters: each query key (repeated or comma-separated values) must match
    its field; `closed=true|false` filters on `closed`."""
    out = items
    for param, field_name in keys.items():
        wanted = {v for raw in request.query.getall(param, []) for v in raw.split(",") if v}
        if wanted:
            out = [item for item in out if str(item.get(field_name)) in wanted]
    closed = request.query.get("closed")
    if closed in ("true", "false"):
        out = [item for item in out if item.get("closed") is (closed == "true")]
    return out
