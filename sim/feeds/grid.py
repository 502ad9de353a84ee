"""GRID-like Series Events WebSocket and Series State (ESPORTS §4).

* ``ws /live-data-feed/series/{seriesId}?key=K[&fromSequenceNumber=N]`` — envelopes
  ``{id, correlationId, occurredAt, publishedAt, seriesId, sequenceNumber,
  sessionSequenceNumber, events[]}``. Messages already published are replayed from ``N``
  (default: none, live only). No key → closed with 4001.
* ``POST /live-data-feed/series-state/graphql`` (header ``x-api-key``) with
  ``{"variables": {"id": seriesId}}`` → ``{"data": {"seriesState": {...}}}``.
Event types: ``series-started-game``, ``team-won-round``, ``player-killed-player``,
``player-destroyed-tower``, ``series-paused-game``, ``series-resumed-game``,
``team-won-game`` + ``series-ended-game``, ``team-won-series``.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from sim.feeds.context import FeedContext, stable_uuid
from sim.feeds.server import Broadcaster, NowFn, Subscriber, json_response
from sim.feeds.truth import FINISHED, LIVE, MatchState
from sim.scenario import MatchSpec, TimelineEvent

PROVIDER = "grid"
_SHORT_TYPES = {"kill": ("player", "killed", "player", "player-killed-player"),
                "tower": ("player", "destroyed", "tower", "player-destroyed-tower"),
                "round_end": ("team", "won", "round", "team-won-round"),
                "pause": ("series", "paused", "game", "series-paused-game"),
                "resume": ("series", "resumed", "game", "series-resumed-game"),
                "map_start": ("series", "started", "game", "series-started-game")}


def team_id(ctx: FeedContext, match: MatchSpec, side: int) -> str:
    """Return GRID's team id (a decimal string)."""
    return str(ctx.team_id(PROVIDER, match, side, 5))


def game_ref(match: MatchSpec, map_number: int) -> str:
    """Return GRID's game id of map ``map_number``."""
    return f"{match.provider_ids.grid_series_id}-game-{max(map_number, 1)}"


def series_state(ctx: FeedContext, match: MatchSpec, state: MatchState) -> dict[str, Any]:
    """Return the compact ``seriesState`` carried by winner events."""
    games = []
    for number in range(1, state.map_number + 1):
        done = number <= len(state.map_winners)
        winner = state.map_winners[number - 1] if done else None
        games.append({"id": game_ref(match, number), "sequenceNumber": number, "started": True,
                      "finished": done, "paused": state.paused and not done,
                      "teams": [{"id": team_id(ctx, match, s), "won": winner == "AB"[s]}
                                for s in (0, 1)]})
    return {
        "id": match.provider_ids.grid_series_id, "format": f"best-of-{match.best_of}",
        "started": state.map_number > 0, "finished": state.phase == FINISHED, "valid": True,
        "teams": [{"id": team_id(ctx, match, s), "name": match.teams[s],
                   "score": state.wins_a if s == 0 else state.wins_b,
                   "won": state.series_winner == "AB"[s] and state.phase == FINISHED}
                  for s in (0, 1)],
        "games": games,
    }


def _winner_event(ctx: FeedContext, match: MatchSpec, ev: TimelineEvent, state: MatchState,
                  index: int, of_series: bool) -> dict[str, Any]:
    side = 0 if ev.team == "A" else 1
    target_id = match.provider_ids.grid_series_id if of_series else game_ref(match,
                                                                            ev.map_number)
    score = state.rounds_a if side == 0 else state.rounds_b
    if match.game in ("lol", "dota2"):
        score = state.kills_a if side == 0 else state.kills_b
    return {
        "id": stable_uuid(match.match_id, "grid", index, of_series),
        "includesFullState": False,
        "type": "team-won-series" if of_series else "team-won-game",
        "actor": {"type": "team", "id": team_id(ctx, match, side),
                  "stateDelta": {"id": team_id(ctx, match, side),
                                 "game": {"id": game_ref(match, ev.map_number), "won": True}},
                  "state": {"id": team_id(ctx, match, side), "name": match.teams[side],
                            "side": ("blue", "red")[side],
                            "game": {"won": True, "score": score},
                            "series": {"score": state.wins_a if side == 0 else state.wins_b,
                                       "won": of_series}}},
        "action": "won",
        "target": {"type": "series" if of_series else "game", "id": target_id,
                   "stateDelta": {"id": target_id, "finished": True},
                   "state": {"id": target_id, "sequenceNumber": ev.map_number, "started": True,
                             "finished": True, "paused": False}},
        "seriesStateDelta": {"id": match.provider_ids.grid_series_id,
                             "games": [{"id": game_ref(match, ev.map_number),
                                        "finished": True}]},
        "seriesState": series_state(ctx, match, state),
    }


def _short_event(match: MatchSpec, ev: TimelineEvent, index: int, actor: tuple[str, str],
                 kind: tuple[str, str, str, str]) -> dict[str, Any]:
    actor_type, action, target_type, type_name = kind
    target_id = (game_ref(match, ev.map_number) if target_type == "game"
                 else f"{game_ref(match, ev.map_number)}-{target_type}-{index}")
    return {"id": stable_uuid(match.match_id, "grid", index), "includesFullState": False,
            "type": type_name, "actor": {"type": actor_type, "id": actor[0] if
                                         actor_type != "series" else actor[1]},
            "action": action, "target": {"type": target_type, "id": target_id}}


def events_for(ctx: FeedContext, match: MatchSpec, ev: TimelineEvent, state: MatchState,
               index: int) -> list[dict[str, Any]]:
    """Return the GRID events for timeline event ``ev`` (``state`` is the state after it)."""
    side = 0 if ev.team == "A" else 1
    actor = (team_id(ctx, match, side) if ev.kind == "round_end"
             else f"{team_id(ctx, match, side)}-p{index % 5 + 1}",
             match.provider_ids.grid_series_id)
    if ev.kind == "map_end":
        ended = {"id": stable_uuid(match.match_id, "grid", index, "ended"),
                 "includesFullState": False, "type": "series-ended-game",
                 "actor": {"type": "series", "id": match.provider_ids.grid_series_id},
                 "action": "ended",
                 "target": {"type": "game", "id": game_ref(match, ev.map_number)}}
        return [_winner_event(ctx, match, ev, state, index, False), ended]
    if ev.kind == "match_end":
        return [_winner_event(ctx, match, ev, state, index, True)]
    if ev.kind == "tower" and match.game != "dota2":
        return []
    kind = _SHORT_TYPES.get(ev.kind)
    if kind is None:
        return []
    return [_short_event(match, ev, index, actor, kind)]


def envelope(ctx: FeedContext, match: MatchSpec, events: list[dict[str, Any]],
             sequence: int, occurred_t_s: float, published_t_s: float) -> dict[str, Any]:
    """Return a Series Events message wrapping ``events``."""
    return {
        "id": stable_uuid(match.match_id, "grid-msg", sequence),
        "correlationId": stable_uuid(match.match_id, "grid-corr", sequence),
        "occurredAt": ctx.iso(occurred_t_s),
        "publishedAt": ctx.iso(published_t_s),
        "seriesId": match.provider_ids.grid_series_id,
        "sequenceNumber": sequence,
        "sessionSequenceNumber": sequence,
        "events": events,
    }


def full_series_state(ctx: FeedContext, match: MatchSpec, state: MatchState, match_t_s: float
                      ) -> dict[str, Any]:
    """Return the Series State GraphQL answer for ``state``."""
    games = []
    for number in range(1, state.map_number + 1):
        done = number <= len(state.map_winners)
        current = not done
        winner = state.map_winners[number - 1] if done else None
        rounds = (state.map_rounds[number - 1] if done and number <= len(state.map_rounds)
                  else (state.rounds_a, state.rounds_b))
        seconds = round(state.game_seconds(match_t_s, match.game_clock_scale))
        teams = []
        for side in (0, 1):
            a = side == 0
            score = rounds[side] if match.game in ("cs2", "valorant") else (
                state.kills_a if a else state.kills_b)
            teams.append({"id": team_id(ctx, match, side), "name": match.teams[side],
                          "side": ("blue", "red")[side] if match.game == "lol" else
                          ("radiant", "dire")[side] if match.game == "dota2" else
                          ("ct", "t")[side],
                          "won": winner == "AB"[side], "score": score,
                          "money": 0, "netWorth": 0,
                          "kills": state.kills_a if a else state.kills_b})
        games.append({"id": game_ref(match, number), "sequenceNumber": number,
                      "map": {"name": match.map_names[number - 1]}, "started": True,
                      "finished": done, "paused": state.paused and current,
                      "clock": ({"id": "game-clock", "type": "gameClock",
                                 "ticking": state.phase == LIVE and not state.paused,
                                 "ticksBackwards": False, "currentSeconds": seconds}
                                if current else None),
                      "teams": teams})
    return {"data": {"seriesState": {
        "id": match.provider_ids.grid_series_id,
        "title": {"nameShortened": match.game},
        "format": f"best-of-{match.best_of}",
        "started": state.map_number > 0, "finished": state.phase == FINISHED, "valid": True,
        "updatedAt": ctx.iso(match.start_s + max(match_t_s, 0.0)),
        "teams": [{"id": team_id(ctx, match, s), "name": match.teams[s],
                   "score": state.wins_a if s == 0 else state.wins_b,
                   "won": state.phase == FINISHED and state.series_winner == "AB"[s],
                   "kills": state.kills_a if s == 0 else state.kills_b,
                   "deaths": state.kills_b if s == 0 else state.kills_a}
                  for s in (0, 1)],
        "games": games,
    }}}


class GridHistory:
    """Messages already published per series, for ``fromSequenceNumber`` replays."""

    def __init__(self) -> None:
        self.messages: dict[str, list[tuple[int, bytes]]] = {}

    def add(self, series_id: str, sequence: int, payload: object) -> None:
        """Remember a published message."""
        self.messages.setdefault(series_id, []).append((sequence, orjson.dumps(payload)))

    def since(self, series_id: str, sequence: int) -> list[bytes]:
        """Return published messages with sequence number >= ``sequence``."""
        return [data for seq, data in self.messages.get(series_id, []) if seq >= sequence]


def create_app(ctx: FeedContext, now_s: NowFn, hub: Broadcaster, history: GridHistory,
               is_down: Any = None) -> web.Application:
    """Return the aiohttp app for Series Events (WS) and Series State (POST)."""

    def find(series_id: str) -> MatchSpec | None:
        for match in ctx.matches_for(PROVIDER):
            if match.provider_ids.grid_series_id == series_id:
                return match
        return None

    async def series_events(request: web.Request) -> web.StreamResponse:
        series_id = request.match_info["series_id"]
        match = find(series_id)
        if match is None:
            return json_response({"error": "series not found"}, 404)
        if is_down is not None and is_down(match):
            return json_response({"error": "Service Unavailable"}, 503)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if not request.query.get("key"):
            await ws.close(code=4001, message=b"missing key")
            return ws
        subscriber = Subscriber(ws)
        raw_from = request.query.get("fromSequenceNumber")
        if raw_from is not None and raw_from.isdigit():
            for data in history.since(series_id, int(raw_from)):
                subscriber.queue.put_nowait(data)
        await hub.serve(series_id, subscriber)
        return ws

    async def state_query(request: web.Request) -> web.Response:
        if "x-api-key" not in request.headers:
            return json_response({"errors": [{"message": "Unauthorized"}]}, 401)
        try:
            body = await request.json()
            variables = body.get("variables") or {}
            series_id = str(variables.get("id") or variables.get("seriesId"))
        except (ValueError, AttributeError):
            return json_response({"errors": [{"message": "invalid body"}]}, 400)
        match = find(series_id)
        if match is None:
            return json_response({"data": {"seriesState": None}})
        t_s = now_s()
        if is_down is not None and is_down(match):
            return json_response({"errors": [{"message": "Service Unavailable"}]}, 503)
        match_t = t_s - match.start_s - match.provider(PROVIDER).delay_s
        outage = match.provider(PROVIDER).outage_at(t_s)
        if outage is not None:
            match_t = outage.start_s - match.start_s - match.provider(PROVIDER).delay_s
        state = ctx.timelines[PROVIDER][match.match_id].state_at(match_t)
        return json_response(full_series_state(ctx, match, state, match_t))

    app = web.Application()
    app.router.add_get("/live-data-feed/series/{series_id}", series_events)
    app.router.add_post("/live-data-feed/series-state/graphql", state_query)
    return app
