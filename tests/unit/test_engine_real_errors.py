"""Venue failures map to reason codes, retry flags and known/unknown outcomes."""

from __future__ import annotations

import httpx
import pytest
from py_clob_client_v2.exceptions import PolyApiException

from engine.executors.polymarket.errors import VenueTransportError, classify, classify_message
from engine.executors.polymarket.signing import OrderBuildError
from polyloly.domain import RejectReason


def _http(status: int, body: object) -> PolyApiException:
    request = httpx.Request("POST", "http://127.0.0.1/order")
    response = (
        httpx.Response(status, json=body, request=request)
        if not isinstance(body, str)
        else httpx.Response(status, text=body, request=request)
    )
    return PolyApiException(response)


@pytest.mark.parametrize(
    ("status", "body", "reason", "retryable", "unknown"),
    [
        (429, {"error": "Too Many Requests"}, RejectReason.VENUE_UNAVAILABLE, True, False),
        (400, {"error": "not enough balance / allowance"}, RejectReason.INSUFFICIENT_BALANCE,
         False, False),
        (400, {"error": "order 0x1 is invalid. Price (0.5005) breaks minimum tick size rule: "
                        "0.001"}, RejectReason.PRICE_OFF_TICK, False, False),
        (400, {"error": "order 0x1 is invalid. Size (1) lower than the minimum: 5"},
         RejectReason.BELOW_MIN_SIZE, False, False),
        (400, {"error": "invalid amount for a marketable BUY order ($0.7), min size: $1"},
         RejectReason.BELOW_MIN_SIZE, False, False),
        (400, {"error": "order couldn't be fully filled. FOK orders are fully filled or "
                        "killed."}, RejectReason.NO_LIQUIDITY, False, False),
        (400, {"error": "order 0x1 is invalid. Duplicated."}, RejectReason.DUPLICATE,
         False, False),
        (400, {"error": "the market is not yet ready to process new orders"},
         RejectReason.VENUE_UNAVAILABLE, True, False),
        (400, {"error": "something new"}, RejectReason.VENUE_REJECTED, False, False),
        (401, {"error": "Unauthorized/Invalid api key"}, RejectReason.VENUE_REJECTED,
         False, False),
        (500, {"error": "internal"}, RejectReason.VENUE_UNAVAILABLE, True, False),
        (500, {"error": "there are no matching orders"}, RejectReason.NO_LIQUIDITY,
         False, False),
        (503, {"error": "Trading is currently cancel-only."}, RejectReason.VENUE_UNAVAILABLE,
         True, False),
        (502, "<html>bad gateway</html>", RejectReason.VENUE_UNAVAILABLE, False, True),
        (504, {"error": "timeout"}, RejectReason.VENUE_UNAVAILABLE, False, True),
    ],
)
def test_http_failures(
    status: int, body: object, reason: RejectReason, retryable: bool, unknown: bool
) -> None:
    failure = classify(_http(status, body))
    assert (failure.reason, failure.retryable, failure.outcome_unknown) == (
        reason, retryable, unknown,
    )
    assert failure.status_code == status


def test_transport_failures_say_whether_the_request_left() -> None:
    sent = classify(VenueTransportError("response", "ReadTimeout"))
    assert sent.outcome_unknown and not sent.retryable
    not_sent = classify(VenueTransportError("connect", "ConnectError"))
    assert not_sent.retryable and not not_sent.outcome_unknown
    assert classify(TimeoutError()).outcome_unknown
    assert classify(RuntimeError("surprise")).outcome_unknown


def test_build_errors_are_clear_non_retryable_rejections() -> None:
    failure = classify(OrderBuildError("price", "price 2 outside [0.001, 0.999]"))
    assert failure.reason is RejectReason.PRICE_OUT_OF_RANGE and not failure.retryable
    assert classify(OrderBuildError("size", "x")).reason is RejectReason.NON_POSITIVE_SIZE


def test_batch_leg_messages_use_the_same_rules() -> None:
    assert classify_message("not enough balance / allowance: the balance is not enough").reason \
        is RejectReason.INSUFFICIENT_BALANCE
