"""A fill that cannot be stored (disk full, read-only; simulated by a persistence port that
raises) keeps the engine alive: the fill stays applied in memory and reported, new intents are
refused and a CRITICAL alert goes out, the write is retried every tick, and once it succeeds
intake reopens with nothing lost (issue 20 #6)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from engine.executors.base import VenueFill
from engine.order_record import OrderRecord
from engine.persistence.port import PersistenceError
from engine.pnl.ledger import Position
from polyloly.alerts import Alert, Severity
from polyloly.domain import OrderStatus, RejectReason
from polyloly.messages import ExecutionReport, IntentAck
from tests.helpers.engine_rig import YES_A, EngineRig, intent, make_config


class BrokenDisk:
    """The rig's persistence port, with fill writes failing while ``broken``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.broken = False
        self.failed = 0

    def record_fill(self, fill: VenueFill, record: OrderRecord,
                    position: Position | None) -> bool:
        if self.broken:
            self.failed += 1
            raise PersistenceError("engine store: OperationalError('database or disk is full')")
        result: bool = self.inner.record_fill(fill, record, position)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _rig(tmp_path: Path) -> tuple[EngineRig, BrokenDisk, list[Alert]]:
    rig = EngineRig(make_config(tmp_path))
    disk = BrokenDisk(rig.core.store)
    rig.core.store = disk
    rig.core.orders._store = disk
    alerts: list[Alert] = []
    rig.set_alert(alerts.append)
    return rig, disk, alerts


def _acks(out: list) -> list[IntentAck]:
    return [o.message for o in out if isinstance(o.message, IntentAck)]


def test_a_fill_that_cannot_be_stored_stops_intake_alerts_and_is_retried(
        tmp_path: Path) -> None:
    rig, disk, alerts = _rig(tmp_path)
    disk.broken = True
    (ack,) = _acks(asyncio.run(rig.send(intent(price=0.50, size=20))))
    assert ack.accepted  # the claim is stored; the fill write is what fails
    (record,) = rig.core.orders.orders()
    assert record.status is OrderStatus.FILLED  # the venue's fill is kept in memory
    assert rig.core.ledger.position(YES_A).shares == pytest.approx(20)
    assert disk.failed == 1
    assert [r.status for r in rig.messages(ExecutionReport)][-1] is OrderStatus.FILLED
    assert [a.severity for a in alerts] == [Severity.CRITICAL]
    status = rig.core.status()
    assert status.unstored_fills == 1 and "disk is full" in status.storage_error

    (refused,) = _acks(asyncio.run(rig.send(intent())))
    assert not refused.accepted and refused.reason is RejectReason.NOT_READY
    assert "storage failing" in refused.detail

    asyncio.run(rig.tick())  # still broken: retried, still refused, no second alert
    assert disk.failed == 2 and rig.core.orders.unstored_fills == 1 and len(alerts) == 1

    disk.broken = False
    asyncio.run(rig.tick())
    assert rig.core.orders.unstored_fills == 0 and rig.core.status().storage_error == ""
    (ok,) = _acks(asyncio.run(rig.send(intent())))
    assert ok.accepted
    rig.close()

    # nothing lost: a restart on the same database rebuilds the position from the stored fill
    again = EngineRig(make_config(tmp_path))
    assert again.core.ledger.position(YES_A).shares == pytest.approx(40)
    again.close()


def test_a_repeated_unstored_fill_is_not_applied_twice(tmp_path: Path) -> None:
    rig, disk, _ = _rig(tmp_path)
    disk.broken = True
    asyncio.run(rig.send(intent(price=0.50, size=20)))
    (record,) = rig.core.orders.orders()
    fill = next(iter(rig.core.orders._unstored.values()))[0]
    rig.core.apply_venue_event(fill)  # the user channel repeats it while storage is down
    assert rig.core.ledger.position(YES_A).shares == pytest.approx(20)
    assert record.filled_size == pytest.approx(20)
    rig.close()

