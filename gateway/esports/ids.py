"""Who is who: a provider's match ids → our matches, a provider's teams → our sides A/B.

Both are built from config (``markets[*].provider_ids``, ``markets[*].teams``) and are pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from polyloly.config import MarketConfig
from polyloly.domain import Game

SIDE_A: Final = "A"
SIDE_B: Final = "B"


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
