"""Polymarket's public sports WebSocket (``wss://sports-api.polymarket.com/ws``), locally.

``ws /ws`` — no auth, no subscription: every client receives every ``sport_result`` object
(one JSON object per frame, shaped like the fixture items). The server sends the text
``ping`` every 5 s (wall) and closes sockets that have not answered ``pong`` within 10 s.
A message is pushed on each map/round change and at the end of a series, ``delay_s`` late.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import WSMsgType, web

from sim.feeds.context import FeedContext
from sim.feeds.server import Broadcaster, Subscriber
from sim.feeds.truth import FINISHED, MatchState
from sim.scenario import MatchSpec

PROVIDER = "polymarket_sports"
CHANNEL = "all"
PING_INTERVAL_S = 5.0
PONG_TIMEOUT_S = 10.0
LEAGUES = {"lol": "lol", "dota2": "dota2", "cs2": "cs2", "valorant": "val"}


def sport_result(ctx: FeedContext, match: MatchSpec, state: MatchState, t_s: float
                 ) -> dict[str, Any]:
    """Return a ``sport_result`` object for ``state`` (pushed at scenario time ``t_s``)."""
    finished = state.phase == FINISHED
    rounds = (state.rounds_a, state.rounds_b) if state.map_end_s is None else (0, 0)
    if match.game not in ("cs2", "valorant"):
        rounds = (0, 0)
    score = (f"{rounds[0]:03d}-{rounds[1]:03d}|{state.wins_a}-{state.wins_b}|"
             f"Bo{match.best_of}")
    day = ctx.iso(match.start_s)[:10]
    slug = "-".join([LEAGUES[match.game], *(t.lower().replace(" ", "-").replace(".", "")
                                            for t in match.teams), day])
    body: dict[str, Any] = {
        "gameId": match.provider_ids.polymarket_game_id,
        "leagueAbbreviation": LEAGUES[match.game],
        "slug": slug,
        "homeTeam": match.teams[0],
        "awayTeam": match.teams[1],
        "status": "finished" if finished else "InProgress",
        "score": score,
        "period": f"{max(state.map_number, 1)}/{match.best_of}",
        "live": not finished,
        "ended": finished,
    }
    if finished:
        body["finished_timestamp"] = ctx.iso(t_s)
    return body


def create_app(hub: Broadcaster, is_down: Any = None) -> web.Application:
    """Return the aiohttp app serving ``/ws``."""

    async def socket(request: web.Request) -> web.StreamResponse:
        if is_down is not None and is_down(None):
            return web.Response(status=503, text="Service Unavailable")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        subscriber = Subscriber(ws)
        hub.add(CHANNEL, subscriber)
        last_pong = time.monotonic()

        async def pinger() -> None:
            while not ws.closed:
                await asyncio.sleep(PING_INTERVAL_S)
                if time.monotonic() - last_pong > PONG_TIMEOUT_S:
                    await ws.close(code=1008, message=b"pong timeout")
                    return
                await ws.send_str("ping")

        tasks = [asyncio.ensure_future(hub.pump(subscriber)), asyncio.ensure_future(pinger())]
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT and message.data.strip().lower() == "pong":
                    last_pong = time.monotonic()
        finally:
            hub.remove(CHANNEL, subscriber)
            for task in tasks:
                task.cancel()
        return ws

    app = web.Application()
    app.router.add_get("/ws", socket)
    return app
