"""Market and user WebSocket channels (`/ws/market`, `/ws/user`) of the simulated venue.

Subscribe messages, text `PING`/`PONG`, `INVALID OPERATION` / `NO NEW ASSETS` replies and the
500-assets-per-connection limit follow the live venue (see `docs/VENUE.md`
§1-§2). Each connection has its own queue and writer task, so a slow client never blocks the
venue and messages keep their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from sim.venue import messages
from sim.venue.auth import Authenticator
from sim.venue.core import Venue
from sim.venue.models import (
    BookEvent,
    LastTradeEvent,
    OrderEvent,
    ResolvedEvent,
    TickSizeEvent,
    TradeEvent,
    VenueEvent,
)

log = logging.getLogger(__name__)
MAX_ASSETS_PER_CONNECTION = 500
MAX_BATCH = 50


@dataclass(eq=False)
class _Connection:
    ws: web.WebSocketResponse
    channel: str
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    assets: set[str] = field(default_factory=set)
    custom_features: bool = False
    address: str = ""
    api_key: str = ""
    markets: set[str] = field(default_factory=set)
    authenticated: bool = False

    def send(self, message: Any) -> None:
        self.queue.put_nowait(message)


class WebSocketHub:
    """Owns all WebSocket connections and turns venue events into channel messages."""

    def __init__(self, venue: Venue, auth: Authenticator, batch: bool = False) -> None:
        self.venue = venue
        self.auth = auth
        self.batch = batch
        self._market: set[_Connection] = set()
        self._user: set[_Connection] = set()
        self._top: dict[str, tuple[str, str]] = {}
        venue.add_event_listener(self.on_event)

    @property
    def market_connection_count(self) -> int:
        """Number of open market-channel connections."""
        return len(self._market)

    @property
    def user_connection_count(self) -> int:
        """Number of open user-channel connections."""
        return len(self._user)

    # -------------------------------------------------------------------- handlers
    async def market_handler(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one market-channel connection."""
        return await self._serve(request, "market")

    async def user_handler(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one user-channel connection."""
        return await self._serve(request, "user")

    async def _serve(self, request: web.Request, channel: str) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = _Connection(ws=ws, channel=channel)
        registry = self._market if channel == "market" else self._user
        registry.add(conn)
        writer = asyncio.create_task(self._writer(conn))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    try:
                        self._on_text(conn, msg.data)
                    except Exception:  # a bad frame must never take the venue down
                        log.exception("ws %s: failed to handle frame", channel)
                        conn.send("INVALID OPERATION")
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            registry.discard(conn)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
        return ws

    async def _writer(self, conn: _Connection) -> None:
        while True:
            item = await conn.queue.get()
            if item is None:
                await conn.ws.close()
                return
            frame: Any = item
            if self.batch and isinstance(item, dict):
                batch = [item]
                while len(batch) < MAX_BATCH and not conn.queue.empty():
                    nxt = conn.queue.get_nowait()
                    if not isinstance(nxt, dict):
                        conn.queue.put_nowait(nxt)  # keep order: flush what we have
                        break
                    batch.append(nxt)
                frame = batch if len(batch) > 1 else item
            text = frame if isinstance(frame, str) else json.dumps(frame, separators=(",", ":"))
            try:
                await conn.ws.send_str(text)
            except (ConnectionResetError, RuntimeError):
                return

    # ------------------------------------------------------------- client frames
    def _on_text(self, conn: _Connection, data: str) -> None:
        text = data.strip()
        if text == "PING":
            conn.send("PONG")
            return
        if text == "PONG" or not text:
            return
        try:
            payload = json.loads(text)
        except ValueError:
            conn.send("INVALID OPERATION")
            return
        if not isinstance(payload, dict):
            conn.send("INVALID OPERATION")
            return
        if conn.channel == "market":
            self._on_market_request(conn, payload)
        else:
            self._on_user_request(conn, payload)

    def _on_market_request(self, conn: _Connection, payload: dict[str, Any]) -> None:
        assets = payload.get("assets_ids", payload.get("asset_ids"))
        operation = str(payload.get("operation", "")).lower()
        kind = str(payload.get("type", "")).lower()
        if not isinstance(assets, list) or not all(isinstance(a, str) for a in assets):
            conn.send("INVALID OPERATION")
            return
        if operation not in ("", "subscribe", "unsubscribe") or (
            not operation and kind not in ("market", "")
        ):
            conn.send("INVALID OPERATION")
            return
        if "custom_feature_enabled" in payload:
            conn.custom_features = bool(payload.get("custom_feature_enabled"))
        if operation == "unsubscribe":
            for asset in assets:
                conn.assets.discard(asset)
            return
        new = [a for a in dict.fromkeys(assets) if a not in conn.assets]
        if not new:
            if operation:
                conn.send("NO NEW ASSETS")
            return
        initial_dump = payload.get("initial_dump", True) is not False
        snapshots = []
        now_ms = self.venue.clock.wall_ms()
        for asset in new:
            over_limit = len(conn.assets) >= MAX_ASSETS_PER_CONNECTION
            conn.assets.add(asset)
            if over_limit or not initial_dump or self.venue.market_of_token(asset) is None:
                continue
            snapshots.append(messages.ws_book(self.venue, asset, now_ms))
        if snapshots:
            conn.send(snapshots)

    def _on_user_request(self, conn: _Connection, payload: dict[str, Any]) -> None:
        if "auth" in payload:
            creds = self.auth.check_ws(payload.get("auth"))
            if creds is None:
                conn.send(None)  # bad credentials: close the connection
                return
            conn.authenticated = True
            conn.api_key = creds.api_key
            conn.address = creds.address
        if not conn.authenticated:
            conn.send("INVALID OPERATION")
            return
        markets = payload.get("markets", [])
        if not isinstance(markets, list):
            conn.send("INVALID OPERATION")
            return
        operation = str(payload.get("operation", "")).lower()
        if operation == "unsubscribe":
            for market in markets:
                conn.markets.discard(str(market))
        else:
            conn.markets.update(str(m) for m in markets)

    # ----------------------------------------------------------------- venue events
    def on_event(self, event: VenueEvent) -> None:
        """Fan one venue event out to the subscribed connections."""
        if isinstance(event, BookEvent):
            self._on_book(event)
        elif isinstance(event, LastTradeEvent):
            msg = messages.last_trade_price(event)
            for conn in self._market:
                if event.token_id in conn.assets:
                    conn.send(msg)
        elif isinstance(event, TickSizeEvent):
            msg = messages.tick_size_change(event)
            for conn in self._market:
                if event.token_id in conn.assets:
                    conn.send(msg)
        elif isinstance(event, ResolvedEvent):
            info = self.venue.market(event.condition_id)
            if info is None:
                return
            msg = messages.market_resolved(info, event)
            for conn in self._market:
                if conn.custom_features and conn.assets.intersection(info.token_ids):
                    conn.send(msg)
        elif isinstance(event, OrderEvent):
            order = event.order
            msg = messages.user_order(event)
            for conn in self._user:
                if conn.address == order.address and self._wants(conn, order.market):
                    conn.send(msg)
        elif isinstance(event, TradeEvent):
            trade = event.trade
            for conn in self._user:
                if trade.involves(conn.address) and self._wants(conn, trade.market):
                    conn.send(
                        messages.user_trade(trade, conn.address, conn.api_key, event.timestamp_ms)
                    )

    @staticmethod
    def _wants(conn: _Connection, market: str) -> bool:
        return conn.authenticated and (not conn.markets or market in conn.markets)

    def _on_book(self, event: BookEvent) -> None:
        if not self._market:
            return
        changes = [(c.token_id, c.side, c.price_u, c.size_u) for c in event.changes]
        tokens = list(dict.fromkeys(c[0] for c in changes))
        tops_changed = []
        for token_id in tokens:
            top = messages.best_prices(self.venue, token_id)
            if self._top.get(token_id) != top:
                self._top[token_id] = top
                tops_changed.append(token_id)
        cache: dict[frozenset[str], dict[str, Any]] = {}
        for conn in self._market:
            wanted = frozenset(t for t in tokens if t in conn.assets)
            if not wanted:
                continue
            if wanted not in cache:
                cache[wanted] = messages.price_change(
                    self.venue,
                    event.condition_id,
                    [c for c in changes if c[0] in wanted],
                    event.timestamp_ms,
                )
            conn.send(cache[wanted])
            if conn.custom_features:
                for token_id in tops_changed:
                    if token_id in wanted:
                        conn.send(
                            messages.best_bid_ask(
                                self.venue, event.condition_id, token_id, event.timestamp_ms
                            )
                        )

    # ------------------------------------------------------------------------ admin
    async def drop(self, channel: str = "market") -> int:
        """Close every connection of a channel ("market", "user" or "all"); return how many."""
        conns: list[_Connection] = []
        if channel in ("market", "all"):
            conns += list(self._market)
        if channel in ("user", "all"):
            conns += list(self._user)
        for conn in conns:
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"dropped by simulator")
        return len(conns)

    async def close_all(self) -> None:
        """Close every connection (server shutdown)."""
        await self.drop("all")
