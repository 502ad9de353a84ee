"""Ground truth of a simulated run: true fair values, stale quotes, available edge.

Pure functions over a scenario and the world's action record (``WorldCore.history``: fair
value changes, quote plans, taker orders, resolutions — never feed messages). The method,
its assumptions and the JSON schema are in ``specs/12_SIM_GROUND_TRUTH_SPEC.md``; summary:

* **fair values** — each market's true P(outcome 0) as a step function of scenario time,
  changing at the match's true events (the ESPORTS §6 models, ``sim.world.fair_value``);
* **quotes** — every resting order of every market-maker agent, alive from its quote plan to
  the agent's next plan for that market (cancel + re-post), the market's resolution or the end
  of the world; fills on the venue are ignored (the world does not see them), so every edge
  below is an upper bound;
* **stale** — a quote is stale while it offers the taker a positive expected value at the
  true fair value (an ask below fair, a bid above fair);
* **available edge** — taker: stale size × (fair at arrival − price) for an order sent when
  the quote went stale and matched ``hold_s`` later while the quote still rests; maker: what
  the noise takers' orders pay against quotes that are not stale (spread captured) plus the
  rebate on those fills; pair: two best asks of one market summing below 1 for at least the
  hold (zero on the unified book, which crosses them at once); complete set: the best Yes asks
  of every outcome of a neg-risk event summing below 1 for at least the hold.

``from_scenario(scenario, seed)`` re-runs the pure world core; ``from_history`` takes the
record of a live run (``sim.world.World.core.history``), which also reflects fills when a maker
skews on inventory. ``to_json`` is the file ``polyloly sim --ground-truth OUT.json`` writes.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.agents.market_maker import QuotePlan
from sim.agents.takers import TakerOrder
from sim.scenario import MarketSpec, Scenario
from sim.world import FairValueChange, ResolveAction, WorldAction, WorldCore, initial_fairs

SCHEMA = "polyloly.sim.ground_truth/1"
EPS = 1e-9


@dataclass(slots=True)
class FairTimeline:
    """One market's true fair value of outcome 0 as a step function of scenario time."""

    condition_id: str
    times_s: list[float]
    fair: list[float]

    def at(self, t_s: float) -> float:
        """Fair value of outcome 0 in force at ``t_s`` (the last change at or before it)."""
        return self.fair[max(bisect.bisect_right(self.times_s, t_s + EPS) - 1, 0)]

    def token(self, index: int, t_s: float) -> float:
        """Fair value of outcome ``index`` (0 or 1) at ``t_s``."""
        value = self.at(t_s)
        return value if index == 0 else 1.0 - value

    def changes_in(self, start_s: float, end_s: float) -> list[float]:
        """Change times strictly inside ``(start_s, end_s)``."""
        low = bisect.bisect_right(self.times_s, start_s + EPS)
        high = bisect.bisect_left(self.times_s, end_s - EPS)
        return self.times_s[low:high]


@dataclass(slots=True)
class QuoteLife:
    """One resting order of a maker agent, from its plan to its cancel (or the end)."""

    owner: str
    condition_id: str
    token_id: str
    token_index: int
    side: str
    price: float
    size: float
    posted_s: float
    ended_s: float
    end_reason: str  # replaced | pulled | resolved | world_end
    fair_at_post: float
    stale_intervals: list[tuple[float, float]] = field(default_factory=list)

    @property
    def stale_from_s(self) -> float | None:
        """When the quote first became stale (None: never while it rested)."""
        return self.stale_intervals[0][0] if self.stale_intervals else None

    def taker_value(self, fair_token: float) -> float:
        """Per-share value to a taker hitting this quote when the token is worth ``fair``."""
        return fair_token - self.price if self.side == "SELL" else self.price - fair_token


@dataclass(frozen=True, slots=True)
class Opportunity:
    """One piece of available edge (for the JSON's ``opportunities``)."""

    kind: str  # taker | maker | pair | complete_set
    send_s: float
    condition_id: str
    token_id: str
    side: str  # the taker's side
    price: float
    size: float
    fair: float
    edge_usdc: float
    owner: str


@dataclass(slots=True)
class GroundTruth:
    """Everything ``specs/12`` defines for one scenario × seed."""

    scenario: str
    seed: int
    hold_s: float
    duration_s: float
    unified_book: bool
    maker_rebate_rate: float
    markets: list[MarketSpec]
    fair: dict[str, FairTimeline]
    resolutions: dict[str, tuple[float, str | None]]
    quotes: list[QuoteLife]
    events: list[FairValueChange]
    opportunities: list[Opportunity]
    available_edge: dict[str, float]


def fair_timelines(scenario: Scenario, history: list[WorldAction]) -> dict[str, FairTimeline]:
    """Each market's fair value of outcome 0 over time, from the ``FairValueChange`` record
    (a series market follows its match, a map winner its map, a neg-risk outcome its event:
    ``MarketSpec.fair_key``)."""
    out: dict[str, FairTimeline] = {}
    by_key: dict[str, list[MarketSpec]] = {}
    start = initial_fairs(scenario)
    for market in scenario.markets:
        out[market.condition_id] = FairTimeline(market.condition_id, [0.0],
                                                [start[market.fair_key]])
        by_key.setdefault(market.fair_key, []).append(market)
    for action in history:
        if not isinstance(action, FairValueChange):
            continue
        for market in by_key.get(action.fair_key, []):
            line = out[market.condition_id]
            if abs(action.t_s - line.times_s[-1]) <= EPS:
                line.fair[-1] = action.fair_a  # several events at one moment: the last holds
            else:
                line.times_s.append(action.t_s)
                line.fair.append(action.fair_a)
    return out


def _stale_intervals(life: QuoteLife, line: FairTimeline) -> list[tuple[float, float]]:
    bounds = [life.posted_s, *line.changes_in(life.posted_s, life.ended_s), life.ended_s]
    out: list[tuple[float, float]] = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        if end - start <= EPS or life.taker_value(line.token(life.token_index, start)) <= EPS:
            continue
        if out and abs(out[-1][1] - start) <= EPS:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def quote_lives(scenario: Scenario, history: list[WorldAction],
                fair: dict[str, FairTimeline],
                resolutions: dict[str, tuple[float, str | None]],
                end_s: float | None = None) -> list[QuoteLife]:
    """Every maker quote with its life and stale intervals (see the module doc); quotes still
    resting at ``end_s`` (default: the scenario's end) end there."""
    world_end = scenario.duration_s if end_s is None else end_s
    markets = {m.condition_id: m for m in scenario.markets}
    plans: dict[tuple[str, str], list[QuotePlan]] = {}
    for action in history:
        if isinstance(action, QuotePlan):
            plans.setdefault((action.owner, action.condition_id), []).append(action)
    lives: list[QuoteLife] = []
    for (owner, cid), sequence in plans.items():
        market = markets[cid]
        resolved_s = resolutions.get(cid, (world_end, None))[0]
        for k, plan in enumerate(sequence):
            if k + 1 < len(sequence):
                ended, reason = sequence[k + 1].t_s, (
                    "pulled" if not sequence[k + 1].quotes else "replaced")
            else:
                ended, reason = world_end, "world_end"
            if resolved_s < ended:
                ended, reason = resolved_s, "resolved"
            if ended - plan.t_s <= EPS:
                continue
            for quote in plan.quotes:
                index = market.token_ids.index(quote.token_id)
                life = QuoteLife(owner, cid, quote.token_id, index, quote.side, quote.price,
                                 quote.size, plan.t_s, ended, reason,
                                 fair[cid].token(index, plan.t_s))
                life.stale_intervals = _stale_intervals(life, fair[cid])
                lives.append(life)
    return lives


def _taker_edge(life: QuoteLife, line: FairTimeline, hold_s: float) -> Opportunity | None:
    """Best value of one order sent while ``life`` is stale and matched ``hold_s`` later."""
    best: Opportunity | None = None
    for start, end in life.stale_intervals:
        last_send = min(end, life.ended_s) - hold_s
        if last_send <= start + EPS:
            continue  # the quote is gone before a held order reaches it
        sends = [start] + [c - hold_s for c in line.changes_in(start + hold_s,
                                                                last_send + hold_s)]
        for send in sends:
            fair_token = line.token(life.token_index, send + hold_s)
            value = life.taker_value(fair_token) * life.size
            if value > EPS and (best is None or value > best.edge_usdc):
                taker_side = "BUY" if life.side == "SELL" else "SELL"
                best = Opportunity("taker", round(send, 6), life.condition_id, life.token_id,
                                   taker_side, life.price, life.size, round(fair_token, 9),
                                   round(value, 6), life.owner)
    return best


def _resting_at(lives_by_market: dict[str, list[QuoteLife]], cid: str,
                t_s: float) -> list[QuoteLife]:
    return [q for q in lives_by_market.get(cid, ()) if q.posted_s <= t_s + EPS < q.ended_s]


def _fee(shares: float, price: float, rate: float) -> float:
    return round(shares * rate * price * (1.0 - price), 5)


def _maker_edge(scenario: Scenario, history: list[WorldAction], fair: dict[str, FairTimeline],
                lives_by_market: dict[str, list[QuoteLife]], hold_s: float,
                unified: bool) -> tuple[float, float, list[Opportunity]]:
    """Spread the noise takers pay to quotes that are not stale, and the rebate on it."""
    prefix = f"{scenario.takers.owner_prefix}-"
    markets = {t: m for m in scenario.markets for t in m.token_ids}
    spread = rebate = 0.0
    rows: list[Opportunity] = []
    for action in history:
        if not isinstance(action, TakerOrder) or not action.owner.startswith(prefix):
            continue
        market = markets[action.token_id]
        index = market.token_ids.index(action.token_id)
        arrive = action.t_s + hold_s
        fair_token = fair[market.condition_id].token(index, arrive)
        # liquidity the order can take, in the order's token terms: (price, size, quote)
        levels: list[tuple[float, float, QuoteLife]] = []
        for q in _resting_at(lives_by_market, market.condition_id, arrive):
            same = q.token_index == index
            if same and q.side == ("SELL" if action.side == "BUY" else "BUY"):
                levels.append((q.price, q.size, q))
            elif unified and not same and q.side == action.side:
                levels.append((round(1.0 - q.price, 6), q.size, q))
        buying = action.side == "BUY"
        levels.sort(key=lambda level: level[0] if buying else -level[0])
        left = action.size
        for price, size, quote in levels:
            if left <= EPS or (price > action.price + EPS if buying
                               else price < action.price - EPS):
                break
            take = min(left, size)
            left -= take
            per_share = (price - fair_token) if buying else (fair_token - price)
            if quote.stale_intervals and any(s <= arrive + EPS < e
                                             for s, e in quote.stale_intervals):
                continue  # adverse selection, not spread: a stale quote is not maker edge
            if per_share <= EPS:
                continue
            spread += take * per_share
            fee_rebate = scenario.maker_rebate_rate * _fee(take, price, market.taker_fee_rate)
            rebate += fee_rebate
            rows.append(Opportunity("maker", round(action.t_s, 6), market.condition_id,
                                    action.token_id, action.side, price, round(take, 6),
                                    round(fair_token, 9), round(take * per_share + fee_rebate, 6),
                                    quote.owner))
    return spread, rebate, rows


def _pair_edge(scenario: Scenario, lives_by_market: dict[str, list[QuoteLife]],
               hold_s: float, unified: bool) -> tuple[float, list[Opportunity]]:
    """Two best asks of a market summing below 1 for at least the hold (independent books)."""
    if unified:
        return 0.0, []  # the unified book crosses such asks at once (VENUE §6)
    total = 0.0
    rows: list[Opportunity] = []
    for market in scenario.markets:
        lives = lives_by_market.get(market.condition_id, [])
        moments = sorted({q.posted_s for q in lives} | {q.ended_s for q in lives})
        for start, end in zip(moments, moments[1:], strict=False):
            if end - start < hold_s - EPS:
                continue
            asks: list[tuple[float, float]] = []
            for index in (0, 1):
                offers = [(q.price, q.size) for q in _resting_at(lives_by_market,
                                                                 market.condition_id, start)
                          if q.token_index == index and q.side == "SELL"]
                if not offers:
                    break
                best = min(price for price, _ in offers)
                asks.append((best, sum(size for price, size in offers if price == best)))
            if len(asks) == 2 and asks[0][0] + asks[1][0] < 1.0 - EPS:
                size = min(asks[0][1], asks[1][1])
                value = size * (1.0 - asks[0][0] - asks[1][0])
                total += value
                rows.append(Opportunity("pair", round(start, 6), market.condition_id,
                                        market.token_ids[0], "BUY",
                                        round(asks[0][0] + asks[1][0], 6), size, 1.0,
                                        round(value, 6), ""))
    return total, rows


def _best_yes_ask(lives_by_market: dict[str, list[QuoteLife]], cid: str, t_s: float,
                  unified: bool) -> tuple[float, float] | None:
    """Best price and size at which outcome 0 (Yes) of market ``cid`` can be bought at
    ``t_s``: its asks, and on the unified book the outcome-1 bids at 1 − price (mint)."""
    offers: list[tuple[float, float]] = []
    for q in _resting_at(lives_by_market, cid, t_s):
        if q.token_index == 0 and q.side == "SELL":
            offers.append((q.price, q.size))
        elif unified and q.token_index == 1 and q.side == "BUY":
            offers.append((round(1.0 - q.price, 6), q.size))
    if not offers:
        return None
    best = min(price for price, _ in offers)
    return best, sum(size for price, size in offers if abs(price - best) <= EPS)


def _complete_set_edge(scenario: Scenario, lives_by_market: dict[str, list[QuoteLife]],
                       hold_s: float, unified: bool) -> tuple[float, list[Opportunity]]:
    """Neg-risk events: the best Yes asks of all outcomes summing to ``S < 1`` for at least the
    hold. Exactly one outcome pays 1, so buying one of each earns ``1 − S`` per set, on
    ``min(sizes)`` sets. The venue matches each market alone (VENUE §6 crosses the two tokens
    of one market, never different markets of an event), so such sums can rest."""
    total = 0.0
    rows: list[Opportunity] = []
    for event in scenario.neg_risk_events:
        cids = event.condition_ids
        lives = [q for cid in cids for q in lives_by_market.get(cid, [])]
        moments = sorted({q.posted_s for q in lives} | {q.ended_s for q in lives})
        for start, end in zip(moments, moments[1:], strict=False):
            if end - start < hold_s - EPS:
                continue
            asks = [_best_yes_ask(lives_by_market, cid, start, unified) for cid in cids]
            if any(a is None for a in asks):
                continue
            legs = [a for a in asks if a is not None]
            cost = sum(price for price, _ in legs)
            if cost < 1.0 - EPS:
                size = min(size for _, size in legs)
                value = size * (1.0 - cost)
                total += value
                rows.append(Opportunity("complete_set", round(start, 6), cids[0],
                                        event.neg_risk_market_id, "BUY", round(cost, 6), size,
                                        1.0, round(value, 6), ""))
    return total, rows


def from_history(scenario: Scenario, history: list[WorldAction], seed: int,
                 unified_book: bool | None = None, end_s: float | None = None) -> GroundTruth:
    """Build the ground truth of a run from its action record (module doc); ``end_s`` is where
    the run stopped when it did not play to the scenario's end."""
    unified = scenario.complementary_matching if unified_book is None else unified_book
    hold = float(scenario.matching_delay_s)
    fair = fair_timelines(scenario, history)
    resolutions = {a.condition_id: (a.t_s, a.winning_token_id) for a in history
                   if isinstance(a, ResolveAction)}
    lives = quote_lives(scenario, history, fair, resolutions, end_s)
    by_market: dict[str, list[QuoteLife]] = {}
    for life in lives:
        by_market.setdefault(life.condition_id, []).append(life)
    rows: list[Opportunity] = []
    taker = 0.0
    for life in lives:
        best = _taker_edge(life, fair[life.condition_id], hold)
        if best is not None:
            taker += best.edge_usdc
            rows.append(best)
    spread, rebate, maker_rows = _maker_edge(scenario, history, fair, by_market, hold, unified)
    pair, pair_rows = _pair_edge(scenario, by_market, hold, unified)
    complete, complete_rows = _complete_set_edge(scenario, by_market, hold, unified)
    rows += maker_rows + pair_rows + complete_rows
    rows.sort(key=lambda r: (r.send_s, r.kind, r.condition_id, r.token_id))
    edge = {"taker": round(taker, 6), "maker": round(spread + rebate, 6),
            "maker_spread": round(spread, 6), "maker_rebate": round(rebate, 6),
            "pair": round(pair, 6), "complete_set": round(complete, 6)}
    events = [a for a in history if isinstance(a, FairValueChange)]
    duration = scenario.duration_s if end_s is None else end_s
    return GroundTruth(scenario.name, seed, hold, duration, unified,
                       scenario.maker_rebate_rate, list(scenario.markets), fair, resolutions,
                       lives, events, rows, edge)


def from_scenario(scenario: Scenario, seed: int | None = None,
                  unified_book: bool | None = None) -> GroundTruth:
    """Re-run the pure world core of ``scenario`` (same seed → same run) and build its truth."""
    core = WorldCore(scenario, seed=seed, epoch_ms=0)
    core.run_all()
    return from_history(scenario, core.history, core.seed, unified_book)


def to_json(truth: GroundTruth) -> dict[str, Any]:
    """The JSON document of ``specs/12`` §5 (times in scenario seconds)."""
    return {
        "schema": SCHEMA,
        "scenario": truth.scenario,
        "seed": truth.seed,
        "hold_s": truth.hold_s,
        "duration_s": truth.duration_s,
        "unified_book": truth.unified_book,
        "maker_rebate_rate": truth.maker_rebate_rate,
        "available_edge_usdc": truth.available_edge,
        "markets": [{
            "condition_id": m.condition_id,
            "match_id": m.match_id,
            "question": m.question,
            "token_ids": list(m.token_ids),
            "outcomes": list(m.outcomes),
            "neg_risk": m.neg_risk,
            "market_type": m.market_type,
            "map_number": m.map_number or None,
            "event_id": m.event_id or None,
            "neg_risk_market_id": m.neg_risk_market_id or None,
            "resolved_s": truth.resolutions.get(m.condition_id, (None, None))[0],
            "winning_token_id": truth.resolutions.get(m.condition_id, (None, None))[1],
            "fair": [[t, round(f, 9)] for t, f in zip(truth.fair[m.condition_id].times_s,
                                                        truth.fair[m.condition_id].fair,
                                                        strict=True)],
        } for m in truth.markets],
        "events": [{"t_s": e.t_s, "match_id": e.match_id, "kind": e.event_kind,
                    "fair_a": round(e.fair_a, 9), "key": e.fair_key} for e in truth.events],
        "quotes": [{
            "owner": q.owner, "condition_id": q.condition_id, "token_id": q.token_id,
            "side": q.side, "price": q.price, "size": q.size, "posted_s": q.posted_s,
            "ended_s": q.ended_s, "end_reason": q.end_reason,
            "fair_at_post": round(q.fair_at_post, 9), "stale_from_s": q.stale_from_s,
            "stale_intervals": [[s, e] for s, e in q.stale_intervals],
        } for q in truth.quotes],
        "opportunities": [{
            "kind": o.kind, "send_s": o.send_s, "condition_id": o.condition_id,
            "token_id": o.token_id, "side": o.side, "price": o.price, "size": o.size,
            "fair": o.fair, "edge_usdc": o.edge_usdc, "owner": o.owner,
        } for o in truth.opportunities],
    }


def write_json(truth: GroundTruth, path: str | Path) -> Path:
    """Write ``to_json(truth)`` to ``path`` (parents created); return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(to_json(truth), separators=(",", ":")) + "\n")
    return out
