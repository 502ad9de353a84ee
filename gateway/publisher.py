"""Outbound ZeroMQ sockets of the gateway with the backpressure policy of SPEC §5.1.

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

Sending is two plain ``send`` calls (topic with ``SNDMORE``, then payload) rather than
``send_multipart``: the same atomic two-part message for half the per-call cost. ZeroMQ only
refuses (``EAGAIN``) the first part; once it is taken the rest of the message is too.
"""

from __future__ import annotations

from collections import deque
from typing import Final

import zmq

from polyloly import bus, messages, metrics
from polyloly.messages import BookTick, Message

DEFAULT_MAX_BACKLOG: Final = 100_000
_NOBLOCK: Final = zmq.NOBLOCK
_NOBLOCK_MORE: Final = zmq.NOBLOCK | zmq.SNDMORE


class OrderedSender:
    """Never-drop, never-block sending of whole messages on one socket, in order."""

    def __init__(self, sock: zmq.Socket[bytes], name: str, *, topic_prefixed: bool,
                 max_backlog: int = DEFAULT_MAX_BACKLOG) -> None:
        self.sock = sock
        self.name = name
        self._topic_prefixed = topic_prefixed
        self._fifo: deque[tuple[bytes, ...]] = deque()
        self._max_backlog = max_backlog
        self._backlog_metric = metrics.bus_backlog.labels(socket=name)
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
            self._backlog_metric.set(len(self._fifo))

    def flush(self) -> bool:
        """Send queued messages in order until the pipe is full; True when all went out."""
        fifo = self._fifo
        while fifo:
            if not self._try_send(fifo[0]):
                self._backlog_metric.set(len(fifo))
                return False
            fifo.popleft()
        self._backlog_metric.set(0)
        return True

    def _try_send(self, frames: tuple[bytes, ...]) -> bool:
        try:
            if len(frames) == 2:
                self.sock.send(frames[0], _NOBLOCK_MORE)
                self.sock.send(frames[1], _NOBLOCK)
            else:
                self.sock.send_multipart(frames, flags=_NOBLOCK)
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
        self._tick_topics: dict[str, bytes] = {}  # market id -> book_tick topic
        self._coalesced_metric = metrics.bus_coalesced.labels(kind="book_tick")
        self.coalesced = 0

    @property
    def backlog(self) -> int:
        return self.ordered.backlog + len(self._pending_ticks)

    @property
    def overloaded(self) -> bool:
        return self.ordered.overloaded

    def publish(self, message: Message) -> None:
        """Publish any gateway message with the policy of its kind."""
        if type(message) is BookTick:
            self.publish_tick(message)
        else:
            self.ordered.send(message)

    def publish_tick(self, tick: BookTick) -> None:
        """Send ``tick`` now, or park it (coalesced per slot) behind whatever waits."""
        if self._pending_ticks or self.ordered.backlog:
            self._park(tick)
            return
        if not self._send_tick(tick):
            self._park(tick)

    def _send_tick(self, tick: BookTick) -> bool:
        topic = self._tick_topics.get(tick.market_id)
        if topic is None:
            topic = self._tick_topics[tick.market_id] = messages.topic(tick)
        payload = messages.encode(tick)
        try:
            self.sock.send(topic, _NOBLOCK_MORE)
        except zmq.Again:
            return False
        self.sock.send(payload, _NOBLOCK)
        return True

    def _park(self, tick: BookTick) -> None:
        if tick.slot in self._pending_ticks:
            self.coalesced += 1
            self._coalesced_metric.inc()
        self._pending_ticks[tick.slot] = tick

    def flush(self) -> bool:
        """Send what waits (ordered stream first); True when nothing is left."""
        self._drain_subscriptions()
        if not self.ordered.flush():
            return False
        pending = self._pending_ticks
        while pending:
            slot = next(iter(pending))
            if not self._send_tick(pending[slot]):
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
    bus.secure(sock, endpoint, server=True)  # CURVE server when the process set keys
    sock.bind(endpoint)
    return sock
