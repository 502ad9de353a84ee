"""The authenticated user channel: our order and trade updates, forwarded to the engine.

Each frame is recorded (when recording), parsed into ``UserOrderUpdate``/``UserTradeUpdate``
and sent on the engine's PUSH socket in order; what cannot be parsed goes to the DLQ.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Final

from gateway.alerting import AlertFn
from gateway.dead_letters import DeadLetterQueue
from gateway.polymarket.parse import parse_user_frame
from gateway.polymarket.subscribe import user_subscribe_message
from gateway.polymarket.ws_session import SessionSettings, WsSession
from gateway.publisher import OrderedSender
from gateway.recorder import Recorder
from polyloly import metrics
from polyloly.resilience import CircuitBreaker

USER_SOURCE: Final = "polymarket.user_ws"
USER_FEED: Final = "polymarket_user"


class UserChannel:
    """One user-channel session and its frame handling; run ``session.run(stop)``."""

    def __init__(self, url: str, credentials: tuple[str, str, str], market_ids: Sequence[str],
                 settings: SessionSettings, breaker: CircuitBreaker, *,
                 sender: OrderedSender, dlq: DeadLetterQueue, recorder: Recorder | None,
                 rng: random.Random, on_alert: AlertFn, failures_before_alert: int) -> None:
        """``credentials`` are (api key, secret, passphrase); ``market_ids`` the markets whose
        updates we subscribe to; ``sender`` the PUSH socket to the engine."""
        self._sender = sender
        self._dlq = dlq
        self._recorder = recorder
        self._messages = metrics.feed_messages.labels(feed=USER_FEED)
        self.session = WsSession(
            "user", USER_FEED, url, user_subscribe_message(*credentials, market_ids),
            self.on_frame, settings, breaker, rng=rng, on_alert=on_alert,
            failures_before_alert=failures_before_alert)

    def on_frame(self, raw: bytes, t_recv_ns: int) -> None:
        """Record, parse and forward one frame (the session's frame handler)."""
        if self._recorder is not None:
            self._recorder.record(USER_SOURCE, raw, t_recv_ns, source="user")
        self._messages.inc()
        parsed = parse_user_frame(raw, t_recv_ns)
        for error in parsed.errors:
            self._dlq.put(USER_SOURCE, error.reason, error.detail, error.raw, t_recv_ns)
        self._dlq.count_only(USER_SOURCE, "frame_errors_over_cap", parsed.errors_dropped)
        for update in parsed.updates:
            self._sender.send(update)
