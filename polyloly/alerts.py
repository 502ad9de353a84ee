"""Alerts of the SPEC §14 failure table: a Telegram Bot API sink, deduplicated, rate-limited.

``Alerter.send`` never raises and never blocks the caller for long: delivery failures are
logged and counted. The Telegram base URL is configurable so tests point it at a local server.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import orjson

from polyloly import metrics
from polyloly.config import Config, TelegramConfig
from polyloly.logs import get_logger, register_secret

log = get_logger("alerts")


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Alert:
    severity: Severity
    key: str  # dedupe key: the same key within the window is sent once
    text: str


class AlertSink(Protocol):
    name: str

    def deliver(self, alert: Alert) -> bool: ...


class TelegramSink:
    """POST ``{base_url}/bot{token}/sendMessage`` with ``{"chat_id", "text"}`` (Bot API)."""

    name = "telegram"

    def __init__(self, base_url: str, token: str, chat_id: str, timeout_s: float = 5.0) -> None:
        register_secret(token)
        self._url = f"{base_url.rstrip('/')}/bot{token}/sendMessage"
        self._chat_id = chat_id
        self._timeout_s = timeout_s

    def deliver(self, alert: Alert) -> bool:
        icon = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}[alert.severity.value]
        body = orjson.dumps({
            "chat_id": self._chat_id,
            "text": f"{icon} PolyLOL {alert.severity.value.upper()}: {alert.text}",
            "disable_web_page_preview": True,
        })
        request = urllib.request.Request(
            self._url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                answer = orjson.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.warning("alert_delivery_failed", sink=self.name, error=str(exc))
            return False
        if not answer.get("ok"):
            log.warning("alert_refused", sink=self.name, description=answer.get("description"))
            return False
        return True


class Alerter:
    """Dedupe by key within ``dedupe_window_s``, cap at ``max_per_minute``, log every alert,
    deliver to the sinks on a background thread."""

    def __init__(
        self,
        sinks: list[AlertSink],
        dedupe_window_s: float = 300.0,
        max_per_minute: int = 20,
        clock: Callable[[], float] = time.monotonic,
        component: str = "",
        background: bool = True,
    ) -> None:
        self._sinks = sinks
        self._dedupe_window_s = dedupe_window_s
        self._max_per_minute = max_per_minute
        self._clock = clock
        self._component = component
        self._background = background
        self._last_sent: dict[str, float] = {}
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()
        self.suppressed = 0

    def send(self, alert: Alert) -> bool:
        """Return True when the alert was passed to the sinks (not deduped or rate-limited)."""
        level = {"info": "info", "warning": "warning", "critical": "critical"}[alert.severity]
        getattr(log, level)("alert", alert.text, key=alert.key, origin=self._component)
        now = self._clock()
        with self._lock:
            last = self._last_sent.get(alert.key)
            if last is not None and now - last < self._dedupe_window_s:
                self.suppressed += 1
                return False
            while self._recent and now - self._recent[0] >= 60.0:
                self._recent.popleft()
            if len(self._recent) >= self._max_per_minute:
                self.suppressed += 1
                return False
            self._last_sent[alert.key] = now
            self._recent.append(now)
        for sink in self._sinks:
            if self._background:
                threading.Thread(target=self._deliver, args=(sink, alert), daemon=True).start()
            else:
                self._deliver(sink, alert)
        return True

    @staticmethod
    def _deliver(sink: AlertSink, alert: Alert) -> None:
        if sink.deliver(alert):
            metrics.alerts_sent.labels(severity=alert.severity.value, sink=sink.name).inc()


def telegram_sink(settings: TelegramConfig) -> TelegramSink | None:
    token = os.environ.get(settings.token_env, "")
    if not (settings.enabled and token and settings.chat_id):
        return None
    return TelegramSink(settings.base_url, token, settings.chat_id)


def build_alerter(config: Config, component: str = "") -> Alerter:
    settings = config.alerts.telegram
    sink = telegram_sink(settings)
    if settings.enabled and sink is None:
        log.warning(
            "alerts_disabled", f"telegram enabled but {settings.token_env} or chat_id is unset"
        )
    return Alerter(
        [sink] if sink else [], settings.dedupe_window_s, settings.max_per_minute,
        component=component,
    )
