"""The engine core stays sans-I/O, the status is typed, and the scheduler never sleeps."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import msgspec
import pytest

from engine.core import SUBMIT_WAIT_S
from engine.effects import CancelOrders
from engine.kill_switch import EngageKillFile
from engine.scheduling import SubmitScheduler
from engine.status import EngineStatus
from polyloly.messages import BookTick
from tests.helpers.engine_rig import YES_A, EngineRig, intent, make_config

_CORE = Path(__file__).resolve().parents[2] / "engine" / "core.py"


def test_the_core_imports_no_sqlite_no_asyncio_and_opens_no_file() -> None:
    source = _CORE.read_text()
    for forbidden in (r"\bsqlite3\b", r"\basyncio\b", r"\bopen\(", r"\.read_bytes\(",
                      r"\.write_bytes\(", r"\.read_text\(", r"\.write_text\(",
                      r"\bkill_file\b"):
        assert re.search(forbidden, source) is None, forbidden


def test_the_core_awaits_nothing() -> None:
    """Messages and time in, messages and effects out: the venue calls are the driver's."""
    source = _CORE.read_text()
    for forbidden in (r"\bawait\b", r"\basync\s+def\b", r"\bAwaitable\b"):
        assert re.search(forbidden, source) is None, forbidden


def test_status_is_a_frozen_struct_that_serialises_to_the_old_json_shape(
        tmp_path: Path) -> None:
    harness = EngineRig(make_config(tmp_path))
    asyncio.run(harness.send(intent(token_id=YES_A, price=0.5, size=10.0)))
    status = harness.core.status()
    assert isinstance(status, EngineStatus)
    with pytest.raises(AttributeError):
        status.ready = False  # type: ignore[misc]
    data = status.to_json_dict()
    assert set(data) == {"ready", "executor", "kill_switch", "halted_markets", "pnl",
                         "exposure_usdc", "positions", "open_orders", "unstored_fills",
                         "storage_error"}
    assert data["kill_switch"] == {"engaged": False, "reason": ""}
    assert data["positions"][0]["token_id"] == YES_A
    assert msgspec.json.decode(msgspec.json.encode(status), type=EngineStatus) == status


def test_a_book_tick_sent_as_a_message_is_not_a_book_change(tmp_path: Path) -> None:
    """Books reach the engine only through on_book_change; a BookTick frame is unexpected."""
    harness = EngineRig(make_config(tmp_path))
    seen = dict(harness.core._last_seq)
    harness.books.set(YES_A, [(0.30, 10.0)], [(0.32, 10.0)])
    tick = BookTick(market_id="m", token_id=YES_A, slot=0, seq=99, t_exchange_ms=1,
                    t_recv_ns=1, t_parsed_ns=1, t_shm_ns=1)
    asyncio.run(harness.send(tick))
    assert harness.core._last_seq == seen


def test_the_daily_loss_pull_is_an_effect_the_shell_persists(tmp_path: Path) -> None:
    harness = EngineRig(make_config(tmp_path, risk={"max_daily_loss_usdc": 5.0}))
    asyncio.run(harness.tick())
    asyncio.run(harness.send(intent(size=100)))
    harness.books.set(YES_A, [(0.39, 100.0)], [(0.41, 100.0)])
    harness.core.tick(harness.sent.append)  # the core alone: no file written
    assert not harness.kill_file.read().engaged
    engage, cancel = harness.core.take_effects()
    assert isinstance(engage, EngageKillFile) and "daily loss limit" in engage.reason
    assert isinstance(cancel, CancelOrders) and cancel.market_id is None  # every market
    assert cancel.wait_s == SUBMIT_WAIT_S and "daily loss limit" in cancel.reason
    assert harness.core.take_effects() == []


def test_a_reconciliation_waits_for_submits_in_flight_without_sleeping() -> None:
    async def scenario() -> tuple[list[str], object]:
        scheduler = SubmitScheduler(4)
        gate = asyncio.Event()
        order: list[str] = []

        async def send(request: str) -> None:
            await gate.wait()
            order.append("submitted")

        async def work() -> str:
            order.append("reconciled")
            return "plan"

        scheduler.submit("o-1", "m", begin=lambda: "request", send=send,
                         abandon=lambda reason: order.append(reason),
                         settle=lambda: None)
        await scheduler.yield_turn()
        task = scheduler.reconcile(work, 5.0, settle=lambda: order.append("settled"))
        assert task is not None
        assert scheduler.reconcile(work, 5.0, settle=lambda: None) is None  # one at a time
        await asyncio.sleep(0.01)
        assert order == []  # held back by the submit in flight
        gate.set()
        plan = await task
        return order, plan

    order, plan = asyncio.run(scenario())
    assert order == ["submitted", "reconciled", "settled"] and plan == "plan"


def test_a_reconciliation_is_skipped_when_submits_stay_in_flight() -> None:
    async def scenario() -> object:
        scheduler = SubmitScheduler(4)
        gate = asyncio.Event()

        async def send(request: str) -> None:
            await gate.wait()

        async def work() -> str:
            return "plan"

        scheduler.submit("o-1", "m", begin=lambda: "request", send=send, abandon=lambda r: None,
                         settle=lambda: None)
        await scheduler.yield_turn()
        task = scheduler.reconcile(work, 0.05, settle=lambda: None)
        assert task is not None
        plan = await task
        gate.set()
        await scheduler.tasks.drain(1.0)
        return plan

    assert asyncio.run(scenario()) is None
