"""Ground truth for ``polyloly evaluate``: each match's true fair value over time, the
resolutions, and the scenario's available edge.

Source: the simulator's own deterministic world core (:class:`sim.world.WorldCore`), run
here again with the scenario, seed and speed of the recorded run. The core is pure (same
scenario + seed → the same fair-value changes, quote plans and resolutions, whatever the
wall clock), so re-running it gives exactly the timeline the simulator played. Fair values
are piecewise constant between the world's ``FairValueChange`` actions (the ESPORTS §6
models evaluated at each match event).

Clock: world actions are in scenario seconds since the world started; the recording is in
CLOCK_MONOTONIC ns of the recording host. The world's start is not in the recording, so the
mapping is anchored on the market resolutions: the venue publishes ``market_resolved`` when
the world executes its ResolveAction, at the first world step (``STEP_S`` grid) at or after
``end + resolution_delay``. ``epoch_ns = median(recv_ns − step_t / speed)`` over the
resolved markets; the error is the world's step jitter (≤ STEP_S / 2 / speed real seconds)
plus the WebSocket latency — well under the 1 s adverse-selection horizon.

Available edge (an upper bound: competing takers and our own impact are ignored), from the
market-maker's quote plans:

* taker edge — a plan's quotes stay on the book until the next plan of that market; an order
  sent at ``s`` matches at ``s + hold`` (the venue's matching delay), so the orders that can
  take a plan's quotes were sent in ``[plan − hold, next plan − hold)``. Each send time is
  valued with the less favourable of the fair value known when sending and the one in force
  when matched: ``Σ size · (min(fair_s, fair_s+hold) − ask)⁺`` over asks plus
  ``Σ size · (bid − max(fair_s, fair_s+hold))⁺`` over bids; the best send time counts, per
  plan, summed over plans (a stale quote re-posted on a refresh can be taken again). A maker
  that reprices within the hold therefore leaves no taker edge;
* pair edge — a plan whose two best asks sum below 1 and that rests for at least the hold:
  ``min(best-ask sizes) · (1 − sum)``; zero on a unified book (``complementary_matching``),
  which crosses such asks at once (mint/merge).
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from replay.recording import MARKET_WS, RecordedMessage

SOURCE_WORLD = "sim.world.WorldCore re-run by the evaluator (fair values at match events)"


@dataclass(slots=True)
class MatchTruth:
    """One match's true fair value for team A (token 0) as a step function of time."""

    match_id: str
    times_s: list[float]
    fair_a: list[float]
    winner: str  # "A" or "B"

    def at(self, t_s: float) -> float:
        """Fair value of team A at scenario time ``t_s`` (the last change at or before)."""
        index = bisect.bisect_right(self.times_s, t_s) - 1
        return self.fair_a[max(index, 0)]

    def values_between(self, start_s: float, end_s: float) -> list[float]:
        """Every fair value in force at some moment of ``[start_s, end_s)``."""
        first = max(bisect.bisect_right(self.times_s, start_s) - 1, 0)
        last = bisect.bisect_left(self.times_s, end_s)
        return self.fair_a[first:max(last, first + 1)]


@dataclass(slots=True)
class GroundTruth:
    """Everything the scorer needs from the world of one scenario × seed."""

    scenario: str
    seed: int
    speed: float
    hold_s: float
    source: str
    matches: dict[str, MatchTruth]
    token_match: dict[str, tuple[str, int]]  # token → (match id, index 0 = team A)
    token_market: dict[str, str]
    market_match: dict[str, str]
    resolution_step_s: dict[str, float]  # market → world step at which it resolved
    winning_token: dict[str, str | None]
    available_edge: dict[str, float] = field(default_factory=dict)
    epoch_ns: int | None = None  # recording CLOCK_MONOTONIC of scenario time 0

    def fair_token(self, token_id: str, t_s: float) -> float:
        """True fair value of one outcome token at scenario time ``t_s``."""
        match_id, index = self.token_match[token_id]
        fair = self.matches[match_id].at(t_s)
        return fair if index == 0 else 1.0 - fair

    def scenario_s(self, t_ns: int) -> float:
        """Scenario seconds of a recording-clock time (needs :meth:`anchor` first)."""
        if self.epoch_ns is None:
            raise ValueError("ground truth is not anchored to the recording clock")
        return (t_ns - self.epoch_ns) / 1e9 * self.speed

    def anchor(self, messages: Iterable[RecordedMessage]) -> int:
        """Fix :attr:`epoch_ns` from the recording's ``market_resolved`` frames; return how
        many resolutions anchored it. Raises ValueError when none is in the recording."""
        offsets: list[float] = []
        for message in messages:
            if message.event_type != MARKET_WS or b"market_resolved" not in message.raw:
                continue
            for frame in _frames(message.raw):
                market = frame.get("market")
                if (frame.get("event_type") == "market_resolved"
                        and market in self.resolution_step_s):
                    step_s = self.resolution_step_s[market]
                    offsets.append(message.t_recv_ns - step_s / self.speed * 1e9)
        if not offsets:
            raise ValueError("the recording has no market_resolved frame of the scenario's "
                             "markets; record until the matches resolve")
        self.epoch_ns = int(statistics.median(offsets))
        return len(offsets)

    def as_dict(self) -> dict[str, Any]:
        """The JSON-able summary written beside the evaluation."""
        return {"source": self.source, "hold_s": self.hold_s,
                "available_edge_usdc": {k: round(v, 6) for k, v in
                                        self.available_edge.items()},
                "matches": {m.match_id: {"winner": m.winner, "changes": len(m.times_s)}
                            for m in self.matches.values()}}


def _frames(raw: bytes) -> list[dict[str, Any]]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return []
    items = data if isinstance(data, list) else [data]
    return [item for item in items if isinstance(item, dict)]


def _step_at_or_after(t_s: float, step_s: float) -> float:
    steps = -(-round(t_s * 1e6) // round(step_s * 1e6))  # ceil on a µs grid, no float drift
    return round(steps * step_s, 6)


def from_world(scenario: Any, seed: int, speed: float) -> GroundTruth:
    """Re-run the scenario's world core and build its ground truth (see the module doc)."""
    from sim.feeds.truth import MatchState
    from sim.world import STEP_S, FairValueChange, ResolveAction, WorldCore, fair_value

    core = WorldCore(scenario, seed=seed, speed=speed, epoch_ms=0)
    actions = core.run_all()
    matches = {m.match_id: MatchTruth(m.match_id, [0.0], [fair_value(m, MatchState(), 0.0)],
                                      str(m.winner))
               for m in scenario.matches}
    plans: list[Any] = []
    resolution_step: dict[str, float] = {}
    winning: dict[str, str | None] = {}
    for action in actions:
        if isinstance(action, FairValueChange):
            match = matches[action.match_id]
            if action.t_s == match.times_s[-1]:
                match.fair_a[-1] = action.fair_a  # several events in one step: the last holds
            else:
                match.times_s.append(action.t_s)
                match.fair_a.append(action.fair_a)
        elif isinstance(action, ResolveAction):
            resolution_step[action.condition_id] = _step_at_or_after(action.t_s, STEP_S)
            winning[action.condition_id] = action.winning_token_id
        elif type(action).__name__ == "QuotePlan":
            plans.append(action)
    token_match = {token: (market.match_id, index) for market in scenario.markets
                   for index, token in enumerate(market.token_ids)}
    truth = GroundTruth(
        scenario=scenario.name, seed=seed, speed=speed,
        hold_s=float(scenario.matching_delay_s), source=SOURCE_WORLD, matches=matches,
        token_match=token_match,
        token_market={t: m.condition_id for m in scenario.markets for t in m.token_ids},
        market_match={m.condition_id: m.match_id for m in scenario.markets},
        resolution_step_s=resolution_step, winning_token=winning)
    unified = bool(getattr(scenario, "complementary_matching", True))
    truth.available_edge = available_edge(truth, plans, scenario.duration_s, unified)
    return truth


def available_edge(truth: GroundTruth, plans: Sequence[Any], end_s: float,
                   unified_book: bool) -> dict[str, float]:
    """Taker and pair edge of the market-maker's ``plans`` (module doc); USDC."""
    by_market: dict[str, list[Any]] = {}
    for plan in plans:
        by_market.setdefault(plan.condition_id, []).append(plan)
    taker = pair = 0.0
    hold = truth.hold_s
    for market_id, market_plans in by_market.items():
        match = truth.matches[truth.market_match[market_id]]
        for index, plan in enumerate(market_plans):
            until = (market_plans[index + 1].t_s if index + 1 < len(market_plans) else end_s)
            if until <= plan.t_s or not plan.quotes:
                continue
            # orders matching while this plan is in force were sent in [t − hold, until −
            # hold); each send time is valued at the smaller edge of the fair value known
            # when sending and the one in force when matched
            start, stop = plan.t_s - hold, until - hold
            sends = {start} | {t for t in match.times_s if start < t < stop} | {
                t - hold for t in match.times_s if start < t - hold < stop}
            taker += max(_plan_taker_edge(plan, match.at(send), match.at(send + hold), truth)
                         for send in sends)
            if not unified_book and until - plan.t_s > hold:  # seen, then matched in force
                pair += _plan_pair_edge(plan)
    return {"taker": round(taker, 6), "pair": round(pair, 6)}


def _plan_taker_edge(plan: Any, sent_a: float, matched_a: float, truth: GroundTruth) -> float:
    edge = 0.0
    for quote in plan.quotes:
        first = truth.token_match[quote.token_id][1] == 0
        fairs = (sent_a, matched_a) if first else (1.0 - sent_a, 1.0 - matched_a)
        if quote.side == "SELL":
            edge += quote.size * max(min(fairs) - quote.price, 0.0)
        else:
            edge += quote.size * max(quote.price - max(fairs), 0.0)
    return edge


def _plan_pair_edge(plan: Any) -> float:
    best: dict[str, tuple[float, float]] = {}
    for quote in plan.quotes:
        if quote.side == "SELL" and (quote.token_id not in best
                                     or quote.price < best[quote.token_id][0]):
            best[quote.token_id] = (quote.price, quote.size)
    if len(best) != 2:
        return 0.0
    (price_a, size_a), (price_b, size_b) = best.values()
    total = price_a + price_b
    return min(size_a, size_b) * (1.0 - total) if total < 1.0 else 0.0
