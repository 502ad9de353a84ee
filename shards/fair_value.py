"""Market-anchored fair value (specs/06 "Market-anchored fair value", docs/MODELS.md).

The implied probability of YES is the market's own price before the event (a robust mid that
stood for ``temporal_arb.prior_stable_s``) updated by the event's effect through the per-game
models. The prior is carried as team A's latent *strength* in log-odds — per map for LoL and
Dota 2 (the gold model's intercept), per round for CS2 and Valorant (the round Markov chain's
constant round-win probability) — solved so that the models give back the anchored mid in the
state the mid was seen in. Zero evidence since then gives the mid back; new evidence moves it
in log-odds. A map result only one source reports counts at the PENDING_CONFIRM weight, and a
series it would decide never goes past what PENDING_CONFIRM allows. Pure: time is an argument.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from polyloly.config import TemporalArbConfig
from polyloly.domain import Game, TruthStatus
from shards.temporal_arb import PENDING_BASE, PENDING_SLOPE, implied_probability_yes
from shards.truth import GameScore
from shards.truth_sources import IN_MAP, MAP_WINNER, SERIES, Fact, SourceView, in_map_key
from shards.win_probability import (
    cs2_map_probability,
    gold_lead_probability,
    live_series_probability,
    logistic,
    logit,
    map_probability_from_round,
    valorant_map_probability,
)

PRIOR_TOLERANCE: Final = 0.02  # a mid "stands" while its values stay within 2 pp (MM noise)
STRENGTH_BOUND: Final = 8.0  # latent log-odds searched in [-8, 8] (p ≈ 0.0003 … 0.9997)
_BISECTIONS: Final = 48  # 16 / 2^48: far below any price tick
_MAX_POINTS: Final = 256  # mid changes kept per window (oldest dropped: the window shortens)
_MAX_ANCHORS: Final = 8
_NS_PER_S: Final = 1_000_000_000
SINGLE_SOURCE_MAP_WEIGHT: Final = PENDING_BASE  # a map result one source reports: PENDING, 0
_ROUND_GAMES: Final = frozenset({Game.CS2, Game.VALORANT})
_GOLD_GAMES: Final = frozenset({Game.LOL, Game.DOTA2})
_FLOAT_FIELDS: Final = frozenset({"gold_diff_a", "game_time_s"})
PRE_MATCH_SCORE: Final = GameScore()


def map_probability(game: Game, score: GameScore, strength: float) -> float | None:
    """Team A's chance on the map in progress at latent ``strength``; None without in-map data.

    LoL/Dota 2: ``logistic(strength + gold evidence)``; CS2/Valorant: the round Markov chain
    from the round score at round-win probability ``logistic(strength)``.
    """
    if game in _GOLD_GAMES:
        if score.gold_diff_a is None or score.game_time_s is None:
            return None
        return gold_lead_probability(game, score.gold_diff_a, score.game_time_s, strength)
    if score.rounds_a is None or score.rounds_b is None:
        return None
    if game is Game.CS2:
        return cs2_map_probability(score.rounds_a, score.rounds_b, logistic(strength))
    return valorant_map_probability(score.rounds_a, score.rounds_b, logistic(strength))


def future_map_probability(game: Game, strength: float) -> float:
    """Team A's chance on a map not yet started at latent ``strength``."""
    if game in _ROUND_GAMES:
        return map_probability_from_round(game, logistic(strength))
    return logistic(strength)


def series_value(game: Game, best_of: int, score: GameScore, strength: float) -> float:
    """P(team A wins the series) in state ``score`` at latent ``strength`` (monotone in it)."""
    return live_series_probability(best_of, score.maps_a, score.maps_b,
                                   map_probability(game, score, strength),
                                   future_map_probability(game, strength))


def series_decided(best_of: int, score: GameScore) -> bool:
    """Does the series score already name a winner?"""
    to_win = best_of // 2 + 1
    return score.maps_a >= to_win or score.maps_b >= to_win


def default_strength(game: Game, params: TemporalArbConfig) -> float:
    """The latent strength with no market prior: the configured per-map / per-round chance."""
    if game in _ROUND_GAMES:
        return logit(params.round_win_probability)
    return logit(params.prior_map_probability)


def strength_for(game: Game, best_of: int, score: GameScore, probability: float
                 ) -> float | None:
    """The latent strength at which the models give ``probability`` in state ``score``.

    None when the state cannot carry a prior (the series is decided). A price beyond what the
    bound allows maps to the bound (the market is nearly certain; so is the prior).
    """
    if series_decided(best_of, score):
        return None
    low, high = -STRENGTH_BOUND, STRENGTH_BOUND
    for _ in range(_BISECTIONS):
        middle = (low + high) / 2.0
        if series_value(game, best_of, score, middle) < probability:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0


@dataclass(frozen=True, slots=True)
class Anchor:
    """A mid that stood, the state it was seen in, and the strength solved from both."""

    mid: float
    since_ns: int  # the window's start: the mid stood from here …
    t_ns: int  # … to here
    score: GameScore
    strength: float
    points: tuple[tuple[int, float], ...]  # the window's mid changes (for truncation)


def weighted_median(points: Sequence[tuple[int, float]], end_ns: int) -> float:
    """Median of the mids, each weighted by how long it stood (until the next or ``end_ns``)."""
    weighted: list[tuple[float, int]] = []
    for index, (t_ns, mid) in enumerate(points):
        until = points[index + 1][0] if index + 1 < len(points) else end_ns
        weighted.append((mid, max(until - t_ns, 1)))
    weighted.sort()
    half = sum(weight for _, weight in weighted) / 2.0
    total = 0
    for mid, weight in weighted:
        total += weight
        if total >= half:
            return mid
    return weighted[-1][0]


class MarketPrior:
    """The market's prior of one market: the last mid that stood for ``stable_s`` seconds.

    A window holds the YES mids seen since the truth state last changed (or the mid left the
    ±``PRIOR_TOLERANCE`` band); once it spans ``stable_s``, its time-weighted median and the
    state it was seen in become the anchor. A fact whose source time falls inside an anchor's
    window means the market may already have priced it: the anchor is cut back to before the
    fact (dropped if what is left is shorter than ``stable_s``).
    """

    def __init__(self, game: Game, best_of: int, stable_s: float) -> None:
        if stable_s <= 0:
            raise ValueError(f"prior_stable_s must be > 0, was {stable_s!r}")
        self.game = game
        self.best_of = best_of
        self._stable_ns = int(stable_s * _NS_PER_S)
        self._points: list[tuple[int, float]] = []
        self._score: GameScore | None = None
        self._anchors: deque[Anchor] = deque(maxlen=_MAX_ANCHORS)

    @property
    def anchor(self) -> Anchor | None:
        """The newest anchor, or None before any mid stood long enough."""
        return self._anchors[-1] if self._anchors else None

    @property
    def strength(self) -> float | None:
        """The newest anchor's latent strength (None: no market prior yet)."""
        anchor = self.anchor
        return None if anchor is None else anchor.strength

    def reset_window(self, now_ns: int) -> None:
        """No usable mid from ``now_ns`` (no book, untradable, conflict, final): close the
        window (an anchor if it stood long enough) and start over."""
        self._close_window(now_ns)
        self._points = []
        self._score = None

    def on_mid(self, now_ns: int, mid: float, score: GameScore) -> None:
        """A YES mid seen at ``now_ns`` with the truth in state ``score`` (anchorable).

        Before the match (``score`` 0-0 with no game) every mid anchors at once: nothing the
        market could be reacting to is evidence we count later.
        """
        points = self._points
        if score != self._score or not points or not self._within_band(mid):
            self._close_window(now_ns)
            self._points = points = []
            self._score = score
        if not points or points[-1][1] != mid:
            points.append((now_ns, mid))
            if len(points) > _MAX_POINTS:
                del points[0]
        if self._long_enough(score, now_ns - points[0][0]):
            self._take_anchor(points, now_ns, score)

    def on_fact(self, origin_ns: int) -> None:
        """A fact that happened at ``origin_ns`` (our clock) arrived: the window closes there
        (a book that did not move since still counts as standing), and anchors seen after the
        fact are cut back to before it."""
        self._close_window(origin_ns)
        kept: list[Anchor] = []
        for anchor in self._anchors:
            if anchor.t_ns <= origin_ns:
                kept.append(anchor)
                continue
            before = tuple(p for p in anchor.points if p[0] < origin_ns)
            if before and self._long_enough(anchor.score, origin_ns - before[0][0]):
                cut = self._build(before, origin_ns, anchor.score)
                if cut is not None:
                    kept.append(cut)
        self._anchors = deque(kept, maxlen=_MAX_ANCHORS)
        self._points = []  # what follows the fact is a new state's window
        self._score = None

    def _close_window(self, end_ns: int) -> None:
        # The mids seen before end_ns stood until then: anchor them if that is long enough.
        points = [p for p in self._points if p[0] < end_ns]
        if self._score is None or not points:
            return
        if not self._long_enough(self._score, end_ns - points[0][0]):
            return
        self._take_anchor(points, end_ns, self._score)

    def _long_enough(self, score: GameScore, span_ns: int) -> bool:
        # Before the match (0-0, no game) the market reacts to nothing we would later count
        # as evidence, so any mid seen then is a prior; in play it must have stood stable_s.
        return score == PRE_MATCH_SCORE or span_ns >= self._stable_ns

    def _within_band(self, mid: float) -> bool:
        values = [m for _, m in self._points] + [mid]
        return max(values) - min(values) <= PRIOR_TOLERANCE

    def _build(self, points: Sequence[tuple[int, float]], end_ns: int, score: GameScore
               ) -> Anchor | None:
        mid = weighted_median(points, end_ns)
        strength = strength_for(self.game, self.best_of, score, mid)
        if strength is None:
            return None
        return Anchor(mid, points[0][0], end_ns, score, strength, tuple(points))

    def _take_anchor(self, points: Sequence[tuple[int, float]], now_ns: int, score: GameScore
                     ) -> None:
        last = self.anchor
        mid = weighted_median(points, now_ns)
        if last is not None and last.since_ns == points[0][0]:
            if abs(last.mid - mid) < 1e-9 and last.score == score:
                self._anchors[-1] = Anchor(last.mid, last.since_ns, now_ns, score,
                                           last.strength, tuple(points))
                return  # same window, same mid: extend it without solving again
            self._anchors.pop()
        anchor = self._build(points, now_ns, score)
        if anchor is not None:
            self._anchors.append(anchor)


def unconfirmed_fallback(
    views: Iterable[SourceView], facts: Mapping[str, Fact], required: int
) -> GameScore | None:
    """The state before the newest series score, if fewer than ``required`` usable sources
    report that score (a single source's map result); None when it is confirmed.

    The state before is the newest other series score a usable source holds with fewer maps
    (else one map less, taken from the side the map's winner names, else the side ahead), with
    the in-map facts of the map that ended.
    """
    merged = facts.get(SERIES)
    if merged is None or not isinstance(merged.value, tuple):
        return None
    maps_a, maps_b = merged.value
    if maps_a + maps_b == 0:
        return None
    usable = [view for view in views if view.usable]
    support = sum(1 for view in usable
                  if (fact := view.facts.get(SERIES)) is not None and fact.value == merged.value)
    if support >= required:
        return None
    older = [fact for view in usable if (fact := view.facts.get(SERIES)) is not None
             and isinstance(fact.value, tuple) and sum(fact.value) < maps_a + maps_b]
    if older:
        newest = max(older, key=lambda f: (f.t_source_ms, f.source))
        assert isinstance(newest.value, tuple)
        before_a, before_b = newest.value
    else:
        winner = facts.get(f"{MAP_WINNER}{maps_a + maps_b}")
        a_won = winner.value == "A" if winner is not None else maps_a >= maps_b
        before_a, before_b = (maps_a - 1, maps_b) if a_won and maps_a > 0 else (
            maps_a, maps_b - 1)
    game_number = before_a + before_b + 1
    values: dict[str, float | int] = {}
    for name in IN_MAP:
        fact = facts.get(in_map_key(game_number, name))
        if fact is not None and isinstance(fact.value, int | float):
            values[name] = float(fact.value) if name in _FLOAT_FIELDS else int(fact.value)
    return GameScore(maps_a=before_a, maps_b=before_b, game_number=game_number,
                     gold_diff_a=_float(values.get("gold_diff_a")),
                     game_time_s=_float(values.get("game_time_s")),
                     rounds_a=_int(values.get("rounds_a")), rounds_b=_int(values.get("rounds_b")))


def _float(value: float | int | None) -> float | None:
    return None if value is None else float(value)


def _int(value: float | int | None) -> int | None:
    return None if value is None else int(value)


def anchored_implied_yes(
    status: TruthStatus,
    confidence: float,
    winner: str | None,
    score: GameScore,
    game: Game,
    best_of: int,
    params: TemporalArbConfig,
    strength: float | None,
    fallback: GameScore | None = None,
) -> float | None:
    """Implied P(team A wins) from the truth state, anchored on the market's prior.

    FINAL, PENDING_CONFIRM, PRE_MATCH and PAUSED follow SPEC §7.2 (``implied_probability_yes``).
    LIVE: the series value at the anchor's ``strength`` (the configured chance without one).
    With ``fallback`` (the state before a map result one source reports), the result is
    weighted ``SINGLE_SOURCE_MAP_WEIGHT``, the state before the rest; if that result decides
    the series, the value stays within what PENDING_CONFIRM at ``confidence`` allows, or the
    value before the report if that was already further.
    """
    if status is not TruthStatus.LIVE:
        return implied_probability_yes(status, confidence, winner, score, game, best_of, params)
    latent = default_strength(game, params) if strength is None else strength
    value = series_value(game, best_of, score, latent)
    if fallback is None:
        return value
    before = series_value(game, best_of, fallback, latent)
    blended = SINGLE_SOURCE_MAP_WEIGHT * value + (1.0 - SINGLE_SOURCE_MAP_WEIGHT) * before
    if not series_decided(best_of, score):
        return blended
    cap = min(PENDING_BASE + confidence * PENDING_SLOPE, params.final_probability)
    if value >= before:
        return min(blended, max(cap, before))
    return max(blended, min(1.0 - cap, before))
