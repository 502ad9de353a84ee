"""The plug-in interface between the gateway shell and esports feed adapters.

An esports adapter (one per provider, written in ``gateway/esports/``) turns a provider's
payloads into normalized :class:`~polyloly.messages.MatchEvent` values. The gateway shell owns
every socket to the other processes; the adapter owns only its provider connection.

Contract, for the authors of ``gateway/esports/``:

* ``gateway.esports.build_adapters(config, clock) -> list[FeedAdapter]`` builds one adapter per
  enabled provider in ``config.providers`` (the shell calls it once at start-up; a provider
  that cannot be built raises ``ValueError`` naming it, and the shell logs it and goes on).
* The shell runs every adapter's :meth:`FeedAdapter.run` as one asyncio task on the gateway's
  event loop and sets ``stop`` at shutdown; ``run`` must return within ~2 s of ``stop``.
* ``emit(event)`` publishes one :class:`MatchEvent` on the gateway PUB socket. It never drops
  (blocking send) and never raises for a valid event; the shell assigns ``seq`` (per source,
  starting at 1) and overwrites nothing else. Call it from the event-loop thread only.
* ``record(source, raw, t_recv_ns)`` hands the shell every raw provider payload exactly as
  received (bytes), *before* parsing, with the CLOCK_MONOTONIC receive time in ns. The shell
  appends it to the recording (``--record``, event type ``esports.<source>``) and counts it as
  a sign of life of ``source`` for staleness (SPEC §6.3). Call it for every payload, also the
  ones that yield no event, so a recorded session replays exactly.
* ``dead_letter(source, raw, reason, error)`` reports a payload that could not be parsed; the
  shell counts it (``polyloly_dead_letters_total{source,reason}``) and appends it to the DLQ.
* An adapter must not crash on bad provider data: report it as a dead letter and go on.
  An exception escaping ``run`` is logged by the shell, counted as a reconnect of that feed,
  and ``run`` is started again after a backoff.

Staleness: the shell tracks, per source, the age of the last sign of life (a recorded payload
or an emitted event) against ``config.providers[source].stale_threshold_ms`` and publishes a
:class:`~polyloly.messages.SourceHealth` whenever a source turns stale or fresh.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from polyloly.clock import Clock
from polyloly.config import Config
from polyloly.domain import SourceTier
from polyloly.messages import MatchEvent

ESPORTS_PACKAGE = "gateway.esports"

EmitFn = Callable[[MatchEvent], None]
"""Publish one normalized match event (never dropped)."""

RecordFn = Callable[[str, bytes, int], None]
"""``record(source, raw_payload, t_recv_ns)``: keep one raw provider payload."""

DeadLetterFn = Callable[[str, bytes, str, str], None]
"""``dead_letter(source, raw_payload, reason, error_text)``: report an unparseable payload."""


@runtime_checkable
class FeedAdapter(Protocol):
    """One esports data provider, as the gateway shell drives it."""

    name: str
    """Source name: the key in ``config.providers`` (e.g. ``"opendota"``)."""
    tier: SourceTier
    """SPEC §6.1 tier of the source."""

    async def run(
        self,
        emit: EmitFn,
        record: RecordFn,
        dead_letter: DeadLetterFn,
        stop: asyncio.Event,
    ) -> None:
        """Poll or stream the provider until ``stop`` is set; emit events, record payloads."""
        ...


BuildAdaptersFn = Callable[[Config, Clock], list[FeedAdapter]]


def esports_available() -> bool:
    """Whether the ``gateway.esports`` package (the adapters) is installed."""
    try:
        return importlib.util.find_spec(ESPORTS_PACKAGE) is not None
    except (ImportError, ValueError):
        return False


def load_esports_adapters(config: Config, clock: Clock) -> list[FeedAdapter]:
    """Build the configured esports adapters, or none when ``gateway.esports`` is absent.

    Raises ``TypeError`` when the package exists but does not export a callable
    ``build_adapters`` or returns something that is not a list of :class:`FeedAdapter`.
    """
    if not esports_available():
        return []
    module = importlib.import_module(ESPORTS_PACKAGE)
    build = getattr(module, "build_adapters", None)
    if not callable(build):
        raise TypeError(f"{ESPORTS_PACKAGE}.build_adapters: expected a function, was {build!r}")
    adapters = build(config, clock)
    if not isinstance(adapters, list):
        raise TypeError(
            f"{ESPORTS_PACKAGE}.build_adapters: expected a list, was {type(adapters).__name__}"
        )
    for adapter in adapters:
        if not isinstance(adapter, FeedAdapter):
            raise TypeError(
                f"{ESPORTS_PACKAGE}.build_adapters: {adapter!r} lacks name/tier/run"
            )
    return adapters
