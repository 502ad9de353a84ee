"""Esports feed adapters (SPEC §6): one module per provider, each a pure parser plus a thin
async transport, all normalizing into :class:`~polyloly.messages.MatchEvent`.

The gateway shell calls :func:`build_adapters` once (see :mod:`gateway.feeds` for the
contract) and runs each adapter's ``run(emit, record, dead_letter, stop)`` as a task.
Payload conventions are written down in ``specs/09_ADAPTERS_SPEC.md`` ("Esports providers").
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.esports.grid import GridAdapter
from gateway.esports.lead import LeadTracker
from gateway.esports.liquipedia import LiquipediaAdapter
from gateway.esports.lolesports import LolEsportsAdapter
from gateway.esports.opendota import OpenDotaAdapter
from gateway.esports.pandascore import PandaScoreAdapter
from gateway.esports.polymarket_sports import PolymarketSportsAdapter
from gateway.esports.transport import ObserveFn
from gateway.feeds import FeedAdapter
from polyloly.clock import Clock
from polyloly.config import Config, MarketConfig, ProviderConfig
from polyloly.logs import get_logger

AdapterFactory = Callable[
    [ProviderConfig, tuple[MarketConfig, ...], Clock, ObserveFn], FeedAdapter
]

ADAPTERS: dict[str, AdapterFactory] = {
    "grid": GridAdapter,
    "lolesports": LolEsportsAdapter,
    "pandascore": PandaScoreAdapter,
    "opendota": OpenDotaAdapter,
    "liquipedia": LiquipediaAdapter,
}
"""Provider name (the key in ``config.providers``) → adapter class."""

SPORTS_WS = "polymarket_sports"

__all__ = ["ADAPTERS", "build_adapters", "LeadTracker"]


def build_adapters(
    config: Config, clock: Clock, lead_tracker: LeadTracker | None = None
) -> list[FeedAdapter]:
    """Build one adapter per enabled provider of ``config.providers``.

    All adapters share one :class:`LeadTracker`, so results from any source are compared with
    Polymarket's sports WebSocket. Raise ``ValueError`` naming a provider that is enabled but
    cannot be built (no URL); names without an adapter are logged and skipped.
    """
    tracker = lead_tracker or LeadTracker()
    log = get_logger("gateway.esports")
    adapters: list[FeedAdapter] = []
    for name, provider in config.providers.items():
        if not provider.enabled:
            continue
        if name == SPORTS_WS:
            url = provider.url or config.polymarket.sports_ws_url
            if not url:
                raise ValueError(f"providers.{name}.url: required when the provider is enabled")
            adapters.append(
                PolymarketSportsAdapter(
                    provider, config.markets, clock, tracker.observe, fallback_url=url
                )
            )
            continue
        factory = ADAPTERS.get(name)
        if factory is None:
            log.warning("unknown_provider", f"no esports adapter for provider {name!r}")
            continue
        if not provider.url:
            raise ValueError(f"providers.{name}.url: required when the provider is enabled")
        adapters.append(factory(provider, config.markets, clock, tracker.observe))
    return adapters
