"""The replay clock: time is whatever the recording says it was."""

from __future__ import annotations

_NS_PER_MS = 1_000_000


class ReplayClock:
    """A :class:`~polyloly.clock.Clock` moved by the replay, never by itself.

    Like :class:`~polyloly.clock.ManualClock`, but the wall clock can be pinned too: each
    recorded message sets both its CLOCK_MONOTONIC receive time (ns) and its wall receive time
    (ms), so stamps computed by the cores equal the live ones. Between messages (timers) the
    wall clock moves with the monotonic one. Neither ever moves backward.
    """

    def __init__(self, monotonic_ns: int, wall_ms: int) -> None:
        self._monotonic_ns = monotonic_ns
        self._wall_ms = wall_ms
        self._wall_anchor_ns = monotonic_ns

    def monotonic_ns(self) -> int:
        """Current replayed CLOCK_MONOTONIC (ns)."""
        return self._monotonic_ns

    def wall_ms(self) -> int:
        """Current replayed wall clock (ms since the Unix epoch)."""
        return self._wall_ms + (self._monotonic_ns - self._wall_anchor_ns) // _NS_PER_MS

    def move_to(self, monotonic_ns: int, wall_ms: int | None = None) -> None:
        """Move to ``monotonic_ns`` (ns); pin the wall clock to ``wall_ms`` when given.

        A time earlier than now is ignored (the clock stays), and a wall time earlier than
        the running wall clock is ignored as well: both clocks only move forward.
        """
        if monotonic_ns > self._monotonic_ns:
            self._monotonic_ns = monotonic_ns
        if wall_ms is not None and wall_ms > self.wall_ms():
            self._wall_ms = wall_ms
            self._wall_anchor_ns = self._monotonic_ns
