"""OpenDota (tier B per config; really minutes late): ``/api/live`` and ``/api/matches/{id}``.

``GET {url}/api/live`` lists the top live Dota 2 games (Steam ``GetTopLiveGame`` entries,
refreshed by OpenDota every 60 s, ``delay`` s behind the game). ``GET {url}/api/matches/{id}``
answers 404 until the game is over, then ``radiant_win``. ``provider_ids.opendota`` holds one
or more Dota match ids (comma-separated; ids of later maps may be unknown in advance), and a
live entry also belongs to a match when its two team names are the match's teams (sides swap
between maps: radiant is placed by name, not assumed to be team A).

Each live entry → GAME_STATE ``{game_number, gold_diff_a (radiant_lead oriented), kills_a,
kills_b, game_time_s, maps_a, maps_b}`` with ``t_event_ms = (last_update_time - delay) * 1000``.
A game that left ``/live`` (or was configured but never seen) is asked for at ``/matches/{id}``
until it has a result → MAP_ENDED (and MATCH_ENDED once the series is decided). Game numbers
follow Dota match ids, which grow with time. Requests are spaced to honour
``max_requests_per_minute`` (60/min without a key); ``api_key_env`` adds ``api_key``.
Entries of games we do not track are normal here (pub games): counted as ignored, not as bad.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from gateway.esports.events import EventStamp, ParseResult
from gateway.esports.ids import MatchDirectory, normalize_team_name, other_side
from gateway.esports.json_fields import ParseError, as_int, as_list, as_number, as_object, load_json
from gateway.esports.match_state import MatchState
from gateway.esports.transport import (
    AdapterIO,
    ObserveFn,
    PollingAdapter,
)
from polyloly.clock import Clock
from polyloly.config import MarketConfig, ProviderConfig
from polyloly.domain import MatchEventType

SOURCE = "opendota"


@dataclass(slots=True)
class _Match(MatchState):
    game_ids: set[int] = field(default_factory=set)  # Dota match ids of this series' games
    live_now: set[int] = field(default_factory=set)
    seen_live: set[int] = field(default_factory=set)
    results: set[int] = field(default_factory=set)


class OpenDotaParser:
    """Turns ``/api/live`` lists and ``/api/matches/{id}`` objects into events (pure)."""

    def __init__(self, directory: MatchDirectory) -> None:
        self.directory = directory
        self._matches: dict[str, _Match] = {}
        self._by_game: dict[int, _Match] = {}
        self._by_teams: dict[frozenset[str], _Match] = {}
        self.ignored = 0
        for tracked in directory.matches():
            state = _Match.of(tracked)
            self._matches[tracked.match_id] = state
            self._by_teams[frozenset(normalize_team_name(t) for t in tracked.teams)] = state
            for provider_id in directory.ids_of(tracked.match_id):
                if provider_id.isdigit():
                    state.game_ids.add(int(provider_id))
                    self._by_game[int(provider_id)] = state

    def _game_number(self, state: _Match, game_id: int) -> int:
        return 1 + sum(1 for other in state.game_ids if other < game_id)

    def games_awaiting_result(self) -> list[int]:
        """Dota match ids not live now whose result we still need, oldest first."""
        wanted = []
        for state in self._matches.values():
            if state.progress.ended:
                continue
            for game_id in sorted(state.game_ids):
                if game_id not in state.live_now and game_id not in state.results:
                    wanted.append(game_id)
        return wanted

    def parse_live(self, raw: bytes, stamp: EventStamp) -> ParseResult:
        """Parse one ``/api/live`` answer."""
        entries = as_list(load_json(raw), "live")
        result = ParseResult()
        live_now: dict[str, set[int]] = {match_id: set() for match_id in self._matches}
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                result.malformed("bad_shape", f"live[{index}]: expected an object")
                continue
            try:
                self._apply_live_entry(entry, stamp, result, live_now)
            except ParseError as exc:
                result.malformed(exc.reason, f"live[{index}]: {exc.detail}")
        for match_id, ids in live_now.items():
            self._matches[match_id].live_now = ids
        return result

    def _apply_live_entry(
        self,
        entry: dict[str, Any],
        stamp: EventStamp,
        result: ParseResult,
        live_now: dict[str, set[int]],
    ) -> None:
        game_id = as_int(entry.get("match_id"), "match_id")
        radiant = entry.get("team_name_radiant")
        dire = entry.get("team_name_dire")
        state = self._by_game.get(game_id)
        if state is None and isinstance(radiant, str) and isinstance(dire, str):
            state = self._by_teams.get(
                frozenset((normalize_team_name(radiant), normalize_team_name(dire)))
            )
        if state is None:
            self.ignored += 1
            return
        radiant_side = state.sides.learn(entry.get("team_id_radiant"), radiant)
        dire_side = state.sides.learn(entry.get("team_id_dire"), dire)
        if radiant_side is None and dire_side is not None:
            radiant_side = other_side(dire_side)
        if radiant_side is None or radiant_side == dire_side:
            result.unknown_team(f"OpenDota teams {radiant!r}/{dire!r} of game {game_id}")
            return
        if entry.get("deactivate_time"):
            return  # the game is over; its result comes from /matches
        state.game_ids.add(game_id)
        self._by_game[game_id] = state
        state.seen_live.add(game_id)
        live_now[state.match.match_id].add(game_id)
        number = self._game_number(state, game_id)
        sign = 1.0 if radiant_side == "A" else -1.0
        radiant_kills = as_int(entry.get("radiant_score", 0), "radiant_score")
        dire_kills = as_int(entry.get("dire_score", 0), "dire_score")
        kills_a, kills_b = (
            (radiant_kills, dire_kills) if radiant_side == "A" else (dire_kills, radiant_kills)
        )
        progress = state.progress
        payload = {
            "game_number": number,
            "gold_diff_a": sign * as_number(entry.get("radiant_lead", 0), "radiant_lead"),
            "kills_a": kills_a,
            "kills_b": kills_b,
            "game_time_s": as_number(entry.get("game_time", 0), "game_time"),
            "maps_a": progress.maps_a,
            "maps_b": progress.maps_b,
        }
        emissions = progress.map_started(number) + progress.game_state(payload)
        updated = entry.get("last_update_time")
        delay = entry.get("delay") or 0
        t_event_ms = stamp.t_recv_ms
        if updated:
            t_event_ms = (as_int(updated, "last_update_time") - as_int(delay, "delay")) * 1000
        result.add_events(stamp, state.match.match_id, emissions, t_event_ms)

    def parse_match(self, raw: bytes, stamp: EventStamp) -> ParseResult:
        """Parse one ``/api/matches/{id}`` answer of a finished game."""
        body = as_object(load_json(raw), "match")
        game_id = as_int(body.get("match_id"), "match_id")
        result = ParseResult()
        state = self._by_game.get(game_id)
        if state is None:
            return result.unknown_id(game_id)
        radiant_win = body.get("radiant_win")
        if not isinstance(radiant_win, bool):
            return result  # not over yet (OpenDota answers before Steam has the result)
        radiant_side = state.sides.learn(body.get("radiant_team_id"), body.get("radiant_name"))
        dire_side = state.sides.learn(body.get("dire_team_id"), body.get("dire_name"))
        if radiant_side is None and dire_side is not None:
            radiant_side = other_side(dire_side)
        if radiant_side is None:
            return result.unknown_team(f"OpenDota game {game_id}: teams do not match config")
        state.results.add(game_id)
        winner = radiant_side if radiant_win else other_side(radiant_side)
        name_key = "radiant" if radiant_win else "dire"
        extra = {
            "winner_team": str(body.get(f"{name_key}_name") or ""),
            "winner_team_id": str(body.get(f"{name_key}_team_id") or ""),
        }
        number = self._game_number(state, game_id)
        t_event_ms = stamp.t_recv_ms
        if body.get("start_time") and body.get("duration") is not None:
            t_event_ms = (
                as_int(body["start_time"], "start_time") + as_int(body["duration"], "duration")
            ) * 1000
        emissions = state.progress.map_ended(number, winner, extra=extra)
        if game_id not in state.seen_live:
            for kind, payload in emissions:
                if kind in (MatchEventType.MAP_ENDED, MatchEventType.MATCH_ENDED):
                    payload["backfill"] = True  # over before we watched: not a fresh signal
        result.add_events(stamp, state.match.match_id, emissions, t_event_ms)
        return result


class OpenDotaAdapter(PollingAdapter):
    """Polls ``/api/live`` and the results of games that left it, within the rate limit."""

    def __init__(
        self,
        provider: ProviderConfig,
        markets: tuple[MarketConfig, ...],
        clock: Clock,
        observe: ObserveFn | None = None,
    ) -> None:
        directory = MatchDirectory(markets, SOURCE)
        super().__init__(SOURCE, provider, directory, clock, observe)
        self.parser = OpenDotaParser(directory)
        self.base_url = provider.url.rstrip("/")
        if self.base_url.endswith("/api"):
            self.base_url = self.base_url[: -len("/api")]
        key = self.provider_key()
        self.params = {"api_key": key} if key else {}

    async def poll_once(
        self, session: aiohttp.ClientSession, io: AdapterIO, stop: asyncio.Event
    ) -> None:
        """One round: ``/api/live``, then the results we are waiting for."""
        answer = await self.fetch(
            session, f"{self.base_url}/api/live", stop, params=self.params, ok_statuses=(200,)
        )
        if answer is None:
            return
        self.handle_counting_ignored(
            answer.body, self.parser.parse_live, io, self.parser, "untracked_game"
        )
        for game_id in self.parser.games_awaiting_result():
            answer = await self.fetch(
                session, f"{self.base_url}/api/matches/{game_id}", stop, params=self.params
            )
            if answer is None:
                return
            if answer.status == 200:
                self.handle(answer.body, self.parser.parse_match, io)
