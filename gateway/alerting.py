"""The gateway's rows of the SPEC §14 failure table, as pure alarms that return alerts.

* WS disconnect: a connection that fails to reconnect ``threshold`` times in a row raises one
  WARNING (key ``ws_disconnect:<connection>``); the next successful connect resets the streak
  and, when it had alerted, raises an INFO that it recovered.
* Esports feed stale: a source whose :class:`~polyloly.messages.SourceHealth` flips to stale
  raises a WARNING at once (key ``source_stale:<source>``), and an INFO when it recovers. A
  source that never sent anything is reported stale from the start by the tracker; that first
  report is not a flip, so it alerts only once it has been silent for its whole threshold.

The alarms do no I/O: the shell passes what they return to an :data:`AlertFn` (in production
:meth:`polyloly.alerts.Alerter.send`, which dedupes, rate-limits and delivers off-thread).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from polyloly.alerts import Alert, Severity
from polyloly.messages import SourceHealth

AlertFn = Callable[[Alert], object]
"""Where alerts go: ``Alerter.send`` in the processes, a list's ``append`` in tests."""


def no_alert(alert: Alert) -> None:
    """The default :data:`AlertFn`: drop the alert (it is still logged where it is raised)."""
    del alert


class ReconnectAlarm:
    """Count consecutive failed (re)connects of one WebSocket connection."""

    def __init__(self, connection: str, feed: str, threshold: int = 3) -> None:
        """``threshold``: failed connects in a row before the WARNING (>= 1)."""
        if threshold < 1:
            raise ValueError(f"threshold: expected a positive count, was {threshold!r}")
        self.connection = connection
        self.feed = feed
        self.threshold = threshold
        self.consecutive_failures = 0
        self._alerted = False

    @property
    def key(self) -> str:
        return f"ws_disconnect:{self.connection}"

    def on_failed_connect(self, error: str) -> Alert | None:
        """Count one connect that never came up; the WARNING when the streak hits the threshold
        (once per streak)."""
        self.consecutive_failures += 1
        if self.consecutive_failures != self.threshold:
            return None
        self._alerted = True
        return Alert(
            Severity.WARNING, self.key,
            f"WS disconnect: {self.connection} ({self.feed}) failed to reconnect "
            f"{self.consecutive_failures} times in a row; last error: {error}",
        )

    def on_connected(self) -> Alert | None:
        """Reset the streak; an INFO when the streak had alerted."""
        failures, alerted = self.consecutive_failures, self._alerted
        self.consecutive_failures = 0
        self._alerted = False
        if not alerted:
            return None
        return Alert(
            Severity.INFO, f"{self.key}:recovered",
            f"WS reconnected: {self.connection} ({self.feed}) is up again after "
            f"{failures} failed reconnects",
        )


@dataclass(slots=True)
class _SourceWatch:
    stale: bool
    alerted: bool = False
    silent_since_ns: int | None = None  # set for a source that has never sent anything
    threshold_ms: int = 0


class SourceStaleAlarm:
    """Turn :class:`SourceHealth` changes into stale / recovered alerts, one source each."""

    def __init__(self) -> None:
        self._sources: dict[str, _SourceWatch] = {}

    @staticmethod
    def key(source: str) -> str:
        return f"source_stale:{source}"

    def on_health(self, change: SourceHealth) -> Alert | None:
        """Note one staleness change; the alert it raises, if any."""
        watch = self._sources.get(change.source)
        if watch is None:
            watch = self._sources[change.source] = _SourceWatch(stale=change.stale)
            if change.stale:  # first report: stale because it never sent anything
                watch.silent_since_ns = change.t_ns - change.last_event_age_ms * 1_000_000
                watch.threshold_ms = change.stale_threshold_ms
            return None
        was_stale, watch.stale = watch.stale, change.stale
        if change.stale and not was_stale:
            watch.alerted = True
            return _stale_alert(change.source, change.last_event_age_ms,
                                change.stale_threshold_ms)
        if not change.stale:
            watch.silent_since_ns = None
            if was_stale and watch.alerted:
                watch.alerted = False
                return Alert(Severity.INFO, f"{self.key(change.source)}:recovered",
                             f"esports feed recovered: {change.source} is sending again")
        return None

    def due(self, now_ns: int) -> list[Alert]:
        """WARNINGs for sources silent since the start for longer than their threshold."""
        alerts: list[Alert] = []
        for source, watch in self._sources.items():
            if watch.silent_since_ns is None or watch.alerted:
                continue
            silent_ms = (now_ns - watch.silent_since_ns) // 1_000_000
            if silent_ms > watch.threshold_ms:
                watch.alerted = True
                alerts.append(_stale_alert(source, silent_ms, watch.threshold_ms,
                                           never_seen=True))
        return alerts


def _stale_alert(source: str, age_ms: int, threshold_ms: int, never_seen: bool = False) -> Alert:
    what = "no data since start" if never_seen else "no data"
    return Alert(
        Severity.WARNING, SourceStaleAlarm.key(source),
        f"esports feed stale: {source}: {what} for {age_ms / 1000:.1f} s "
        f"(threshold {threshold_ms / 1000:.1f} s); shards stop temporal trading on it",
    )
