"""Random takers: a pure core that sends small marketable orders so books move on their own.

Arrivals per market are Poisson with ``rate_per_market_s``; each picks a taker, a token, a
side and a size at random (seeded) and crosses the market-maker's first levels. Takers stay
away from a market while its pair is deliberately mispriced (the edge is left for the
trading system) and once its quotes are pulled.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from sim.scenario import MarketMakerSettings, MarketSpec, TakerSettings


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
                if market.match_id in excluded or market.match_id not in fair_a:
                    continue
                fair = fair_a[market.match_id] if index == 0 else 1 - fair_a[market.match_id]
                tick = market.tick_size
                raw = fair + cross if side == "BUY" else fair - cross
                price = round(min(max(round(raw / tick) * tick, tick), 1 - tick), 6)
                size = max(size, market.min_order_size, math.ceil(1.05 / price * 100) / 100)
                orders.append(TakerOrder(t_s, owner, market.token_ids[index], side, price,
                                         size, self.settings.order_type))
        return orders
