"""Shared pieces of the esports parsers: match lookup, team sides, series progress, results.

Everything here is pure (no I/O, no clock): parsers receive the receive times as arguments
and return :class:`ParseResult` values; the adapters' transports do the I/O and the counting.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, ItemsView, Iterable, ValuesView
from dataclasses import dataclass, field
from typing import Any, Final, Generic, Self, TypeVar

import orjson

from polyloly.config import MarketConfig
from polyloly.domain import Game, MatchEventType, SourceTier
from polyloly.messages import MatchEvent

SIDE_A: Final = "A"
SIDE_B: Final = "B"

# Rejection reasons that are bad input (an id or team we cannot place), not malformed payloads.
UNKNOWN_PROVIDER_ID: Final = "unknown_provider_id"
UNKNOWN_TEAM: Final = "unknown_team"


class ParseError(ValueError):
    """A payload that is not what the provider documents; ``reason`` is a short metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Rejection:
    """Part of a payload that was dropped: ``dead_letter`` True for malformed data, False for
    well-formed data we cannot place (unknown provider id or team): counted as bad input."""

    reason: str
    detail: str
    dead_letter: bool


@dataclass(slots=True)
class ParseResult:
    """What one payload produced: normalized events, and what was dropped and why."""

    events: list[MatchEvent] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def extend(self, other: ParseResult) -> None:
        """Append ``other``'s events and rejections."""
        self.events.extend(other.events)
        self.rejections.extend(other.rejections)

    def unknown_id(self, provider_id: object) -> ParseResult:
        """Record an id that no configured market maps; return self."""
        self.rejections.append(
            Rejection(UNKNOWN_PROVIDER_ID, f"no market maps provider id {provider_id!r}", False)
        )
        return self

    def unknown_team(self, detail: str) -> ParseResult:
        """Record a team we cannot place on side A or B; return self."""
        self.rejections.append(Rejection(UNKNOWN_TEAM, detail, False))
        return self

    def malformed(self, reason: str, detail: str) -> ParseResult:
        """Record a malformed part of the payload; return self."""
        self.rejections.append(Rejection(reason, detail, True))
        return self


@dataclass(frozen=True, slots=True)
class TrackedMatch:
    """One of our matches as a provider knows it."""

    match_id: str
    game: Game
    best_of: int
    teams: tuple[str, str]  # (team A = outcome YES, team B)
    provider_id: str


class MatchDirectory:
    """Provider id → our match, built from ``config.markets[*].provider_ids.<provider>``.

    Several markets may share one match; the match is tracked once. Ids are compared as
    stripped strings; ``provider_ids.<provider>`` may list several ids separated by commas.
    """

    def __init__(self, markets: Iterable[MarketConfig], provider: str) -> None:
        self.provider = provider
        self._by_id: dict[str, TrackedMatch] = {}
        self._by_match: dict[str, TrackedMatch] = {}
        for market in markets:
            raw = str(getattr(market.provider_ids, provider, "") or "")
            for provider_id in (part.strip() for part in raw.split(",")):
                if not provider_id or provider_id in self._by_id:
                    continue
                tracked = TrackedMatch(
                    match_id=market.match_id,
                    game=market.game,
                    best_of=market.best_of,
                    teams=market.teams,
                    provider_id=provider_id,
                )
                self._by_id[provider_id] = tracked
                self._by_match.setdefault(market.match_id, tracked)

    def lookup(self, provider_id: object) -> TrackedMatch | None:
        """Return the match of ``provider_id``, or None when no market maps it."""
        return self._by_id.get(str(provider_id).strip())

    def ids(self) -> list[str]:
        """Return every configured provider id, in config order."""
        return list(self._by_id)

    def ids_of(self, match_id: str) -> list[str]:
        """Return the provider ids configured for ``match_id``, in config order."""
        return [pid for pid, tracked in self._by_id.items() if tracked.match_id == match_id]

    def matches(self) -> list[TrackedMatch]:
        """Return each tracked match once (its first configured id)."""
        return list(self._by_match.values())

    def __len__(self) -> int:
        return len(self._by_match)


_NAME_JUNK = re.compile(r"[^0-9a-z]+")


def normalize_team_name(name: str) -> str:
    """Return ``name`` lower-cased with everything but letters and digits removed."""
    return _NAME_JUNK.sub("", name.lower())


class TeamSides:
    """Maps a provider's team names and ids to our sides "A"/"B" for one match.

    Names are compared after :func:`normalize_team_name`; an id is learned the first time it
    is seen next to a name that resolves, and then wins over names.
    """

    def __init__(self, teams: tuple[str, str]) -> None:
        self._names = {normalize_team_name(teams[0]): SIDE_A, normalize_team_name(teams[1]): SIDE_B}
        self._ids: dict[str, str] = {}

    def learn(self, team_id: object, name: object) -> str | None:
        """Resolve ``name`` (or an already learned ``team_id``); remember the id; return side."""
        key = "" if team_id is None else str(team_id)
        if key and key in self._ids:
            return self._ids[key]
        side = self._names.get(normalize_team_name(name)) if isinstance(name, str) else None
        if side is not None and key:
            self._ids[key] = side
        return side

    def side_of_id(self, team_id: object) -> str | None:
        """Return the side of a learned provider team id, or None."""
        return None if team_id is None else self._ids.get(str(team_id))

    def side_of_name(self, name: object) -> str | None:
        """Return the side of a team name, or None."""
        return self._names.get(normalize_team_name(name)) if isinstance(name, str) else None


def other_side(side: str) -> str:
    """Return the other side."""
    return SIDE_B if side == SIDE_A else SIDE_A


Emission = tuple[MatchEventType, dict[str, Any]]
CLOCK_KEYS: Final = frozenset({"game_time_s"})


class SeriesProgress:
    """One match as one provider reports it; turns observations into events exactly once.

    * ``MATCH_STARTED`` is emitted before the first other live event.
    * ``MAP_ENDED`` once per game number (again only if the provider changes the winner).
    * ``MATCH_ENDED`` once (derived as soon as one side has won a majority of ``best_of``).
    * ``GAME_STATE`` only when the state differs from the last one emitted.
    * :meth:`baseline` records the series score seen in a provider's first snapshot without
      emitting map results that happened before we were watching.
    """

    def __init__(self, match: TrackedMatch) -> None:
        self.match = match
        self.started = False
        self.paused = False
        self.maps_a = 0
        self.maps_b = 0
        self.map_winners: dict[int, str] = {}
        self.maps_started: set[int] = set()
        self.winner: str | None = None
        self._last_state: dict[str, Any] | None = None

    @property
    def majority(self) -> int:
        """Maps needed to win the series."""
        return self.match.best_of // 2 + 1

    @property
    def ended(self) -> bool:
        """Whether MATCH_ENDED was emitted."""
        return self.winner is not None

    def baseline(
        self, maps_a: int, maps_b: int, known_winners: dict[int, str] | None = None
    ) -> None:
        """Adopt the series score (and map winners) of a first snapshot silently: results
        that happened before we were watching are state, not fresh events."""
        self.maps_a = max(self.maps_a, maps_a)
        self.maps_b = max(self.maps_b, maps_b)
        for game_number, winner in (known_winners or {}).items():
            self.map_winners.setdefault(game_number, winner)

    def _start(self) -> list[Emission]:
        if self.started or self.ended:
            return []
        self.started = True
        return [(MatchEventType.MATCH_STARTED, {})]

    def match_started(self) -> list[Emission]:
        """The provider says the match is live."""
        return self._start()

    def map_started(self, game_number: int) -> list[Emission]:
        """Game ``game_number`` (1-based) began."""
        if game_number in self.maps_started or self.ended:
            return []
        self.maps_started.add(game_number)
        payload = {"game_number": game_number, "maps_a": self.maps_a, "maps_b": self.maps_b}
        return [*self._start(), (MatchEventType.MAP_STARTED, payload)]

    def set_paused(self, paused: bool) -> list[Emission]:
        """The provider's pause flag; emits only on a change."""
        if paused == self.paused or self.ended:
            return []
        self.paused = paused
        kind = MatchEventType.MATCH_PAUSED if paused else MatchEventType.MATCH_RESUMED
        return [*self._start(), (kind, {})]

    def game_state(self, payload: dict[str, Any]) -> list[Emission]:
        """An in-game snapshot; emitted when anything but the game clock (``game_time_s``,
        which always moves) differs from the previous one."""
        compared = {k: v for k, v in payload.items() if k not in CLOCK_KEYS}
        if self.ended or compared == self._last_state:
            return []
        self._last_state = compared
        return [*self._start(), (MatchEventType.GAME_STATE, dict(payload))]

    def map_ended(
        self,
        game_number: int,
        winner: str,
        *,
        maps_a: int | None = None,
        maps_b: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> list[Emission]:
        """Game ``game_number`` was won by ``winner``; ``maps_a``/``maps_b`` when the
        provider states the series score after it, else it is counted here."""
        previous = self.map_winners.get(game_number)
        if previous == winner or self.ended:
            return []
        self.map_winners[game_number] = winner
        if previous is not None:  # the provider changed its mind: move the point over
            if previous == SIDE_A:
                self.maps_a = max(0, self.maps_a - 1)
            else:
                self.maps_b = max(0, self.maps_b - 1)
        if maps_a is not None and maps_b is not None:
            self.maps_a, self.maps_b = maps_a, maps_b
        elif winner == SIDE_A:
            self.maps_a += 1
        else:
            self.maps_b += 1
        payload: dict[str, Any] = {
            "game_number": game_number,
            "winner": winner,
            "maps_a": self.maps_a,
            "maps_b": self.maps_b,
            **(extra or {}),
        }
        emissions = [*self._start(), (MatchEventType.MAP_ENDED, payload)]
        if self.maps_a >= self.majority or self.maps_b >= self.majority:
            series_winner = SIDE_A if self.maps_a > self.maps_b else SIDE_B
            emissions += self.match_ended(series_winner, extra=extra)
        return emissions

    def match_ended(
        self,
        winner: str,
        *,
        maps_a: int | None = None,
        maps_b: int | None = None,
        backfill: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> list[Emission]:
        """The series was won by ``winner``; ``backfill`` marks a result that was already
        over when we first looked (not a fresh signal)."""
        if self.ended:
            return []
        if maps_a is not None and maps_b is not None:
            self.maps_a, self.maps_b = maps_a, maps_b
        self.winner = winner
        payload: dict[str, Any] = {
            "winner": winner,
            "maps_a": self.maps_a,
            "maps_b": self.maps_b,
            **(extra or {}),
        }
        if backfill:
            payload["backfill"] = True
            return [(MatchEventType.MATCH_ENDED, payload)]
        return [*self._start(), (MatchEventType.MATCH_ENDED, payload)]


@dataclass(slots=True)
class MatchState:
    """What a parser keeps about one tracked match: the match, its series progress and its
    team sides. Parsers subclass it (as a slotted dataclass) to add their own fields, each
    with a default."""

    match: TrackedMatch
    progress: SeriesProgress
    sides: TeamSides

    @classmethod
    def of(cls, match: TrackedMatch) -> Self:
        """A fresh state for ``match``: nothing seen yet."""
        return cls(match, SeriesProgress(match), TeamSides(match.teams))


StateT = TypeVar("StateT", bound=MatchState)


class MatchStates(Generic[StateT]):
    """A parser's state per configured provider id, created on first use.

    Only ids the :class:`MatchDirectory` maps get a state; others stay unknown (None).
    """

    def __init__(
        self, directory: MatchDirectory, make: Callable[[TrackedMatch], StateT]
    ) -> None:
        self.directory = directory
        self._make = make
        self._states: dict[str, StateT] = {}

    def state_of(self, provider_id: str) -> StateT | None:
        """Return the state of ``provider_id`` (created if the directory maps it), else None."""
        state = self._states.get(provider_id)
        if state is None:
            tracked = self.directory.lookup(provider_id)
            if tracked is None:
                return None
            state = self._make(tracked)
            self._states[provider_id] = state
        return state

    def known(self, provider_id: str) -> StateT | None:
        """Return the state of ``provider_id`` if one was created, without creating one."""
        return self._states.get(provider_id)

    def items(self) -> ItemsView[str, StateT]:
        """The (provider id, state) pairs created so far, in creation order."""
        return self._states.items()

    def values(self) -> ValuesView[StateT]:
        """The states created so far, in creation order."""
        return self._states.values()


@dataclass(frozen=True, slots=True)
class EventStamp:
    """Who produced an event and when we received its payload."""

    source: str
    tier: SourceTier
    t_recv_ns: int
    t_recv_ms: int


def build_events(
    stamp: EventStamp, match_id: str, emissions: list[Emission], t_event_ms: int
) -> list[MatchEvent]:
    """Wrap emissions into :class:`MatchEvent` values (``seq`` is assigned by the shell)."""
    return [
        MatchEvent(
            match_id=match_id,
            source=stamp.source,
            tier=stamp.tier,
            event_type=kind,
            payload=payload,
            t_event_ms=t_event_ms,
            t_recv_ns=stamp.t_recv_ns,
            t_recv_ms=stamp.t_recv_ms,
        )
        for kind, payload in emissions
    ]


# --- small strict readers for provider JSON ---------------------------------------------------


def load_json(raw: bytes | str) -> Any:
    """Decode JSON or raise :class:`ParseError` ``not_json``."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ParseError("not_json", str(exc)) from None


def as_object(value: Any, what: str) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object, else raise ``bad_shape``."""
    if not isinstance(value, dict):
        raise ParseError("bad_shape", f"{what}: expected an object, was {type(value).__name__}")
    return value


def object_or_empty(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """``parent[key]`` if it is a JSON object, else a new empty object (optional sub-objects)."""
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def as_list(value: Any, what: str) -> list[Any]:
    """Return ``value`` if it is a JSON array, else raise ``bad_shape``."""
    if not isinstance(value, list):
        raise ParseError("bad_shape", f"{what}: expected a list, was {type(value).__name__}")
    return value


def as_int(value: Any, what: str) -> int:
    """Return ``value`` as an int (ints, integral floats, digit strings), else ``bad_value``."""
    if isinstance(value, bool):
        raise ParseError("bad_value", f"{what}: expected an integer, was {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ParseError("bad_value", f"{what}: expected an integer, was {value!r}")


def as_number(value: Any, what: str) -> float:
    """Return ``value`` as a finite float, else raise ``bad_value``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParseError("bad_value", f"{what}: expected a number, was {value!r}")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ParseError("bad_value", f"{what}: expected a finite number, was {value!r}")
    return number


def iso_to_ms(value: Any, what: str) -> int:
    """Return Unix ms of an RFC 3339 timestamp, else raise ``bad_timestamp``."""
    if not isinstance(value, str) or not value:
        raise ParseError("bad_timestamp", f"{what}: expected an RFC 3339 string, was {value!r}")
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ParseError("bad_timestamp", f"{what}: not RFC 3339: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)
