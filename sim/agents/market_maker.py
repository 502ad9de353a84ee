"""The market-maker agent: a pure core that turns fair values into quote plans.

The core sees the true fair value of each match the moment it changes (``observe``) but acts
on it only after its reaction time (``reaction_s``: uniform in [low, high] per event, or the
fixed ``reprice_lag_s``) — the stale window is the temporal edge the trading system hunts. At
its reaction it cancels and re-posts (cancels are never held by the venue's sports delay, so a
fast maker pulls a stale quote before a held taker order reaches it). Between reprices it
refreshes its quotes every ``refresh_s`` with fresh noise, so books move; it skips a refresh
while an event it has seen is not yet priced (re-posting then would re-post a quote it is about
to learn is stale). With ``inventory_skew`` its quoted fair moves against its net team-A
position (fills reported by the world through ``on_fill``). During a configured mispricing
window it lowers both tokens' best asks so that they sum to ``1 - edge`` (the pair edge).
After the series ends (and the lag) it pulls its quotes for good. Output: ``QuotePlan`` objects
(replace all quotes of one market).
"""

from __future__ import annotations

import heapq
import logging
import random
from dataclasses import dataclass

from sim.agents.venue_protocol import VenueProtocol
from sim.scenario import MarketMakerSettings, MarketSpec, MispricingSpec

log = logging.getLogger("sim.agents.market_maker")


@dataclass(frozen=True, slots=True)
class Quote:
    """One resting order the market-maker wants."""

    token_id: str
    side: str
    price: float
    size: float


@dataclass(frozen=True, slots=True)
class QuotePlan:
    """Replace every quote of ``condition_id`` with ``quotes`` (empty = pull)."""

    t_s: float
    condition_id: str
    token_ids: tuple[str, str]
    quotes: tuple[Quote, ...]
    reason: str
    fair_a: float
    owner: str = "sim-market-maker"


def _snap(price: float, tick: float) -> float:
    return round(min(max(round(price / tick) * tick, tick), 1.0 - tick), 6)


def build_ladder(market: MarketSpec, fair_a: float, settings: MarketMakerSettings,
                 mispricing: MispricingSpec | None = None) -> tuple[Quote, ...]:
    """Return bids and asks on both tokens around ``fair_a`` (P(team A wins)).

    Token k's fair value is ``fair_a`` for A and ``1 - fair_a`` for B; level i sits at
    ``fair ± (half_spread + i·level_step)``. With ``mispricing`` the best ask of each token is
    ``fair - edge/2`` (so the two sum to ``1 - edge``) and every bid sits below both asks.
    """
    tick = market.tick_size
    quotes: list[Quote] = []
    for index, token_id in enumerate(market.token_ids):
        fair = fair_a if index == 0 else 1.0 - fair_a
        if mispricing is not None:
            best_ask = _snap(fair - mispricing.edge / 2, tick)
            asks = [(best_ask, mispricing.size)]
            asks += [(_snap(fair + settings.half_spread + i * settings.level_step, tick),
                      settings.level_size) for i in range(1, settings.levels)]
            top_bid = best_ask - settings.half_spread - settings.level_step
        else:
            asks = [(_snap(fair + settings.half_spread + i * settings.level_step, tick),
                     settings.level_size) for i in range(settings.levels)]
            top_bid = fair - settings.half_spread
        bids = [(_snap(top_bid - i * settings.level_step, tick), settings.level_size)
                for i in range(settings.levels)]
        seen: set[tuple[str, float]] = set()
        for side, levels in (("BUY", bids), ("SELL", asks)):
            for price, size in levels:
                if (side, price) in seen or not tick <= price <= 1 - tick:
                    continue
                seen.add((side, price))
                quotes.append(Quote(token_id, side, price, size))
    return tuple(quotes)


class MarketMakerCore:
    """Deterministic market-maker state: believed fair values, pending reprices, timers."""

    def __init__(self, settings: MarketMakerSettings, markets: tuple[MarketSpec, ...],
                 initial_fair: dict[str, float], rng: random.Random) -> None:
        self.settings = settings
        self.markets = markets
        self.rng = rng
        self.believed: dict[str, float] = dict(initial_fair)
        self.finished: set[str] = set()
        self.pulled: set[str] = set()
        self._pending: list[tuple[float, int, str, float, bool]] = []
        self._counter = 0
        self._next_refresh: dict[str, float] = {}
        self._mispriced: set[tuple[str, float]] = set()
        self._started = False
        # Everything is keyed by a market's ``fair_key``: the match id for a series market
        # (so mispricings and the legacy behaviour are unchanged), ``match#mapN`` for a map
        # winner, ``event#outcome`` for a neg-risk outcome.
        self._applied: dict[str, int] = {}  # key → newest observation priced
        # net outcome-0 shares per key: YES bought + NO sold − YES sold − NO bought
        self.inventory: dict[str, float] = {}
        self._token_side = {token: (market.fair_key, index) for market in markets
                            for index, token in enumerate(market.token_ids)}

    def reaction_delay(self) -> float:
        """Draw this maker's delay for one event (fixed when no range is configured)."""
        low, high = self.settings.reaction_range()
        return low if high == low else self.rng.uniform(low, high)

    def observe(self, t_s: float, match_id: str, fair_a: float, final: bool = False) -> None:
        """Learn the true fair value of ``match_id`` at ``t_s``; act on it after the lag."""
        self.observe_all(t_s, [(match_id, fair_a, final)])

    def observe_all(self, t_s: float, values: list[tuple[str, float, bool]]) -> None:
        """Learn one true event's new fair values (key, P(outcome 0), final) at ``t_s``: one
        reaction delay for all of them (the maker sees the event once)."""
        at = t_s + self.reaction_delay()
        for key, fair_a, final in values:
            self._counter += 1
            heapq.heappush(self._pending, (at, self._counter, key, fair_a, final))

    def on_fill(self, token_id: str, side: str, shares: float) -> None:
        """Record a fill of one of our quotes (inventory for the skew)."""
        located = self._token_side.get(token_id)
        if located is None:
            return
        match_id, index = located
        signed = shares if (side == "BUY") == (index == 0) else -shares
        self.inventory[match_id] = self.inventory.get(match_id, 0.0) + signed

    def pending_for(self, match_id: str) -> bool:
        """True while an event of ``match_id`` is seen but not yet priced."""
        return any(item[2] == match_id for item in self._pending)

    def active_mispricing(self, match_id: str, t_s: float) -> MispricingSpec | None:
        """Return the mispricing window of ``match_id`` covering ``t_s``, if any."""
        for spec in self.settings.mispricings:
            if spec.match_id == match_id and spec.at_s <= t_s < spec.at_s + spec.duration_s:
                return spec
        return None

    def _noisy(self, fair: float) -> float:
        noise = self.rng.gauss(0.0, self.settings.noise) if self.settings.noise else 0.0
        return min(max(fair + noise, 0.02), 0.98)

    def _plan(self, t_s: float, market: MarketSpec, reason: str) -> QuotePlan:
        key = market.fair_key
        if key in self.finished:
            self.pulled.add(market.condition_id)
            return QuotePlan(t_s, market.condition_id, market.token_ids, (), reason,
                             self.believed[key], self.settings.owner)
        skew = self.settings.inventory_skew * self.inventory.get(key, 0.0)
        fair = self._noisy(self.believed[key] - skew)
        mispricing = (self.active_mispricing(market.match_id, t_s)
                      if key == market.match_id else None)
        quotes = build_ladder(market, fair, self.settings, mispricing)
        return QuotePlan(t_s, market.condition_id, market.token_ids, quotes,
                         "mispricing" if mispricing else reason, fair, self.settings.owner)

    def step(self, t_s: float) -> list[QuotePlan]:
        """Return the quote plans due at ``t_s`` (call with non-decreasing times)."""
        if not self.settings.enabled:
            return []
        plans: list[QuotePlan] = []
        due: set[str] = set()
        reasons: dict[str, str] = {}
        if not self._started:
            self._started = True
            for market in self.markets:
                due.add(market.fair_key)
                reasons[market.fair_key] = "initial"
        while self._pending and self._pending[0][0] <= t_s:
            _, counter, match_id, fair_a, final = heapq.heappop(self._pending)
            if match_id in self.finished or counter < self._applied.get(match_id, 0):
                continue  # random reaction times: never go back to an older event's value
            self._applied[match_id] = counter
            self.believed[match_id] = fair_a
            if final:
                self.finished.add(match_id)
            due.add(match_id)
            reasons[match_id] = "match_end" if final else "reprice"
        for spec in self.settings.mispricings:
            for edge_t in (spec.at_s, spec.at_s + spec.duration_s):
                key = (spec.match_id, edge_t)
                if edge_t <= t_s and key not in self._mispriced:
                    self._mispriced.add(key)
                    due.add(spec.match_id)
                    reasons.setdefault(spec.match_id, "mispricing_window")
        for market in self.markets:
            match_id = market.fair_key
            if market.condition_id in self.pulled:
                continue
            next_refresh = self._next_refresh.get(match_id, 0.0)
            if match_id not in due and self.pending_for(match_id):
                continue  # never re-post what an already-seen event made stale
            if match_id in due or t_s >= next_refresh:
                plans.append(self._plan(t_s, market, reasons.get(match_id, "refresh")))
                self._next_refresh[match_id] = t_s + self.settings.refresh_s
        return plans


def apply_quote_plan(venue: VenueProtocol, owner: str, plan: QuotePlan) -> tuple[int, int]:
    """Execute ``plan`` on ``venue``: cancel ``owner``'s quotes on both tokens, place the new
    ones (asks first, outside-in, so our own levels never cross). Return (placed, refused)."""
    for token_id in plan.token_ids:
        try:
            venue.cancel_all_internal(owner, token_id)
        except Exception as exc:  # a refused cancel must not stop the world
            log.debug("cancel_all on %s failed: %s", token_id, exc)
    placed = refused = 0
    for quote in sorted(plan.quotes, key=lambda q: (q.side != "SELL", -abs(q.price - 0.5))):
        try:
            venue.place_internal(owner, quote.token_id, quote.side, quote.price, quote.size)
            placed += 1
        except Exception as exc:  # e.g. a price outside the venue's tick range
            refused += 1
            log.debug("quote refused (%s %s@%s): %s", quote.side, quote.size, quote.price, exc)
    return placed, refused
