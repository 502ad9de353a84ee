"""Polymarket's public sports WebSocket: what the market itself sees (ESPORTS §0.5).

``wss://sports-api.polymarket.com/ws`` (``providers.polymarket_sports.url``, else
``polymarket.sports_ws_url``): no auth, no subscription; every ``sport_result`` object of every
sport arrives (one JSON object, or a list of them, per frame). The server pings with the text
``PING``/``ping`` every 5 s and drops clients that do not answer ``PONG``/``pong``.
``provider_ids.polymarket_sports`` is the ``gameId`` (or the ``slug``); ``homeTeam``/
``awayTeam`` are placed on A/B by name.

``score`` ``"RRR-RRR|M-M|BoN"`` (home first: current map's rounds, maps won, series length; a
plain ``"M-M"`` is read as maps) → GAME_STATE ``{game_number, rounds_a, rounds_b, maps_a,
maps_b}`` (rounds for CS2/Valorant only); maps going up → MAP_ENDED; ``ended`` → MATCH_ENDED
(``t_event_ms`` = ``finished_timestamp`` when given). The first message of a game is a silent
baseline. Results of other sports are counted as ignored. :mod:`gateway.esports.lead` compares
these times with our other sources' (``polyloly_event_lag_ms{source="polymarket_sports_lead"}``).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

import aiohttp

from gateway.esports.events import EventStamp, ParseResult
from gateway.esports.ids import SIDE_A, SIDE_B, MatchDirectory, other_side
from gateway.esports.json_fields import ParseError, iso_to_ms, load_json
from gateway.esports.match_state import MatchState, SeriesProgress
from gateway.esports.transport import (
    AdapterBase,
    AdapterIO,
    ObserveFn,
    make_backoff,
    make_breaker,
    stream_websocket,
)
from gateway.feeds import DeadLetterFn, EmitFn, RecordFn
from polyloly.clock import Clock
from polyloly.config import MarketConfig, ProviderConfig
from polyloly.domain import Game, SourceTier

SOURCE = "polymarket_sports"
ROUND_GAMES = (Game.CS2, Game.VALORANT)
_FULL_SCORE = re.compile(r"^\s*(\d+)-(\d+)\|(\d+)-(\d+)\|Bo(\d+)\s*$", re.IGNORECASE)
_MAPS_ONLY = re.compile(r"^\s*(\d+)-(\d+)\s*$")


@dataclass(frozen=True, slots=True)
class SportsScore:
    """A parsed ``score`` field, home team first."""

    rounds_home: int | None
    rounds_away: int | None
    maps_home: int
    maps_away: int


def parse_score(text: Any) -> SportsScore:
    """Parse ``"006-008|1-0|Bo3"`` or ``"1-0"``; raise ``bad_score`` otherwise."""
    if not isinstance(text, str):
        raise ParseError("bad_score", f"score: expected a string, was {text!r}")
    full = _FULL_SCORE.match(text)
    if full:
        rh, ra, mh, ma, _ = (int(g) for g in full.groups())
        return SportsScore(rh, ra, mh, ma)
    maps = _MAPS_ONLY.match(text)
    if maps:
        return SportsScore(None, None, int(maps.group(1)), int(maps.group(2)))
    raise ParseError("bad_score", f"score: unknown format {text!r}")


@dataclass(slots=True)
class _Game(MatchState):
    seen: bool = False


class PolymarketSportsParser:
    """Turns ``sport_result`` messages into events (pure)."""

    def __init__(self, directory: MatchDirectory) -> None:
        self.directory = directory
        self._games: dict[str, _Game] = {}
        self.ignored = 0

    def _get(self, message: dict[str, Any]) -> _Game | None:
        for key in (message.get("gameId"), message.get("slug")):
            if key is None:
                continue
            tracked = self.directory.lookup(key)
            if tracked is not None:
                game = self._games.get(tracked.match_id)
                if game is None:
                    game = _Game.of(tracked)
                    self._games[tracked.match_id] = game
                return game
        return None

    def parse_frame(self, raw: bytes, stamp: EventStamp) -> ParseResult:
        """Parse one frame: a ``sport_result`` object or a list of them."""
        body = load_json(raw)
        messages = body if isinstance(body, list) else [body]
        result = ParseResult()
        for index, message in enumerate(messages):
            if not isinstance(message, dict):
                result.malformed("bad_shape", f"message[{index}]: expected an object")
                continue
            try:
                self._apply(message, stamp, result)
            except ParseError as exc:
                result.malformed(exc.reason, f"message[{index}]: {exc.detail}")
        return result

    def _apply(self, message: dict[str, Any], stamp: EventStamp, result: ParseResult) -> None:
        if "gameId" not in message and "slug" not in message:
            raise ParseError("missing_field", "no gameId or slug")
        game = self._get(message)
        if game is None:
            self.ignored += 1
            return
        home = game.sides.side_of_name(message.get("homeTeam"))
        away = game.sides.side_of_name(message.get("awayTeam"))
        if home is None and away is not None:
            home = other_side(away)
        if home is None or home == away:
            result.unknown_team(
                f"sports WS teams {message.get('homeTeam')!r}/{message.get('awayTeam')!r}"
            )
            return
        score = parse_score(message.get("score"))
        maps = {home: score.maps_home, other_side(home): score.maps_away}
        ended = bool(message.get("ended"))
        t_event_ms = stamp.t_recv_ms
        progress = game.progress
        progress.check_score(maps[SIDE_A], maps[SIDE_B], "score")  # before any state moves
        emissions: list[Any] = []
        if not game.seen:
            game.seen = True
            progress.baseline(maps[SIDE_A], maps[SIDE_B])
        else:
            for side in (SIDE_A, SIDE_B):
                while (progress.maps_a if side == SIDE_A else progress.maps_b) < maps[side]:
                    number = progress.maps_a + progress.maps_b + 1
                    if progress.ended:
                        break
                    emissions += progress.map_ended(number, side)
        if ended:
            if message.get("finished_timestamp"):
                t_event_ms = iso_to_ms(message["finished_timestamp"], "finished_timestamp")
            if maps[SIDE_A] != maps[SIDE_B]:
                winner = SIDE_A if maps[SIDE_A] > maps[SIDE_B] else SIDE_B
                backfill = not emissions and not progress.started
                emissions += progress.match_ended(
                    winner, maps_a=maps[SIDE_A], maps_b=maps[SIDE_B], backfill=backfill
                )
            else:
                result.malformed("no_winner", f"ended with a tied score {message.get('score')!r}")
        elif message.get("live", True):
            payload: dict[str, Any] = {"game_number": _game_number(message, progress)}
            if game.match.game in ROUND_GAMES and score.rounds_home is not None:
                rounds = {home: score.rounds_home, other_side(home): score.rounds_away}
                payload["rounds_a"], payload["rounds_b"] = rounds[SIDE_A], rounds[SIDE_B]
            payload["maps_a"], payload["maps_b"] = progress.maps_a, progress.maps_b
            emissions += progress.game_state(payload)
        result.add_events(stamp, game.match.match_id, emissions, t_event_ms)


def _game_number(message: dict[str, Any], progress: SeriesProgress) -> int:
    """The map the ``score``'s rounds belong to: the ``period`` ("2/3"), unless the maps score
    shows that map already over (between maps the period still names the finished map while
    the rounds have restarted at 000-000): then the next map. Rounds are per map, so a round
    count keyed to the wrong map would read as a score going backwards (specs/09)."""
    next_map = progress.maps_a + progress.maps_b + 1
    period = message.get("period")
    if isinstance(period, str) and "/" in period:
        head = period.split("/", 1)[0].strip()
        if head.isdigit() and int(head) > 0:
            return max(int(head), next_map)
    return next_map


class PolymarketSportsAdapter(AdapterBase):
    """Keeps the sports socket open and answers its pings."""

    def __init__(
        self,
        provider: ProviderConfig,
        markets: tuple[MarketConfig, ...],
        clock: Clock,
        observe: ObserveFn | None = None,
        fallback_url: str = "",
    ) -> None:
        super().__init__(SOURCE, SourceTier(provider.tier), provider, clock, observe)
        self.parser = PolymarketSportsParser(MatchDirectory(markets, SOURCE))
        self.url = provider.url or fallback_url

    async def run(
        self, emit: EmitFn, record: RecordFn, dead_letter: DeadLetterFn, stop: asyncio.Event
    ) -> None:
        """Stream until ``stop``."""
        io = AdapterIO(emit, record, dead_letter)
        async with aiohttp.ClientSession() as session:
            await stream_websocket(
                SOURCE,
                session,
                self.url,
                lambda raw: self.handle_counting_ignored(
                    raw, self.parser.parse_frame, io, self.parser, "untracked_game"
                ),
                stop,
                make_breaker(SOURCE, self.clock),
                make_backoff(),
                idle_timeout_s=20.0,  # the server pings every 5 s
            )
