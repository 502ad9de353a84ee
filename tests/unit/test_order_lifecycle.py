"""The engine's order lifecycle (engine/order_record.py): every (status, event) pair either lands
where the table says or raises InvalidTransition; late reports are explicit rows."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.executors.base import VenueFill, VenueOrderUpdate
from engine.order_record import (
    EVENT_OF_STATUS,
    ORDER_TRANSITIONS,
    STATUS_OF_EVENT,
    OrderEvent,
    OrderRecord,
    next_status,
)
from polyloly.domain import OrderStatus, OrderType, Side
from polyloly.fsm import InvalidTransition
from tests.helpers.engine_rig import MARKET_A, YES_A, EngineRig, intent, make_config

S, E = OrderStatus, OrderEvent
_ANY_FILL = {E.PARTIAL_FILL: None, E.FILL: None}

# status → {event: status it lands in}; None means "stays where it is"
EXPECTED: dict[OrderStatus, dict[OrderEvent, OrderStatus | None]] = {
    S.PENDING: {E.SUBMIT: S.SUBMITTED, E.DELAY: S.DELAYED, E.ACCEPT: S.LIVE,
                E.PARTIAL_FILL: S.PARTIALLY_FILLED, E.FILL: S.FILLED, E.REJECT: S.REJECTED,
                E.LOSE: S.UNKNOWN, E.CANCEL: S.CANCELLED},
    S.SUBMITTED: {E.SUBMIT: None, E.DELAY: S.DELAYED, E.ACCEPT: S.LIVE,
                  E.PARTIAL_FILL: S.PARTIALLY_FILLED, E.FILL: S.FILLED, E.REJECT: S.REJECTED,
                  E.CANCEL: S.CANCELLED, E.EXPIRE: S.EXPIRED, E.LOSE: S.UNKNOWN},
    S.UNKNOWN: {E.LOSE: None, E.SUBMIT: S.SUBMITTED, E.DELAY: S.DELAYED, E.ACCEPT: S.LIVE,
                E.PARTIAL_FILL: S.PARTIALLY_FILLED, E.FILL: S.FILLED, E.REJECT: S.REJECTED,
                E.CANCEL: S.CANCELLED, E.EXPIRE: S.EXPIRED},
    S.DELAYED: {E.DELAY: None, E.ACCEPT: S.LIVE, E.PARTIAL_FILL: S.PARTIALLY_FILLED,
                E.FILL: S.FILLED, E.CANCEL: S.CANCELLED, E.EXPIRE: S.EXPIRED},
    S.LIVE: {E.ACCEPT: None, E.PARTIAL_FILL: S.PARTIALLY_FILLED, E.FILL: S.FILLED,
             E.CANCEL: S.CANCELLED, E.EXPIRE: S.EXPIRED},
    S.PARTIALLY_FILLED: {E.PARTIAL_FILL: None, E.FILL: S.FILLED, E.CANCEL: S.CANCELLED,
                         E.EXPIRE: S.EXPIRED},
    S.FILLED: {E.FILL: None, E.PARTIAL_FILL: None, E.CANCEL: None},
    S.CANCELLED: {E.CANCEL: None, E.ACCEPT: None, E.DELAY: None, **_ANY_FILL},
    S.EXPIRED: {E.EXPIRE: None, E.ACCEPT: None, E.DELAY: None, **_ANY_FILL},
    S.REJECTED: {E.REJECT: None, **_ANY_FILL},
}


def test_the_table_is_exactly_the_expected_one() -> None:
    expected = {(status, event): target or status
                for status, row in EXPECTED.items() for event, target in row.items()}
    assert expected == ORDER_TRANSITIONS


def test_events_and_statuses_are_one_to_one() -> None:
    assert set(EVENT_OF_STATUS) == set(OrderStatus) - {S.PENDING}
    assert set(STATUS_OF_EVENT) == set(OrderEvent)
    assert all(EVENT_OF_STATUS[STATUS_OF_EVENT[e]] is e for e in OrderEvent)


@pytest.mark.parametrize("status", list(OrderStatus))
@pytest.mark.parametrize("event", list(OrderEvent))
def test_every_status_event_pair_lands_or_raises(status: OrderStatus, event: OrderEvent) -> None:
    reported = STATUS_OF_EVENT[event]
    if event in EXPECTED[status]:
        assert next_status("o1", status, reported) is (EXPECTED[status][event] or status)
    else:
        with pytest.raises(InvalidTransition, match=rf"order\[o1\]: trigger '{event.value}' "
                                                    rf"is not allowed in state '{status.value}'"):
            next_status("o1", status, reported)


@pytest.mark.parametrize("status", list(OrderStatus))
def test_pending_is_never_reported_but_staying_pending_is_no_move(status: OrderStatus) -> None:
    if status is S.PENDING:
        assert next_status("o1", status, S.PENDING) is S.PENDING
    else:
        with pytest.raises(InvalidTransition):
            next_status("o1", status, S.PENDING)


def test_terminal_statuses_never_reopen() -> None:
    for status in OrderStatus:
        if status.is_terminal:
            assert all(target is status for (source, _), target in ORDER_TRANSITIONS.items()
                       if source is status)


def _resting_order(tmp_path: Path) -> tuple[EngineRig, OrderRecord, str]:
    """A GTC buy under the ask: it rests (LIVE) on the paper venue."""
    harness = EngineRig(make_config(tmp_path))
    asyncio.run(harness.send(intent(price=0.45, order_type=OrderType.GTC)))
    (record,) = harness.core.orders.orders()
    assert record.status is S.LIVE and record.venue_order_id is not None
    return harness, record, record.venue_order_id


def test_late_fill_after_cancel_is_booked_and_the_order_stays_cancelled(tmp_path: Path) -> None:
    harness, record, venue_id = _resting_order(tmp_path)
    orders = harness.core.orders
    orders.apply_event(VenueOrderUpdate(venue_id, S.CANCELLED, 0.0, 1))
    orders.apply_event(VenueFill("late", venue_id, YES_A, Side.BUY, 0.45, 5.0, 0.0, True, 2,
                                 MARKET_A))
    assert record.status is S.CANCELLED
    assert record.filled_size == pytest.approx(5.0)
    assert harness.core.ledger.position(YES_A).shares == pytest.approx(5.0)


def test_a_forbidden_venue_report_raises_instead_of_being_ignored(tmp_path: Path) -> None:
    harness, record, venue_id = _resting_order(tmp_path)
    harness.core.orders.apply_event(VenueOrderUpdate(venue_id, S.CANCELLED, 0.0, 1))
    with pytest.raises(InvalidTransition, match="trigger 'EXPIRE' is not allowed in state "
                                                "'CANCELLED'"):
        harness.core.orders.apply_event(VenueOrderUpdate(venue_id, S.EXPIRED, 0.0, 2))
    assert record.status is S.CANCELLED


def test_a_placement_report_older_than_the_cancel_changes_nothing(tmp_path: Path) -> None:
    harness, record, venue_id = _resting_order(tmp_path)
    harness.core.orders.apply_event(VenueOrderUpdate(venue_id, S.CANCELLED, 0.0, 1))
    harness.core.orders.apply_event(VenueOrderUpdate(venue_id, S.LIVE, 0.0, 2))
    assert record.status is S.CANCELLED
