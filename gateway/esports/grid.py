"""GRID (tier A): Series Events WebSocket and Series State GraphQL (ESPORTS §4).

Endpoints (``providers.grid.url`` is the base, e.g. ``https://api.grid.gg``):
``wss://…/live-data-feed/series/{seriesId}?key=K[&fromSequenceNumber=N]`` and
``POST https://…/live-data-feed/series-state/graphql`` (header ``x-api-key``).
``provider_ids.grid`` is the series id. The adapter reads the series state once before it
opens the socket (team ids → sides, and the score so far as a silent baseline), then keeps the
socket open and re-reads the state every ``poll_interval_ms`` as a second path. After a
reconnect it asks for ``fromSequenceNumber = last seen + 1`` so nothing is missed.

Events used: ``tournament-started-series`` / ``series-started-game`` (MATCH_STARTED,
MAP_STARTED), ``team-won-round`` (CS2/Valorant round score → GAME_STATE), ``team-won-game``
(MAP_ENDED), ``team-won-series`` (MATCH_ENDED), ``series-paused-game`` /
``series-resumed-game``. ``t_event_ms`` is the envelope's ``occurredAt``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

from gateway.esports.events import EventStamp, ParseResult
from gateway.esports.ids import SIDE_A, SIDE_B, MatchDirectory
from gateway.esports.json_fields import (
    ParseError,
    as_int,
    as_list,
    as_object,
    iso_to_ms,
    load_json,
    object_or_empty,
)
from gateway.esports.match_state import MatchState, MatchStates
from gateway.esports.transport import (
    AdapterBase,
    AdapterIO,
    ObserveFn,
    http_request,
    make_backoff,
    make_breaker,
    poll_forever,
    stream_websocket,
)
from gateway.feeds import DeadLetterFn, EmitFn, RecordFn
from polyloly.clock import Clock
from polyloly.config import MarketConfig, ProviderConfig
from polyloly.domain import Game, SourceTier

SOURCE = "grid"
ROUND_GAMES = (Game.CS2, Game.VALORANT)
SERIES_STATE_QUERY = (
    "query SeriesState($id: ID!) { seriesState(id: $id) { id format started finished valid "
    "updatedAt teams { id name score won kills deaths } games { id sequenceNumber map { name } "
    "started finished paused clock { currentSeconds } teams { id name side won score kills } } "
    "} }"
)


@dataclass(slots=True)
class _Series(MatchState):
    game_number: int = 0
    rounds: dict[str, int] = field(default_factory=lambda: {SIDE_A: 0, SIDE_B: 0})
    kills: dict[str, int] = field(default_factory=lambda: {SIDE_A: 0, SIDE_B: 0})
    game_time_s: float | None = None
    state_seen: bool = False
    last_sequence: int = -1
    # Rounds are identified, not counted (spec 09 "GRID idempotence"): the last Series State
    # poll's round score and its updatedAt, and each live team-won-round by (time, event id).
    polled_rounds: dict[str, int] = field(default_factory=lambda: {SIDE_A: 0, SIDE_B: 0})
    polled_at_ms: int = -1
    live_rounds: dict[str, dict[str, int]] = field(
        default_factory=lambda: {SIDE_A: {}, SIDE_B: {}})


class GridParser:
    """Turns GRID Series Events messages and Series State answers into events (pure)."""

    def __init__(self, directory: MatchDirectory) -> None:
        self.directory = directory
        self._series = MatchStates(directory, _Series.of)

    def last_sequence(self, series_id: str) -> int:
        """The highest ``sequenceNumber`` seen for ``series_id`` (-1: none)."""
        series = self._series.known(series_id)
        return -1 if series is None else series.last_sequence

    # --- Series Events ------------------------------------------------------------------

    def parse_events_message(self, raw: bytes, stamp: EventStamp) -> ParseResult:
        """Parse one Series Events envelope."""
        envelope = as_object(load_json(raw), "message")
        series_id = str(envelope.get("seriesId") or "")
        if not series_id:
            raise ParseError("missing_field", "message: no seriesId")
        result = ParseResult()
        series = self._series.state_of(series_id)
        if series is None:
            return result.unknown_id(series_id)
        sequence = as_int(envelope.get("sequenceNumber"), "sequenceNumber")
        if sequence <= series.last_sequence:
            return result  # a replayed message we already handled
        t_event_ms = iso_to_ms(envelope.get("occurredAt"), "occurredAt")
        events = as_list(envelope.get("events"), "events")
        series.last_sequence = sequence
        emissions = []
        for index, raw_event in enumerate(events):
            if not isinstance(raw_event, dict):
                result.malformed("bad_shape", f"events[{index}]: expected an object")
                continue
            try:
                emissions += self._apply_event(series, raw_event, result, t_event_ms)
            except ParseError as exc:
                result.malformed(exc.reason, f"events[{index}]: {exc.detail}")
        result.add_events(stamp, series.match.match_id, emissions, t_event_ms)
        return result

    def _learn_teams(self, series: _Series, state: Any) -> None:
        if isinstance(state, dict):
            for team in as_list(state.get("teams") or [], "teams"):
                if isinstance(team, dict):
                    series.sides.learn(team.get("id"), team.get("name"))

    def _side(self, series: _Series, actor: dict[str, Any], result: ParseResult) -> str | None:
        state = object_or_empty(actor, "state")
        side = series.sides.learn(actor.get("id"), state.get("name"))
        if side is None:
            result.unknown_team(f"GRID team {actor.get('id')!r} ({state.get('name')!r})")
        return side

    def _apply_event(
        self, series: _Series, event: dict[str, Any], result: ParseResult, t_event_ms: int
    ) -> list[Any]:
        kind = event.get("type")
        if not isinstance(kind, str):
            raise ParseError("missing_field", "event without a type")
        self._learn_teams(series, event.get("seriesState"))
        actor = object_or_empty(event, "actor")
        target = object_or_empty(event, "target")
        target_state = object_or_empty(target, "state")
        progress = series.progress
        if kind == "tournament-started-series":
            return progress.match_started()
        if kind == "series-started-game":
            number = target_state.get("sequenceNumber")
            game_number = (
                as_int(number, "target.state.sequenceNumber")
                if number is not None
                else progress.maps_a + progress.maps_b + 1
            )
            self._new_game(series, game_number)
            return progress.map_started(game_number)
        if kind == "series-paused-game":
            return progress.set_paused(True)
        if kind == "series-resumed-game":
            return progress.set_paused(False)
        if kind == "team-won-round":
            side = self._side(series, actor, result)
            if side is None or series.match.game not in ROUND_GAMES:
                return []
            round_id = str(event.get("id") or f"{t_event_ms}:{len(series.live_rounds[side])}")
            series.live_rounds[side].setdefault(round_id, t_event_ms)
            self._count_rounds(series)
            return progress.game_state(self._snapshot(series))
        if kind in ("team-won-game", "team-won-series"):
            side = self._side(series, actor, result)
            if side is None:
                return []
            maps = self._series_score(series, event.get("seriesState"))
            extra = {"winner_team": _team_name(actor), "winner_team_id": str(actor.get("id"))}
            if kind == "team-won-series":
                maps_a, maps_b = maps if maps else (None, None)
                return progress.match_ended(side, maps_a=maps_a, maps_b=maps_b, extra=extra)
            number = target_state.get("sequenceNumber")
            game_number = (
                as_int(number, "target.state.sequenceNumber")
                if number is not None
                else max(series.game_number, progress.maps_a + progress.maps_b + 1)
            )
            maps_a, maps_b = maps if maps else (None, None)
            return progress.map_ended(game_number, side, maps_a=maps_a, maps_b=maps_b, extra=extra)
        return []

    def _series_score(self, series: _Series, state: Any) -> tuple[int, int] | None:
        if not isinstance(state, dict):
            return None
        score: dict[str, int] = {}
        for team in as_list(state.get("teams") or [], "teams"):
            if not isinstance(team, dict) or team.get("score") is None:
                continue
            side = series.sides.learn(team.get("id"), team.get("name"))
            if side is not None:
                score[side] = as_int(team.get("score"), "seriesState.teams[].score")
        if len(score) != 2:
            return None
        return score[SIDE_A], score[SIDE_B]

    def _count_rounds(self, series: _Series) -> None:
        """A side's rounds: the last poll's score plus the live rounds that happened after the
        poll's updatedAt (earlier ones are already in it), and never fewer than the live rounds
        seen — so a round reported by both the poll and the live event counts once."""
        for side in (SIDE_A, SIDE_B):
            live = series.live_rounds[side]
            after_poll = sum(1 for t_ms in live.values() if t_ms > series.polled_at_ms)
            series.rounds[side] = max(series.polled_rounds[side] + after_poll, len(live))

    def _new_game(self, series: _Series, game_number: int) -> None:
        if game_number != series.game_number:
            series.game_number = game_number
            series.polled_rounds = {SIDE_A: 0, SIDE_B: 0}
            series.polled_at_ms = -1
            series.live_rounds = {SIDE_A: {}, SIDE_B: {}}
            series.rounds = {SIDE_A: 0, SIDE_B: 0}
            series.kills = {SIDE_A: 0, SIDE_B: 0}
            series.game_time_s = None

    def _snapshot(self, series: _Series) -> dict[str, Any]:
        payload: dict[str, Any] = {"game_number": max(series.game_number, 1)}
        if series.match.game in ROUND_GAMES:
            payload["rounds_a"] = series.rounds[SIDE_A]
            payload["rounds_b"] = series.rounds[SIDE_B]
        else:
            payload["kills_a"] = series.kills[SIDE_A]
            payload["kills_b"] = series.kills[SIDE_B]
            if series.game_time_s is not None:
                payload["game_time_s"] = series.game_time_s
        payload["maps_a"] = series.progress.maps_a
        payload["maps_b"] = series.progress.maps_b
        return payload

    # --- Series State -------------------------------------------------------------------

    def parse_series_state(self, raw: bytes, stamp: EventStamp) -> ParseResult:
        """Parse one Series State GraphQL answer ``{"data": {"seriesState": {...}}}``."""
        body = as_object(load_json(raw), "answer")
        if body.get("errors"):
            raise ParseError("provider_error", f"GraphQL errors: {body['errors']!r}"[:300])
        data = as_object(body.get("data"), "data")
        state = data.get("seriesState")
        result = ParseResult()
        if state is None:
            return result.malformed("no_series_state", "seriesState is null")
        state = as_object(state, "seriesState")
        series_id = str(state.get("id") or "")
        series = self._series.state_of(series_id)
        if series is None:
            return result.unknown_id(series_id)
        self._learn_teams(series, state)
        score = self._series_score(series, state)
        if score is None:
            return result.unknown_team(f"GRID series {series_id}: teams do not match config")
        games = [g for g in as_list(state.get("games") or [], "games") if isinstance(g, dict)]
        winners: dict[int, str] = {}
        current: dict[str, Any] | None = None
        for index, game in enumerate(games):
            number = as_int(game.get("sequenceNumber", index + 1), "games[].sequenceNumber")
            if game.get("finished"):
                for team in as_list(game.get("teams") or [], "teams"):
                    team = as_object(team, "games[].teams[]")
                    side = series.sides.learn(team.get("id"), team.get("name"))
                    if side is not None and team.get("won"):
                        winners[number] = side
            elif game.get("started"):
                current = game
                current_number = number
        t_event_ms = stamp.t_recv_ms
        updated = state.get("updatedAt")
        if updated:
            t_event_ms = iso_to_ms(updated, "updatedAt")
        progress = series.progress
        emissions: list[Any] = []
        series_winner = _series_winner(series, state)
        if not series.state_seen:
            series.state_seen = True
            progress.baseline(score[0], score[1], winners)
            if state.get("finished") and series_winner is not None:
                emissions += progress.match_ended(
                    series_winner, maps_a=score[0], maps_b=score[1], backfill=True
                )
        else:
            for number in sorted(winners):
                emissions += progress.map_ended(
                    number, winners[number], maps_a=None, maps_b=None
                )
        if state.get("started") and not state.get("finished"):
            emissions += progress.match_started()
        if current is not None:
            self._new_game(series, current_number)
            emissions += progress.map_started(current_number)
            self._absorb_game(series, current, t_event_ms)
            emissions += progress.set_paused(bool(current.get("paused")))
            emissions += progress.game_state(self._snapshot(series))
        if state.get("finished") and series_winner is not None:
            emissions += progress.match_ended(series_winner, maps_a=score[0], maps_b=score[1])
        result.add_events(stamp, series.match.match_id, emissions, t_event_ms)
        return result

    def _absorb_game(self, series: _Series, game: dict[str, Any], t_state_ms: int) -> None:
        polled = dict(series.polled_rounds)
        for team in as_list(game.get("teams") or [], "teams"):
            if not isinstance(team, dict):
                continue
            side = series.sides.learn(team.get("id"), team.get("name"))
            if side is None:
                continue
            if series.match.game in ROUND_GAMES and team.get("score") is not None:
                polled[side] = as_int(team.get("score"), "games[].teams[].score")
            elif team.get("kills") is not None:
                value = as_int(team.get("kills"), "games[].teams[].kills")
                series.kills[side] = max(series.kills[side], value)
        if series.match.game in ROUND_GAMES and t_state_ms >= series.polled_at_ms:
            series.polled_rounds = polled  # a newer poll replaces the older (never added)
            series.polled_at_ms = t_state_ms
            self._count_rounds(series)
        clock = game.get("clock")
        moba = series.match.game not in ROUND_GAMES
        if moba and isinstance(clock, dict) and clock.get("currentSeconds") is not None:
            series.game_time_s = float(as_int(clock["currentSeconds"], "clock.currentSeconds"))


def _team_name(actor: dict[str, Any]) -> str:
    state = actor.get("state")
    return str(state.get("name", "")) if isinstance(state, dict) else ""


def _series_winner(series: _Series, state: dict[str, Any]) -> str | None:
    for team in as_list(state.get("teams") or [], "teams"):
        if isinstance(team, dict) and team.get("won"):
            return series.sides.learn(team.get("id"), team.get("name"))
    return None


# --- transport --------------------------------------------------------------------------------


def _ws_base(url: str) -> str:
    if url.startswith("https://"):
        return "wss://" + url[len("https://") :]
    if url.startswith("http://"):
        return "ws://" + url[len("http://") :]
    return url


def _http_base(url: str) -> str:
    if url.startswith("wss://"):
        return "https://" + url[len("wss://") :]
    if url.startswith("ws://"):
        return "http://" + url[len("ws://") :]
    return url


class GridAdapter(AdapterBase):
    """Streams Series Events per configured series and polls Series State beside them."""

    def __init__(
        self,
        provider: ProviderConfig,
        markets: tuple[MarketConfig, ...],
        clock: Clock,
        observe: ObserveFn | None = None,
    ) -> None:
        super().__init__(SOURCE, SourceTier(provider.tier), provider, clock, observe)
        self.parser = GridParser(MatchDirectory(markets, SOURCE))
        self.base_url = provider.url.rstrip("/")
        self.api_key = self.provider_key() or "none"

    def events_url(self, series_id: str, from_sequence: int | None = None) -> str:
        """The Series Events socket URL of ``series_id``."""
        query = {"key": self.api_key}
        if from_sequence is not None:
            query["fromSequenceNumber"] = str(from_sequence)
        return f"{_ws_base(self.base_url)}/live-data-feed/series/{series_id}?{urlencode(query)}"

    @property
    def state_url(self) -> str:
        """The Series State GraphQL URL."""
        return f"{_http_base(self.base_url)}/live-data-feed/series-state/graphql"

    async def run(
        self, emit: EmitFn, record: RecordFn, dead_letter: DeadLetterFn, stop: asyncio.Event
    ) -> None:
        """Run one socket and one state poller per configured series until ``stop``."""
        io = AdapterIO(emit, record, dead_letter)
        async with aiohttp.ClientSession() as session:
            tasks = [
                asyncio.create_task(self._follow(session, series_id, io, stop))
                for series_id in self.parser.directory.ids()
            ]
            if not tasks:
                await stop.wait()
                return
            try:
                await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def poll_state(
        self, session: aiohttp.ClientSession, series_id: str, io: AdapterIO
    ) -> None:
        """Read the Series State of ``series_id`` once."""
        answer = await http_request(
            session,
            "POST",
            self.state_url,
            headers={"x-api-key": self.api_key},
            json_body={"query": SERIES_STATE_QUERY, "variables": {"id": series_id}},
            timeout_s=5.0,
            ok_statuses=(200,),
        )
        self.handle(answer.body, self.parser.parse_series_state, io)

    async def _follow(
        self, session: aiohttp.ClientSession, series_id: str, io: AdapterIO, stop: asyncio.Event
    ) -> None:
        state_breaker = make_breaker(f"{SOURCE}.state.{series_id}", self.clock)
        socket_breaker = make_breaker(f"{SOURCE}.events.{series_id}", self.clock)
        try:
            await self.poll_state(session, series_id, io)
        except Exception as exc:  # the socket still runs; the poller retries
            self.log.warning("state_failed", f"first series state failed: {exc!r}")

        def reconnect_url() -> str:
            last = self.parser.last_sequence(series_id)
            return self.events_url(series_id, last + 1 if last >= 0 else None)

        poller = poll_forever(
            SOURCE,
            self.provider.poll_interval_ms / 1000,
            lambda: self.poll_state(session, series_id, io),
            stop,
            state_breaker,
            make_backoff(),
        )
        socket = stream_websocket(
            SOURCE,
            session,
            self.events_url(series_id),
            lambda raw: self.handle(raw, self.parser.parse_events_message, io),
            stop,
            socket_breaker,
            make_backoff(),
            idle_timeout_s=max(60.0, self.provider.stale_threshold_ms / 1000),
            url_for_reconnect=reconnect_url,
        )
        await asyncio.gather(poller, socket)
