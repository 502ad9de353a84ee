"""What every feed needs to know: the scenario, the clock mapping and each provider's view.

Scenario time ``t_s`` (seconds since the world started, already multiplied by the speed) maps
to wall milliseconds as ``epoch_ms + t_s / speed * 1000``. In-game clocks (game_time,
current_timestamp) use scenario seconds times the match's ``game_clock_scale``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass

from sim.feeds.truth import MatchState, MatchTimeline
from sim.scenario import PROVIDER_GAMES, MatchSpec, Outage, ProviderSettings, Scenario


class ProviderDown(Exception):
    """The provider is in an ``error`` outage: answer HTTP 503 / refuse WebSockets."""


def stable_int(digits: int, *parts: object) -> int:
    """Return a deterministic integer with ``digits`` digits derived from ``parts``."""
    raw = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    low = int(10 ** (digits - 1))
    return low + int.from_bytes(raw, "big") % (9 * low)


def stable_uuid(*parts: object) -> str:
    """Return a deterministic UUID-shaped string derived from ``parts``."""
    h = hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def iso_ms(wall_ms: int) -> str:
    """Return ``2025-06-01T10:41:07.512Z`` for Unix milliseconds."""
    moment = dt.datetime.fromtimestamp(wall_ms / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{wall_ms % 1000:03d}Z"


def parse_iso(text: str) -> int:
    """Return Unix milliseconds for an RFC 3339 timestamp (``Z`` or offset)."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class PolledView:
    """The state a polled provider serves: ``state`` as of match time ``match_t_s``."""

    match_t_s: float
    state: MatchState


class FeedContext:
    """Scenario, clock mapping and per-provider timelines, shared by the core and servers."""

    def __init__(self, scenario: Scenario, speed: float, epoch_ms: int) -> None:
        if speed <= 0:
            raise ValueError(f"speed: expected a positive number, was {speed!r}")
        self.scenario = scenario
        self.speed = speed
        self.epoch_ms = epoch_ms
        self.timelines: dict[str, dict[str, MatchTimeline]] = {
            provider: {m.match_id: MatchTimeline.for_provider(m, provider)
                       for m in scenario.matches if self.covers(provider, m)}
            for provider in PROVIDER_GAMES
        }
        self.truth = {m.match_id: MatchTimeline(m) for m in scenario.matches}

    def covers(self, provider: str, match: MatchSpec) -> bool:
        """Return True when ``provider`` reports ``match`` (game coverage and enabled)."""
        return match.game in PROVIDER_GAMES[provider] and match.provider(provider).enabled

    def wall_ms(self, t_s: float) -> int:
        """Return the wall-clock milliseconds of scenario time ``t_s``."""
        return self.epoch_ms + round(t_s / self.speed * 1000)

    def scenario_time(self, wall_ms: int) -> float:
        """Return the scenario time of wall-clock milliseconds ``wall_ms``."""
        return (wall_ms - self.epoch_ms) / 1000 * self.speed

    def iso(self, t_s: float) -> str:
        """Return the RFC 3339 wall timestamp of scenario time ``t_s``."""
        return iso_ms(self.wall_ms(t_s))

    def matches_for(self, provider: str) -> list[MatchSpec]:
        """Return the matches ``provider`` reports, in scenario order."""
        return [m for m in self.scenario.matches if m.match_id in self.timelines[provider]]

    def outage(self, provider: str, match: MatchSpec | None, t_s: float) -> Outage | None:
        """Return the outage of ``provider`` at ``t_s`` (match overrides, else global)."""
        settings: ProviderSettings = (match.provider(provider) if match is not None
                                      else self.scenario.providers[provider])
        return settings.outage_at(t_s)

    def check_up(self, provider: str, t_s: float, match: MatchSpec | None = None) -> None:
        """Raise ``ProviderDown`` when ``provider`` is in an error outage at ``t_s``."""
        outage = self.outage(provider, match, t_s)
        if outage is not None and outage.mode == "error":
            raise ProviderDown(provider)

    def polled(self, provider: str, match: MatchSpec, t_s: float) -> PolledView:
        """Return what polled ``provider`` serves for ``match`` at scenario time ``t_s``.

        The provider refreshes every ``cadence_s`` and each refresh sees the match
        ``delay_s`` in the past; during a silent outage it keeps serving the last refresh.
        """
        settings = match.provider(provider)
        self.check_up(provider, t_s, match)
        outage = settings.outage_at(t_s)
        t_ref = outage.start_s if outage is not None else t_s
        if settings.cadence_s > 0:
            t_ref = math.floor(t_ref / settings.cadence_s) * settings.cadence_s
        match_t = t_ref - settings.delay_s - match.start_s
        return PolledView(match_t, self.timelines[provider][match.match_id].state_at(match_t))

    def team_id(self, provider: str, match: MatchSpec, side: int, digits: int = 6) -> int:
        """Return the deterministic id of team ``side`` (0 = A) at ``provider``."""
        return stable_int(digits, self.scenario.name, provider, match.teams[side])
