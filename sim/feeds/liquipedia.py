"""Liquipedia LPDB v3-like result endpoint (ESPORTS §5): slow, human-edited confirmation.

``GET /api/v3/match?wiki=counterstrike[&conditions=[[pagename::X]]]`` with header
``Authorization: Apikey K`` → ``{"result": [match2 rows]}``. A map result appears
``delay_s`` (minutes in reality) after the map ends, refreshed every ``cadence_s``;
``finished`` becomes 1 and ``winner`` "1"/"2" once the series is over.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from sim.feeds.context import FeedContext, ProviderDown
from sim.feeds.server import NowFn, json_response
from sim.feeds.truth import FINISHED, MatchState
from sim.scenario import MatchSpec

PROVIDER = "liquipedia"
WIKIS = {"lol": "leagueoflegends", "dota2": "dota2", "cs2": "counterstrike",
         "valorant": "valorant"}


def row(ctx: FeedContext, match: MatchSpec, state: MatchState) -> dict[str, Any]:
    """Return the LPDB ``match2`` row of ``match`` as Liquipedia currently shows it."""
    finished = state.phase == FINISHED
    games = []
    for number in range(1, match.best_of + 1):
        name = match.map_names[number - 1]
        if number <= len(state.map_winners):
            winner = state.map_winners[number - 1]
            if match.game in ("cs2", "valorant") and number <= len(state.map_rounds):
                scores = list(state.map_rounds[number - 1])
            else:
                scores = [1, 0] if winner == "A" else [0, 1]
            games.append({"map": name, "winner": "1" if winner == "A" else "2",
                          "scores": scores, "resulttype": "", "walkover": ""})
        else:
            games.append({"map": name, "winner": "", "scores": [],
                          "resulttype": "np" if finished else "", "walkover": ""})
    opponents = []
    for side in (0, 1):
        won = finished and state.series_winner == "AB"[side]
        opponents.append({"id": side + 1, "type": "team", "name": match.teams[side],
                          "template": match.teams[side].lower(),
                          "score": state.wins_a if side == 0 else state.wins_b,
                          "status": "S",
                          "placement": (1 if won else 2) if finished else 0,
                          "match2players": []})
    page = match.provider_ids.liquipedia_page
    return {
        "pagename": page,
        "match2id": f"{page.split('/')[0].upper()}_{match.match_id}".replace(" ", "_"),
        "match2bracketid": page.split("/")[0].upper(),
        "date": ctx.iso(match.start_s).replace("T", " ")[:19],
        "dateexact": 1,
        "bestof": match.best_of,
        "finished": int(finished),
        "winner": ("1" if state.series_winner == "A" else "2") if finished else "",
        "walkover": "",
        "resulttype": "",
        "tournament": match.league,
        "liquipediatier": "1",
        "match2opponents": opponents,
        "match2games": games,
        "extradata": {},
    }


_CONDITION = re.compile(r"\[\[(\w+)::([^\]]+)\]\]")


def query(ctx: FeedContext, wiki: str, conditions: str, t_s: float) -> dict[str, Any]:
    """Return ``{"result": [...]}`` for ``wiki`` filtered by ``[[field::value]]`` conditions."""
    ctx.check_up(PROVIDER, t_s)
    filters = _CONDITION.findall(conditions or "")
    result = []
    for match in ctx.matches_for(PROVIDER):
        if WIKIS[match.game] != wiki:
            continue
        view = ctx.polled(PROVIDER, match, t_s)
        body = row(ctx, match, view.state)
        if all(str(body.get(key)) == value.strip() for key, value in filters):
            result.append(body)
    return {"result": result}


def create_app(ctx: FeedContext, now_s: NowFn) -> web.Application:
    """Return the aiohttp app serving ``/api/v3/match``."""

    async def match_handler(request: web.Request) -> web.Response:
        if not request.headers.get("Authorization", "").startswith("Apikey "):
            return json_response({"error": "API key missing"}, 403)
        wiki = request.query.get("wiki", "")
        if wiki not in WIKIS.values():
            return json_response({"error": f"unknown wiki {wiki!r}"}, 400)
        try:
            return json_response(query(ctx, wiki, request.query.get("conditions", ""),
                                       now_s()))
        except ProviderDown:
            return json_response({"error": "Service Unavailable"}, 503)

    app = web.Application()
    app.router.add_get("/api/v3/match", match_handler)
    return app
