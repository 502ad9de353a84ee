"""LoL Esports (tier A per config): livestats windows + getLive / getEventDetails (ESPORTS §2).

* ``GET {url}/livestats/v1/window/{gameId}?startingTime=RFC3339`` (no auth; seconds of
  ``startingTime`` divisible by 10; HTTP 204 before the game has frames). Consecutive frames are
  diffed: a GAME_STATE is emitted whenever gold, kills, towers, inhibitors, barons or dragons
  change; the first ``in_game`` frame starts the map; a ``finished`` frame makes the adapter
  re-read getLive at once, because frames carry no winner.
* ``GET {api_url}/persisted/gw/getLive?hl=en-US`` (header ``x-api-key``): ``state`` inProgress
  → MATCH_STARTED; a team's ``result.gameWins`` going up → MAP_ENDED (that team won);
  ``result.outcome`` win/loss → MATCH_ENDED.
* ``GET {api_url}/persisted/gw/getEventDetails?hl=en-US&id={matchId}``: game ids in map order,
  asked only when ``provider_ids.lolesports_game_ids`` is empty.

``provider_ids.lolesports`` is the LoL Esports match id. Window requests trail wall-clock by
``expected_delay_ms`` (at least 10 s; bots use 20–60 s because newer windows are empty), so
consecutive polls every ``poll_interval_ms`` (10 s) cover consecutive windows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from gateway.esports.events import EventStamp, ParseResult
from gateway.esports.ids import SIDE_A, SIDE_B, MatchDirectory
from gateway.esports.json_fields import (
    as_int,
    as_list,
    as_number,
    as_object,
    iso_to_ms,
    load_json,
    object_or_empty,
)
from gateway.esports.match_state import MatchState, MatchStates
from gateway.esports.transport import (
    AdapterIO,
    ObserveFn,
    PollingAdapter,
)
from polyloly.clock import Clock
from polyloly.config import MarketConfig, ProviderConfig

SOURCE = "lolesports"
PUBLIC_API_KEY = "0TvQnueqKa5mxJntVWt0w4LpLfEkrV1Ta8rQBb9Z"  # lolesports.com website key
WINDOW_STEP_MS = 10_000
MIN_LAG_MS = 10_000  # newer windows are empty (ESPORTS §2.3)
_STATS = ("totalGold", "totalKills", "towers", "inhibitors", "barons")


@dataclass(slots=True)
class _Game:
    game_id: str
    number: int
    last_frame_ms: int = -1
    origin_ms: int | None = None  # timestamp of the game's first frame, when we saw it
    origin_known: bool = False
    finished: bool = False


@dataclass(slots=True)
class _Match(MatchState):
    game_ids: list[str] = field(default_factory=list)
    games: dict[str, _Game] = field(default_factory=dict)
    live_seen: bool = False
    in_progress: bool = False
    wins: dict[str, int] = field(default_factory=lambda: {SIDE_A: 0, SIDE_B: 0})


class LolEsportsParser:
    """Turns livestats windows and getLive/getEventDetails answers into events (pure)."""

    def __init__(
        self, directory: MatchDirectory, game_ids: dict[str, tuple[str, ...]] | None = None
    ) -> None:
        self.directory = directory
        self._matches = MatchStates(directory, _Match.of)
        self._by_game: dict[str, _Match] = {}
        self.pending_result = False  # a finished frame waits for getLive to name the winner
        self.ignored = 0  # getLive events of matches we do not track
        for provider_id in directory.ids():
            state = self._matches.state_of(provider_id)
            for game_id in (game_ids or {}).get(provider_id, ()):
                if state is not None:
                    self._add_game(state, str(game_id))

    def _add_game(self, state: _Match, game_id: str) -> None:
        if game_id in state.game_ids:
            return
        state.game_ids.append(game_id)
        state.games[game_id] = _Game(game_id, len(state.game_ids))
        self._by_game[game_id] = state

    def knows_games(self, match_id: str) -> bool:
        """Whether the game ids of ``match_id`` are known."""
        state = self._matches.known(match_id)
        return bool(state and state.game_ids)

    def games_to_poll(self) -> list[str]:
        """Game ids whose window should be read now: the current game of each live series."""
        wanted = []
        for state in self._matches.values():
            if not state.in_progress or state.progress.ended:
                continue
            number = state.wins[SIDE_A] + state.wins[SIDE_B] + 1
            for game in state.games.values():
                watched = game.last_frame_ms >= 0 and not game.finished
                if game.number == number or (game.number < number and watched):
                    wanted.append(game.game_id)
        return wanted

    def matches_needing_details(self) -> list[str]:
        """Live match ids whose game ids are still unknown."""
        return [
            match_id
            for match_id, state in self._matches.items()
            if state.in_progress and not state.game_ids
        ]

    # --- getLive ------------------------------------------------------------------------

    def parse_live(self, raw: bytes, stamp: EventStamp) -> ParseResult:
        """Parse one getLive answer."""
        body = as_object(load_json(raw), "answer")
        schedule = as_object(as_object(body.get("data"), "data").get("schedule"), "schedule")
        events = schedule.get("events") or []
        result = ParseResult()
        for index, event in enumerate(as_list(events, "schedule.events")):
            if not isinstance(event, dict) or event.get("type", "match") != "match":
                continue
            match = object_or_empty(event, "match")
            match_id = str(match.get("id") or event.get("id") or "")
            state = self._matches.state_of(match_id)
            if state is None:
                self.ignored += 1
                continue
            self._apply_live(state, event, match, stamp, result, f"events[{index}]")
        self.pending_result = any(
            g.finished and g.number > s.wins[SIDE_A] + s.wins[SIDE_B]
            for s in self._matches.values()
            for g in s.games.values()
        )
        return result

    def _apply_live(
        self,
        state: _Match,
        event: dict[str, Any],
        match: dict[str, Any],
        stamp: EventStamp,
        result: ParseResult,
        where: str,
    ) -> None:
        wins: dict[str, int] = {}
        outcome_winner: str | None = None
        for team in as_list(match.get("teams") or [], f"{where}.match.teams"):
            if not isinstance(team, dict):
                continue
            side = state.sides.learn(team.get("id"), team.get("name"))
            if side is None:
                side = state.sides.learn(team.get("id"), team.get("code"))
            if side is None:
                result.unknown_team(f"LoL Esports team {team.get('name')!r} of {state.match}")
                continue
            team_result = object_or_empty(team, "result")
            wins[side] = as_int(team_result.get("gameWins", 0), f"{where}.gameWins")
            if team_result.get("outcome") == "win":
                outcome_winner = side
            elif team_result.get("outcome") == "loss" and outcome_winner is None:
                outcome_winner = SIDE_B if side == SIDE_A else SIDE_A
        if len(wins) != 2:
            return
        progress = state.progress
        # bounded by the match format before anything moves (issue 20 #4: gameWins 2**63 looped
        # for ever, 3 in a best-of-1 ended the match)
        progress.check_score(wins[SIDE_A], wins[SIDE_B], f"{where} gameWins")
        emissions: list[Any] = []
        completed = event.get("state") == "completed" or outcome_winner is not None
        state.in_progress = event.get("state") == "inProgress"
        if not state.live_seen:
            state.live_seen = True
            state.wins = dict(wins)
            progress.baseline(wins[SIDE_A], wins[SIDE_B])
            if completed and outcome_winner is not None:
                emissions += progress.match_ended(
                    outcome_winner, maps_a=wins[SIDE_A], maps_b=wins[SIDE_B], backfill=True
                )
            elif state.in_progress:
                emissions += progress.match_started()
        else:
            if state.in_progress:
                emissions += progress.match_started()
            for side in (SIDE_A, SIDE_B):
                while state.wins[side] < wins[side]:
                    state.wins[side] += 1
                    number = state.wins[SIDE_A] + state.wins[SIDE_B]
                    emissions += progress.map_ended(
                        number, side, maps_a=state.wins[SIDE_A], maps_b=state.wins[SIDE_B]
                    )
            if outcome_winner is not None:
                emissions += progress.match_ended(
                    outcome_winner, maps_a=wins[SIDE_A], maps_b=wins[SIDE_B]
                )
        result.add_events(stamp, state.match.match_id, emissions, stamp.t_recv_ms)

    # --- getEventDetails ----------------------------------------------------------------

    def parse_event_details(self, raw: bytes, stamp: EventStamp) -> ParseResult:
        """Parse one getEventDetails answer: learn the game ids of the series."""
        body = as_object(load_json(raw), "answer")
        event = as_object(as_object(body.get("data"), "data").get("event"), "event")
        result = ParseResult()
        state = self._matches.state_of(str(event.get("id") or ""))
        if state is None:
            return result.unknown_id(event.get("id"))
        match = as_object(event.get("match"), "event.match")
        games = [g for g in as_list(match.get("games") or [], "games") if isinstance(g, dict)]
        games.sort(key=lambda g: as_int(g.get("number", 0), "games[].number"))
        for game in games:
            if game.get("id") is not None:
                self._add_game(state, str(game["id"]))
        return result

    # --- livestats window ---------------------------------------------------------------

    def parse_window(self, raw: bytes, stamp: EventStamp) -> ParseResult:
        """Parse one livestats window; diff its frames against the previous ones."""
        body = as_object(load_json(raw), "window")
        game_id = str(body.get("esportsGameId") or "")
        result = ParseResult()
        state = self._by_game.get(game_id)
        if state is None:
            state = self._matches.state_of(str(body.get("esportsMatchId") or ""))
            if state is None:
                return result.unknown_id(game_id or body.get("esportsMatchId"))
            self._add_game(state, game_id)
        game = state.games[game_id]
        metadata = as_object(body.get("gameMetadata"), "gameMetadata")
        blue_id = as_object(metadata.get("blueTeamMetadata"), "blueTeamMetadata").get(
            "esportsTeamId"
        )
        red_id = as_object(metadata.get("redTeamMetadata"), "redTeamMetadata").get(
            "esportsTeamId"
        )
        blue_side = state.sides.side_of_id(blue_id)
        red_side = state.sides.side_of_id(red_id)
        if blue_side is None and red_side is not None:
            blue_side = SIDE_B if red_side == SIDE_A else SIDE_A
        if blue_side is None:
            return result.unknown_team(f"LoL Esports team id {blue_id!r} not seen in getLive")
        frames = [f for f in as_list(body.get("frames") or [], "frames") if isinstance(f, dict)]
        timed = sorted(
            ((iso_to_ms(f.get("rfc460Timestamp"), "frames[].rfc460Timestamp"), f) for f in frames),
            key=lambda pair: pair[0],
        )
        for t_ms, frame in timed:
            if t_ms <= game.last_frame_ms:
                continue
            game.last_frame_ms = t_ms
            emissions = self._apply_frame(state, game, blue_side, frame, t_ms)
            result.add_events(stamp, state.match.match_id, emissions, t_ms)
        return result

    def _apply_frame(
        self, state: _Match, game: _Game, blue_side: str, frame: dict[str, Any], t_ms: int
    ) -> list[Any]:
        blue = _team_stats(as_object(frame.get("blueTeam"), "blueTeam"))
        red = _team_stats(as_object(frame.get("redTeam"), "redTeam"))
        team_a, team_b = (blue, red) if blue_side == SIDE_A else (red, blue)
        if game.origin_ms is None:
            game.origin_ms = t_ms
            game.origin_known = all(
                s["totalKills"] == 0 and s["towers"] == 0 for s in (blue, red)
            )
        progress = state.progress
        emissions: list[Any] = []
        game_state = frame.get("gameState")
        if game_state in ("in_game", "paused"):
            emissions += progress.map_started(game.number)
        payload: dict[str, Any] = {
            "game_number": game.number,
            "gold_diff_a": float(team_a["totalGold"] - team_b["totalGold"]),
            "kills_a": int(team_a["totalKills"]),
            "kills_b": int(team_b["totalKills"]),
            "towers_a": int(team_a["towers"]),
            "towers_b": int(team_b["towers"]),
            "inhibitors_a": int(team_a["inhibitors"]),
            "inhibitors_b": int(team_b["inhibitors"]),
            "barons_a": int(team_a["barons"]),
            "barons_b": int(team_b["barons"]),
            "dragons_a": int(team_a["dragons"]),
            "dragons_b": int(team_b["dragons"]),
            "maps_a": progress.maps_a,
            "maps_b": progress.maps_b,
        }
        if game.origin_known and game.origin_ms is not None:
            payload["game_time_s"] = (t_ms - game.origin_ms) / 1000
        if game_state == "paused":
            emissions += progress.set_paused(True)
        elif game_state == "in_game":
            emissions += progress.set_paused(False)
        emissions += progress.game_state(payload)
        if game_state == "finished" and not game.finished:
            game.finished = True
            self.pending_result = True
        return emissions


def _team_stats(team: dict[str, Any]) -> dict[str, float]:
    stats = {name: as_number(team.get(name, 0), f"team.{name}") for name in _STATS}
    stats["dragons"] = float(len(as_list(team.get("dragons") or [], "team.dragons")))
    return stats


def floor_to_window(wall_ms: int) -> int:
    """Round ``wall_ms`` down to a multiple of 10 s, as the feed requires."""
    return wall_ms - wall_ms % WINDOW_STEP_MS


def rfc3339(wall_ms: int) -> str:
    """``2025-06-01T09:31:20Z`` for Unix ms (whole seconds)."""
    moment = dt.datetime.fromtimestamp(wall_ms // 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class LolEsportsAdapter(PollingAdapter):
    """Polls getLive and the windows of the games in progress."""

    def __init__(
        self,
        provider: ProviderConfig,
        markets: tuple[MarketConfig, ...],
        clock: Clock,
        observe: ObserveFn | None = None,
    ) -> None:
        directory = MatchDirectory(markets, SOURCE)
        super().__init__(SOURCE, provider, directory, clock, observe)
        game_ids = {
            m.provider_ids.lolesports: m.provider_ids.lolesports_game_ids
            for m in markets
            if m.provider_ids.lolesports
        }
        self.parser = LolEsportsParser(directory, game_ids)
        self.feed_url = provider.url.rstrip("/")
        self.api_url = (provider.api_url or provider.url).rstrip("/")
        self.api_key = self.provider_key() or PUBLIC_API_KEY
        self.lag_ms = max(MIN_LAG_MS, provider.expected_delay_ms)

    async def poll_once(
        self, session: aiohttp.ClientSession, io: AdapterIO, stop: asyncio.Event
    ) -> None:
        """One round: getLive, game ids if unknown, the live windows, getLive again if a game
        just finished."""
        await self._poll_live(session, io, stop)
        for match_id in self.parser.matches_needing_details():
            got = await self.fetch(
                session,
                f"{self.api_url}/persisted/gw/getEventDetails",
                stop,
                headers={"x-api-key": self.api_key},
                params={"hl": "en-US", "id": match_id},
            )
            if got and got.status == 200:
                self.handle(got.body, self.parser.parse_event_details, io)
        for game_id in self.parser.games_to_poll():
            starting = floor_to_window(self.clock.wall_ms() - self.lag_ms)
            got = await self.fetch(
                session,
                f"{self.feed_url}/livestats/v1/window/{game_id}",
                stop,
                params={"startingTime": rfc3339(starting)},
            )
            if got is None:
                return
            if got.status == 200:
                self.handle(got.body, self.parser.parse_window, io)
        if self.parser.pending_result:
            await self._poll_live(session, io, stop)

    async def _poll_live(
        self, session: aiohttp.ClientSession, io: AdapterIO, stop: asyncio.Event
    ) -> None:
        got = await self.fetch(
            session,
            f"{self.api_url}/persisted/gw/getLive",
            stop,
            headers={"x-api-key": self.api_key},
            params={"hl": "en-US"},
            ok_statuses=(200,),
        )
        if got is not None:
            self.handle_counting_ignored(
                got.body, self.parser.parse_live, io, self.parser, "untracked_match"
            )
