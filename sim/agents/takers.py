"""Takers: random (noise) takers and informed takers, pure cores returning marketable orders.

Arrivals per market are Poisson with ``rate_per_market_s``; each picks a taker, a token, a
side and a size at random (seeded) and crosses the market-maker's first levels. Takers stay
away from a market while its pair is deliberately mispriced (the edge is left for the
trading system) and once its quotes are pulled.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from sim.agents.market_maker import QuotePlan
from sim.scenario import InformedTakerSettings, MarketMakerSettings, MarketSpec, TakerSettings


@dataclass(frozen=True, slots=True)
class TakerOrder:
    """One marketable order of a random taker."""

    t_s: float
    owner: str
    token_id: str
    side: str
    price: float
    size: float
    order_type: str


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


class TakerCore:
    """Deterministic random takers over a set of markets."""

    def __init__(self, settings: TakerSettings, mm_settings: MarketMakerSettings,
                 markets: tuple[MarketSpec, ...], rng: random.Random) -> None:
        self.settings = settings
        self.mm_settings = mm_settings
        self.markets = markets
        self.rng = rng

    def step(self, t_s: float, dt_s: float, fair_a: dict[str, float],
             excluded: set[str]) -> list[TakerOrder]:
        """Return the orders arriving in ``(t_s - dt_s, t_s]``.

        ``fair_a`` is the market-maker's current (believed) fair value per match id;
        ``excluded`` holds the match ids takers must leave alone.
        """
        if not self.settings.enabled:
            return []
        orders: list[TakerOrder] = []
        cross = self.mm_settings.half_spread + 2 * self.mm_settings.level_step
        for market in self.markets:
            arrivals = _poisson(self.rng, self.settings.rate_per_market_s * dt_s)
            for _ in range(arrivals):
                owner = f"{self.settings.owner_prefix}-{self.rng.randrange(self.settings.count)}"
                index = self.rng.randrange(2)
                side = self.rng.choice(("BUY", "SELL"))
                size = round(self.rng.uniform(self.settings.min_size, self.settings.max_size), 2)
                key = market.fair_key  # the series, a map or a neg-risk outcome
                if key in excluded or market.match_id in excluded or key not in fair_a:
                    continue
                fair = fair_a[key] if index == 0 else 1 - fair_a[key]
                tick = market.tick_size
                raw = fair + cross if side == "BUY" else fair - cross
                price = round(min(max(round(raw / tick) * tick, tick), 1 - tick), 6)
                size = max(size, market.min_order_size, math.ceil(1.05 / price * 100) / 100)
                orders.append(TakerOrder(t_s, owner, market.token_ids[index], side, price,
                                         size, self.settings.order_type))
        return orders


class InformedTakerCore:
    """Takers that learn each TRUE event after their own delay and compete for stale liquidity.

    At ``event + reaction`` a taker knows the new fair value of every market of the match and
    looks at the quotes the makers have resting (their last quote plans: the world's own view,
    fills ignored). Where an ask sits at least ``min_edge`` below the token's fair value (or, on
    a unified book, a bid of the other token at least ``min_edge`` above its fair, which is the
    same liquidity mirrored) it sends one marketable BUY limited at ``fair − min_edge`` for the
    stale size (≤ ``max_size``). The venue holds it for the sports delay, so a maker that
    cancels within that time leaves it nothing to take.
    """

    def __init__(self, settings: tuple[InformedTakerSettings, ...],
                 markets: tuple[MarketSpec, ...], seed: int, unified_book: bool) -> None:
        self.settings = settings
        self.markets = markets
        self.unified_book = unified_book
        self.rngs = {s.owner: random.Random(f"informed:{seed}:{s.owner}") for s in settings}
        self._pending: list[tuple[float, int, str, dict[str, float]]] = []
        self._counter = 0

    def observe(self, t_s: float, fair_by_market: dict[str, float]) -> None:
        """A true event at ``t_s`` set these markets' fair values (token 0)."""
        for taker in self.settings:
            low, high = taker.reaction_s
            delay = low if high == low else self.rngs[taker.owner].uniform(low, high)
            self._counter += 1
            self._pending.append((t_s + delay, self._counter, taker.owner, dict(fair_by_market)))
        self._pending.sort()

    def step(self, t_s: float, resting: dict[tuple[str, str], QuotePlan]) -> list[TakerOrder]:
        """Orders of the takers whose reaction falls at or before ``t_s``."""
        orders: list[TakerOrder] = []
        by_owner = {s.owner: s for s in self.settings}
        while self._pending and self._pending[0][0] <= t_s:
            _, _, owner, fairs = self._pending.pop(0)
            taker = by_owner[owner]
            for market in self.markets:
                if market.condition_id not in fairs:
                    continue
                plans = [plan for (_, cid), plan in resting.items()
                         if cid == market.condition_id]
                for index in (0, 1):
                    order = self._order(t_s, taker, market, index, fairs[market.condition_id],
                                        plans)
                    if order is not None:
                        orders.append(order)
        return orders

    def _order(self, t_s: float, taker: InformedTakerSettings, market: MarketSpec, index: int,
               fair_a: float, plans: list[QuotePlan]) -> TakerOrder | None:
        token, other = market.token_ids[index], market.token_ids[1 - index]
        fair = fair_a if index == 0 else 1.0 - fair_a
        tick = market.tick_size
        limit = round(math.floor((fair - taker.min_edge) / tick + 1e-9) * tick, 6)
        if limit < tick:
            return None
        stale = 0.0
        for plan in plans:
            for quote in plan.quotes:
                own_ask = quote.token_id == token and quote.side == "SELL" and quote.price <= limit
                mirrored = (self.unified_book and quote.token_id == other and quote.side == "BUY"
                            and quote.price >= round(1.0 - limit, 6))
                if own_ask or mirrored:
                    stale += quote.size
        size = round(min(stale, taker.max_size), 2)
        if size < max(market.min_order_size, 1.0 / limit):
            return None
        return TakerOrder(t_s, taker.owner, token, "BUY", min(limit, 1.0 - tick), size,
                          taker.order_type)
