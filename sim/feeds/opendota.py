"""OpenDota-like REST: ``GET /api/live`` and ``GET /api/matches/{match_id}`` (ESPORTS §1).

``/api/live`` serves one entry per Dota 2 game (map) in progress, refreshed every ``cadence_s``
and ``delay_s`` behind (OpenDota polls Steam every 60 s; Steam adds the spectator delay). Each
map of a series has its own match id: ``provider_ids.opendota_match_id + map_number - 1``.
``/api/matches/{id}`` answers 404 until the provider has seen that map end. Team A is radiant.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sim.feeds.context import FeedContext, ProviderDown, stable_int
from sim.feeds.server import NowFn, json_response
from sim.feeds.truth import LIVE, MatchState
from sim.scenario import MatchSpec

PROVIDER = "opendota"


def team_gold(state: MatchState, game_seconds: float) -> tuple[int, int]:
    """Return plausible team net worths (A, B) with the state's lead."""
    base = 4000 + 55 * game_seconds
    return round(base + state.gold_diff / 2), round(base - state.gold_diff / 2)


def _game_match_id(match: MatchSpec, map_number: int) -> int:
    return match.provider_ids.opendota_match_id + map_number - 1


def live_entry(ctx: FeedContext, match: MatchSpec, state: MatchState, match_t_s: float
               ) -> dict[str, Any]:
    """Return a Steam ``GetTopLiveGame`` entry (``/api/live`` item) for the map in progress."""
    game_time = round(state.game_seconds(match_t_s, match.game_clock_scale))
    lobby = stable_int(17, ctx.scenario.name, match.match_id, state.map_number, "lobby")
    players = [{"account_id": stable_int(9, match.teams[side], slot),
                "hero_id": 1 + stable_int(3, match.match_id, state.map_number, side, slot) % 120,
                "team_slot": slot, "team": side}
               for side in (0, 1) for slot in range(5)]
    refreshed_t = match.start_s + match_t_s + match.provider(PROVIDER).delay_s
    building = (state.towers_b << 11) | state.towers_a
    return {
        "activate_time": ctx.wall_ms(match.start_s + state.map_start_s) // 1000,
        "deactivate_time": 0,
        "server_steam_id": str(stable_int(17, lobby, "server")),
        "lobby_id": str(lobby),
        "league_id": stable_int(5, ctx.scenario.name, match.league),
        "lobby_type": 1,
        "game_time": game_time,
        "delay": round(match.provider(PROVIDER).delay_s),
        "spectators": 1000 + game_time % 977,
        "game_mode": 2,
        "average_mmr": 0,
        "match_id": str(_game_match_id(match, state.map_number)),
        "series_id": stable_int(6, ctx.scenario.name, match.match_id, "series"),
        "team_name_radiant": match.teams[0],
        "team_name_dire": match.teams[1],
        "team_logo_radiant": str(stable_int(18, match.teams[0], "logo")),
        "team_logo_dire": str(stable_int(18, match.teams[1], "logo")),
        "team_id_radiant": ctx.team_id(PROVIDER, match, 0, 7),
        "team_id_dire": ctx.team_id(PROVIDER, match, 1, 7),
        "sort_score": 10000 + game_time,
        "last_update_time": ctx.wall_ms(refreshed_t) // 1000,
        "radiant_lead": round(state.gold_diff),
        "radiant_score": state.kills_a,
        "dire_score": state.kills_b,
        "players": players,
        "building_state": building,
        "weekend_tourney_tournament_id": 0,
        "weekend_tourney_division": 0,
        "weekend_tourney_skill_level": 0,
        "weekend_tourney_bracket_round": 0,
        "custom_game_difficulty": 0,
        "is_player_draft": False,
        "is_watch_eligible": True,
    }


def _start_time(ctx: FeedContext, match: MatchSpec, state: MatchState, duration: int) -> int:
    """``start_time`` (Unix s) of a finished map: the real API's ``start_time + duration`` is
    when the game ended, and ``duration`` here is scaled game time, so start_time is counted
    back from the map's wall-clock end (not the compressed map's wall-clock start, which put
    the end ``duration`` minus the real map length in the future)."""
    end = state.map_end_s if state.map_end_s is not None else state.map_start_s
    return ctx.wall_ms(match.start_s + end) // 1000 - duration


def _player(ctx: FeedContext, match: MatchSpec, state: MatchState, map_number: int, side: int,
            slot: int, duration: int, radiant_win: bool) -> dict[str, Any]:
    kills = (state.kills_a if side == 0 else state.kills_b) // 5 + (slot == 0)
    deaths = (state.kills_b if side == 0 else state.kills_a) // 5
    assists = kills * 2
    minutes = max(duration / 60, 1.0)
    gold_total = team_gold(state, duration)[side] // 5
    gpm = round(gold_total / minutes)
    xpm = round(gpm * 1.2)
    won = radiant_win == (side == 0)
    return {
        "account_id": stable_int(9, match.teams[side], slot),
        "player_slot": slot if side == 0 else 128 + slot,
        "hero_id": 1 + stable_int(3, match.match_id, map_number, side, slot) % 120,
        **{f"item_{k}": (stable_int(3, side, slot, k) if k < 4 else 0) for k in range(6)},
        "backpack_0": 0, "backpack_1": 0, "backpack_2": 0,
        "kills": kills, "deaths": deaths, "assists": assists, "leaver_status": 0,
        "last_hits": round(minutes * 6), "denies": round(minutes / 2),
        "gold_per_min": gpm, "xp_per_min": xpm, "level": min(30, 1 + round(minutes / 2)),
        "hero_damage": kills * 2000, "tower_damage": 500, "hero_healing": 0,
        "gold": 1000, "gold_spent": gold_total - 1000,
        "ability_upgrades_arr": [5000 + k for k in range(12)],
        "personaname": None, "name": None, "last_login": None, "rank_tier": None,
        "is_subscriber": False, "radiant_win": radiant_win,
        "start_time": _start_time(ctx, match, state, duration),
        "duration": duration, "cluster": 225, "lobby_type": 1, "game_mode": 2,
        "is_contributor": False, "patch": 57, "region": 3, "isRadiant": side == 0,
        "win": int(won), "lose": int(not won), "total_gold": gold_total,
        "total_xp": round(xpm * minutes), "kills_per_min": kills / minutes,
        "kda": round((kills + assists) / (deaths + 1), 2) + 0.0, "abandons": 0,
        "benchmarks": {
            "gold_per_min": {"raw": gpm, "pct": None},
            "xp_per_min": {"raw": xpm, "pct": None},
            "kills_per_min": {"raw": kills / minutes, "pct": None},
            "last_hits_per_min": {"raw": 6.0, "pct": None},
            "hero_damage_per_min": {"raw": kills * 2000 / minutes, "pct": None},
            "hero_healing_per_min": {"raw": 0, "pct": None},
            "tower_damage": {"raw": 500, "pct": None},
        },
    }


def match_object(ctx: FeedContext, match: MatchSpec, map_number: int, state: MatchState
                 ) -> dict[str, Any]:
    """Return the ``/api/matches/{id}`` object (unparsed) of a finished map."""
    winner = state.map_winners[map_number - 1]
    radiant_win = winner == "A"
    end = state.map_end_s if state.map_end_s is not None else state.map_start_s
    duration = round((end - state.map_start_s) * match.game_clock_scale)
    league_id = stable_int(5, ctx.scenario.name, match.league)
    return {
        "players": [_player(ctx, match, state, map_number, side, slot, duration, radiant_win)
                    for side in (0, 1) for slot in range(5)],
        "radiant_win": radiant_win,
        "duration": duration,
        "pre_game_duration": 90,
        "start_time": _start_time(ctx, match, state, duration),
        "match_id": _game_match_id(match, map_number),
        "match_seq_num": stable_int(10, match.match_id, map_number, "seq"),
        "tower_status_radiant": 2047 >> state.towers_b,
        "tower_status_dire": 2047 >> state.towers_a,
        "barracks_status_radiant": 63 if radiant_win else 0,
        "barracks_status_dire": 0 if radiant_win else 63,
        "cluster": 225,
        "first_blood_time": 90,
        "lobby_type": 1,
        "human_players": 10,
        "leagueid": league_id,
        "game_mode": 2,
        "flags": 1,
        "engine": 1,
        "radiant_score": state.kills_a,
        "dire_score": state.kills_b,
        "radiant_team_id": ctx.team_id(PROVIDER, match, 0, 7),
        "radiant_name": match.teams[0],
        "radiant_logo": stable_int(18, match.teams[0], "logo"),
        "radiant_team_complete": 1,
        "dire_team_id": ctx.team_id(PROVIDER, match, 1, 7),
        "dire_name": match.teams[1],
        "dire_logo": stable_int(18, match.teams[1], "logo"),
        "dire_team_complete": 1,
        "radiant_captain": stable_int(9, match.teams[0], 0),
        "dire_captain": stable_int(9, match.teams[1], 0),
        "picks_bans": [{"is_pick": k % 3 == 2, "hero_id": 1 + (k * 7) % 120, "team": k % 2,
                        "order": k} for k in range(22)],
        "od_data": {"has_api": True, "has_gcdata": False, "has_parsed": False,
                    "has_archive": False},
        "league": {"leagueid": league_id, "ticket": None, "banner": None,
                   "tier": "professional", "name": None},
        "series_id": None,
        "series_type": None,
        "metadata": None,
        "patch": 57,
        "region": 3,
    }


def live_list(ctx: FeedContext, t_s: float) -> list[dict[str, Any]]:
    """Return ``/api/live`` at scenario time ``t_s`` (raises ``ProviderDown``)."""
    ctx.check_up(PROVIDER, t_s)
    entries = []
    for match in ctx.matches_for(PROVIDER):
        view = ctx.polled(PROVIDER, match, t_s)
        if view.state.phase == LIVE:
            entries.append(live_entry(ctx, match, view.state, view.match_t_s))
    return entries


def finished_match(ctx: FeedContext, match_id: int, t_s: float) -> dict[str, Any] | None:
    """Return ``/api/matches/{match_id}`` once the provider has seen that map end."""
    ctx.check_up(PROVIDER, t_s)
    for match in ctx.matches_for(PROVIDER):
        map_number = match_id - match.provider_ids.opendota_match_id + 1
        if not 1 <= map_number <= match.best_of:
            continue
        view = ctx.polled(PROVIDER, match, t_s)
        if len(view.state.map_winners) < map_number:
            return None
        timeline = ctx.timelines[PROVIDER][match.match_id]
        end_event = [e for e in timeline.events
                     if e.kind == "map_end" and e.map_number == map_number][0]
        return match_object(ctx, match, map_number, timeline.state_at(end_event.t_s))
    return None


def create_app(ctx: FeedContext, now_s: NowFn) -> web.Application:
    """Return the aiohttp app serving ``/api/live`` and ``/api/matches/{match_id}``."""

    async def live(_: web.Request) -> web.Response:
        try:
            return json_response(live_list(ctx, now_s()))
        except ProviderDown:
            return json_response({"error": "Service Unavailable"}, 503)

    async def matches(request: web.Request) -> web.Response:
        try:
            match_id = int(request.match_info["match_id"])
        except ValueError:
            return json_response({"error": "invalid match_id"}, 400)
        try:
            body = finished_match(ctx, match_id, now_s())
        except ProviderDown:
            return json_response({"error": "Service Unavailable"}, 503)
        if body is None:
            return json_response({"error": "Not Found"}, 404)
        return json_response(body)

    app = web.Application()
    app.router.add_get("/api/live", live)
    app.router.add_get("/api/matches/{match_id}", matches)
    return app
