"""A parser's state per match: series progress (each event emitted exactly once), team sides.

Pure: observations in, :data:`~gateway.esports.events.Emission` values out.
"""

from __future__ import annotations

from collections.abc import Callable, ItemsView, ValuesView
from dataclasses import dataclass
from typing import Any, Final, Generic, Self, TypeVar

from gateway.esports.events import Emission
from gateway.esports.ids import SIDE_A, SIDE_B, MatchDirectory, TeamSides, TrackedMatch
from gateway.esports.json_fields import ParseError
from polyloly.domain import MatchEventType

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

    # ---- bounds (issue 20 #4): every number is checked against the match format ----

    def check_score(self, maps_a: int, maps_b: int, what: str = "series score") -> None:
        """Raise ParseError ``out_of_range`` unless ``maps_a``-``maps_b`` can occur in this
        best-of (each side at most a majority, not both, at most ``best_of`` maps): a 3 or
        2**63 in a best-of-1 is a bad payload, never a MATCH_ENDED or a loop of 2**63 maps."""
        majority = self.majority
        if (not 0 <= maps_a <= majority or not 0 <= maps_b <= majority
                or maps_a + maps_b > self.match.best_of
                or (maps_a == majority and maps_b == majority)):
            raise ParseError("out_of_range", f"{what} {maps_a}-{maps_b} impossible in a "
                             f"best-of-{self.match.best_of}")

    def check_game_number(self, game_number: int) -> None:
        """Raise ParseError ``out_of_range`` unless 1 <= ``game_number`` <= ``best_of``."""
        if not 1 <= game_number <= self.match.best_of:
            raise ParseError("out_of_range", f"game number {game_number} outside 1.."
                             f"{self.match.best_of} (best-of-{self.match.best_of})")

    def baseline(
        self, maps_a: int, maps_b: int, known_winners: dict[int, str] | None = None
    ) -> None:
        """Adopt the series score (and map winners) of a first snapshot silently: results
        that happened before we were watching are state, not fresh events."""
        self.check_score(maps_a, maps_b)
        for game_number in known_winners or {}:
            self.check_game_number(game_number)
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
        self.check_game_number(game_number)
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
        self.check_game_number(game_number)
        new_a, new_b = self.maps_a, self.maps_b
        if previous is not None:  # the provider changed its mind: move the point over
            if previous == SIDE_A:
                new_a = max(0, new_a - 1)
            else:
                new_b = max(0, new_b - 1)
        if maps_a is not None and maps_b is not None:
            new_a, new_b = maps_a, maps_b
        elif winner == SIDE_A:
            new_a += 1
        else:
            new_b += 1
        self.check_score(new_a, new_b)  # checked before anything moves
        self.map_winners[game_number] = winner
        self.maps_a, self.maps_b = new_a, new_b
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
        if maps_a is not None and maps_b is not None:
            self.check_score(maps_a, maps_b)
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
