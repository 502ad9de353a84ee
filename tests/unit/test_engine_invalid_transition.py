"""A venue report the order lifecycle table does not list (``InvalidTransition``) is refused
at the core's boundary: the engine goes on, the report is counted, logged with the order and
both statuses, dead-lettered in the journal and alerted; the order keeps its state (specs/07).
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from engine.executors.base import VenueFill, VenueOrderUpdate
from engine.reconciler import EngineView
from polyloly import metrics
from polyloly.alerts import Alert, Severity
from polyloly.domain import OrderStatus, OrderType, Side
from polyloly.messages import ExecutionReport, IntentAck
from tests.helpers.engine_rig import MARKET_A, YES_A, EngineRig, intent, make_config


def _resting(tmp_path: Path) -> tuple[EngineRig, list[Alert], str, str]:
    """A rig with one GTC order resting (LIVE) at the paper venue."""
    alerts: list[Alert] = []
    rig = EngineRig(make_config(tmp_path), alert=alerts.append)
    asyncio.run(rig.send(intent(price=0.45, size=10.0, order_type=OrderType.GTC)))
    (ack,) = rig.messages(IntentAck)
    record = rig.core.orders.get(ack.order_id)
    assert record is not None and record.status is OrderStatus.LIVE
    assert record.venue_order_id is not None
    return rig, alerts, record.order_id, record.venue_order_id


def _count(transition: str) -> float:
    return float(metrics.invalid_transitions.labels(transition=transition)._value.get())


def _dead_letters(rig: EngineRig) -> list[dict[str, object]]:
    rig.journal.close()
    rows = [json.loads(line) for path in sorted(rig.events_dir.rglob("*.jsonl"))
            for line in path.read_text().splitlines() if line.strip()]
    return [r["payload"] for r in rows if r.get("event_type") == "dead_letter"]


def test_a_forbidden_venue_report_is_refused_counted_logged_dead_lettered_and_alerted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rig, alerts, order_id, venue_id = _resting(tmp_path)
    before = _count("LIVE->DELAY")
    reports_before = len(rig.messages(ExecutionReport))
    # the venue says "delayed" about an order already resting: LIVE → DELAYED is not listed
    rig.executor.emit(VenueOrderUpdate(venue_id, OrderStatus.DELAYED, 0.0, rig.clock.wall_ms(),
                                       reason="late placement message"))
    with caplog.at_level(logging.ERROR):
        asyncio.run(rig.tick())  # the executor's events reach the core: no exception escapes
    record = rig.core.orders.get(order_id)
    assert record is not None
    assert record.status is OrderStatus.LIVE and record.reason == ""  # kept as it was
    assert len(rig.messages(ExecutionReport)) == reports_before  # nothing reported
    assert _count("LIVE->DELAY") == before + 1
    (line,) = [r for r in caplog.records if getattr(r, "event_type", "") == "invalid_transition"]
    fields = line.fields  # type: ignore[attr-defined]
    assert fields["order_id"] == order_id and fields["status"] == "LIVE"
    assert fields["reported"] == "DELAY"
    (alert,) = alerts
    assert alert.severity is Severity.WARNING and alert.key == "invalid_transition:LIVE:DELAY"
    assert order_id in alert.text
    (letter,) = _dead_letters(rig)
    assert letter["order_id"] == order_id and letter["status"] == "LIVE"
    assert letter["reported"] == "DELAY" and "late placement message" in str(letter["report"])
    rig.store.close()


def test_the_engine_goes_on_after_a_refused_report(tmp_path: Path) -> None:
    """The next valid report of the same order still applies, and intake still works."""
    rig, _, order_id, venue_id = _resting(tmp_path)
    rig.executor.emit(VenueOrderUpdate(venue_id, OrderStatus.DELAYED, 0.0, 1))
    rig.executor.emit(VenueFill("f-1", venue_id, YES_A, Side.BUY, 0.45, 4.0, 0.0, True, 1,
                                MARKET_A))
    asyncio.run(rig.tick())
    record = rig.core.orders.get(order_id)
    assert record is not None and record.status is OrderStatus.PARTIALLY_FILLED
    assert record.filled_size == pytest.approx(4.0)
    out = asyncio.run(rig.send(intent()))
    assert [o.message.accepted for o in out if isinstance(o.message, IntentAck)] == [True]
    rig.close()


def test_the_reconciler_s_reports_are_refused_at_the_same_boundary(tmp_path: Path) -> None:
    rig, alerts, order_id, venue_id = _resting(tmp_path)
    cancel = VenueOrderUpdate(venue_id, OrderStatus.CANCELLED, 0.0, 1)
    EngineView(rig.core).apply_event(cancel)
    assert rig.core.orders.get(order_id).status is OrderStatus.CANCELLED  # type: ignore[union-attr]
    before = _count("CANCELLED->EXPIRE")
    EngineView(rig.core).apply_event(VenueOrderUpdate(venue_id, OrderStatus.EXPIRED, 0.0, 2))
    assert rig.core.orders.get(order_id).status is OrderStatus.CANCELLED  # type: ignore[union-attr]
    assert _count("CANCELLED->EXPIRE") == before + 1
    assert [a.key for a in alerts] == ["invalid_transition:CANCELLED:EXPIRE"]
    rig.close()
