"""LoL Esports-like feed (ESPORTS §2): livestats windows and ``getLive``.

* ``GET /livestats/v1/window/{gameId}?startingTime=RFC3339`` — no auth. Frames are sampled
  every ``cadence_s`` of scenario time while the map is played and become visible ``delay_s``
  after they happen. A window holds the frames of 10 wall seconds from ``startingTime`` (its
  seconds must be divisible by 10: 400 otherwise); without it, the newest frames. HTTP 204
  before the game has frames. The last frame is ``gameState: "finished"`` with no winner field.
* ``GET /persisted/gw/getLive?hl=en-US`` — needs an ``x-api-key`` header; lists series in
  progress with ``result.gameWins`` per team and ``outcome`` once decided (kept 300 s after).
* ``GET /persisted/gw/getEventDetails?hl=en-US&id={matchId}`` — the series' game ids in map
  order with their ``state`` (``completed``/``inProgress``/``unstarted``/``unneeded``).
Team A is blue; game ids are ``provider_ids.lolesports_game_ids[map_number - 1]``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sim.feeds.context import FeedContext, ProviderDown, parse_iso, stable_int
from sim.feeds.server import NowFn, json_response
from sim.feeds.truth import MatchState
from sim.scenario import MatchSpec

PROVIDER = "lolesports"
ROLES = ("top", "jungle", "mid", "bottom", "support")
CHAMPIONS = ("Renekton", "Vi", "Azir", "Varus", "Rell", "KSante", "Sejuani", "Taliyah",
             "Kalista", "Nautilus")
WINDOW_MS = 10_000


def _team_gold(state: MatchState, game_seconds: float) -> tuple[int, int]:
    base = 2500 + 21 * game_seconds
    return round(base + state.gold_diff / 2), round(base - state.gold_diff / 2)


def _participants(state: MatchState, side: int, total_gold: int, game_seconds: float
                  ) -> list[dict[str, Any]]:
    kills = state.kills_a if side == 0 else state.kills_b
    deaths = state.kills_b if side == 0 else state.kills_a
    level = min(18, 1 + int(game_seconds / 100))
    result = []
    for k in range(5):
        share = (0.22, 0.18, 0.22, 0.24, 0.14)[k]
        result.append({
            "participantId": side * 5 + k + 1,
            "totalGold": round(total_gold * share),
            "level": level,
            "kills": kills // 5 + (k == 2 and kills % 5 > 0),
            "deaths": deaths // 5,
            "assists": kills // 2,
            "creepScore": round(game_seconds / 60 * (1 if k in (1, 4) else 8)),
            "currentHealth": 1500 + 100 * k,
            "maxHealth": 2000 + 100 * k,
        })
    return result


def _team_frame(state: MatchState, side: int, gold: int, game_seconds: float
                ) -> dict[str, Any]:
    a = side == 0
    return {
        "totalGold": gold,
        "inhibitors": state.inhibitors_a if a else state.inhibitors_b,
        "towers": state.towers_a if a else state.towers_b,
        "barons": state.barons_a if a else state.barons_b,
        "totalKills": state.kills_a if a else state.kills_b,
        "dragons": list(state.dragons_a if a else state.dragons_b),
        "participants": _participants(state, side, gold, game_seconds),
    }


def frame(ctx: FeedContext, match: MatchSpec, state: MatchState, match_t_s: float,
          finished: bool) -> dict[str, Any]:
    """Return one window frame for the state at match time ``match_t_s``."""
    game_seconds = state.game_seconds(match_t_s, match.game_clock_scale)
    gold_a, gold_b = _team_gold(state, game_seconds)
    return {
        "rfc460Timestamp": ctx.iso(match.start_s + match_t_s),
        "gameState": "finished" if finished else "in_game",
        "blueTeam": _team_frame(state, 0, gold_a, game_seconds),
        "redTeam": _team_frame(state, 1, gold_b, game_seconds),
    }


def _metadata(ctx: FeedContext, match: MatchSpec) -> dict[str, Any]:
    def team(side: int) -> dict[str, Any]:
        return {
            "esportsTeamId": str(ctx.team_id(PROVIDER, match, side, 17)),
            "participantMetadata": [
                {"participantId": side * 5 + k + 1,
                 "esportsPlayerId": str(stable_int(6, match.teams[side], k)),
                 "summonerName": f"{match.teams[side]} {ROLES[k].title()}",
                 "championId": CHAMPIONS[side * 5 + k], "role": ROLES[k]}
                for k in range(5)],
        }
    return {"patchVersion": "15.10.679.1234", "blueTeamMetadata": team(0),
            "redTeamMetadata": team(1)}


def _frame_times(ctx: FeedContext, match: MatchSpec, map_number: int) -> list[tuple[float, bool]]:
    """Return the match times of the frames of map ``map_number`` (and whether final)."""
    timeline = ctx.timelines[PROVIDER][match.match_id]
    start = [e.t_s for e in timeline.events
             if e.kind == "map_start" and e.map_number == map_number]
    if not start:
        return []
    ends = [e.t_s for e in timeline.events if e.kind == "map_end" and e.map_number == map_number]
    end = ends[0] if ends else timeline.end_s
    step = match.provider(PROVIDER).cadence_s or 10.0
    times = [(start[0] + k * step, False) for k in range(int((end - start[0]) / step) + 1)
             if start[0] + k * step < end]
    return [*times, (end, True)]


def find_game(ctx: FeedContext, game_id: str) -> tuple[MatchSpec, int] | None:
    """Return (match, map number) of a LoL Esports game id."""
    for match in ctx.matches_for(PROVIDER):
        if game_id in match.provider_ids.lolesports_game_ids:
            return match, match.provider_ids.lolesports_game_ids.index(game_id) + 1
    return None


def window(ctx: FeedContext, game_id: str, starting_ms: int | None, t_s: float
           ) -> dict[str, Any] | None:
    """Return the window at scenario time ``t_s``, or None (HTTP 204) before any frame."""
    found = find_game(ctx, game_id)
    if found is None:
        return None
    match, map_number = found
    ctx.check_up(PROVIDER, t_s, match)
    settings = match.provider(PROVIDER)
    outage = settings.outage_at(t_s)
    visible_until = (outage.start_s if outage else t_s) - settings.delay_s - match.start_s
    timeline = ctx.timelines[PROVIDER][match.match_id]
    frames = [(mt, fin) for mt, fin in _frame_times(ctx, match, map_number)
              if mt <= visible_until]
    if not frames:
        return None
    if starting_ms is None:
        newest = ctx.wall_ms(match.start_s + frames[-1][0])
        starting_ms = newest - newest % WINDOW_MS
    chosen = [(mt, fin) for mt, fin in frames
              if starting_ms <= ctx.wall_ms(match.start_s + mt) < starting_ms + WINDOW_MS]
    if not chosen:
        later = [f for f in frames if ctx.wall_ms(match.start_s + f[0]) >= starting_ms]
        chosen = [later[0]] if later else [frames[-1]]
    return {
        "esportsGameId": game_id,
        "esportsMatchId": match.provider_ids.lolesports_match_id,
        "gameMetadata": _metadata(ctx, match),
        "frames": [frame(ctx, match, timeline.state_at(mt), mt, fin) for mt, fin in chosen],
    }


def get_live(ctx: FeedContext, t_s: float) -> dict[str, Any]:
    """Return ``getLive`` at scenario time ``t_s``: series started and not long finished."""
    ctx.check_up(PROVIDER, t_s)
    events: list[dict[str, Any]] = []
    for match in ctx.matches_for(PROVIDER):
        view = ctx.polled(PROVIDER, match, t_s)
        timeline = ctx.timelines[PROVIDER][match.match_id]
        if view.match_t_s < 0 or view.match_t_s > timeline.end_s + 300:
            continue
        state = view.state
        finished = state.phase == "finished"

        def team(side: int, state: MatchState = state, finished: bool = finished,
                 match: MatchSpec = match) -> dict[str, Any]:
            wins = state.wins_a if side == 0 else state.wins_b
            won = state.series_winner == ("A" if side == 0 else "B")
            name = match.teams[side]
            return {
                "id": str(ctx.team_id(PROVIDER, match, side, 17)), "name": name,
                "code": "".join(w[0] for w in name.split())[:3].upper() or name[:3],
                "slug": name.lower().replace(" ", "-"), "image": "",
                "result": {"outcome": ("win" if won else "loss") if finished else None,
                           "gameWins": wins},
                "record": {"wins": 0, "losses": 0},
            }

        league = match.league
        events.append({
            "id": match.provider_ids.lolesports_match_id,
            "startTime": ctx.iso(match.start_s).split(".")[0] + "Z",
            "state": "completed" if finished else "inProgress",
            "type": "match",
            "blockName": "Sim Week",
            "league": {"id": str(stable_int(17, league)), "slug": league.lower(),
                       "name": league, "image": "", "priority": 1},
            "tournament": {"id": str(stable_int(18, ctx.scenario.name, league))},
            "match": {"id": match.provider_ids.lolesports_match_id,
                      "strategy": {"type": "bestOf", "count": match.best_of},
                      "teams": [team(0), team(1)]},
            "streams": [],
        })
    return {"data": {"schedule": {"events": events or None}}}


def event_details(ctx: FeedContext, match_id: str, t_s: float) -> dict[str, Any] | None:
    """Return ``getEventDetails`` for LoL Esports match ``match_id`` (None when unknown)."""
    ctx.check_up(PROVIDER, t_s)
    for match in ctx.matches_for(PROVIDER):
        if match.provider_ids.lolesports_match_id != match_id:
            continue
        state = ctx.polled(PROVIDER, match, t_s).state
        games = []
        for number, game_id in enumerate(match.provider_ids.lolesports_game_ids, start=1):
            if number <= len(state.map_winners):
                game_state = "completed"
            elif number == state.map_number and state.phase == "live":
                game_state = "inProgress"
            elif state.phase == "finished":
                game_state = "unneeded"
            else:
                game_state = "unstarted"
            games.append({"id": game_id, "number": number, "state": game_state,
                          "teams": [{"id": str(ctx.team_id(PROVIDER, match, side, 17)),
                                     "side": ("blue", "red")[side]} for side in (0, 1)],
                          "vods": []})
        league = match.league
        return {"data": {"event": {
            "id": match_id, "type": "match",
            "tournament": {"id": str(stable_int(18, ctx.scenario.name, league))},
            "league": {"id": str(stable_int(17, league)), "slug": league.lower(),
                       "image": "", "name": league},
            "match": {"strategy": {"count": match.best_of},
                      "teams": [{"id": str(ctx.team_id(PROVIDER, match, side, 17)),
                                 "result": {"gameWins": state.wins_a if side == 0
                                            else state.wins_b}} for side in (0, 1)],
                      "games": games},
            "streams": [],
        }}}
    return None


def create_app(ctx: FeedContext, now_s: NowFn) -> web.Application:
    """Return the aiohttp app serving the livestats window and ``getLive``."""

    async def window_handler(request: web.Request) -> web.Response:
        raw = request.query.get("startingTime")
        starting_ms = None
        if raw:
            try:
                starting_ms = parse_iso(raw)
            except ValueError:
                return json_response({"message": "invalid startingTime"}, 400)
            if starting_ms % WINDOW_MS:
                return json_response(
                    {"message": "startingTime seconds must be divisible by 10"}, 400)
        try:
            body = window(ctx, request.match_info["game_id"], starting_ms, now_s())
        except ProviderDown:
            return json_response({"message": "Service Unavailable"}, 503)
        if body is None:
            return web.Response(status=204)
        return json_response(body)

    async def get_live_handler(request: web.Request) -> web.Response:
        if "x-api-key" not in request.headers:
            return json_response({"message": "Forbidden"}, 403)
        try:
            return json_response(get_live(ctx, now_s()))
        except ProviderDown:
            return json_response({"message": "Service Unavailable"}, 503)

    async def event_details_handler(request: web.Request) -> web.Response:
        if "x-api-key" not in request.headers:
            return json_response({"message": "Forbidden"}, 403)
        try:
            body = event_details(ctx, request.query.get("id", ""), now_s())
        except ProviderDown:
            return json_response({"message": "Service Unavailable"}, 503)
        if body is None:
            return json_response({"message": "Not Found"}, 404)
        return json_response(body)

    app = web.Application()
    app.router.add_get("/persisted/gw/getEventDetails", event_details_handler)
    app.router.add_get("/livestats/v1/window/{game_id}", window_handler)
    app.router.add_get("/persisted/gw/getLive", get_live_handler)
    return app
