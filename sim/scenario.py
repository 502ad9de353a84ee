"""Scenario files for the simulated world: load, validate and expand them.

A scenario is a YAML file (``sim/scenarios/NAME.yaml``) describing the markets the local venue
lists, the matches behind them (a timeline of in-game events per match), how each esports
provider delays, samples, drops and contradicts that timeline, and how the market-maker and the
random takers behave. ``load_scenario`` turns it into frozen dataclasses; every validation error
names the offending key path, e.g. ``matches[0].timeline[3].kind: expected one of ..., was 'x'``.

All times are seconds of *scenario* time (the world clock divides them by ``--speed``):
match ``start_s`` and outage windows are counted from the start of the scenario, timeline
``t`` values from the start of their match. See ``sim/SCENARIOS.md`` for the full schema.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

# Package data (pyproject package-data "sim": scenarios/*.yaml), found through importlib.resources
# so an installed wheel ships and finds them.
SCENARIO_DIR = Path(str(resources.files("sim").joinpath("scenarios")))

GAMES = ("lol", "dota2", "cs2", "valorant")
PROVIDERS = ("grid", "pandascore", "lolesports", "opendota", "liquipedia", "polymarket_sports")
PROVIDER_GAMES: dict[str, tuple[str, ...]] = {
    "grid": GAMES,
    "pandascore": ("lol", "dota2", "cs2"),
    "lolesports": ("lol",),
    "opendota": ("dota2",),
    "liquipedia": GAMES,
    "polymarket_sports": GAMES,
}
EVENT_KINDS = (
    "map_start", "gold", "kill", "tower", "dragon", "baron", "inhibitor", "roshan",
    "round_end", "rounds", "pause", "resume", "map_end", "match_end",
)
TEAM_SIDES = ("A", "B")
OUTAGE_MODES = ("silent", "error")
DEFAULT_CS2_MAPS = ("Mirage", "Inferno", "Nuke", "Ancient", "Anubis")
DEFAULT_VALORANT_MAPS = ("Ascent", "Bind", "Haven", "Lotus", "Sunset")


class ScenarioError(ValueError):
    """A scenario file is missing, unreadable or invalid; the message names the key path."""


# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True, slots=True)
class Outage:
    """A window ``[start_s, end_s)`` of scenario time during which a provider is down.

    ``mode`` ``silent``: push feeds send nothing, REST answers stale data frozen at the start
    of the outage; ``error``: REST answers HTTP 503 and WebSocket clients are disconnected.
    """

    start_s: float
    end_s: float
    mode: str = "silent"

    def covers(self, t_s: float) -> bool:
        """Return True when scenario time ``t_s`` falls inside the outage."""
        return self.start_s <= t_s < self.end_s


@dataclass(frozen=True, slots=True)
class Disagreement:
    """The provider reports ``winner`` ("A" or "B") as the winner of map ``map_number``."""

    map_number: int
    winner: str


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """How one provider sees the truth: delay, sampling cadence, outages, wrong map winners."""

    enabled: bool = True
    delay_s: float = 0.0
    cadence_s: float = 0.0
    jitter_s: float = 0.0
    outages: tuple[Outage, ...] = ()
    disagreements: tuple[Disagreement, ...] = ()

    def outage_at(self, t_s: float) -> Outage | None:
        """Return the outage covering scenario time ``t_s``, if any."""
        for outage in self.outages:
            if outage.covers(t_s):
                return outage
        return None

    def reported_map_winner(self, map_number: int, true_winner: str) -> str:
        """Return the map winner this provider reports (a disagreement overrides the truth)."""
        for disagreement in self.disagreements:
            if disagreement.map_number == map_number:
                return disagreement.winner
        return true_winner


DEFAULT_PROVIDERS: dict[str, ProviderSettings] = {
    # ESPORTS §4: push, sub-second (UNCONFIRMED).
    "grid": ProviderSettings(delay_s=0.5, cadence_s=0.0, jitter_s=0.2),
    # ESPORTS §3.3: frames every 2 s, events pushed.
    "pandascore": ProviderSettings(delay_s=2.0, cadence_s=2.0, jitter_s=0.5),
    # ESPORTS §2.3: 10 s windows, 20-60 s behind.
    "lolesports": ProviderSettings(delay_s=30.0, cadence_s=10.0, jitter_s=0.0),
    # ESPORTS §1: refreshed every 60 s, plus the 120 s spectator delay.
    "opendota": ProviderSettings(delay_s=120.0, cadence_s=60.0, jitter_s=0.0),
    # ESPORTS §5: human-edited, minutes.
    "liquipedia": ProviderSettings(delay_s=90.0, cadence_s=30.0, jitter_s=10.0),
    # ESPORTS §0.5: what the market sees.
    "polymarket_sports": ProviderSettings(delay_s=5.0, cadence_s=0.0, jitter_s=1.0),
}


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One in-game event at ``t_s`` seconds after the match start.

    Fields used per kind: ``map_start`` (map), ``gold`` (gold_diff: team A minus team B),
    ``kill``/``tower``/``dragon``/``baron``/``inhibitor``/``roshan`` (team, count, dragon_type),
    ``round_end`` (team = round winner), ``pause``/``resume``, ``map_end`` (team = map winner),
    ``match_end`` (team = series winner). ``map_number`` is filled in while loading.
    """

    t_s: float
    kind: str
    map_number: int
    team: str | None = None
    gold_diff: float | None = None
    count: int = 1
    dragon_type: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderIds:
    """Identifiers of one match at each provider (generated deterministically when omitted)."""

    opendota_match_id: int
    pandascore_match_id: int
    grid_series_id: str
    lolesports_match_id: str
    lolesports_game_ids: tuple[str, ...]
    liquipedia_page: str
    polymarket_game_id: int


@dataclass(frozen=True, slots=True)
class MatchSpec:
    """One series between team A (outcome 0) and team B (outcome 1).

    ``start_s`` is scenario time; ``timeline`` times are match time and end with
    ``match_end``. ``game_clock_scale`` converts scenario seconds into in-game seconds (the
    feeds' game clocks and the gold models' minutes). ``providers`` holds the effective
    settings of every provider for this match (scenario defaults merged with overrides).
    """

    match_id: str
    game: str
    teams: tuple[str, str]
    best_of: int
    start_s: float
    prior_map_prob: float
    provider_ids: ProviderIds
    timeline: tuple[TimelineEvent, ...]
    map_names: tuple[str, ...]
    providers: Mapping[str, ProviderSettings] = field(default_factory=dict)
    league: str = "Sim League"
    game_clock_scale: float = 1.0

    @property
    def end_s(self) -> float:
        """Scenario time of the match_end event."""
        return self.start_s + self.timeline[-1].t_s

    @property
    def winner(self) -> str:
        """The true series winner, "A" or "B"."""
        last = self.timeline[-1]
        assert last.team is not None
        return last.team

    def provider(self, name: str) -> ProviderSettings:
        """Return the effective settings of provider ``name`` for this match."""
        return self.providers[name]


MONEYLINE = "moneyline"  # Gamma sportsMarketType of a series winner market
MAP_WINNER = "child_moneyline"  # Gamma sportsMarketType of a map winner market ("Map N Winner")
NEG_RISK_OUTCOME = ""  # an outcome of a neg-risk event carries no sportsMarketType


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """One binary Polymarket market: outcome 0 = team A, outcome 1 = team B — or, for one
    outcome of a neg-risk event (``event_id`` set, ``match_id`` empty), outcome 0 = "Yes"
    (that team wins the event), outcome 1 = "No".

    ``market_type`` is Gamma's ``sportsMarketType``: ``moneyline`` (the series) or
    ``child_moneyline`` (map ``map_number`` of the series, resolved by that map alone).
    """

    condition_id: str
    question: str
    token_ids: tuple[str, str]
    outcomes: tuple[str, str]
    tick_size: float
    min_order_size: float
    taker_fee_rate: float
    neg_risk: bool
    match_id: str
    market_type: str = MONEYLINE
    map_number: int = 0
    event_id: str = ""
    neg_risk_market_id: str = ""
    group_item_title: str = ""

    @property
    def fair_key(self) -> str:
        """What this market's fair value follows: the series (the match id), one map of it
        (``match#mapN``) or one outcome of a neg-risk event (``event#index``)."""
        if self.event_id:
            return f"{self.event_id}#{self.group_item_title}"
        if self.market_type == MAP_WINNER:
            return f"{self.match_id}#map{self.map_number}"
        return self.match_id


@dataclass(frozen=True, slots=True)
class NegRiskEvent:
    """A multi-outcome event (e.g. a tournament winner): one binary market per outcome, all
    under one neg-risk market id, exactly one resolving Yes (docs/VENUE.md §5 "Neg-risk").

    Fair value: outcome i is worth ``prior_i / Σ prior_j`` over the outcomes not eliminated
    yet; a linked match (``matches``, both teams outcomes) eliminates its loser at its end.
    The event resolves at ``resolve_s`` to ``winner``.
    """

    event_id: str
    title: str
    neg_risk_market_id: str
    outcomes: tuple[str, ...]
    priors: tuple[float, ...]
    winner: str
    resolve_s: float
    matches: tuple[str, ...]
    condition_ids: tuple[str, ...]

    def fairs(self, eliminated: frozenset[str]) -> tuple[float, ...]:
        """P(each outcome wins) once ``eliminated`` teams are out (renormalised priors)."""
        alive = sum(p for o, p in zip(self.outcomes, self.priors, strict=True)
                    if o not in eliminated)
        return tuple(0.0 if o in eliminated else p / alive
                     for o, p in zip(self.outcomes, self.priors, strict=True))


@dataclass(frozen=True, slots=True)
class MispricingSpec:
    """At ``at_s`` the market-maker leaves ``match_id``'s pair mispriced for ``duration_s``:
    the two best asks sum to ``1 - edge``, with ``size`` shares at each of those asks."""

    match_id: str
    at_s: float
    duration_s: float
    edge: float
    size: float


@dataclass(frozen=True, slots=True)
class MarketMakerSettings:
    """The market-maker agent: ladder shape, reprice lag and noise, pair mispricings."""

    enabled: bool = True
    owner: str = "sim-market-maker"
    levels: int = 5
    level_size: float = 200.0
    level_step: float = 0.01
    half_spread: float = 0.015
    reprice_lag_s: float = 8.0
    noise: float = 0.005
    refresh_s: float = 5.0
    mispricings: tuple[MispricingSpec, ...] = ()
    # (low, high): the maker learns each TRUE event after a uniform random delay in this
    # range (scenario seconds); None keeps the fixed ``reprice_lag_s`` of older scenarios.
    reaction_s: tuple[float, float] | None = None
    # Fair-value shift per share of net team-A inventory (long A → quotes lower, to sell).
    inventory_skew: float = 0.0

    def reaction_range(self) -> tuple[float, float]:
        """The (low, high) delay between a true event and this maker's reprice."""
        if self.reaction_s is not None:
            return self.reaction_s
        return (self.reprice_lag_s, self.reprice_lag_s)


@dataclass(frozen=True, slots=True)
class InformedTakerSettings:
    """A taker that learns each TRUE event ``reaction_s`` later and sends marketable orders at
    the resting quotes left on the wrong side of the new fair value (by at least ``min_edge``)."""

    owner: str
    reaction_s: tuple[float, float]
    min_edge: float = 0.01
    max_size: float = 200.0
    order_type: str = "FAK"


@dataclass(frozen=True, slots=True)
class TakerSettings:
    """Random takers: Poisson arrivals per market, random side and token, sizes in shares."""

    enabled: bool = True
    owner_prefix: str = "sim-taker"
    count: int = 3
    rate_per_market_s: float = 0.1
    min_size: float = 5.0
    max_size: float = 40.0
    order_type: str = "FAK"


@dataclass(frozen=True, slots=True)
class Scenario:
    """A complete world: markets, matches, providers, agents, timing."""

    name: str
    seed: int
    markets: tuple[MarketSpec, ...]
    matches: tuple[MatchSpec, ...]
    default_collateral_usdc: float
    matching_delay_s: float
    duration_s: float
    resolution_delay_s: float
    providers: Mapping[str, ProviderSettings]
    market_maker: MarketMakerSettings
    takers: TakerSettings
    description: str = ""
    # False: one independent book per outcome token (no YES/NO mirroring), so a pair
    # mispricing can rest; True is the real venue's unified book.
    complementary_matching: bool = True
    # Every market-maker agent: ``market_maker`` (if enabled) first, then ``market_makers``.
    market_makers: tuple[MarketMakerSettings, ...] = ()
    informed_takers: tuple[InformedTakerSettings, ...] = ()
    # Fraction of each taker fee paid to the maker whose order provided the liquidity.
    maker_rebate_rate: float = 0.25
    # Multi-outcome events; their markets are in ``markets`` (``event_id`` set).
    neg_risk_events: tuple[NegRiskEvent, ...] = ()

    def all_market_makers(self) -> tuple[MarketMakerSettings, ...]:
        """The market-maker population: the legacy ``market_maker`` first when enabled."""
        first = (self.market_maker,) if self.market_maker.enabled else ()
        return first + tuple(m for m in self.market_makers if m.enabled)

    def match(self, match_id: str) -> MatchSpec:
        """Return the match with id ``match_id``."""
        for match in self.matches:
            if match.match_id == match_id:
                return match
        raise KeyError(match_id)

    def markets_for(self, match_id: str) -> tuple[MarketSpec, ...]:
        """Return the markets settled by match ``match_id`` (series and map winners)."""
        return tuple(m for m in self.markets if m.match_id == match_id)

    def event(self, event_id: str) -> NegRiskEvent:
        """Return the neg-risk event with id ``event_id``."""
        for event in self.neg_risk_events:
            if event.event_id == event_id:
                return event
        raise KeyError(event_id)


# --------------------------------------------------------------------------- id helpers


def _digest(*parts: str) -> bytes:
    return hashlib.sha256(":".join(parts).encode()).digest()


def deterministic_token_id(*parts: str) -> str:
    """Return a 77-digit decimal token id derived from ``parts`` (like real CLOB token ids)."""
    value = int.from_bytes(_digest("token", *parts), "big")
    return str(10**76 + value % (9 * 10**76))


def deterministic_condition_id(*parts: str) -> str:
    """Return a ``0x`` + 64 hex condition id derived from ``parts``."""
    return "0x" + _digest("condition", *parts).hex()


def _deterministic_int(digits: int, *parts: str) -> int:
    value = int.from_bytes(_digest("int", *parts), "big")
    low = int(10 ** (digits - 1))
    return low + value % (9 * low)


# --------------------------------------------------------------------------- validation


class _Node:
    """A mapping from the YAML with its key path, for precise error messages."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise ScenarioError(f"{path or '<root>'}: expected a mapping, was {data!r}")
        self.data: dict[str, Any] = data
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def check_keys(self, allowed: tuple[str, ...]) -> None:
        unknown = sorted(set(map(str, self.data)) - set(allowed))
        if unknown:
            raise ScenarioError(
                f"{self.at(unknown[0])}: unknown key; allowed keys are {', '.join(allowed)}"
            )

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def require(self, key: str) -> Any:
        if not self.has(key):
            raise ScenarioError(f"{self.at(key)}: required key is missing")
        return self.data[key]

    def number(self, key: str, default: float | None = None, *, low: float | None = None,
               high: float | None = None, positive: bool = False) -> float:
        raw = self.data.get(key, default) if default is not None else self.require(key)
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ScenarioError(f"{self.at(key)}: expected a number, was {raw!r}")
        value = float(raw)
        if positive and value <= 0:
            raise ScenarioError(f"{self.at(key)}: expected a positive number, was {raw!r}")
        if low is not None and value < low:
            raise ScenarioError(f"{self.at(key)}: expected a number >= {low}, was {raw!r}")
        if high is not None and value > high:
            raise ScenarioError(f"{self.at(key)}: expected a number <= {high}, was {raw!r}")
        return value

    def integer(self, key: str, default: int | None = None, *, low: int | None = None) -> int:
        raw = self.data.get(key, default) if default is not None else self.require(key)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ScenarioError(f"{self.at(key)}: expected an integer, was {raw!r}")
        if low is not None and raw < low:
            raise ScenarioError(f"{self.at(key)}: expected an integer >= {low}, was {raw!r}")
        return raw

    def string(self, key: str, default: str | None = None,
               choices: tuple[str, ...] | None = None) -> str:
        raw = self.data.get(key, default) if default is not None else self.require(key)
        if isinstance(raw, int) and not isinstance(raw, bool):
            raw = str(raw)
        if not isinstance(raw, str) or not raw:
            raise ScenarioError(f"{self.at(key)}: expected a non-empty string, was {raw!r}")
        if choices is not None and raw not in choices:
            raise ScenarioError(
                f"{self.at(key)}: expected one of {', '.join(choices)}, was {raw!r}"
            )
        return raw

    def boolean(self, key: str, default: bool) -> bool:
        raw = self.data.get(key, default)
        if not isinstance(raw, bool):
            raise ScenarioError(f"{self.at(key)}: expected true or false, was {raw!r}")
        return raw

    def items(self, key: str) -> list[Any]:
        raw = self.data.get(key)
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise ScenarioError(f"{self.at(key)}: expected a list, was {raw!r}")
        return raw

    def child(self, key: str) -> _Node:
        return _Node(self.data.get(key) or {}, self.at(key))


def _parse_outages(node: _Node) -> tuple[Outage, ...]:
    outages = []
    for i, raw in enumerate(node.items("outages")):
        item = _Node(raw, f"{node.at('outages')}[{i}]")
        item.check_keys(("start_s", "end_s", "mode"))
        start = item.number("start_s", low=0.0)
        end = item.number("end_s", low=0.0)
        if end <= start:
            raise ScenarioError(f"{item.at('end_s')}: expected a time after start_s, was {end}")
        outages.append(Outage(start, end, item.string("mode", "silent", OUTAGE_MODES)))
    return tuple(outages)


def _parse_disagreements(node: _Node) -> tuple[Disagreement, ...]:
    result = []
    for i, raw in enumerate(node.items("disagreements")):
        item = _Node(raw, f"{node.at('disagreements')}[{i}]")
        item.check_keys(("map", "winner"))
        result.append(Disagreement(item.integer("map", low=1),
                                   item.string("winner", choices=TEAM_SIDES)))
    return tuple(result)


_PROVIDER_KEYS = ("enabled", "delay_s", "cadence_s", "jitter_s", "outages", "disagreements")


def _parse_provider(node: _Node, base: ProviderSettings) -> ProviderSettings:
    node.check_keys(_PROVIDER_KEYS)
    return ProviderSettings(
        enabled=node.boolean("enabled", base.enabled),
        delay_s=node.number("delay_s", base.delay_s, low=0.0),
        cadence_s=node.number("cadence_s", base.cadence_s, low=0.0),
        jitter_s=node.number("jitter_s", base.jitter_s, low=0.0),
        outages=_parse_outages(node) if node.has("outages") else base.outages,
        disagreements=(
            _parse_disagreements(node) if node.has("disagreements") else base.disagreements
        ),
    )


def _parse_providers(node: _Node, base: Mapping[str, ProviderSettings]
                     ) -> dict[str, ProviderSettings]:
    node.check_keys(PROVIDERS)
    return {
        name: _parse_provider(node.child(name), base[name]) if node.has(name) else base[name]
        for name in PROVIDERS
    }


_EVENT_KEYS = ("t", "kind", "team", "winner", "gold_diff", "count", "dragon_type", "map",
               "winners", "every_s")


def _parse_timeline(node: _Node, game: str, best_of: int) -> tuple[TimelineEvent, ...]:
    raw_events = node.items("timeline")
    if not raw_events:
        raise ScenarioError(f"{node.at('timeline')}: expected a non-empty list of events")
    events: list[TimelineEvent] = []
    map_number = 1
    wins = {"A": 0, "B": 0}
    needed = best_of // 2 + 1
    previous_t = 0.0
    in_map = False
    for i, raw in enumerate(raw_events):
        item = _Node(raw, f"{node.at('timeline')}[{i}]")
        item.check_keys(_EVENT_KEYS)
        t = item.number("t", low=0.0)
        if t < previous_t:
            raise ScenarioError(f"{item.at('t')}: events must be in time order, was {t} after "
                                f"{previous_t}")
        previous_t = t
        kind = item.string("kind", choices=EVENT_KINDS)
        team_key = "winner" if item.has("winner") else "team"
        team = item.string(team_key, choices=TEAM_SIDES) if item.has(team_key) else None
        if (wins["A"] >= needed or wins["B"] >= needed) and kind != "match_end":
            raise ScenarioError(f"{item.at('kind')}: the series is already decided; only "
                                f"match_end may follow, was {kind!r}")
        if kind == "map_start":
            if item.has("map") and item.integer("map", low=1) != map_number:
                raise ScenarioError(f"{item.at('map')}: expected map {map_number}, was "
                                    f"{item.data['map']!r}")
            in_map = True
            events.append(TimelineEvent(t, kind, map_number))
            continue
        if kind == "match_end":
            leader = "A" if wins["A"] >= needed else "B" if wins["B"] >= needed else None
            if leader is None:
                raise ScenarioError(f"{item.at('kind')}: match_end before a team won "
                                    f"{needed} maps (score {wins['A']}-{wins['B']})")
            if team is not None and team != leader:
                raise ScenarioError(f"{item.at(team_key)}: series winner by map wins is "
                                    f"{leader!r}, was {team!r}")
            events.append(TimelineEvent(t, kind, map_number - 1, leader))
            continue
        if not in_map:
            events.append(TimelineEvent(t, "map_start", map_number))
            in_map = True
        if kind == "rounds":
            if game not in ("cs2", "valorant"):
                raise ScenarioError(f"{item.at('kind')}: rounds is for cs2/valorant, game is "
                                    f"{game!r}")
            winners = item.string("winners")
            if any(c not in "AB" for c in winners):
                raise ScenarioError(f"{item.at('winners')}: expected a string of A and B, was "
                                    f"{winners!r}")
            every = item.number("every_s", 3.0, positive=True)
            events.extend(TimelineEvent(t + k * every, "round_end", map_number, c)
                          for k, c in enumerate(winners))
            previous_t = events[-1].t_s
            continue
        if kind == "round_end" and game not in ("cs2", "valorant"):
            raise ScenarioError(f"{item.at('kind')}: round_end is for cs2/valorant, game is "
                                f"{game!r}")
        if kind in ("gold",) and not item.has("gold_diff"):
            raise ScenarioError(f"{item.at('gold_diff')}: required for kind 'gold'")
        if kind in ("kill", "tower", "dragon", "baron", "inhibitor", "roshan", "round_end",
                    "map_end") and team is None:
            raise ScenarioError(f"{item.at('team')}: required for kind {kind!r} (A or B)")
        event = TimelineEvent(
            t, kind, map_number, team,
            item.number("gold_diff") if item.has("gold_diff") else None,
            item.integer("count", 1, low=1),
            item.string("dragon_type") if item.has("dragon_type") else None,
        )
        if kind == "map_end" and game in ("cs2", "valorant"):
            _check_round_winner(item, events, map_number, team)
        events.append(event)
        if kind == "map_end":
            assert team is not None
            wins[team] += 1
            map_number += 1
            in_map = False
    if wins["A"] < needed and wins["B"] < needed:
        raise ScenarioError(f"{node.at('timeline')}: no team reached {needed} map wins "
                            f"(score {wins['A']}-{wins['B']}); add map_end events")
    if events[-1].kind != "match_end":
        winner = "A" if wins["A"] >= needed else "B"
        events.append(TimelineEvent(events[-1].t_s, "match_end", map_number - 1, winner))
    events.sort(key=lambda e: e.t_s)  # stable: round expansions stay ordered
    return tuple(events)


def _check_round_winner(item: _Node, events: list[TimelineEvent], map_number: int,
                        team: str | None) -> None:
    rounds = [e.team for e in events if e.kind == "round_end" and e.map_number == map_number]
    if not rounds:
        return
    a, b = rounds.count("A"), rounds.count("B")
    leader = "A" if a > b else "B" if b > a else None
    if leader != team:
        raise ScenarioError(f"{item.at('team')}: map winner must lead on rounds ({a}-{b}), "
                            f"was {team!r}")


_MATCH_KEYS = ("match_id", "game", "teams", "best_of", "start_s", "prior", "provider_ids",
               "timeline", "providers", "map_names", "league", "repeat", "game_clock_scale")
_IDS_KEYS = ("opendota_match_id", "pandascore_match_id", "grid_series_id",
             "lolesports_match_id", "lolesports_game_ids", "liquipedia_page",
             "polymarket_game_id")


def _parse_ids(node: _Node, scenario: str, match_id: str, best_of: int, teams: tuple[str, str]
               ) -> ProviderIds:
    node.check_keys(_IDS_KEYS)
    lol_match = (node.string("lolesports_match_id") if node.has("lolesports_match_id")
                 else str(_deterministic_int(18, scenario, match_id, "lolesports")))
    game_ids = tuple(str(g) for g in node.items("lolesports_game_ids"))
    if game_ids and len(game_ids) != best_of:
        raise ScenarioError(f"{node.at('lolesports_game_ids')}: expected {best_of} ids (one "
                            f"per map), was {len(game_ids)}")
    if not game_ids:
        game_ids = tuple(str(int(lol_match) + k + 1) for k in range(best_of))
    page = "_".join(t.replace(" ", "_") for t in teams)
    return ProviderIds(
        opendota_match_id=node.integer("opendota_match_id",
                                       _deterministic_int(10, scenario, match_id, "od")),
        pandascore_match_id=node.integer("pandascore_match_id",
                                         _deterministic_int(7, scenario, match_id, "ps")),
        grid_series_id=node.string("grid_series_id",
                                   str(_deterministic_int(7, scenario, match_id, "grid"))),
        lolesports_match_id=lol_match,
        lolesports_game_ids=game_ids,
        liquipedia_page=node.string("liquipedia_page", f"Sim_League/{scenario}/{page}"),
        polymarket_game_id=node.integer("polymarket_game_id",
                                        _deterministic_int(7, scenario, match_id, "pm")),
    )


def _parse_match(node: _Node, scenario: str, providers: Mapping[str, ProviderSettings],
                 match_id: str | None = None) -> MatchSpec:
    match_id = match_id or node.string("match_id")
    game = node.string("game", choices=GAMES)
    raw_teams = node.require("teams")
    if (not isinstance(raw_teams, list) or len(raw_teams) != 2
            or not all(isinstance(t, str) and t for t in raw_teams)
            or raw_teams[0] == raw_teams[1]):
        raise ScenarioError(f"{node.at('teams')}: expected two different team names, was "
                            f"{raw_teams!r}")
    teams = (raw_teams[0], raw_teams[1])
    best_of = node.integer("best_of", 1, low=1)
    if best_of not in (1, 3, 5, 7):
        raise ScenarioError(f"{node.at('best_of')}: expected 1, 3, 5 or 7, was {best_of}")
    timeline = _parse_timeline(node, game, best_of)
    default_maps = (DEFAULT_CS2_MAPS if game == "cs2" else DEFAULT_VALORANT_MAPS
                    if game == "valorant" else ("Summoner's Rift",) * 5 if game == "lol"
                    else ("Dota 2",) * 5)
    map_names = tuple(str(m) for m in node.items("map_names")) or default_maps
    while len(map_names) < best_of:
        map_names = map_names + map_names
    return MatchSpec(
        match_id=match_id,
        game=game,
        teams=teams,
        best_of=best_of,
        start_s=node.number("start_s", 0.0, low=0.0),
        prior_map_prob=node.number("prior", 0.5, low=0.01, high=0.99),
        provider_ids=_parse_ids(node.child("provider_ids"), scenario, match_id, best_of, teams),
        timeline=timeline,
        map_names=map_names[:best_of],
        providers=_parse_providers(node.child("providers"), providers),
        league=node.string("league", "Sim League"),
        game_clock_scale=node.number("game_clock_scale", 1.0, positive=True),
    )


_MARKET_KEYS = ("match_id", "question", "condition_id", "token_ids", "outcomes", "tick_size",
                "min_order_size", "taker_fee_rate", "neg_risk", "map")
_HEX64 = re.compile(r"^0x[0-9a-f]{64}$")


def _parse_market(node: _Node, scenario: str, index: int, match: MatchSpec) -> MarketSpec:
    node.check_keys(_MARKET_KEYS)
    condition_id = node.string("condition_id",
                               deterministic_condition_id(scenario, str(index), match.match_id))
    if not _HEX64.match(condition_id):
        raise ScenarioError(f"{node.at('condition_id')}: expected 0x + 64 lowercase hex, was "
                            f"{condition_id!r}")
    raw_tokens = node.data.get("token_ids")
    if raw_tokens is None:
        tokens = tuple(deterministic_token_id(scenario, str(index), match.match_id, str(k))
                       for k in range(2))
    else:
        if (not isinstance(raw_tokens, list) or len(raw_tokens) != 2
                or not all(re.fullmatch(r"[1-9][0-9]{10,}", str(t)) for t in raw_tokens)):
            raise ScenarioError(f"{node.at('token_ids')}: expected two decimal id strings, "
                                f"was {raw_tokens!r}")
        tokens = tuple(str(t) for t in raw_tokens)
    raw_outcomes = node.data.get("outcomes") or list(match.teams)
    if not isinstance(raw_outcomes, list) or len(raw_outcomes) != 2:
        raise ScenarioError(f"{node.at('outcomes')}: expected two outcome names, was "
                            f"{raw_outcomes!r}")
    tick = node.number("tick_size", 0.001)
    if tick not in (0.1, 0.01, 0.001, 0.0001):
        raise ScenarioError(f"{node.at('tick_size')}: expected 0.1, 0.01, 0.001 or 0.0001, "
                            f"was {tick}")
    game_title = {"lol": "LoL", "dota2": "Dota 2", "cs2": "Counter-Strike",
                  "valorant": "Valorant"}[match.game]
    map_number = node.integer("map", 0, low=0)
    if map_number > match.best_of or (node.has("map") and map_number < 1):
        raise ScenarioError(f"{node.at('map')}: expected a map of the series, 1 to "
                            f"{match.best_of}, was {map_number}")
    series = f"{game_title}: {match.teams[0]} vs {match.teams[1]} (BO{match.best_of})"
    question = node.string(
        "question", f"{series} - Map {map_number} Winner" if map_number else series)
    return MarketSpec(
        condition_id=condition_id,
        question=question,
        token_ids=(tokens[0], tokens[1]),
        outcomes=(str(raw_outcomes[0]), str(raw_outcomes[1])),
        tick_size=tick,
        min_order_size=node.number("min_order_size", 5.0, positive=True),
        taker_fee_rate=node.number("taker_fee_rate", 0.03, low=0.0, high=0.25),
        neg_risk=node.boolean("neg_risk", False),
        match_id=match.match_id,
        market_type=MAP_WINNER if map_number else MONEYLINE,
        map_number=map_number,
        group_item_title=f"Map {map_number} Winner" if map_number else "Match Winner",
    )


_NEG_RISK_KEYS = ("event_id", "title", "outcomes", "priors", "winner", "resolve_s", "matches",
               "neg_risk_market_id", "tick_size", "taker_fee_rate")
_SET_TOLERANCE = 1e-6


def _parse_event(node: _Node, scenario: str, by_id: Mapping[str, MatchSpec]
                 ) -> tuple[NegRiskEvent, list[MarketSpec]]:
    """One neg-risk event and its outcome markets. Refused unless the outcomes make one market
    set: two or more distinct outcomes, one prior each in (0, 1) summing to 1, a winner among
    them that no linked match eliminates, resolved after its linked matches."""
    node.check_keys(_NEG_RISK_KEYS)
    event_id = node.string("event_id")
    raw = node.require("outcomes")
    if (not isinstance(raw, list) or not 2 <= len(raw) <= 32
            or not all(isinstance(o, str) and o for o in raw) or len(set(raw)) != len(raw)):
        raise ScenarioError(f"{node.at('outcomes')}: a neg-risk event needs 2 to 32 distinct "
                            f"outcome names (one market each), was {raw!r}")
    outcomes = tuple(str(o) for o in raw)
    raw_priors = node.data.get("priors")
    if raw_priors is None:
        priors = tuple(1.0 / len(outcomes) for _ in outcomes)
    else:
        if (not isinstance(raw_priors, list) or len(raw_priors) != len(outcomes)
                or not all(isinstance(p, int | float) and not isinstance(p, bool)
                           and 0.0 < p < 1.0 for p in raw_priors)):
            raise ScenarioError(f"{node.at('priors')}: expected {len(outcomes)} probabilities "
                                f"in (0, 1), one per outcome, was {raw_priors!r}")
        priors = tuple(float(p) for p in raw_priors)
        if abs(sum(priors) - 1.0) > _SET_TOLERANCE:
            raise ScenarioError(f"{node.at('priors')}: the outcomes of a neg-risk event make one "
                                f"market set (exactly one resolves Yes), so their probabilities "
                                f"must sum to 1, was {sum(priors):.6f}")
    winner = node.string("winner")
    if winner not in outcomes:
        raise ScenarioError(f"{node.at('winner')}: expected one of the outcomes "
                            f"{', '.join(outcomes)}, was {winner!r}")
    linked = tuple(str(m) for m in node.items("matches"))
    last_end = 0.0
    for k, match_id in enumerate(linked):
        where = f"{node.at('matches')}[{k}]"
        if match_id not in by_id:
            raise ScenarioError(f"{where}: no such match, was {match_id!r}")
        match = by_id[match_id]
        if not set(match.teams) <= set(outcomes):
            raise ScenarioError(f"{where}: both teams of a linked match must be outcomes of the "
                                f"event, was {' vs '.join(match.teams)}")
        loser = match.teams[1 if match.winner == "A" else 0]
        if loser == winner:
            raise ScenarioError(f"{node.at('winner')}: {winner!r} loses linked match "
                                f"{match_id!r}, so it cannot win the event")
        last_end = max(last_end, match.end_s)
    resolve_s = node.number("resolve_s", low=0.0)
    if resolve_s < last_end:
        raise ScenarioError(f"{node.at('resolve_s')}: expected >= {last_end} (the end of the "
                            f"last linked match), was {resolve_s}")
    tick = node.number("tick_size", 0.001)
    if tick not in (0.1, 0.01, 0.001, 0.0001):
        raise ScenarioError(f"{node.at('tick_size')}: expected 0.1, 0.01, 0.001 or 0.0001, "
                            f"was {tick}")
    neg_risk_id = node.string("neg_risk_market_id",
                              deterministic_condition_id(scenario, "negrisk", event_id))
    if not _HEX64.match(neg_risk_id):
        raise ScenarioError(f"{node.at('neg_risk_market_id')}: expected 0x + 64 lowercase hex, "
                            f"was {neg_risk_id!r}")
    title = node.string("title", f"{event_id} winner")
    markets = [MarketSpec(
        condition_id=deterministic_condition_id(scenario, "negrisk", event_id, outcome),
        question=f"Will {outcome} win {title}?",
        token_ids=(deterministic_token_id(scenario, "negrisk", event_id, outcome, "yes"),
                   deterministic_token_id(scenario, "negrisk", event_id, outcome, "no")),
        outcomes=("Yes", "No"),
        tick_size=tick,
        min_order_size=5.0,
        taker_fee_rate=node.number("taker_fee_rate", 0.03, low=0.0, high=0.25),
        neg_risk=True,
        match_id="",
        market_type=NEG_RISK_OUTCOME,
        event_id=event_id,
        neg_risk_market_id=neg_risk_id,
        group_item_title=outcome,
    ) for outcome in outcomes]
    event = NegRiskEvent(event_id, title, neg_risk_id, outcomes, priors, winner, resolve_s,
                         linked, tuple(m.condition_id for m in markets))
    return event, markets


_MM_KEYS = ("enabled", "owner", "levels", "level_size", "level_step", "half_spread",
            "reprice_lag_s", "noise", "refresh_s", "mispricings", "reaction_s", "inventory_skew")
_INFORMED_KEYS = ("owner", "reaction_s", "min_edge", "max_size", "order_type")
_TAKER_KEYS = ("enabled", "owner_prefix", "count", "rate_per_market_s", "min_size", "max_size",
               "order_type")


def _parse_reaction(node: _Node, key: str) -> tuple[float, float]:
    """``[low, high]`` seconds after the true event; an agent cannot react before it (> 0)."""
    raw = node.require(key)
    if (not isinstance(raw, list) or len(raw) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)):
        raise ScenarioError(f"{node.at(key)}: expected [low, high] seconds after the event, "
                            f"was {raw!r}")
    low, high = float(raw[0]), float(raw[1])
    if low <= 0:
        raise ScenarioError(f"{node.at(key)}: an agent cannot react at or before the event "
                            f"it learns of; expected low > 0, was {raw!r}")
    if high < low:
        raise ScenarioError(f"{node.at(key)}: expected low <= high, was {raw!r}")
    return (low, high)


def _parse_market_maker(node: _Node, match_ids: set[str],
                        base: MarketMakerSettings | None = None) -> MarketMakerSettings:
    node.check_keys(_MM_KEYS)
    base = base or MarketMakerSettings()
    mispricings = []
    for i, raw in enumerate(node.items("mispricings")):
        item = _Node(raw, f"{node.at('mispricings')}[{i}]")
        item.check_keys(("match_id", "at_s", "duration_s", "edge", "size"))
        match_id = item.string("match_id")
        if match_id not in match_ids:
            raise ScenarioError(f"{item.at('match_id')}: no such match, was {match_id!r}")
        mispricings.append(MispricingSpec(
            match_id=match_id,
            at_s=item.number("at_s", low=0.0),
            duration_s=item.number("duration_s", 10.0, positive=True),
            edge=item.number("edge", 0.05, low=0.001, high=0.5),
            size=item.number("size", 100.0, positive=True),
        ))
    return MarketMakerSettings(
        enabled=node.boolean("enabled", base.enabled),
        owner=node.string("owner", base.owner),
        levels=node.integer("levels", base.levels, low=1),
        level_size=node.number("level_size", base.level_size, positive=True),
        level_step=node.number("level_step", base.level_step, positive=True),
        half_spread=node.number("half_spread", base.half_spread, low=0.0, high=0.2),
        reprice_lag_s=node.number("reprice_lag_s", base.reprice_lag_s, low=0.0),
        noise=node.number("noise", base.noise, low=0.0, high=0.1),
        refresh_s=node.number("refresh_s", base.refresh_s, positive=True),
        mispricings=tuple(mispricings),
        reaction_s=_parse_reaction(node, "reaction_s") if node.has("reaction_s") else None,
        inventory_skew=node.number("inventory_skew", 0.0, low=0.0, high=0.01),
    )


def _parse_market_makers(root: _Node, match_ids: set[str],
                         legacy: MarketMakerSettings) -> tuple[MarketMakerSettings, ...]:
    makers: list[MarketMakerSettings] = []
    owners = {legacy.owner} if legacy.enabled else set()
    for i, raw in enumerate(root.items("market_makers")):
        node = _Node(raw, f"market_makers[{i}]")
        node.require("owner")
        maker = _parse_market_maker(node, match_ids)
        if maker.owner in owners:
            raise ScenarioError(f"{node.at('owner')}: expected a unique agent name, "
                                f"{maker.owner!r} is already used")
        owners.add(maker.owner)
        makers.append(maker)
    return tuple(makers)


def _parse_informed_takers(root: _Node, taken: set[str]) -> tuple[InformedTakerSettings, ...]:
    out: list[InformedTakerSettings] = []
    for i, raw in enumerate(root.items("informed_takers")):
        node = _Node(raw, f"informed_takers[{i}]")
        node.check_keys(_INFORMED_KEYS)
        owner = node.string("owner")
        if owner in taken:
            raise ScenarioError(f"{node.at('owner')}: expected a unique agent name, "
                                f"{owner!r} is already used")
        taken.add(owner)
        out.append(InformedTakerSettings(
            owner=owner,
            reaction_s=_parse_reaction(node, "reaction_s"),
            min_edge=node.number("min_edge", 0.01, low=0.0, high=0.5),
            max_size=node.number("max_size", 200.0, positive=True),
            order_type=node.string("order_type", "FAK", ("FAK", "FOK")),
        ))
    return tuple(out)


def _parse_takers(node: _Node) -> TakerSettings:
    node.check_keys(_TAKER_KEYS)
    base = TakerSettings()
    settings = TakerSettings(
        enabled=node.boolean("enabled", base.enabled),
        owner_prefix=node.string("owner_prefix", base.owner_prefix),
        count=node.integer("count", base.count, low=1),
        rate_per_market_s=node.number("rate_per_market_s", base.rate_per_market_s, low=0.0),
        min_size=node.number("min_size", base.min_size, positive=True),
        max_size=node.number("max_size", base.max_size, positive=True),
        order_type=node.string("order_type", base.order_type, ("FAK", "FOK", "GTC")),
    )
    if settings.max_size < settings.min_size:
        raise ScenarioError(f"{node.at('max_size')}: expected >= min_size, was "
                            f"{settings.max_size}")
    return settings


_TOP_KEYS = ("name", "description", "seed", "duration_s", "default_collateral_usdc",
             "matching_delay_s", "resolution_delay_s", "providers", "market_maker", "takers",
             "matches", "markets", "complementary_matching", "market_makers", "informed_takers",
             "maker_rebate_rate", "neg_risk_events")


def _expand_matches(root: _Node) -> list[tuple[_Node, str | None]]:
    expanded: list[tuple[_Node, str | None]] = []
    raw_matches = root.items("matches")
    if not raw_matches:
        raise ScenarioError("matches: expected a non-empty list of matches")
    for i, raw in enumerate(raw_matches):
        node = _Node(raw, f"matches[{i}]")
        node.check_keys(_MATCH_KEYS)
        repeat = node.integer("repeat", 1, low=1)
        if repeat == 1:
            expanded.append((node, None))
            continue
        base_id = node.string("match_id")
        teams = node.require("teams")
        if not isinstance(teams, list) or len(teams) != 2:
            raise ScenarioError(f"{node.at('teams')}: expected two team names, was {teams!r}")
        for k in range(repeat):
            copy = dict(node.data)
            copy["teams"] = [f"{teams[0]} {k + 1:03d}", f"{teams[1]} {k + 1:03d}"]
            copy.pop("provider_ids", None)
            expanded.append((_Node(copy, f"matches[{i}](repeat {k})"),
                             f"{base_id}-{k + 1:03d}"))
    return expanded


def parse_scenario(data: Any, default_name: str = "scenario") -> Scenario:
    """Validate a scenario already read from YAML (a dict) and return it."""
    root = _Node(data, "")
    root.check_keys(_TOP_KEYS)
    name = root.string("name", default_name)
    providers = _parse_providers(root.child("providers"), DEFAULT_PROVIDERS)
    matches: list[MatchSpec] = []
    for node, match_id in _expand_matches(root):
        match = _parse_match(node, name, providers, match_id)
        if any(m.match_id == match.match_id for m in matches):
            raise ScenarioError(f"{node.at('match_id')}: duplicate match id {match.match_id!r}")
        matches.append(match)
    by_id = {m.match_id: m for m in matches}
    markets: list[MarketSpec] = []
    raw_markets = root.items("markets")
    if raw_markets:
        for i, raw in enumerate(raw_markets):
            node = _Node(raw, f"markets[{i}]")
            match_id = node.string("match_id")
            if match_id not in by_id:
                raise ScenarioError(f"{node.at('match_id')}: no such match, was {match_id!r}")
            markets.append(_parse_market(node, name, i, by_id[match_id]))
    else:
        markets = [_parse_market(_Node({}, f"markets[{i}]"), name, i, m)
                   for i, m in enumerate(matches)]
    events: list[NegRiskEvent] = []
    for i, raw in enumerate(root.items("neg_risk_events")):
        node = _Node(raw, f"neg_risk_events[{i}]")
        event, event_markets = _parse_event(node, name, by_id)
        if any(e.event_id == event.event_id for e in events):
            raise ScenarioError(f"{node.at('event_id')}: duplicate event id {event.event_id!r}")
        events.append(event)
        markets.extend(event_markets)
    seen: set[str] = set()
    for i, market in enumerate(markets):
        for value in (market.condition_id, *market.token_ids):
            if value in seen:
                raise ScenarioError(f"markets[{i}]: duplicate id {value!r}")
            seen.add(value)
    resolution_delay = root.number("resolution_delay_s", 5.0, low=0.0)
    last_end = max([m.end_s for m in matches] + [e.resolve_s for e in events])
    duration = root.number("duration_s", last_end + resolution_delay + 5.0, positive=True)
    if duration < last_end + resolution_delay:
        raise ScenarioError(f"duration_s: expected >= {last_end + resolution_delay} (last match "
                            f"end + resolution_delay_s), was {duration}")
    legacy = _parse_market_maker(root.child("market_maker"), set(by_id))
    makers = _parse_market_makers(root, set(by_id), legacy)
    takers = _parse_takers(root.child("takers"))
    owners = {m.owner for m in makers} | ({legacy.owner} if legacy.enabled else set())
    if takers.enabled:
        owners |= {f"{takers.owner_prefix}-{k}" for k in range(takers.count)}
    return Scenario(
        name=name,
        seed=root.integer("seed", 0, low=0),
        markets=tuple(markets),
        matches=tuple(matches),
        default_collateral_usdc=root.number("default_collateral_usdc", 10000.0, positive=True),
        matching_delay_s=root.number("matching_delay_s", 3.0, low=0.0),
        duration_s=duration,
        resolution_delay_s=resolution_delay,
        providers=providers,
        market_maker=legacy,
        takers=takers,
        description=str(root.data.get("description") or ""),
        complementary_matching=root.boolean("complementary_matching", True),
        market_makers=makers,
        informed_takers=_parse_informed_takers(root, owners),
        maker_rebate_rate=root.number("maker_rebate_rate", 0.25, low=0.0, high=1.0),
        neg_risk_events=tuple(events),
    )


def scenario_path(name_or_path: str) -> Path:
    """Resolve a scenario name (``sim/scenarios/NAME.yaml``) or a file path."""
    candidate = SCENARIO_DIR / f"{name_or_path}.yaml"
    if "/" not in name_or_path and not name_or_path.endswith((".yaml", ".yml")):
        if candidate.is_file():
            return candidate
        known = ", ".join(list_scenarios())
        if not known:
            raise ScenarioError(f"bundled scenarios missing in {SCENARIO_DIR}: the installation is "
                                "incomplete, reinstall polyloly (make install)")
        raise ScenarioError(f"scenario {name_or_path!r}: not found; known scenarios: {known}")
    path = Path(name_or_path)
    if not path.is_file():
        raise ScenarioError(f"scenario file {name_or_path!r}: not found")
    return path


def load_scenario(name_or_path: str) -> Scenario:
    """Load and validate a scenario by name (``sim/scenarios/NAME.yaml``) or by file path."""
    path = scenario_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ScenarioError(f"scenario file {str(path)!r}: invalid YAML: {exc}") from exc
    return parse_scenario(data, default_name=path.stem)


def with_overrides(scenario: Scenario, **changes: Any) -> Scenario:
    """Return a copy of ``scenario`` with top-level fields replaced (handy in tests)."""
    return replace(scenario, **changes)


def list_scenarios() -> tuple[str, ...]:
    """Return the names of the bundled scenarios."""
    return tuple(sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")))
