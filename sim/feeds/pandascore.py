"""PandaScore Live-like WebSockets (ESPORTS §3.3) and ``GET /lives``.

* ``ws /matches/{match_id}?token=T`` — frames: ``{"type":"hello","payload":{}}`` then one
  snapshot every ``cadence_s`` (2 s) while the series is played; closed with code 1000 after
  the series ends. No token → closed with 4001.
* ``ws /matches/{match_id}/events?token=T`` — LoL ``kill_feed`` and CS ``round_end`` events.
* ``GET /lives`` — the sockets currently open.
Frames and events are computed by the world core (``sim.feeds.schedule``) and pushed here.
Team A is blue/radiant and starts CT; CS sides swap after round 12 and every 3 OT rounds.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sim.feeds.context import FeedContext, stable_int, stable_uuid
from sim.feeds.server import Broadcaster, NowFn, Subscriber, json_response
from sim.feeds.truth import FINISHED, MatchState
from sim.scenario import MatchSpec, TimelineEvent

PROVIDER = "pandascore"
LOL_ROLES = ("top", "jun", "mid", "adc", "sup")
CHAMPIONS = (("Renekton", 3058), ("Vi", 3254), ("Azir", 3268), ("Varus", 3110), ("Rell", 3526))


def game_id(match: MatchSpec, map_number: int) -> int:
    """Return the PandaScore game id of map ``map_number``."""
    return match.provider_ids.pandascore_match_id * 10 + max(map_number, 1)


def _winner_id(ctx: FeedContext, match: MatchSpec, team: str | None) -> int | None:
    if team is None:
        return None
    return ctx.team_id(PROVIDER, match, 0 if team == "A" else 1)


def _lol_players(match: MatchSpec, side: int, state: MatchState, game_seconds: float
                 ) -> dict[str, Any]:
    kills = state.kills_a if side == 0 else state.kills_b
    deaths = state.kills_b if side == 0 else state.kills_a
    players = {}
    for k, role in enumerate(LOL_ROLES):
        champion, champion_id = CHAMPIONS[k]
        players[role] = {
            "id": stable_int(5, match.teams[side], role),
            "name": f"{match.teams[side][:3]}{role.title()}",
            "champion": {"id": champion_id + side, "name": champion, "image_url": None},
            "level": min(18, 1 + int(game_seconds / 100)),
            "kills": kills // 5 + (k == 2 and kills % 5 > 0),
            "deaths": deaths // 5, "assists": kills // 2,
            "cs": round(game_seconds / 60 * (1 if k in (1, 4) else 8)),
            "hp": 1500 + 100 * k, "items": [], "summoner_spells": [],
        }
    return players


def _lol_team(ctx: FeedContext, match: MatchSpec, state: MatchState, side: int,
              game_seconds: float) -> dict[str, Any]:
    a = side == 0
    base = 2500 + 21 * game_seconds
    gold = base + (state.gold_diff / 2 if a else -state.gold_diff / 2)
    name = match.teams[side]
    return {
        "id": ctx.team_id(PROVIDER, match, side), "name": name,
        "acronym": "".join(w[0] for w in name.split())[:3].upper(),
        "gold": round(gold),
        "kills": state.kills_a if a else state.kills_b,
        "towers": state.towers_a if a else state.towers_b,
        "inhibitors": state.inhibitors_a if a else state.inhibitors_b,
        "drakes": len(state.dragons_a if a else state.dragons_b),
        "nashors": state.barons_a if a else state.barons_b,
        "herald": 0, "voidgrubs": 0,
        "score": state.wins_a if a else state.wins_b,
        "players": _lol_players(match, side, state, game_seconds),
    }


def cs_side_of_a(round_number: int) -> str:
    """Return A's side ("counter_terrorists"/"terrorists") in round ``round_number`` (1-based)."""
    if round_number <= 12:
        swapped = False
    elif round_number <= 24:
        swapped = True
    else:
        block = (round_number - 25) // 3
        swapped = block % 2 == 1
    return "terrorists" if swapped else "counter_terrorists"


def frame(ctx: FeedContext, match: MatchSpec, state: MatchState, match_t_s: float
          ) -> dict[str, Any]:
    """Return one frame of the current (or last) game at match time ``match_t_s``."""
    game_seconds = state.game_seconds(match_t_s, match.game_clock_scale)
    map_number = max(state.map_number, 1)
    finished = state.map_end_s is not None
    winner = state.map_winners[-1] if finished and state.map_winners else None
    body: dict[str, Any] = {
        "current_timestamp": round(game_seconds),
        "paused": state.paused,
        "game": {"id": game_id(match, map_number), "finished": finished,
                 "winner_id": _winner_id(ctx, match, winner)},
        "match": {"id": match.provider_ids.pandascore_match_id},
        "tournament": {"id": stable_int(5, ctx.scenario.name, match.league)},
    }
    if match.game == "lol":
        body["blue"] = _lol_team(ctx, match, state, 0, game_seconds)
        body["red"] = _lol_team(ctx, match, state, 1, game_seconds)
    elif match.game == "dota2":
        body["daytime"] = int(game_seconds // 300) % 2 == 0
        for side, key in ((0, "radiant"), (1, "dire")):
            a = side == 0
            destroyed = state.towers_b if a else state.towers_a
            body[key] = {"id": ctx.team_id(PROVIDER, match, side), "name": match.teams[side],
                         "score": state.kills_a if a else state.kills_b,
                         "towers": {"destroyed": destroyed, "remaining": 11 - destroyed},
                         "barracks": {"destroyed": 0, "remaining": 6}, "players": []}
    else:
        round_number = state.rounds_a + state.rounds_b + (0 if finished else 1)
        a_side = cs_side_of_a(max(round_number, 1))
        b_side = "terrorists" if a_side == "counter_terrorists" else "counter_terrorists"
        body["map"] = {"id": stable_int(2, match.map_names[map_number - 1]),
                       "name": match.map_names[map_number - 1]}
        body["round"] = round_number
        body["bomb_planted"] = False
        for side, key in ((0, a_side), (1, b_side)):
            a = side == 0
            body[key] = {"id": ctx.team_id(PROVIDER, match, side), "name": match.teams[side],
                         "round_score": state.rounds_a if a else state.rounds_b,
                         "score": state.wins_a if a else state.wins_b, "players": []}
    return body


_LOL_KILLED = {"kill": ("player", "player_kill"), "dragon": ("drake", "drake_kill"),
               "baron": ("baron_nashor", "baron_nashor_kill"), "tower": ("tower", "tower_kill"),
               "inhibitor": ("inhibitor", "inhibitor_kill")}


def event(ctx: FeedContext, match: MatchSpec, ev: TimelineEvent, state: MatchState,
          wall_ms: int, index: int) -> dict[str, Any] | None:
    """Return the events-feed message for timeline event ``ev`` (None when not reported)."""
    if match.game == "lol" and ev.kind in _LOL_KILLED and ev.team is not None:
        killed_type, payload_type = _LOL_KILLED[ev.kind]
        side = 0 if ev.team == "A" else 1
        colour = ("blue", "red")[side]
        role = LOL_ROLES[index % 5]
        killer = {"type": "player", "object": {
            "id": stable_int(5, match.teams[side], role),
            "name": f"{match.teams[side][:3]}{role.title()}", "side": colour,
            "champion": {"id": CHAMPIONS[index % 5][1] + side,
                         "name": CHAMPIONS[index % 5][0]}}}
        if ev.kind == "dragon":
            taken = state.dragons_a if side == 0 else state.dragons_b
            dragon = taken[-1] if taken else "infernal"
            killed = {"type": killed_type,
                      "object": {"name": f"{dragon.title()} Drake", "type": dragon}}
        else:
            killed = {"type": killed_type, "object": {"name": killed_type.replace("_", " "),
                                                      "type": killed_type}}
        return {"type": "kill_feed", "id": stable_uuid(match.match_id, "ev", index),
                "ts": wall_ms,
                "ingame_timestamp": round(state.game_seconds(ev.t_s, match.game_clock_scale)),
                "game": {"id": game_id(match, ev.map_number)},
                "match": {"id": match.provider_ids.pandascore_match_id},
                "payload": {"type": payload_type, "killer": killer, "killed": killed,
                            "assists": []}}
    if match.game == "cs2" and ev.kind == "round_end" and ev.team is not None:
        round_number = state.rounds_a + state.rounds_b
        a_side = cs_side_of_a(round_number)
        b_side = "terrorists" if a_side == "counter_terrorists" else "counter_terrorists"
        winner_side = a_side if ev.team == "A" else b_side
        side = 0 if ev.team == "A" else 1
        return {"type": "round_end", "id": stable_uuid(match.match_id, "ev", index),
                "ts": wall_ms,
                "game": {"id": game_id(match, ev.map_number),
                         "map": {"id": stable_int(2, match.map_names[ev.map_number - 1]),
                                 "name": match.map_names[ev.map_number - 1]}},
                "match": {"id": match.provider_ids.pandascore_match_id},
                "payload": {
                    "round_number": round_number,
                    "outcome": ("eliminated", "defused", "exploded", "timeout")[index % 4],
                    "winner": {"id": ctx.team_id(PROVIDER, match, side),
                               "name": match.teams[side], "side": winner_side},
                    "round_score": {
                        a_side: {"team_id": ctx.team_id(PROVIDER, match, 0),
                                 "team_name": match.teams[0], "score": state.rounds_a},
                        b_side: {"team_id": ctx.team_id(PROVIDER, match, 1),
                                 "team_name": match.teams[1], "score": state.rounds_b},
                    }}}
    return None


def frames_channel(match: MatchSpec) -> str:
    """Channel name of a match's frames socket."""
    return f"{match.provider_ids.pandascore_match_id}/frames"


def events_channel(match: MatchSpec) -> str:
    """Channel name of a match's events socket."""
    return f"{match.provider_ids.pandascore_match_id}/events"


def is_finished(state: MatchState) -> bool:
    """Return True once the series is over (the socket then closes with 1000)."""
    return state.phase == FINISHED


def create_app(ctx: FeedContext, now_s: NowFn, hub: Broadcaster,
               is_down: Any = None) -> web.Application:
    """Return the aiohttp app; ``hub`` receives frames/events from the world shell."""

    def find(match_id: str) -> MatchSpec | None:
        for match in ctx.matches_for(PROVIDER):
            if str(match.provider_ids.pandascore_match_id) == match_id:
                return match
        return None

    async def socket(request: web.Request, channel_of: Any) -> web.StreamResponse:
        match = find(request.match_info["match_id"])
        if match is None:
            return json_response({"error": "Not Found"}, 404)
        if is_down is not None and is_down(match):
            return json_response({"error": "Service Unavailable"}, 503)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if not request.query.get("token"):
            await ws.close(code=4001, message=b"missing token")
            return ws
        await ws.send_json({"type": "hello", "payload": {}})
        settings = match.provider(PROVIDER)
        over_at = (match.start_s + ctx.timelines[PROVIDER][match.match_id].end_s
                   + settings.delay_s + (settings.cadence_s or 2.0))
        if now_s() > over_at:  # the match is over: PandaScore closes with 1000
            await ws.close(code=1000, message=b"match finished")
            return ws
        subscriber = Subscriber(ws)
        channel = channel_of(match)
        await hub.serve(channel, subscriber)
        return ws

    async def frames(request: web.Request) -> web.StreamResponse:
        return await socket(request, frames_channel)

    async def events(request: web.Request) -> web.StreamResponse:
        return await socket(request, events_channel)

    async def lives(request: web.Request) -> web.Response:
        t_s = now_s()
        result = []
        for match in ctx.matches_for(PROVIDER):
            timeline = ctx.timelines[PROVIDER][match.match_id]
            match_t = t_s - match.start_s
            if not -900 <= match_t <= timeline.end_s:
                continue
            match_id = match.provider_ids.pandascore_match_id
            result.append({
                "endpoints": [{"match_id": match_id, "open": True, "type": kind,
                               "url": f"ws://{request.host}/matches/{match_id}{suffix}",
                               "begin_at": ctx.iso(match.start_s),
                               "expected_begin_at": ctx.iso(match.start_s),
                               "last_active": ctx.wall_ms(t_s)}
                              for kind, suffix in (("frames", ""), ("events", "/events"))],
                "match": {"id": match_id, "name": f"{match.teams[0]} vs {match.teams[1]}",
                          "status": "running" if match_t >= 0 else "not_started",
                          "number_of_games": match.best_of},
            })
        return json_response(result)

    app = web.Application()
    app.router.add_get("/matches/{match_id}", frames)
    app.router.add_get("/matches/{match_id}/events", events)
    app.router.add_get("/lives", lives)
    return app
