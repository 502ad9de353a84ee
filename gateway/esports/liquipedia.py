"""Liquipedia LPDB v3 (tier C, confirmation only): match results (ESPORTS §5).

``GET {url}/api/v3/match?wiki={wiki}&conditions=[[match2id::ID]]`` (or ``[[pagename::ID]]``
when the id contains a ``/``), header ``Authorization: Apikey KEY``. ``provider_ids.liquipedia``
is the match2id or the page name; on a page shared by several matches the row whose two
opponents are the match's teams is used. Opponents are placed on A/B by name.

Each row: newly won games (``match2games[].winner`` "1"/"2") → MAP_ENDED; ``finished`` 1 with
``winner`` → MATCH_ENDED with the opponents' scores as maps. The first answer is a silent
baseline (a finished match then gives MATCH_ENDED with ``backfill``). Requests are spaced to
``max_requests_per_minute`` over all matches (Liquipedia asks for very few requests).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp

from gateway.esports.events import EventStamp, ParseResult
from gateway.esports.ids import SIDE_A, SIDE_B, MatchDirectory
from gateway.esports.json_fields import as_int, as_list, as_object, load_json
from gateway.esports.match_state import MatchState, MatchStates
from gateway.esports.transport import (
    AdapterIO,
    ObserveFn,
    PollingAdapter,
)
from polyloly.clock import Clock
from polyloly.config import MarketConfig, ProviderConfig
from polyloly.domain import Game

SOURCE = "liquipedia"
WIKIS = {
    Game.LOL: "leagueoflegends",
    Game.DOTA2: "dota2",
    Game.CS2: "counterstrike",
    Game.VALORANT: "valorant",
}
USER_AGENT = "PolyLOL/1.0 (esports results confirmation; contact via repository owner)"


@dataclass(slots=True)
class _Match(MatchState):
    seen: bool = False


def conditions_for(provider_id: str) -> str:
    """The LPDB ``conditions`` selecting ``provider_id`` (a match2id or a page name)."""
    field_name = "pagename" if "/" in provider_id else "match2id"
    return f"[[{field_name}::{provider_id}]]"


class LiquipediaParser:
    """Turns LPDB v3 match answers into events (pure)."""

    def __init__(self, directory: MatchDirectory) -> None:
        self.directory = directory
        self._matches = MatchStates(directory, _Match.of)

    def is_final(self, provider_id: str) -> bool:
        """Whether the match of ``provider_id`` already ended (no need to ask again)."""
        state = self._matches.known(provider_id)
        return state is not None and state.progress.ended

    def parse_answer(self, raw: bytes, stamp: EventStamp) -> ParseResult:
        """Parse one ``{"result": [match2 rows]}`` answer."""
        body = as_object(load_json(raw), "answer")
        if body.get("error"):
            return ParseResult().malformed("provider_error", str(body.get("error"))[:300])
        rows = as_list(body.get("result"), "result")
        result = ParseResult()
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                result.malformed("bad_shape", f"result[{index}]: expected an object")
                continue
            state = self._matches.state_of(
                str(row.get("match2id", ""))
            ) or self._matches.state_of(str(row.get("pagename", "")))
            if state is None:
                result.unknown_id(row.get("match2id"))
                continue
            self._apply_row(state, row, stamp, result)
        return result

    def _apply_row(
        self, state: _Match, row: dict[str, Any], stamp: EventStamp, result: ParseResult
    ) -> None:
        opponents = [o for o in as_list(row.get("match2opponents") or [], "opponents")
                     if isinstance(o, dict)]
        if len(opponents) != 2:
            result.malformed("bad_shape", "match2opponents: expected two opponents")
            return
        named = [state.sides.side_of_name(o.get("name")) for o in opponents]
        sides = [side for side in named if side is not None]
        if len(sides) != 2 or set(sides) != {SIDE_A, SIDE_B}:
            if "/" not in state.match.provider_id:
                result.unknown_team(
                    f"Liquipedia opponents {[o.get('name') for o in opponents]!r} of "
                    f"{state.match.match_id}"
                )
            return  # on a shared page: another match's row
        by_index = {"1": sides[0], "2": sides[1]}
        scores = {sides[k]: as_int(opponents[k].get("score") or 0, "opponent score")
                  for k in (0, 1)}
        winners: dict[int, str] = {}
        games = as_list(row.get("match2games") or [], "match2games")
        for number, game in enumerate(games, start=1):
            if isinstance(game, dict) and str(game.get("winner", "")) in by_index:
                winners[number] = by_index[str(game["winner"])]
        finished = str(row.get("finished", "0")) in ("1", "true", "True")
        winner = by_index.get(str(row.get("winner", "")))
        progress = state.progress
        emissions: list[Any] = []
        if not state.seen:
            state.seen = True
            progress.baseline(scores[SIDE_A], scores[SIDE_B], winners)
            if finished and winner is not None:
                emissions += progress.match_ended(
                    winner, maps_a=scores[SIDE_A], maps_b=scores[SIDE_B], backfill=True
                )
        else:
            for number in sorted(winners):
                emissions += progress.map_ended(number, winners[number])
            if finished and winner is not None:
                emissions += progress.match_ended(
                    winner, maps_a=scores[SIDE_A], maps_b=scores[SIDE_B]
                )
        result.add_events(stamp, state.match.match_id, emissions, stamp.t_recv_ms)


class LiquipediaAdapter(PollingAdapter):
    """Polls LPDB for each configured match in turn, within the request budget."""

    def __init__(
        self,
        provider: ProviderConfig,
        markets: tuple[MarketConfig, ...],
        clock: Clock,
        observe: ObserveFn | None = None,
    ) -> None:
        directory = MatchDirectory(markets, SOURCE)
        super().__init__(SOURCE, provider, directory, clock, observe)
        self.parser = LiquipediaParser(directory)
        self.base_url = provider.url.rstrip("/")
        key = self.provider_key()
        self.headers = {"Authorization": f"Apikey {key or 'none'}", "User-Agent": USER_AGENT,
                        "Accept-Encoding": "gzip"}

    async def poll_once(
        self, session: aiohttp.ClientSession, io: AdapterIO, stop: asyncio.Event
    ) -> None:
        """Ask once for every configured match not yet final."""
        for provider_id in self.parser.directory.ids():
            tracked = self.parser.directory.lookup(provider_id)
            if tracked is None or self.parser.is_final(provider_id):
                continue
            answer = await self.fetch(
                session,
                f"{self.base_url}/api/v3/match",
                stop,
                headers=self.headers,
                params={"wiki": WIKIS[tracked.game], "conditions": conditions_for(provider_id)},
                ok_statuses=(200,),
            )
            if answer is None:
                return
            self.handle(answer.body, self.parser.parse_answer, io)
