"""Turn every way a venue call can fail into a reason code, a retry flag and an outcome.

Polymarket answers a refused order with HTTP 400 and ``{"error": "<text>"}`` (VENUE
§3.5); the text, not a code, says why. A call can also fail without an answer: then what
matters is whether the request can have reached the venue. :func:`classify` answers three
questions for the order manager:

* ``reason`` — the :class:`RejectReason` to report;
* ``retryable`` — the venue certainly did not act on the request, resending is safe and may
  succeed later (429, a 5xx the CLOB itself answered, connection refused);
* ``outcome_unknown`` — the request may have been acted on (timeout after sending, dropped
  connection, a gateway 502/504): a submit must then be tracked by its order id, not resent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Final, Literal

from py_clob_client_v2.exceptions import PolyApiException, PolyException

from engine.executors.polymarket.signing import OrderBuildError
from polyloly.domain import RejectReason

TransportPhase = Literal["connect", "response"]


class VenueTransportError(Exception):
    """No HTTP answer. ``phase`` "connect": the request never left (safe to resend);
    "response": it was sent and the answer was lost (outcome unknown)."""

    def __init__(self, phase: TransportPhase, detail: str) -> None:
        super().__init__(f"venue transport error ({phase}): {detail}")
        self.phase = phase
        self.detail = detail


@dataclass(frozen=True, slots=True)
class VenueFailure:
    """One classified failure; ``message`` is the venue's text (or the error's)."""

    reason: RejectReason
    retryable: bool
    outcome_unknown: bool
    message: str
    status_code: int | None = None

    @property
    def duplicate(self) -> bool:
        """The venue already holds this exact signed order."""
        return self.reason is RejectReason.DUPLICATE


# Substrings of the venue's error texts (VENUE §3.5), first match wins. Lower case.
_MESSAGE_RULES: Final[tuple[tuple[str, RejectReason, bool], ...]] = (
    ("duplicated", RejectReason.DUPLICATE, False),
    ("not enough balance", RejectReason.INSUFFICIENT_BALANCE, False),
    ("minimum tick size", RejectReason.PRICE_OFF_TICK, False),
    ("lower than the minimum", RejectReason.BELOW_MIN_SIZE, False),
    ("invalid amount for a marketable", RejectReason.BELOW_MIN_SIZE, False),
    ("fully filled or killed", RejectReason.NO_LIQUIDITY, False),
    ("fok orders are filled or killed", RejectReason.NO_LIQUIDITY, False),
    ("no orders found to match", RejectReason.NO_LIQUIDITY, False),
    ("there are no matching orders", RejectReason.NO_LIQUIDITY, False),
    ("not yet ready to process new orders", RejectReason.VENUE_UNAVAILABLE, True),
    ("trading is currently disabled", RejectReason.VENUE_UNAVAILABLE, True),
    ("cancel-only", RejectReason.VENUE_UNAVAILABLE, True),
    ("too many requests", RejectReason.VENUE_UNAVAILABLE, True),
    ("context canceled", RejectReason.VENUE_UNAVAILABLE, True),
    ("rounding issues", RejectReason.VENUE_REJECTED, False),
    ("discrepancy greater than allowed", RejectReason.VENUE_REJECTED, False),
    ("crosses book", RejectReason.VENUE_REJECTED, False),
    ("order version", RejectReason.VENUE_REJECTED, False),
)


def error_text(payload: Any) -> str:
    """The venue's message from an error payload (``{"error": ...}``, a string, or else)."""
    if isinstance(payload, dict):
        for key in ("error", "errorMsg", "message"):
            if payload.get(key):
                return str(payload[key])
        return str(payload)
    return "" if payload is None else str(payload)


def _rule_for(message: str) -> tuple[RejectReason, bool] | None:
    lowered = message.lower()
    for needle, reason, retryable in _MESSAGE_RULES:
        if needle in lowered:
            return reason, retryable
    return None


def classify_message(message: str, status_code: int | None = None) -> VenueFailure:
    """Classify a refusal the venue put in words (HTTP error body or a batch leg's errorMsg)."""
    rule = _rule_for(message)
    if rule is None:
        return VenueFailure(RejectReason.VENUE_REJECTED, False, False, message, status_code)
    return VenueFailure(rule[0], rule[1], False, message, status_code)


def classify(exc: BaseException) -> VenueFailure:
    """Classify any exception raised by a venue call (never raises itself)."""
    if isinstance(exc, OrderBuildError):
        reason = {
            "price": RejectReason.PRICE_OUT_OF_RANGE
            if "outside" in str(exc)
            else RejectReason.PRICE_OFF_TICK,
            "size": RejectReason.NON_POSITIVE_SIZE,
            "token_id": RejectReason.UNKNOWN_TOKEN,
            "tick_size": RejectReason.PRICE_OFF_TICK,
        }.get(exc.field, RejectReason.VENUE_REJECTED)
        return VenueFailure(reason, False, False, str(exc))
    if isinstance(exc, VenueTransportError):
        if exc.phase == "connect":
            return VenueFailure(RejectReason.VENUE_UNAVAILABLE, True, False, str(exc))
        return VenueFailure(RejectReason.VENUE_UNAVAILABLE, False, True, str(exc))
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return VenueFailure(
            RejectReason.VENUE_UNAVAILABLE, False, True, "venue call timed out in the executor"
        )
    if isinstance(exc, PolyApiException):
        return _classify_http(exc.status_code, exc.error_msg)
    if isinstance(exc, PolyException):  # raised by the client before any request
        return VenueFailure(RejectReason.VENUE_REJECTED, False, False, str(exc.msg))
    return VenueFailure(
        RejectReason.VENUE_UNAVAILABLE, False, True, f"{type(exc).__name__}: {exc}"
    )


def _classify_http(status: int | None, payload: Any) -> VenueFailure:
    message = error_text(payload)
    if status is None:
        return VenueFailure(RejectReason.VENUE_UNAVAILABLE, False, True, message or "no answer")
    if status == 429:
        return VenueFailure(RejectReason.VENUE_UNAVAILABLE, True, False, message, status)
    if status in (502, 504) or (status >= 500 and not isinstance(payload, dict)):
        # a proxy answered: the CLOB behind it may have taken the request
        return VenueFailure(RejectReason.VENUE_UNAVAILABLE, False, True, message, status)
    if status >= 500 and _rule_for(message) is None:
        # the CLOB itself answered an internal error: it did not take the request
        return VenueFailure(RejectReason.VENUE_UNAVAILABLE, True, False, message, status)
    if status in (401, 403):
        return VenueFailure(RejectReason.VENUE_REJECTED, False, False, message, status)
    return classify_message(message, status)
