"""Structured JSON logging (SPEC §10.1) with secret redaction.

One JSON object per line: ``ts``, ``level``, ``component``, ``event_type``, then correlation
ids (``run_id``, ``market_id``, ``match_id``, ``order_id``, ``intent_id``), metric fields
(``latency_ms``, ``pnl_usdc``, ``slippage_bps``) and any other keyword fields.

Redaction, applied to every value of every record, however it was passed:
* values of keys that name a secret (``private_key``, ``secret``, ``passphrase``, ...);
* every registered secret (see :func:`register_secret`), wherever it appears in a string —
  the engine registers the signing key and the API credentials as it loads them;
* in free text, the value after a secret-naming word and ``=``/``:`` (``private_key=…``,
  ``"secret": "…"``) whatever its shape.
Shape alone is not a secret: a 64-hex condition id or tx hash in a message stays readable
(docs/DECISIONS.md D3).
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import threading
from datetime import UTC, datetime
from typing import Any, Final, TextIO

import orjson

REDACTED: Final = "[REDACTED]"
_SECRET_KEYS = re.compile(
    r"(private_?key|secret|passphrase|password|api_?key|authorization|poly_signature|token$)",
    re.IGNORECASE,
)
# "private_key=…", "'secret': '…'", "api key: …": the value after a secret's name in free text
_KEYED_VALUE = re.compile(
    r"(?P<name>private[_ -]?key|secret|passphrase|password|api[_ -]?key|mnemonic)"
    r"(?P<sep>[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\s\"',;}\]]+)",
    re.IGNORECASE,
)
_RESERVED = ("ts", "level", "component", "event_type")

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_run_id = ""


def register_secret(value: str | None) -> None:
    """Make ``value`` (and its ``0x``-less form) unloggable in this process."""
    if not value or len(value) < 6:
        return
    with _secrets_lock:
        _secrets.add(value)
        if value.startswith("0x"):
            _secrets.add(value[2:])


def set_run_id(run_id: str) -> None:
    global _run_id
    _run_id = run_id


def new_run_id() -> str:
    """A run id for a process started without one (``run.run_id`` empty): UTC time + random."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)


def current_run_id() -> str:
    """The run id every log line of this process carries (set by :func:`setup_logging`)."""
    return _run_id


def redact(value: Any, key: str = "") -> Any:
    """Return ``value`` with every secret removed (recursively)."""
    if key and _SECRET_KEYS.search(key) and not key.endswith("_env") and value:
        return REDACTED
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, dict):
        return {str(k): redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v, key) for v in value]
    if isinstance(value, bytes):
        return _redact_text(value.decode("utf-8", "replace"))
    if isinstance(value, int | float | bool) or value is None:
        return value
    return _redact_text(str(value))


def _redact_text(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _KEYED_VALUE.sub(_keep_name, text)


def _keep_name(match: re.Match[str]) -> str:
    if match.group("value").endswith("_env") or match.group("value") == REDACTED:
        return match.group(0)  # a variable's name (private_key_env=...) is not the secret
    return f"{match.group('name')}{match.group('sep')}{REDACTED}"


class JsonFormatter(logging.Formatter):
    """Format records as one redacted JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {}) or {}
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds"),
            "level": record.levelname,
            "component": getattr(record, "component", record.name),
            "event_type": getattr(record, "event_type", "log"),
        }
        if _run_id:
            line["run_id"] = _run_id
        message = record.getMessage()
        if message and message != line["event_type"]:
            line["message"] = message
        for key, value in fields.items():
            if key not in _RESERVED:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        safe = redact(line)
        return orjson.dumps(safe, default=str).decode()


class StructuredLogger:
    """``log.info("order_placed", market_id=..., latency_ms=...)``: event type + fields."""

    def __init__(self, component: str) -> None:
        self.component = component
        self._logger = logging.getLogger(f"polyloly.{component}")

    def _log(self, level: int, event_type: str, message: str, fields: dict[str, Any]) -> None:
        if not self._logger.isEnabledFor(level):
            return
        exc_info = fields.pop("exc_info", None)
        self._logger.log(
            level,
            message or event_type,
            extra={"component": self.component, "event_type": event_type, "fields": fields},
            exc_info=exc_info,
        )

    def debug(self, event_type: str, message: str = "", **fields: Any) -> None:
        self._log(logging.DEBUG, event_type, message, fields)

    def info(self, event_type: str, message: str = "", **fields: Any) -> None:
        self._log(logging.INFO, event_type, message, fields)

    def warning(self, event_type: str, message: str = "", **fields: Any) -> None:
        self._log(logging.WARNING, event_type, message, fields)

    def error(self, event_type: str, message: str = "", **fields: Any) -> None:
        self._log(logging.ERROR, event_type, message, fields)

    def critical(self, event_type: str, message: str = "", **fields: Any) -> None:
        self._log(logging.CRITICAL, event_type, message, fields)


def get_logger(component: str) -> StructuredLogger:
    return StructuredLogger(component)


def setup_logging(
    level: str = "INFO", stream: TextIO | None = None, file: str = "", run_id: str | None = None
) -> None:
    """Route every ``polyloly.*`` logger (and the root) to one JSON handler; every line then
    carries ``run_id`` (``run.run_id``; an empty one is generated, None keeps the current)."""
    if run_id is not None:
        set_run_id(run_id or _run_id or new_run_id())
    handler: logging.Handler
    handler = logging.FileHandler(file) if file else logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("websockets").setLevel(max(logging.getLevelName(level), logging.INFO))
