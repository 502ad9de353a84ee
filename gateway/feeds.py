"""The plug-in interface between the gateway shell and esports feed adapters.

An esports adapter (one per provider, written in ``gateway/esports/``) turns a provider's
payloads into normalized :class:`~polyloly.messages.MatchEvent` values. The gateway shell owns
every socket to the other processes; the adapter owns only its provider connection.

Contract, for the authors of ``gateway/esports/``:

* ``gateway.esports.build_adapters(config, clock) -> list[FeedAdapter]`` builds one adapter per
  enabled provider in ``config.providers``; the shell (:mod:`gateway.main`) imports it plainly
  and calls it once at start-up. A provider that cannot be built raises ``ValueError`` naming
  it (config validation refuses an enabled provider without a URL first).
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
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from polyloly.domain import SourceTier
from polyloly.messages import MatchEvent

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

