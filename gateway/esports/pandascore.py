"""PandaScore Live (tier B): frames and events WebSockets per match (ESPORTS §3).

``wss://live.pandascore.co/matches/{matchId}?token=T`` (frames, one snapshot every 2 s) and
``…/matches/{matchId}/events?token=T`` (Pro plan: LoL ``kill_feed``, CS ``round_end``).
``provider_ids.pandascore`` is the match id; ``providers.pandascore.url`` the socket base and
``api_key_env`` the environment variable holding the token. The server closes with 1000 when
the match is over; 4001/4003/4029 are auth/plan/connection-limit refusals (retried with
backoff behind the breaker).

Frames: LoL ``blue``/``red``, Dota 2 ``radiant``/``dire``, CS ``counter_terrorists``/
``terrorists``, each ``{id, name, ...}``; teams are placed on A/B by name (then by id). A game
whose ``finished`` turns true with a ``winner_id`` → MAP_ENDED; ``paused`` flips → MATCH_PAUSED
/ MATCH_RESUMED. Frames carry no wall time: ``t_event_ms`` is the receive time. Events carry
``ts`` (ms). Dota 2 ``towers.destroyed`` counts a team's own towers lost (UNCONFIRMED).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

from gateway.esports.events import EventStamp, ParseResult
from gateway.esports.ids import SIDE_A, SIDE_B, MatchDirectory, other_side
from gateway.esports.json_fields import ParseError, as_int, as_number, as_object, load_json
from gateway.esports.match_state import MatchState, MatchStates
from gateway.esports.transport import (
    AdapterBase,
    AdapterIO,
    ObserveFn,
    ParseFn,
    make_backoff,
    make_breaker,
    stream_websocket,
)
from gateway.feeds import DeadLetterFn, EmitFn, RecordFn
from polyloly.clock import Clock
from polyloly.config import MarketConfig, ProviderConfig
from polyloly.domain import SourceTier

SOURCE = "pandascore"
TEAM_KEYS = (("blue", "red"), ("radiant", "dire"), ("counter_terrorists", "terrorists"))
CLOSE_MATCH_FINISHED = 1000
_LOL_KILL_FIELDS = {
    "player_kill": "kills",
    "tower_kill": "towers",
    "inhibitor_kill": "inhibitors",
    "baron_nashor_kill": "barons",
    "drake_kill": "dragons",
}


@dataclass(slots=True)
class _Match(MatchState):
    game_numbers: dict[str, int] = field(default_factory=dict)
    colour_side: dict[str, str] = field(default_factory=dict)  # "blue" → "A"
    last_payload: dict[str, Any] | None = None
    frames_seen: int = 0


class PandaScoreParser:
    """Turns PandaScore frames and events into events (pure)."""

    def __init__(self, directory: MatchDirectory) -> None:
        self.directory = directory
        self._matches = MatchStates(directory, _Match.of)

    def parse_frame(self, raw: bytes, stamp: EventStamp) -> ParseResult:
        """Parse one message of the frames socket."""
        body = as_object(load_json(raw), "frame")
        result = ParseResult()
        if body.get("type") == "hello":
            return result
        match_id = _nested_id(body, "match")
        state = self._matches.state_of(match_id)
        if state is None:
            return result.unknown_id(match_id)
        teams = _frame_teams(body)
        if teams is None:
            raise ParseError("bad_shape", "frame: no blue/red, radiant/dire or CS sides")
        (key_1, team_1), (key_2, team_2) = teams
        side_1 = state.sides.learn(team_1.get("id"), team_1.get("name"))
        side_2 = state.sides.learn(team_2.get("id"), team_2.get("name"))
        if side_1 is None and side_2 is not None:
            side_1 = other_side(side_2)
        if side_1 is None or side_1 == side_2:
            return result.unknown_team(
                f"PandaScore teams {team_1.get('name')!r}/{team_2.get('name')!r} of "
                f"{state.match.match_id}"
            )
        side_2 = other_side(side_1)
        state.colour_side = {key_1: side_1, key_2: side_2}
        by_side = {side_1: team_1, side_2: team_2}
        game = as_object(body.get("game") or {}, "frame.game")
        game_key = str(game.get("id", ""))
        progress = state.progress
        emissions: list[Any] = []
        finished = bool(game.get("finished", body.get("finished", False)))
        maps = _maps(by_side, key_1)
        first = state.frames_seen == 0
        state.frames_seen += 1
        if first and maps is not None:
            base_a, base_b = maps
            if finished and game.get("winner_id") is not None:
                base_a, base_b = _before_game(maps, state.sides.side_of_id(game["winner_id"]))
            progress.baseline(base_a, base_b)
        number = state.game_numbers.get(game_key)
        if number is None:
            number = progress.maps_a + progress.maps_b + 1
            state.game_numbers[game_key] = number
        if not finished:
            emissions += progress.map_started(number)
        emissions += progress.set_paused(bool(body.get("paused", False)))
        payload = self._payload(state, body, by_side, key_1, number)
        if payload is not None:
            emissions += progress.game_state(payload)
        winner_id = game.get("winner_id", body.get("winner_id"))
        if finished and winner_id is not None:
            winner = state.sides.side_of_id(winner_id)
            if winner is None:
                result.unknown_team(f"PandaScore winner_id {winner_id!r}")
            else:
                team = by_side[winner]
                extra = {"winner_team": str(team.get("name", "")), "winner_team_id": str(winner_id)}
                emissions += progress.map_ended(number, winner, extra=extra)
        result.add_events(stamp, state.match.match_id, emissions, stamp.t_recv_ms)
        return result

    def _payload(
        self,
        state: _Match,
        body: dict[str, Any],
        by_side: dict[str, dict[str, Any]],
        key_1: str,
        number: int,
    ) -> dict[str, Any] | None:
        a, b = by_side[SIDE_A], by_side[SIDE_B]
        payload: dict[str, Any] = {"game_number": number}
        if key_1 in ("blue", "red"):
            payload["gold_diff_a"] = as_number(a.get("gold", 0), "gold") - as_number(
                b.get("gold", 0), "gold"
            )
            for ours, theirs in (
                ("kills", "kills"),
                ("towers", "towers"),
                ("inhibitors", "inhibitors"),
                ("barons", "nashors"),
                ("dragons", "drakes"),
            ):
                payload[f"{ours}_a"] = as_int(a.get(theirs, 0), theirs)
                payload[f"{ours}_b"] = as_int(b.get(theirs, 0), theirs)
        elif key_1 in ("radiant", "dire"):
            payload["kills_a"] = as_int(a.get("score", 0), "score")
            payload["kills_b"] = as_int(b.get("score", 0), "score")
            payload["towers_a"] = _destroyed(b)
            payload["towers_b"] = _destroyed(a)
        else:
            payload["rounds_a"] = as_int(a.get("round_score", 0), "round_score")
            payload["rounds_b"] = as_int(b.get("round_score", 0), "round_score")
        payload["maps_a"] = state.progress.maps_a
        payload["maps_b"] = state.progress.maps_b
        if key_1 not in ("counter_terrorists", "terrorists") and "current_timestamp" in body:
            payload["game_time_s"] = as_number(body["current_timestamp"], "current_timestamp")
        state.last_payload = payload
        return payload

    @staticmethod
    def _event_game_number(state: _Match, body: dict[str, Any]) -> int:
        """The map an event belongs to, by its ``game.id`` (a game not framed yet is the next
        map); without a game id, the map of the last frame."""
        key = _game_key(body)
        if not key:
            last = state.last_payload or {}
            return int(last.get("game_number") or 1)
        number = state.game_numbers.get(key)
        if number is None:
            number = state.progress.maps_a + state.progress.maps_b + 1
            state.game_numbers[key] = number
        return number

    def parse_event(self, raw: bytes, stamp: EventStamp) -> ParseResult:
        """Parse one message of the events socket (LoL ``kill_feed``, CS ``round_end``)."""
        body = as_object(load_json(raw), "event")
        result = ParseResult()
        kind = body.get("type")
        if kind == "hello":
            return result
        match_id = _nested_id(body, "match")
        state = self._matches.state_of(match_id)
        if state is None:
            return result.unknown_id(match_id)
        t_event_ms = as_int(body.get("ts"), "ts") if body.get("ts") is not None else None
        t_event_ms = stamp.t_recv_ms if t_event_ms is None else t_event_ms
        payload = as_object(body.get("payload"), "event.payload")
        last = state.last_payload
        if last is None:
            return result  # no frame yet: nothing to update
        number = self._event_game_number(state, body)
        # the series score now (a frame may have ended a map since the last snapshot), and a
        # new map's in-map counts restart: an event of the next map never carries the last one's
        progress = state.progress
        updated = dict(last) if last.get("game_number") == number else {"game_number": number}
        updated["maps_a"], updated["maps_b"] = progress.maps_a, progress.maps_b
        if kind == "kill_feed":
            field_name = _LOL_KILL_FIELDS.get(str(payload.get("type")))
            if field_name is None or f"{field_name}_a" not in updated:
                return result  # unknown kind, or a new map's counts not framed yet
            killer = as_object(payload.get("killer"), "payload.killer")
            colour = as_object(killer.get("object") or {}, "killer.object").get("side")
            side = state.colour_side.get(str(colour))
            if side is None:
                return result.unknown_team(f"PandaScore killer side {colour!r}")
            updated[f"{field_name}_{side.lower()}"] += 1
        elif kind == "round_end":
            score = as_object(payload.get("round_score"), "payload.round_score")
            rounds: dict[str, int] = {}
            for entry in score.values():
                if not isinstance(entry, dict):
                    continue
                side = state.sides.learn(entry.get("team_id"), entry.get("team_name"))
                if side is not None:
                    rounds[side] = as_int(entry.get("score"), "round_score.score")
            if len(rounds) != 2:
                return result.unknown_team("PandaScore round_end teams do not match config")
            updated["rounds_a"], updated["rounds_b"] = rounds[SIDE_A], rounds[SIDE_B]
        else:
            return result
        state.last_payload = updated
        emissions = state.progress.game_state(updated)
        result.add_events(stamp, state.match.match_id, emissions, t_event_ms)
        return result


def _game_key(body: dict[str, Any]) -> str:
    game = body.get("game")
    return str(game.get("id", "")) if isinstance(game, dict) else ""


def _nested_id(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if isinstance(value, dict):
        value = value.get("id")
    if value is None:
        value = body.get(f"{key}_id")
    if value is None:
        raise ParseError("missing_field", f"no {key} id")
    return str(value)


def _frame_teams(body: dict[str, Any]) -> tuple[tuple[str, dict[str, Any]], ...] | None:
    for first, second in TEAM_KEYS:
        if isinstance(body.get(first), dict) and isinstance(body.get(second), dict):
            return ((first, body[first]), (second, body[second]))
    return None


def _maps(by_side: dict[str, dict[str, Any]], key_1: str) -> tuple[int, int] | None:
    if key_1 in ("radiant", "dire"):
        return None  # Dota 2 "score" is kills
    a, b = by_side[SIDE_A].get("score"), by_side[SIDE_B].get("score")
    if a is None or b is None:
        return None
    return as_int(a, "score"), as_int(b, "score")


def _before_game(maps: tuple[int, int], winner: str | None) -> tuple[int, int]:
    a, b = maps
    if winner == SIDE_A and a > 0:
        return a - 1, b
    if winner == SIDE_B and b > 0:
        return a, b - 1
    return a, b


def _destroyed(team: dict[str, Any]) -> int:
    towers = team.get("towers")
    if isinstance(towers, dict):
        return as_int(towers.get("destroyed", 0), "towers.destroyed")
    return 0


class PandaScoreAdapter(AdapterBase):
    """Keeps the frames socket (and the events socket) of each configured match open."""

    def __init__(
        self,
        provider: ProviderConfig,
        markets: tuple[MarketConfig, ...],
        clock: Clock,
        observe: ObserveFn | None = None,
        with_events: bool = True,
    ) -> None:
        super().__init__(SOURCE, SourceTier(provider.tier), provider, clock, observe)
        self.parser = PandaScoreParser(MatchDirectory(markets, SOURCE))
        self.base_url = provider.url.rstrip("/")
        self.token = self.provider_key() or "none"
        self.with_events = with_events

    def frames_url(self, match_id: str) -> str:
        """The frames socket URL of ``match_id``."""
        return f"{self.base_url}/matches/{match_id}?{urlencode({'token': self.token})}"

    def events_url(self, match_id: str) -> str:
        """The events socket URL of ``match_id``."""
        return f"{self.base_url}/matches/{match_id}/events?{urlencode({'token': self.token})}"

    async def run(
        self, emit: EmitFn, record: RecordFn, dead_letter: DeadLetterFn, stop: asyncio.Event
    ) -> None:
        """Stream every configured match until ``stop`` (or until each match is over)."""
        io = AdapterIO(emit, record, dead_letter)
        async with aiohttp.ClientSession() as session:
            sockets: list[tuple[str, Callable[[str], str], ParseFn]] = [
                ("frames", self.frames_url, self.parser.parse_frame)
            ]
            if self.with_events:
                sockets.append(("events", self.events_url, self.parser.parse_event))
            streams = [
                stream_websocket(
                    SOURCE,
                    session,
                    url_of(match_id),
                    functools.partial(self.handle, parse=parse, io=io),
                    stop,
                    make_breaker(f"{SOURCE}.{kind}.{match_id}", self.clock),
                    make_backoff(),
                    final_close_codes=(CLOSE_MATCH_FINISHED,),
                )
                for match_id in self.parser.directory.ids()
                for kind, url_of, parse in sockets
            ]
            await asyncio.gather(*streams)
            await stop.wait()
