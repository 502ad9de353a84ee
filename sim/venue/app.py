"""The venue's HTTP/WebSocket server: REST + `/ws/market` + `/ws/user` + `/_sim/*` admin.

`VenueServer` wires a `Venue` core, the `Authenticator`, the REST routes, the WebSocket hub,
a poll loop (delayed matches, trade status steps, heartbeat expiry), test-only admin
endpoints and fault injection, and runs them on one aiohttp site bound to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sim.venue import messages
from sim.venue.auth import Authenticator
from sim.venue.core import Venue
from sim.venue.models import VenueError, to_units
from sim.venue.rest import Handler, RestApi, error_middleware, error_response
from sim.venue.ws import WebSocketHub

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Fault:
    """One armed fault: applies to the next `count` requests whose path is in `paths`."""

    kind: str
    count: int
    paths: tuple[str, ...]
    status: int = 429
    message: str = "Too Many Requests"
    delay_s: float = 0.0


@dataclass(slots=True)
class FaultInjector:
    """Test-only failure injection for REST calls (`POST /_sim/fault`)."""

    faults: list[Fault] = field(default_factory=list)

    def arm(self, spec: dict[str, Any]) -> Fault:
        """Arm a fault from its JSON description (see sim/README.md)."""
        kind = str(spec.get("kind", "status"))
        if kind not in ("status", "delay_response", "drop_response"):
            raise VenueError(400, f"unknown fault kind {kind!r}")
        paths = spec.get("paths") or ["/order", "/orders"]
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise VenueError(400, "paths: expected a list of strings")
        try:
            fault = Fault(
                kind=kind,
                count=int(spec.get("count", 1)),
                paths=tuple(paths),
                status=int(spec.get("status", 429)),
                message=str(spec.get("message", "Too Many Requests")),
                delay_s=float(spec.get("delay_s", 10.0)),
            )
        except (TypeError, ValueError):
            raise VenueError(400, "invalid fault description") from None
        self.faults.append(fault)
        return fault

    def take(self, path: str) -> Fault | None:
        """Consume and return the first armed fault matching `path`."""
        for fault in self.faults:
            if path in fault.paths and fault.count > 0:
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        return None


class VenueServer:
    """Serves one `Venue` over HTTP and WebSockets on `host:port` (port 0 = any free port)."""

    def __init__(
        self,
        venue: Venue,
        host: str = "127.0.0.1",
        port: int = 0,
        auth: Authenticator | None = None,
        ws_batch: bool = False,
        poll_interval_s: float = 0.02,
    ) -> None:
        self.venue = venue
        self.host = host
        self.port = port
        self.auth = auth or Authenticator(seed=venue.seed)
        self.rest = RestApi(venue, self.auth)
        self.hub = WebSocketHub(venue, self.auth, batch=ws_batch)
        self.faults = FaultInjector()
        self.poll_interval_s = poll_interval_s
        self._runner: web.AppRunner | None = None
        self._poller: asyncio.Task[None] | None = None
        self.app = self._build_app()

    # ---------------------------------------------------------------------- wiring
    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._fault_middleware, error_middleware])
        app.add_routes(self.rest.routes())
        app.add_routes(
            [
                web.get("/ws/market", self.hub.market_handler),
                web.get("/ws/user", self.hub.user_handler),
                web.post("/_sim/ws/drop", self.admin_drop),
                web.post("/_sim/fault", self.admin_fault),
                web.delete("/_sim/fault", self.admin_clear_faults),
                web.get("/_sim/book", self.admin_book),
                web.post("/_sim/resolve", self.admin_resolve),
                web.post("/_sim/tick-size", self.admin_tick_size),
                web.post("/_sim/fund", self.admin_fund),
                web.post("/_sim/place", self.admin_place),
                web.get("/_sim/account", self.admin_account),
            ]
        )
        return app

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        fault = self.faults.take(request.path) if self.faults.faults else None
        if fault is None:
            return await handler(request)
        if fault.kind == "status":
            return error_response(fault.status, fault.message)
        response = await handler(request)  # the venue really processes the request
        if fault.kind == "delay_response":
            await asyncio.sleep(fault.delay_s)
            return response
        if request.transport is not None:  # drop_response: close without answering
            request.transport.close()
        return response

    @property
    def base_url(self) -> str:
        """`http://host:port` of the CLOB REST API."""
        return f"http://{self.host}:{self.port}"

    @property
    def endpoints(self) -> dict[str, str]:
        """Every endpoint URL of the venue."""
        ws = f"ws://{self.host}:{self.port}"
        return {
            "clob_rest": self.base_url,
            "market_ws": f"{ws}/ws/market",
            "user_ws": f"{ws}/ws/user",
            "admin": f"{self.base_url}/_sim",
            "gamma": f"{self.base_url}/gamma",  # Gamma /markets and /events (VENUE §5)
        }

    async def start(self) -> None:
        """Bind and start serving; resolves `port` when it was 0."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        self._poller = asyncio.create_task(self._poll_loop())

    async def stop(self) -> None:
        """Stop the poll loop, close every connection, unbind."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        await self.hub.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> VenueServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_s)
            try:
                self.venue.poll()
            except Exception:
                log.exception("venue poll failed")

    # ----------------------------------------------------------------------- admin
    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        text = await request.text()
        try:
            body = json.loads(text) if text else {}
        except ValueError:
            raise VenueError(400, "Invalid payload") from None
        if not isinstance(body, dict):
            raise VenueError(400, "Invalid payload")
        return body

    async def admin_drop(self, request: web.Request) -> web.Response:
        """`POST /_sim/ws/drop?channel=market|user|all` → close WebSocket connections."""
        channel = request.query.get("channel", "market")
        if channel not in ("market", "user", "all"):
            raise VenueError(400, "channel: expected market, user or all")
        return web.json_response({"dropped": await self.hub.drop(channel)})

    async def admin_fault(self, request: web.Request) -> web.Response:
        """`POST /_sim/fault` → arm a REST fault."""
        fault = self.faults.arm(await self._body(request))
        return web.json_response({"armed": fault.kind, "count": fault.count})

    async def admin_clear_faults(self, request: web.Request) -> web.Response:
        """`DELETE /_sim/fault` → disarm every fault."""
        self.faults.faults.clear()
        return web.json_response({"armed": 0})

    async def admin_book(self, request: web.Request) -> web.Response:
        """`GET /_sim/book?token_id=` → exact book, best first, plus the `/book` hash."""
        token_id = request.query.get("token_id", "")
        if self.venue.market_of_token(token_id) is None:
            raise VenueError(404, "No orderbook exists for the requested token id")
        bids, asks = self.venue.book_levels_u(token_id)
        summary = messages.book_summary(self.venue, token_id, self.venue.clock.wall_ms())

        def levels(items: list[tuple[int, int]]) -> list[list[str]]:
            return [[messages.fmt_units(p), messages.fmt_units(s)] for p, s in items]

        return web.json_response(
            {
                "token_id": token_id,
                "bids": levels(bids),
                "asks": levels(asks),
                "tick_size": summary["tick_size"],
                "hash": summary["hash"],
            }
        )

    async def admin_resolve(self, request: web.Request) -> web.Response:
        """`POST /_sim/resolve` {"condition_id", "winning_token_id" | null}."""
        body = await self._body(request)
        winner = body.get("winning_token_id")
        self.venue.resolve_market(str(body.get("condition_id", "")), winner and str(winner))
        return web.json_response({"resolved": body.get("condition_id")})

    async def admin_tick_size(self, request: web.Request) -> web.Response:
        """`POST /_sim/tick-size` {"condition_id", "tick_size"}."""
        body = await self._body(request)
        condition_id = str(body.get("condition_id", ""))
        if self.venue.market(condition_id) is None:
            raise VenueError(404, "market not found")
        try:
            self.venue.set_tick_size(condition_id, float(body["tick_size"]))
        except (KeyError, TypeError, ValueError):
            raise VenueError(400, "tick_size: expected a number") from None
        return web.json_response({"tick_size": body["tick_size"]})

    async def admin_fund(self, request: web.Request) -> web.Response:
        """`POST /_sim/fund` {"address", "collateral_usdc"?, "token_id"?, "shares"?} → set."""
        body = await self._body(request)
        address = str(body.get("address", ""))
        if not address:
            raise VenueError(400, "address is required")
        acct = self.venue.account(address)
        try:
            if "collateral_usdc" in body:
                acct.collateral_u = to_units(body["collateral_usdc"])
            if "token_id" in body:
                acct.positions[str(body["token_id"])] = to_units(body.get("shares", 0))
        except (ArithmeticError, TypeError, ValueError):
            raise VenueError(400, "invalid amount") from None
        return web.json_response({"address": address, "collateral": str(acct.collateral_u)})

    async def admin_place(self, request: web.Request) -> web.Response:
        """`POST /_sim/place` {"owner", "token_id", "side", "price", "size", "order_type"?}."""
        body = await self._body(request)
        try:
            order_id = self.venue.place_internal(
                str(body["owner"]),
                str(body["token_id"]),
                str(body["side"]),
                float(body["price"]),
                float(body["size"]),
                str(body.get("order_type", "GTC")),
            )
        except (KeyError, TypeError, ValueError):
            raise VenueError(400, "Invalid payload") from None
        return web.json_response({"orderID": order_id})

    async def admin_account(self, request: web.Request) -> web.Response:
        """`GET /_sim/account?address=` → balances (micro units) and open order count."""
        address = request.query.get("address", "")
        acct = self.venue.account(address)
        return web.json_response(
            {
                "address": address,
                "collateral": str(acct.collateral_u),
                "reserved": str(acct.reserved_u),
                "positions": {k: str(v) for k, v in acct.positions.items()},
                "open_orders": len(self.venue.open_orders(address)),
            }
        )
