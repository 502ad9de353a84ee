"""The engine's SPEC §14 conditions raise their alert (or only log) at the point of detection.

Driven on the engine core with a paper executor, a manual clock and tmp SQLite; the alert
callback is a list's ``append``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from engine.alerting import market_halt_alert
from engine.executors.base import SubmitOutcome, SubmitResult
from engine.reconciler import EngineView, MarketHalt, ReconcilePlan, Reconciler
from polyloly.alerts import Alert, Severity
from polyloly.domain import OrderType, RejectReason
from polyloly.messages import RiskState
from tests.helpers.engine_rig import MARKET_A, YES_A, EngineRig, intent, make_config


class _Refusing:
    """Wraps the paper executor: every submit is refused (clearly, or retryably: HTTP 429)."""

    def __init__(self, inner: Any, retryable: bool) -> None:
        self._inner = inner
        self._retryable = retryable

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def submit(self, request: Any) -> SubmitResult:
        return SubmitResult(
            SubmitOutcome.REJECTED, reason=RejectReason.VENUE_UNAVAILABLE if self._retryable
            else RejectReason.VENUE_REJECTED,
            message="429 Too Many Requests" if self._retryable else "invalid order",
            retryable=self._retryable,
        )


def _harness(tmp_path: Path, **sections: Any) -> tuple[EngineRig, list[Alert]]:
    alerts: list[Alert] = []
    harness = EngineRig(make_config(tmp_path, **sections))
    harness.set_alert(alerts.append)
    return harness, alerts


def test_an_order_rejection_burst_halts_the_market_and_warns_once(tmp_path: Path) -> None:
    harness, alerts = _harness(tmp_path, risk={"circuit": {"max_consecutive_rejects": 3}})
    harness.use_executor(_Refusing(harness.executor, retryable=False))
    for _ in range(5):
        asyncio.run(harness.send(intent()))
    assert harness.core.risk.breakers.halted(MARKET_A) is not None
    (alert,) = alerts
    assert alert.severity is Severity.WARNING
    assert alert.key == f"market_halted:{MARKET_A}:consecutive_rejects"
    assert "rejection burst" in alert.text and MARKET_A in alert.text


def test_chain_congestion_halts_the_market_but_only_logs(tmp_path: Path) -> None:
    assert market_halt_alert(MARKET_A, "order_latency") is None
    harness, alerts = _harness(tmp_path, risk={"circuit": {"max_order_latency_ms": 1}})

    class _Slow:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        async def submit(self, request: Any) -> SubmitResult:
            result = await self._inner.submit(request)
            return SubmitResult(result.outcome, result.venue_order_id, result.fills,
                                result.reason, result.message, result.retryable,
                                latency_ms=50.0)

    harness.use_executor(_Slow(harness.executor))
    out = asyncio.run(harness.send(intent()))
    assert any(isinstance(o.message, RiskState) and o.message.halted for o in out)
    assert alerts == []


def test_cancel_failures_halt_the_market_and_warn(tmp_path: Path) -> None:
    alert = market_halt_alert(MARKET_A, "cancel_failures")
    assert alert is not None and alert.severity is Severity.WARNING
    assert f"--market {MARKET_A}" in alert.text


def test_a_daily_loss_kill_alerts_critical_once(tmp_path: Path) -> None:
    harness, alerts = _harness(tmp_path, risk={"max_daily_loss_usdc": 5.0,
                                               "drawdown_sizing_start_usdc": 1.0})
    asyncio.run(harness.tick())
    asyncio.run(harness.send(intent(size=100)))
    harness.books.set(YES_A, [(0.39, 100.0)], [(0.41, 100.0)])
    for _ in range(3):
        asyncio.run(harness.tick())
    (alert,) = alerts
    assert alert.severity is Severity.CRITICAL and alert.key == "kill_switch:daily_loss"
    assert "daily loss exceeded" in alert.text and "-5.00 USDC" in alert.text


def test_a_kill_switch_pulled_by_hand_alerts_critical_and_its_release_informs(
        tmp_path: Path) -> None:
    harness, alerts = _harness(tmp_path)
    harness.kill_file.engage("operator stop", 1, by="cli:alice")
    asyncio.run(harness.tick())
    asyncio.run(harness.tick())
    (pulled,) = alerts
    assert pulled.severity is Severity.CRITICAL and pulled.key == "kill_switch:manual"
    assert "cli:alice" in pulled.text and "operator stop" in pulled.text
    harness.kill_file.release("all clear", 2, by="cli:alice")
    asyncio.run(harness.tick())
    assert [a.severity for a in alerts] == [Severity.CRITICAL, Severity.INFO]
    assert "all clear" in alerts[1].text


def test_the_engines_own_daily_loss_kill_is_not_reported_again_as_a_hand_pull(
        tmp_path: Path) -> None:
    harness, alerts = _harness(tmp_path, risk={"max_daily_loss_usdc": 5.0})
    asyncio.run(harness.tick())
    asyncio.run(harness.send(intent(size=100)))
    harness.books.set(YES_A, [(0.39, 100.0)], [(0.41, 100.0)])
    asyncio.run(harness.tick())
    asyncio.run(harness.tick())
    assert [a.key for a in alerts] == ["kill_switch:daily_loss"]


def test_a_position_mismatch_halts_the_market_and_alerts_critical(tmp_path: Path) -> None:
    harness, alerts = _harness(tmp_path)
    reconciler = Reconciler(EngineView(harness.core))
    plan = ReconcilePlan(halts=(MarketHalt(MARKET_A, "position mismatch on token 1"),))
    asyncio.run(reconciler.apply(plan))
    asyncio.run(reconciler.apply(plan))  # already halted: no second alert
    (alert,) = alerts
    assert alert.severity is Severity.CRITICAL and alert.key == f"position_mismatch:{MARKET_A}"
    assert "position mismatch on token 1" in alert.text
    assert harness.core.risk.breakers.halted(MARKET_A) is not None
    halts = [m for m in harness.core.orders.outbox if isinstance(m, RiskState) and m.halted]
    assert [m.market_id for m in halts] == [MARKET_A]


def test_a_rate_limited_submit_is_retried_and_only_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    harness, alerts = _harness(tmp_path, risk={"circuit": {"max_consecutive_rejects": 50}})
    harness.use_executor(_Refusing(harness.executor, retryable=True))
    with caplog.at_level(logging.INFO):
        asyncio.run(harness.send(intent()))
    attempts = harness.config.execution.retry.max_attempts
    assert len(harness.slept) == attempts - 1
    assert alerts == []
    retries = [r for r in caplog.records if getattr(r, "event_type", "") == "order_retry"]
    assert len(retries) == attempts


def test_a_partial_fill_is_only_logged(tmp_path: Path,
                                       caplog: pytest.LogCaptureFixture) -> None:
    harness, alerts = _harness(tmp_path)
    harness.books.set(YES_A, [(0.49, 100.0)], [(0.50, 8.0)])
    with caplog.at_level(logging.INFO):
        asyncio.run(harness.send(intent(size=20, order_type=OrderType.FAK)))
    assert alerts == []
    assert any(getattr(r, "event_type", "") == "partial_fill" for r in caplog.records)
