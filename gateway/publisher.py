"""Outbound ZeroMQ sockets of the gateway with the backpressure policy of seed §5.1.

* **Book ticks coalesce per slot.** A tick is sent without blocking; when the pipe is full
  (``EAGAIN`` on an XPUB with ``XPUB_NODROP``) it is parked in a per-slot map where a newer
  tick of the same slot replaces it (counted in ``polyloly_bus_coalesced_total``). A tick only
  says "read slot S at or after seq N", so the newest one carries everything.
* **Everything else never drops** (match events, trade prints, source health, user updates):
  a non-blocking send, and on ``EAGAIN`` the message waits in an ordered FIFO that is flushed
  first, in order. The reader loop never blocks.
* **Halt**: when a FIFO holds more than ``max_backlog`` messages the sender reports itself
  ``overloaded`` (the gateway's ``/health`` turns false and it logs an error) but keeps
  every message.
"""

from __future__ import annotations

from collections import deque
from typing import Final

import zmq

from polyloly import messages, metrics
from polyloly.messages import BookTick, Message

DEFAULT_MAX_BACKLOG: Final = 100_000


class OrderedSender:
    """Never-drop, never-block sending of whole messages on one socket, in order."""

    def __init__(self, sock: zmq.Socket[bytes], name: str, *, topic_prefixed: bool,
                 max_backlog: int = DEFAULT_MAX_BACKLOG) -> None:
        self.sock = sock
        self.name = name
        self._topic_prefixed = topic_prefixed
        self._fifo: deque[tuple[bytes, ...]] = deque()
        self._max_backlog = max_backlog
        self.sent = 0

    @property
    def backlog(self) -> int:
        return len(self._fifo)

    @property
    def overloaded(self) -> bool:
        return len(self._fifo) > self._max_backlog

    def frames(self, message: Message) -> tuple[bytes, ...]:
        payload = messages.encode(message)
        return (messages.topic(message), payload) if self._topic_prefixed else (payload,)

    def send(self, message: Message) -> None:
        """Send now if nothing waits and the pipe has room, else queue it (never dropped)."""
        frames = self.frames(message)
        if self._fifo or not self._try_send(frames):
            self._fifo.append(frames)
            metrics.bus_backlog.labels(socket=self.name).set(len(self._fifo))

    def flush(self) -> bool:
        """Send queued messages in order until the pipe is full; True when all went out."""
        fifo = self._fifo
        while fifo:
            if not self._try_send(fifo[0]):
                metrics.bus_backlog.labels(socket=self.name).set(len(fifo))
                return False
            fifo.popleft()
        metrics.bus_backlog.labels(socket=self.name).set(0)
        return True

    def _try_send(self, frames: tuple[bytes, ...]) -> bool:
        try:
            self.sock.send_multipart(frames, flags=zmq.NOBLOCK)
        except zmq.Again:
            return False
        self.sent += 1
        return True


class GatewayPublisher:
    """The gateway PUB socket: coalesced book ticks plus an ordered never-drop stream."""

    def __init__(self, sock: zmq.Socket[bytes], max_backlog: int = DEFAULT_MAX_BACKLOG) -> None:
        """``sock`` should be an XPUB with ``XPUB_NODROP`` set (see :func:`bind_publisher`)."""
        self.sock = sock
        self.ordered = OrderedSender(sock, "gateway_pub", topic_prefixed=True,
                                     max_backlog=max_backlog)
        self._pending_ticks: dict[int, BookTick] = {}
        self.coalesced = 0

    @property
    def backlog(self) -> int:
        return self.ordered.backlog + len(self._pending_ticks)

    @property
    def overloaded(self) -> bool:
        return self.ordered.overloaded

    def publish(self, message: Message) -> None:
        """Publish any gateway message with the policy of its kind."""
        if isinstance(message, BookTick):
            self.publish_tick(message)
        else:
            self.ordered.send(message)

    def publish_tick(self, tick: BookTick) -> None:
        pending = self._pending_ticks
        if pending or self.ordered.backlog:
            self._park(tick)
            return
        try:
            self.sock.send_multipart((messages.topic(tick), messages.encode(tick)),
                                     flags=zmq.NOBLOCK)
        except zmq.Again:
            self._park(tick)

    def _park(self, tick: BookTick) -> None:
        if tick.slot in self._pending_ticks:
            self.coalesced += 1
            metrics.bus_coalesced.labels(kind="book_tick").inc()
        self._pending_ticks[tick.slot] = tick

    def flush(self) -> bool:
        """Send what waits (ordered stream first); True when nothing is left."""
        self._drain_subscriptions()
        if not self.ordered.flush():
            return False
        pending = self._pending_ticks
        while pending:
            slot = next(iter(pending))
            tick = pending[slot]
            try:
                self.sock.send_multipart((messages.topic(tick), messages.encode(tick)),
                                         flags=zmq.NOBLOCK)
            except zmq.Again:
                return False
            del pending[slot]
        return True

    def _drain_subscriptions(self) -> None:
        # XPUB delivers (un)subscription frames to the application; nobody needs them.
        if self.sock.type != zmq.XPUB:
            return
        try:
            for _ in range(1000):
                self.sock.recv(flags=zmq.NOBLOCK)
        except zmq.Again:
            return


def bind_publisher(ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str,
                   hwm: int) -> zmq.Socket[bytes]:
    """Bind the gateway's XPUB (PUB-compatible for SUB peers) with ``XPUB_NODROP`` so a full
    pipe shows as ``EAGAIN`` instead of a silent drop."""
    sock: zmq.Socket[bytes] = ctx.socket(zmq.XPUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.RCVHWM, hwm)
    sock.setsockopt(zmq.XPUB_NODROP, 1)
    sock.bind(endpoint)
    return sock
